-- Issue 18: an entity's text is stored once, in the change that put it last. `entities.data` is
-- kept only where that change is gone (a pruned log); everywhere else it is NULL and read through
-- `seq` (lantian_store::sync). Nodes of the previous release read `data` as never NULL: this
-- release is not a rolling upgrade (docs/scale-out.md); stop every node first.
ALTER TABLE entities ALTER COLUMN data DROP NOT NULL;
UPDATE entities e SET data = NULL FROM changes c WHERE c.seq = e.seq AND c.data = e.data;

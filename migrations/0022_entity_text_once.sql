-- Issue 18: an entity's text is stored once, in the change that put it last. `entities.data` is
-- kept only where that change is gone (a pruned log); everywhere else it is NULL and read through
-- `seq` (lantian_store::sync). SQLite cannot drop NOT NULL in place: the table is built again,
-- and every text equal to its change's is left out.
CREATE TABLE entities_once (
    id        INTEGER PRIMARY KEY,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    scope     TEXT NOT NULL,
    data      TEXT,
    hash      INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    UNIQUE (entity, entity_id)
) STRICT;
INSERT INTO entities_once (id, entity, entity_id, scope, data, hash, seq)
SELECT e.id, e.entity, e.entity_id, e.scope,
       CASE WHEN c.data IS NOT NULL AND c.data = e.data THEN NULL ELSE e.data END,
       e.hash, e.seq
  FROM entities e LEFT JOIN changes c ON c.seq = e.seq
 ORDER BY e.id;
DROP TABLE entities;
ALTER TABLE entities_once RENAME TO entities;
CREATE INDEX entities_scope ON entities(scope, id);

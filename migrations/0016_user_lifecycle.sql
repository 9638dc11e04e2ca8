-- The rest of user management (issue 17; decision 0023).
--
-- A password an administrator sets (a new account, a reset) is a one-time password: it signs in
-- nowhere until its holder chose their own (`must_change_password`), and it lapses at
-- `password_expires_at`. A password the user chose has neither.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN password_expires_at TEXT;

-- Every move of a user to another unit, kept: work an officer did before a move lands under the
-- unit it was done for, judged by the unit the officer belonged to when it took place.
CREATE TABLE user_moves (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    from_unit_id INTEGER NOT NULL REFERENCES units(id),
    to_unit_id   INTEGER NOT NULL REFERENCES units(id),
    moved_at     TEXT NOT NULL
) STRICT;
CREATE INDEX user_moves_user ON user_moves(user_id, moved_at);

-- Console sessions get a public name, so that a user's sessions can be listed and one ended
-- without showing its row id or anything derived from its cookie.
ALTER TABLE console_sessions ADD COLUMN public_id TEXT;
UPDATE console_sessions SET public_id = lower(hex(randomblob(16))) WHERE public_id IS NULL;
CREATE UNIQUE INDEX console_sessions_public ON console_sessions(public_id);

-- App installs become per user, carry a key, and can be revoked (issue 15; decision 0021).
--
-- An install id is minted by the phone. It was unique across all users, so registering an id that
-- another user had registered answered differently from a new one and told that the id existed
-- (issue 14, item 11). Now the same id registered by two users is two installs, keyed by
-- (user_id, client_id); everything that names an install already names its user too.
--
-- `public_key` is the install's Ed25519 public key (32 bytes, base64url without padding), made on the
-- phone at first sign-in and set once; it signs single-use challenges for new tokens after a month
-- offline. `revoked_at` ends the install at once: its refresh families, its key, its pushes and pulls.
--
-- SQLite cannot drop a UNIQUE constraint in place: the table is rebuilt (the documented procedure;
-- the migration runner turns foreign keys off around migrations and checks them before commit).
CREATE TABLE clients_v2 (
    id               INTEGER PRIMARY KEY,
    client_id        TEXT NOT NULL,
    user_id          INTEGER NOT NULL REFERENCES users(id),
    app_version      TEXT NOT NULL,
    device_model     TEXT,
    registered_at    TEXT NOT NULL,
    last_mutation_id INTEGER NOT NULL DEFAULT 0,
    public_key       TEXT,
    revoked_at       TEXT,
    UNIQUE (user_id, client_id)
) STRICT;
INSERT INTO clients_v2 (id, client_id, user_id, app_version, device_model, registered_at, last_mutation_id)
    SELECT id, client_id, user_id, app_version, device_model, registered_at, last_mutation_id FROM clients;
DROP TABLE clients;
ALTER TABLE clients_v2 RENAME TO clients;

-- A key is set once; revocation is for good.
CREATE TRIGGER clients_key_set_once BEFORE UPDATE OF public_key ON clients
WHEN OLD.public_key IS NOT NULL AND NEW.public_key IS NOT OLD.public_key
BEGIN SELECT RAISE(ABORT, 'an install''s key is set once'); END;
CREATE TRIGGER clients_revoked_for_good BEFORE UPDATE OF revoked_at ON clients
WHEN OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NOT OLD.revoked_at
BEGIN SELECT RAISE(ABORT, 'a revoked install stays revoked'); END;

-- A refresh family opened on a registered install is bound to it: revoking the install revokes it.
ALTER TABLE refresh_tokens ADD COLUMN client_row INTEGER REFERENCES clients(id);
CREATE INDEX refresh_tokens_client ON refresh_tokens(client_row) WHERE client_row IS NOT NULL;

-- Challenges are stateless (an HMAC of the server's secret); one answered is remembered until it
-- expires, so that it cannot be answered twice.
CREATE TABLE install_challenges_used (
    challenge_hash TEXT PRIMARY KEY,
    expires_at     TEXT NOT NULL
) STRICT, WITHOUT ROWID;

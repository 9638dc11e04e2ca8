-- Console sessions (issue 16): people in the bureau sign in to the web console with a cookie that
-- names a row here. Kept in the database, not in the process, so that several nodes can share
-- them later (DESIGN §9). The cookie's value is never stored: only its SHA-256.
--
-- A session remembers the user's role and unit as they were at sign-in: when either changes, or
-- the user is disabled, the session is refused on its next use and marked revoked (the mechanism
-- the user-management routes rely on, without having to find and revoke sessions themselves).
CREATE TABLE console_sessions (
    id            INTEGER PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    role          TEXT NOT NULL,
    unit_id       INTEGER NOT NULL REFERENCES units(id),
    -- The synchronizer token every state-changing form carries.
    csrf          TEXT NOT NULL,
    -- zh-CN or en: the language the person chose (zh-CN by default).
    lang          TEXT NOT NULL DEFAULT 'zh-CN',
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    -- Absolute expiry: created_at + the absolute lifetime, whatever the activity.
    expires_at    TEXT NOT NULL,
    revoked_at    TEXT,
    peer          TEXT,
    user_agent    TEXT
) STRICT;
CREATE INDEX console_sessions_user ON console_sessions(user_id) WHERE revoked_at IS NULL;

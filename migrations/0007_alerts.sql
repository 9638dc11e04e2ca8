-- Pollution alerts (重污染天气预警): declared by an admin for a region (units) and a period. They
-- raise required inspection frequencies for their days; they sync to every phone (global scope).
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    level       TEXT NOT NULL CHECK (level IN ('yellow', 'orange', 'red')),
    units       TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    note        TEXT,
    declared_by TEXT NOT NULL,
    declared_at TEXT NOT NULL,
    CHECK (ends_at > starts_at)
) STRICT;
CREATE INDEX alerts_period ON alerts(starts_at, ends_at);
CREATE TRIGGER alerts_immutable BEFORE UPDATE ON alerts
BEGIN SELECT RAISE(ABORT, 'a declared alert is a record; declare another to change it'); END;
CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
BEGIN SELECT RAISE(ABORT, 'a declared alert is never deleted'); END;

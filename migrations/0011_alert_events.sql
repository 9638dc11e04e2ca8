-- Ending a pollution alert early is an event appended to it, never an update of the declared alert
-- (issue 14): the alert row stays as declared and sealed; its effective end is the earliest
-- `ended` event's time. Events are evidence too: never changed, never deleted, sealed.
CREATE TABLE alert_events (
    id          INTEGER PRIMARY KEY,
    alert_id    INTEGER NOT NULL REFERENCES alerts(id),
    event       TEXT NOT NULL CHECK (event IN ('ended')),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) STRICT;
CREATE INDEX alert_events_alert ON alert_events(alert_id, id);
CREATE TRIGGER alert_events_immutable BEFORE UPDATE ON alert_events
BEGIN SELECT RAISE(ABORT, 'an alert''s history never changes'); END;
CREATE TRIGGER alert_events_no_delete BEFORE DELETE ON alert_events
BEGIN SELECT RAISE(ABORT, 'an alert''s history is never deleted'); END;

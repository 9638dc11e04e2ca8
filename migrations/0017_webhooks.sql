-- Webhooks (issue 17): other systems hear of what happens. An administrator registers endpoints
-- for event types; each event is written here in the same transaction as what it reports, with a
-- delivery per endpoint that subscribes to it (a durable outbox), so a receiver down for a day
-- misses nothing. Deliveries are retried with backoff and kept with their last answer.
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    url         TEXT NOT NULL,
    -- The HMAC-SHA256 key deliveries are signed with (shown once, at registration).
    secret      TEXT NOT NULL,
    -- JSON array of event types, e.g. ["rectification.closed"].
    events      TEXT NOT NULL,
    description TEXT,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    ended_at    TEXT
) STRICT;

CREATE TABLE webhook_events (
    id          INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    -- The body every delivery of the event sends, byte for byte (what is signed).
    body        TEXT NOT NULL,
    occurred_at TEXT NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES webhook_events(id),
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id),
    -- The event's object, copied: deliveries of one object to one endpoint go in event order.
    object_key      TEXT NOT NULL,
    -- pending, delivered, or failed (given up after the last retry; an administrator may retry).
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- A sender holds the delivery until then (several nodes never send one twice at once).
    claimed_until   TEXT,
    last_status     INTEGER,
    last_answer     TEXT,
    last_error      TEXT,
    last_attempt_at TEXT,
    delivered_at    TEXT,
    UNIQUE (event_id, webhook_id)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_object ON webhook_deliveries(webhook_id, object_key, event_id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_of ON webhook_deliveries(webhook_id, id);

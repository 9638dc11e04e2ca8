//! Webhooks: the endpoints other systems registered, and the outbox of their deliveries.
//!
//! [`emit`] is called inside the transaction of the change it reports (a review decision, an order
//! event, a published revision, an alert), so an event is on record exactly when its change is.
//! A sender claims due deliveries for a while ([`claim_due`]: a lease, so that two senders never
//! send one at once) and records each attempt ([`record_attempt`]); deliveries of one object to
//! one endpoint leave in event order.

use crate::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{StoreError, Tx, cols, time_text};

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookRecord {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub ended_at: Option<String>,
    /// Deliveries waiting (to be sent or retried), given up, and delivered.
    pub pending: u64,
    pub failed: u64,
    pub delivered: u64,
}

/// A new endpoint, as the application layer checked it.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: Uuid,
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_by: String,
}

const COLUMNS: &str = "w.uuid, w.url, w.events, w.description, w.created_by, w.created_at, w.ended_at,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending'),
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'failed'),
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'delivered')";

fn webhook_row(r: &crate::db::Row<'_>) -> crate::db::Result<WebhookRecord> {
    Ok(WebhookRecord {
        id: cols::uuid(r, 0)?,
        url: r.get(1)?,
        events: cols::json(r, 2)?,
        description: r.get(3)?,
        created_by: r.get(4)?,
        created_at: r.get(5)?,
        ended_at: r.get(6)?,
        pending: cols::count(r, 7)?,
        failed: cols::count(r, 8)?,
        delivered: cols::count(r, 9)?,
    })
}

/// Registers an endpoint.
pub fn create(conn: &Tx, w: &NewWebhook) -> Result<WebhookRecord, StoreError> {
    conn.execute(
        "INSERT INTO webhooks (uuid, url, secret, events, description, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            w.id.to_string(),
            w.url,
            w.secret,
            serde_json::to_string(&w.events)?,
            w.description,
            w.created_by,
            crate::now_text()
        ],
    )?;
    get(conn, w.id)?.ok_or(StoreError::NotFound)
}

/// One endpoint.
pub fn get(conn: &Tx, id: Uuid) -> Result<Option<WebhookRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM webhooks w WHERE w.uuid = ?1"
        ))?
        .query_row([id.to_string()], webhook_row)
        .optional()?)
}

/// Every endpoint, the newest first (ended ones too: their deliveries stay on record).
pub fn list(conn: &Tx) -> Result<Vec<WebhookRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhooks w ORDER BY w.id DESC"
    ))?;
    let rows = stmt.query_map([], webhook_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Endpoints not ended.
pub fn live_count(conn: &Tx) -> Result<u64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM webhooks WHERE ended_at IS NULL",
        [],
        |r| cols::count(r, 0),
    )?)
}

/// Ends an endpoint: nothing more is sent to it (what waited is left on record, not sent).
/// `false` if it had ended already.
pub fn end(conn: &Tx, id: Uuid) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE webhooks SET ended_at = ?2 WHERE uuid = ?1 AND ended_at IS NULL",
        params![id.to_string(), crate::now_text()],
    )? > 0)
}

/// The body every delivery of an event carries.
#[derive(Debug, Serialize)]
struct Body<'a, T: Serialize> {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'a str,
    occurred_at: String,
    object: Object<'a>,
    data: &'a T,
}

#[derive(Debug, Serialize)]
struct Object<'a> {
    kind: &'a str,
    id: &'a str,
}

/// Records event `kind` about object (`object_kind`, `object_id`) with `data`, and a delivery to
/// every live endpoint that subscribes to it; nothing when none does. Call it inside the
/// transaction of the change it reports.
pub fn emit<T: Serialize>(
    conn: &Tx,
    kind: &str,
    object_kind: &str,
    object_id: &str,
    data: &T,
) -> Result<(), StoreError> {
    // Endpoints are few (at most `webhook::MAX_ENDPOINTS`): read them and choose here.
    let subscribers: Vec<i64> = {
        let mut stmt =
            conn.prepare_cached("SELECT id, events FROM webhooks WHERE ended_at IS NULL")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, cols::json::<Vec<String>>(r, 1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, events) = row?;
            if events.iter().any(|e| e == kind) {
                out.push(id);
            }
        }
        out
    };
    if subscribers.is_empty() {
        return Ok(());
    }
    let id = Uuid::now_v7();
    let now = crate::now_text();
    let body = serde_json::to_string(&Body {
        id,
        kind,
        occurred_at: now.clone(),
        object: Object {
            kind: object_kind,
            id: object_id,
        },
        data,
    })?;
    let event: i64 = conn
        .prepare_cached(
            "INSERT INTO webhook_events (uuid, kind, object_kind, object_id, body, occurred_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )?
        .query_row(
            params![id.to_string(), kind, object_kind, object_id, body, now],
            |r| r.get(0),
        )?;
    let key = format!("{object_kind}:{object_id}");
    for w in subscribers {
        conn.prepare_cached(
            "INSERT INTO webhook_deliveries (event_id, webhook_id, object_key, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![event, w, key, now])?;
    }
    Ok(())
}

/// A delivery to send now.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery: i64,
    pub webhook: Uuid,
    pub url: String,
    pub secret: String,
    /// The event's id: the same on every attempt.
    pub event: Uuid,
    pub kind: String,
    pub body: String,
    pub attempts: u32,
}

/// Claims up to `limit` deliveries due at `now` until `now + lease`, the oldest event first, each
/// the first one waiting of its object at its endpoint (a later one waits for it), to live
/// endpoints only. A claim that lapses (its sender died) is claimed again.
pub fn claim_due(
    conn: &Tx,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: usize,
) -> Result<Vec<Outgoing>, StoreError> {
    let now_t = time_text(now);
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, w.uuid, w.url, w.secret, e.uuid, e.kind, e.body, d.attempts
         FROM webhook_deliveries d
         JOIN webhooks w ON w.id = d.webhook_id
         JOIN webhook_events e ON e.id = d.event_id
         WHERE d.state = 'pending' AND d.next_attempt_at <= ?1
           AND (d.claimed_until IS NULL OR d.claimed_until <= ?1)
           AND w.ended_at IS NULL
           AND NOT EXISTS (
               SELECT 1 FROM webhook_deliveries p
               WHERE p.webhook_id = d.webhook_id AND p.object_key = d.object_key
                 AND p.state = 'pending' AND p.event_id < d.event_id)
         ORDER BY d.event_id, d.id
         LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_t, limit as i64], |r| {
        Ok(Outgoing {
            delivery: r.get(0)?,
            webhook: cols::uuid(r, 1)?,
            url: r.get(2)?,
            secret: r.get(3)?,
            event: cols::uuid(r, 4)?,
            kind: r.get(5)?,
            body: r.get(6)?,
            attempts: r.get(7)?,
        })
    })?;
    let out: Vec<Outgoing> = rows.collect::<Result<_, _>>()?;
    let until = time_text(now + lease);
    for o in &out {
        conn.prepare_cached("UPDATE webhook_deliveries SET claimed_until = ?2 WHERE id = ?1")?
            .execute(params![o.delivery, until])?;
    }
    Ok(out)
}

/// What one attempt got.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// The start of its answer's body (kept to show in the console).
    pub answer: Option<String>,
    /// Why there was no answer (refused, timed out, ...).
    pub error: Option<String>,
}

/// Records an attempt of delivery `id` made at `now`: delivered on a 2xx; otherwise retried after
/// the domain's wait (its schedule starting at `first_retry`), or given up (`failed`) after the
/// last one. Returns the delivery's state.
pub fn record_attempt(
    conn: &Tx,
    id: i64,
    a: &Attempt,
    now: DateTime<Utc>,
    first_retry: chrono::Duration,
) -> Result<&'static str, StoreError> {
    let attempts: Option<u32> = conn
        .query_row(
            "SELECT attempts FROM webhook_deliveries WHERE id = ?1 AND state = 'pending'",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(attempts) = attempts else {
        return Ok("gone");
    };
    let attempts = attempts + 1;
    let now_t = time_text(now);
    let ok = a.status.is_some_and(lantian_domain::webhook::delivered);
    let (state, next) = if ok {
        ("delivered", now_t.clone())
    } else {
        match lantian_domain::webhook::retry_after(attempts, first_retry) {
            Some(wait) => ("pending", time_text(now + wait)),
            None => ("failed", now_t.clone()),
        }
    };
    conn.prepare_cached(
        "UPDATE webhook_deliveries SET state = ?2, attempts = ?3, next_attempt_at = ?4,
             claimed_until = NULL, last_status = ?5, last_answer = ?6, last_error = ?7,
             last_attempt_at = ?8, delivered_at = CASE WHEN ?2 = 'delivered' THEN ?8 END
         WHERE id = ?1",
    )?
    .execute(params![
        id, state, attempts, next, a.status, a.answer, a.error, now_t
    ])?;
    Ok(state)
}

/// A delivery as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub event: Uuid,
    pub kind: String,
    pub object_kind: String,
    pub object_id: String,
    pub occurred_at: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_status: Option<u16>,
    pub last_answer: Option<String>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
}

/// The newest `limit` deliveries to endpoint `id` before delivery `before` (paging), newest first.
pub fn deliveries(
    conn: &Tx,
    id: Uuid,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, e.uuid, e.kind, e.object_kind, e.object_id, e.occurred_at, d.state, d.attempts,
                d.next_attempt_at, d.last_status, d.last_answer, d.last_error, d.last_attempt_at,
                d.delivered_at
         FROM webhook_deliveries d
         JOIN webhooks w ON w.id = d.webhook_id
         JOIN webhook_events e ON e.id = d.event_id
         WHERE w.uuid = ?1 AND d.id < ?2
         ORDER BY d.id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![id.to_string(), before.unwrap_or(i64::MAX), limit as i64],
        |r| {
            Ok(DeliveryRecord {
                id: r.get(0)?,
                event: cols::uuid(r, 1)?,
                kind: r.get(2)?,
                object_kind: r.get(3)?,
                object_id: r.get(4)?,
                occurred_at: r.get(5)?,
                state: r.get(6)?,
                attempts: r.get(7)?,
                next_attempt_at: r.get(8)?,
                last_status: r.get(9)?,
                last_answer: r.get(10)?,
                last_error: r.get(11)?,
                last_attempt_at: r.get(12)?,
                delivered_at: r.get(13)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Puts a given-up delivery of endpoint `webhook` back in line, to be tried at once with the
/// retry schedule from its start. `false` if it is not that endpoint's or was not given up.
pub fn retry(conn: &Tx, webhook: Uuid, delivery: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?3,
             claimed_until = NULL
         WHERE id = ?1 AND state = 'failed'
           AND webhook_id = (SELECT id FROM webhooks WHERE uuid = ?2 AND ended_at IS NULL)",
        params![delivery, webhook.to_string(), crate::now_text()],
    )? > 0)
}

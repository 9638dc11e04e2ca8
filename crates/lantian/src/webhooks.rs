//! The webhook sender: claims due deliveries from the outbox (`App::claim_deliveries`), posts each
//! event's body, signed, to its endpoint, and records what the receiver answered
//! (`App::record_delivery`). The outbox, the order per object and the retry schedule are the
//! application's and the domain's; this is only the HTTP client and its loop.

use std::time::Duration;

use lantian_app::App;
use lantian_store::webhooks::{Attempt, Outgoing};

use crate::config::WebhookSettings;
use crate::outbound::Client;

/// Deliveries claimed at a time, sent together.
const BATCH: usize = 16;
/// How much of a receiver's answer is kept to show in the console.
const ANSWER_CHARS: usize = 500;
const ANSWER_BYTES: usize = 2000;

/// Sends one delivery and says what happened.
async fn send(http: &Client, o: &Outgoing) -> Attempt {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = lantian_domain::webhook::signature(&o.secret, timestamp, o.body.as_bytes());
    let headers = [
        ("content-type", "application/json".to_owned()),
        (
            "user-agent",
            concat!("lantian-webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
        ),
        ("lantian-webhook-id", o.event.to_string()),
        ("lantian-webhook-type", o.kind.clone()),
        ("lantian-webhook-timestamp", timestamp.to_string()),
        ("lantian-webhook-signature", signature),
    ];
    match http
        .post(
            &o.url,
            &headers,
            bytes::Bytes::from(o.body.clone()),
            ANSWER_BYTES,
        )
        .await
    {
        Ok(a) => Attempt {
            status: Some(a.status),
            answer: Some(a.body.chars().take(ANSWER_CHARS).collect::<String>())
                .filter(|t| !t.is_empty()),
            error: None,
        },
        Err(e) => Attempt {
            status: None,
            answer: None,
            error: Some(e.chars().take(ANSWER_CHARS).collect()),
        },
    }
}

/// Claims and sends one batch; how many were sent.
pub async fn send_due(app: &App, http: &Client, s: &WebhookSettings) -> anyhow::Result<usize> {
    // Held for longer than a send can take, so a live sender never loses its claim.
    let lease = chrono::Duration::seconds(s.timeout_secs.max(1) as i64 * 3 + 30);
    let due = app.claim_deliveries(lease, BATCH).await?;
    let n = due.len();
    let first_retry = chrono::Duration::milliseconds(s.first_retry_ms.max(1) as i64);
    let sent = futures_util::future::join_all(due.iter().map(|o| send(http, o))).await;
    for (o, attempt) in due.iter().zip(sent) {
        let ok = attempt
            .status
            .is_some_and(lantian_domain::webhook::delivered);
        if !ok {
            tracing::info!(url = %o.url, event = %o.event, status = ?attempt.status,
                error = ?attempt.error, attempts = o.attempts + 1, "webhook delivery failed; it is retried");
        }
        let state = app
            .record_delivery(o.delivery, attempt, first_retry)
            .await?;
        if state == "failed" {
            tracing::warn!(url = %o.url, event = %o.event, "webhook delivery given up after its last retry");
        }
    }
    Ok(n)
}

/// Sends deliveries as they fall due, for as long as the server runs.
pub async fn sender(app: App, settings: WebhookSettings) {
    let http = match Client::new(Duration::from_secs(settings.timeout_secs.max(1))) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: no HTTP client; nothing will be delivered");
            return;
        }
    };
    let poll = Duration::from_millis(settings.poll_ms.max(10));
    loop {
        match send_due(&app, &http, &settings).await {
            // A full batch: more may be waiting (or the next of an object just sent).
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook sending failed; trying again"),
        }
        tokio::time::sleep(poll).await;
    }
}

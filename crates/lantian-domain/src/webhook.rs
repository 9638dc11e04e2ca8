//! Webhooks: what other systems may subscribe to, how a delivery is signed, and when a failed
//! one is tried again. Pure: the store keeps the outbox, a job sends.
//!
//! A delivery is a `POST` of the event's JSON body with three headers:
//! `Lantian-Webhook-Id` (the event's id: the same on every retry, so a receiver recognises a
//! replay), `Lantian-Webhook-Timestamp` (Unix seconds of this attempt) and
//! `Lantian-Webhook-Signature: v1=<hex>`, the HMAC-SHA256, keyed by the endpoint's secret, of
//! `"{timestamp}.{body}"`. A receiver recomputes it, compares in constant time, and refuses a
//! timestamp far from its clock.

use hmac::{KeyInit, Mac};

use crate::ValidationError;

/// The event types, with what each reports.
pub const EVENTS: [(&str, &str); 7] = [
    (
        "inspection.reviewed",
        "an inspection was reviewed (approved, sent back or rejected)",
    ),
    ("rectification.opened", "a rectification order was opened"),
    (
        "rectification.overdue",
        "a rectification order passed its deadline unclosed",
    ),
    (
        "rectification.closed",
        "a rectification order was closed by its re-inspection",
    ),
    (
        "bulletin.published",
        "a month's official figures were published (a new revision)",
    ),
    ("alert.declared", "a pollution alert was declared"),
    (
        "alert.ended",
        "a pollution alert was lifted before its declared end",
    ),
];

/// Whether `kind` is an event type.
pub fn is_event(kind: &str) -> bool {
    EVENTS.iter().any(|(k, _)| *k == kind)
}

/// Endpoints per deployment: enough for every system a bureau connects, few enough to list.
pub const MAX_ENDPOINTS: usize = 50;

/// The rules of an endpoint: an `http` or `https` URL of at most 2,000 characters, without
/// credentials in it, and at least one known event type, each once.
pub fn check_endpoint(url: &str, events: &[String]) -> Result<(), ValidationError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest
        .and_then(|r| r.split(['/', '?', '#']).next())
        .unwrap_or("");
    if url.len() > 2000
        || host.is_empty()
        || host.contains('@')
        || url.chars().any(char::is_whitespace)
    {
        return Err(ValidationError::new(
            "url_invalid",
            "url",
            "an http:// or https:// address of at most 2000 characters, without credentials",
        ));
    }
    if events.is_empty() {
        return Err(ValidationError::new(
            "events_empty",
            "events",
            "subscribe to at least one event",
        ));
    }
    for (i, e) in events.iter().enumerate() {
        if !is_event(e) {
            return Err(ValidationError::new(
                "event_unknown",
                format!("events[{i}]"),
                format!("no event type {e}"),
            ));
        }
        if events[..i].contains(e) {
            return Err(ValidationError::new(
                "event_repeated",
                format!("events[{i}]"),
                format!("{e} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds) with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` at `timestamp` with `secret` (constant time), as a
/// receiver checks it.
pub fn verify(secret: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(hex_mac) = header.strip_prefix("v1=") else {
        return false;
    };
    let Ok(presented) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&presented).is_ok()
}

/// The first wait of the retry schedule, by default.
pub const FIRST_RETRY: chrono::Duration = chrono::Duration::seconds(10);

/// How long after the `attempts`-th failed attempt the next one is made; `None`: give up. The
/// waits grow from `first` (10 seconds by default) to 360 times it (an hour) and then stay there,
/// 78 attempts in all: about three days by default, so a receiver down over a weekend day misses
/// nothing. (Tests shorten `first`; the shape stays.)
pub fn retry_after(attempts: u32, first: chrono::Duration) -> Option<chrono::Duration> {
    const STEPS: [i32; 7] = [1, 3, 6, 30, 90, 180, 360];
    const LAST_ATTEMPT: u32 = 78;
    if attempts == 0 || attempts >= LAST_ATTEMPT {
        return None;
    }
    let i = (attempts as usize - 1).min(STEPS.len() - 1);
    Some(first * STEPS[i])
}

/// Whether an HTTP status counts as delivered: any 2xx. Anything else (and no answer) is retried.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_hmac_of_the_timestamp_and_the_body() {
        let s = signature("whsec_test", 1_764_000_000, b"{\"a\":1}");
        assert!(s.starts_with("v1=") && s.len() == 3 + 64, "{s}");
        assert!(verify("whsec_test", 1_764_000_000, b"{\"a\":1}", &s));
        assert!(
            !verify("whsec_test", 1_764_000_001, b"{\"a\":1}", &s),
            "another time"
        );
        assert!(
            !verify("whsec_other", 1_764_000_000, b"{\"a\":1}", &s),
            "another key"
        );
        assert!(
            !verify("whsec_test", 1_764_000_000, b"{\"a\":2}", &s),
            "another body"
        );
        assert!(!verify("whsec_test", 1_764_000_000, b"{\"a\":1}", "v2=00"));
    }

    #[test]
    fn the_signature_matches_an_independent_computation() {
        // Python: hmac.new(b"key", b"1.body", hashlib.sha256).hexdigest()
        assert_eq!(
            signature("key", 1, b"body"),
            "v1=91b5374b153842ad05b2c4eab9349b8321b14703165bd3fb8b034dfb8be98ae5"
        );
    }

    #[test]
    fn retries_span_three_days_then_stop() {
        let mut total = chrono::Duration::zero();
        let mut n = 1;
        while let Some(d) = retry_after(n, FIRST_RETRY) {
            total += d;
            n += 1;
        }
        assert!(total >= chrono::Duration::hours(70), "{total}");
        assert!(total <= chrono::Duration::hours(80), "{total}");
        assert_eq!(
            retry_after(1, FIRST_RETRY),
            Some(chrono::Duration::seconds(10))
        );
        assert_eq!(
            retry_after(7, FIRST_RETRY),
            Some(chrono::Duration::hours(1))
        );
        assert_eq!(retry_after(0, FIRST_RETRY), None);
    }

    #[test]
    fn an_endpoint_names_a_web_address_and_known_events() {
        let ev = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            check_endpoint(
                "https://hub.example.gov.cn/lantian",
                &ev(&["alert.declared"])
            )
            .is_ok()
        );
        assert!(check_endpoint("http://10.0.0.5:8080/in", &ev(&["rectification.closed"])).is_ok());
        for bad in [
            "ftp://x",
            "https://",
            "https://user:pw@host/",
            "javascript:alert(1)",
            "https://a b",
        ] {
            assert_eq!(
                check_endpoint(bad, &ev(&["alert.declared"])).map_err(|e| e.code),
                Err("url_invalid"),
                "{bad}"
            );
        }
        assert_eq!(
            check_endpoint("https://h/", &[]).map_err(|e| e.code),
            Err("events_empty")
        );
        assert_eq!(
            check_endpoint("https://h/", &ev(&["user.created"])).map_err(|e| e.code),
            Err("event_unknown")
        );
        assert_eq!(
            check_endpoint("https://h/", &ev(&["alert.declared", "alert.declared"]))
                .map_err(|e| e.code),
            Err("event_repeated")
        );
    }
}

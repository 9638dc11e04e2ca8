//! Reading typed values out of columns, with unreadable data reported as corrupt (naming the
//! column) rather than as a panic or a silent default.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A column holding JSON text.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    r: &crate::db::Row<'_>,
    i: usize,
) -> crate::db::Result<T> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text).map_err(|e| crate::corrupt(i, e.to_string()))
}

/// A column holding an RFC 3339 time.
pub(crate) fn time(r: &crate::db::Row<'_>, i: usize) -> crate::db::Result<DateTime<Utc>> {
    let text: String = r.get(i)?;
    crate::parse_time(&text).map_err(|e| crate::corrupt(i, e.to_string()))
}

/// A column holding a UUID as text.
pub(crate) fn uuid(r: &crate::db::Row<'_>, i: usize) -> crate::db::Result<Uuid> {
    let text: String = r.get(i)?;
    Uuid::parse_str(&text).map_err(|e| crate::corrupt(i, e.to_string()))
}

/// A column holding a review state; an unknown name is corrupt data, never some other state.
pub(crate) fn review_state(
    r: &crate::db::Row<'_>,
    i: usize,
) -> crate::db::Result<lantian_domain::review::ReviewState> {
    let text: String = r.get(i)?;
    lantian_domain::review::ReviewState::parse(&text)
        .ok_or_else(|| crate::corrupt(i, format!("unknown review state {text:?}")))
}

/// A column holding a review decision; an unknown name is corrupt data.
pub(crate) fn review_decision(
    r: &crate::db::Row<'_>,
    i: usize,
) -> crate::db::Result<lantian_domain::review::ReviewDecision> {
    let text: String = r.get(i)?;
    lantian_domain::review::ReviewDecision::parse(&text)
        .ok_or_else(|| crate::corrupt(i, format!("unknown review decision {text:?}")))
}

/// A column holding a unit path (`/root/child/`), as codes root first.
pub(crate) fn path(r: &crate::db::Row<'_>, i: usize) -> crate::db::Result<Vec<String>> {
    let text: String = r.get(i)?;
    Ok(text
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

/// A column holding a count or size (never negative).
pub(crate) fn count(r: &crate::db::Row<'_>, i: usize) -> crate::db::Result<u64> {
    let v: i64 = r.get(i)?;
    u64::try_from(v).map_err(|_| crate::corrupt(i, format!("negative count {v}")))
}

/// A count or size as SQLite's integer (sizes here are far below 2^63).
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

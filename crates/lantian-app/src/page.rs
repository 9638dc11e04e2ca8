//! The cursor of paged lists (subjects, the review queue, orders): opaque to clients, it wraps the
//! internal id of the last row served. One encoding for every list.

use base64::Engine;

use crate::AppError;

/// Which list a cursor belongs to: a cursor of one list is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Subjects,
    /// The review queue and the orders.
    Rows,
}

impl List {
    fn prefix(self) -> &'static str {
        match self {
            List::Subjects => "s:",
            List::Rows => "r:",
        }
    }
}

/// The cursor of `list` after internal id `after`.
pub fn encode(list: List, after: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}{after}", list.prefix()))
}

/// The internal id a cursor of `list` names (0 without one). A cursor that was not made by
/// [`encode`] for this list is `bad_request` on `cursor`.
pub fn decode(list: List, cursor: Option<&str>) -> Result<i64, AppError> {
    let Some(c) = cursor else { return Ok(0) };
    let bad = || AppError::bad_request("cursor").detail("cursor_invalid");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    String::from_utf8(bytes)
        .ok()
        .and_then(|t| t.strip_prefix(list.prefix()).and_then(|n| n.parse().ok()))
        .filter(|n: &i64| *n >= 0)
        .ok_or_else(bad)
}

/// A page size: `default` when not given, else 1 to `max`.
pub fn limit(given: Option<u32>, default: u32, max: u32) -> Result<usize, AppError> {
    match given.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n as usize),
        _ => Err(AppError::bad_request("limit").note(format!("1 to {max}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_refused() {
        assert_eq!(decode(List::Rows, Some(&encode(List::Rows, 42))), Ok(42));
        assert_eq!(decode(List::Subjects, None), Ok(0));
        let subjects = encode(List::Subjects, 42);
        for bad in ["", "!!", "cjotMQ", "eDo0Mg", subjects.as_str()] {
            let e = decode(List::Rows, Some(bad)).expect_err(bad);
            assert_eq!(
                (e.code, e.detail.as_deref()),
                ("bad_request", Some("cursor_invalid"))
            );
        }
    }

    #[test]
    fn limits_outside_their_range_are_refused_not_clamped() {
        assert_eq!(limit(None, 20, 200), Ok(20));
        assert_eq!(limit(Some(200), 20, 200), Ok(200));
        assert_eq!(
            limit(Some(0), 20, 200).map_err(|e| e.field),
            Err(Some("limit".into()))
        );
        assert!(limit(Some(201), 20, 200).is_err());
    }
}

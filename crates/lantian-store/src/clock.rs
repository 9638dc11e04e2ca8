//! The time the store records: the wall clock, except inside [`Store::write_at`], which records a
//! write as of a given time. Only the demo's history uses that (it lays down two past months of
//! work through the same write paths the server uses), so that every timestamp of that history —
//! received, decided, opened, audited, logged for sync — is the simulated one. The override is
//! per thread and lasts exactly one closure on the writer thread: requests served meanwhile, in
//! the same batch or not, keep the wall clock.
//!
//! [`Store::write_at`]: crate::Store::write_at

use std::cell::Cell;

use chrono::{DateTime, Utc};

thread_local! {
    static FROZEN: Cell<Option<DateTime<Utc>>> = const { Cell::new(None) };
}

/// The time to record now.
pub fn now() -> DateTime<Utc> {
    FROZEN.with(Cell::get).unwrap_or_else(Utc::now)
}

/// Runs `f` with the clock reading `at` on this thread.
pub(crate) fn at<T>(at: DateTime<Utc>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<DateTime<Utc>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FROZEN.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FROZEN.with(|c| c.replace(Some(at))));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_frozen_only_inside() {
        let then: DateTime<Utc> = "2026-10-05T02:00:00Z".parse().expect("time");
        assert_eq!(at(then, now), then);
        assert!(now() > then);
        let nested = at(then, || at(then + chrono::Duration::hours(1), now));
        assert_eq!(nested, then + chrono::Duration::hours(1));
        assert!(now() > then);
    }
}

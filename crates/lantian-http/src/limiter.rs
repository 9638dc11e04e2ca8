//! Fixed-window counters for login attempts: per account (failures) and per peer address
//! (attempts). One SQLite server keeps them in memory: a restart forgets them, which only ever
//! loosens a limit for a few minutes. Nodes sharing a PostgreSQL database count in it
//! (`login_counters`), so that an attacker gains nothing by spreading attempts over the nodes
//! behind a load balancer. IPv6 peers are counted per /64, since one host controls a whole /64.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

/// One key's window: when it started, how many events it counted, and the limit it counts under
/// (each entry keeps its own, so pruning a per-address entry never cuts an account's lockout short).
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
    limit: Limit,
}

impl Window {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.start) >= self.limit.window
    }
    fn blocking(&self, now: Instant) -> bool {
        !self.expired(now) && self.count >= self.limit.max
    }
}

#[derive(Debug, Default)]
pub struct Limiter {
    windows: Mutex<HashMap<String, Window>>,
}

/// Where the counts are kept: this process's memory, or the database the nodes share.
pub enum Counters {
    Memory(Limiter),
    Shared(lantian_store::Store),
}

impl Counters {
    /// Whether `key` is already over `limit`; if so, how long until its window ends. A counter
    /// that cannot be read counts as none (the limit fails open for a moment rather than every
    /// sign-in failing with the database).
    pub async fn blocked(&self, key: &str, limit: Limit) -> Option<Duration> {
        match self {
            Counters::Memory(l) => l.blocked(key, limit),
            Counters::Shared(store) => {
                let k = key.to_owned();
                let now = chrono::Utc::now();
                match store
                    .read(move |c| lantian_store::identity::attempts(c, &k, now))
                    .await
                {
                    Ok(Some((n, ends))) if n >= i64::from(limit.max) => {
                        Some((ends - now).to_std().unwrap_or_default())
                    }
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read a login counter");
                        None
                    }
                }
            }
        }
    }

    /// Counts one event for `key`; returns how long to wait if this event went over the limit.
    pub async fn hit(&self, key: &str, limit: Limit) -> Option<Duration> {
        match self {
            Counters::Memory(l) => l.hit(key, limit),
            Counters::Shared(store) => {
                let k = key.to_owned();
                let now = chrono::Utc::now();
                let window = chrono::Duration::from_std(limit.window)
                    .unwrap_or_else(|_| chrono::Duration::minutes(15));
                match store
                    .write(move |c| lantian_store::identity::count_attempt(c, &k, now, window))
                    .await
                {
                    Ok((n, ends)) if n > i64::from(limit.max) => {
                        Some((ends - now).to_std().unwrap_or_default())
                    }
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot count a login attempt");
                        None
                    }
                }
            }
        }
    }

    pub async fn reset(&self, key: &str) {
        match self {
            Counters::Memory(l) => l.reset(key),
            Counters::Shared(store) => {
                let k = key.to_owned();
                if let Err(e) = store
                    .write(move |c| lantian_store::identity::clear_attempts(c, &k))
                    .await
                {
                    tracing::warn!(error = %e, "cannot clear a login counter");
                }
            }
        }
    }
}

/// Most keys kept. At the cap, expired windows go first, then windows that block nobody; if every
/// kept window is an active lockout, a new key is refused (counted as over its limit) rather than
/// letting a flood of new keys push lockouts out.
const MAX_KEYS: usize = 100_000;

impl Limiter {
    /// The counters. A panic while the lock was held leaves counts that are still counts: carry on
    /// with them rather than fail open (a poisoned lock must not lift every limit).
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `key` is already over `limit`; if so, how long until its window ends.
    pub fn blocked(&self, key: &str, limit: Limit) -> Option<Duration> {
        let now = Instant::now();
        let map = self.map();
        let w = map.get(key)?;
        let elapsed = now.duration_since(w.start);
        (elapsed < limit.window && w.count >= limit.max).then(|| limit.window - elapsed)
    }

    /// Counts one event for `key`; returns how long to wait if this event went over the limit.
    pub fn hit(&self, key: &str, limit: Limit) -> Option<Duration> {
        self.hit_at(key, limit, Instant::now(), MAX_KEYS)
    }

    fn hit_at(&self, key: &str, limit: Limit, now: Instant, cap: usize) -> Option<Duration> {
        let mut map = self.map();
        if !map.contains_key(key) && map.len() >= cap {
            map.retain(|_, w| !w.expired(now));
            if map.len() >= cap {
                map.retain(|_, w| w.blocking(now));
            }
            if map.len() >= cap {
                // Full of active lockouts: refuse, for the shortest window this key could have.
                return Some(limit.window);
            }
        }
        let w = map.entry(key.to_owned()).or_insert(Window {
            start: now,
            count: 0,
            limit,
        });
        if w.expired(now) {
            *w = Window {
                start: now,
                count: 0,
                limit,
            };
        }
        w.limit = limit;
        w.count = w.count.saturating_add(1);
        let elapsed = now.duration_since(w.start);
        (w.count > limit.max).then(|| limit.window.saturating_sub(elapsed))
    }

    pub fn reset(&self, key: &str) {
        self.map().remove(key);
    }
}

/// The key a peer address is counted under.
pub fn peer_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("peer:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("peer:{v4}"),
            None => {
                let s = v6.segments();
                format!("peer:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_blocked_after_its_limit_and_others_are_not() {
        let l = Limiter::default();
        let limit = Limit {
            max: 3,
            window: Duration::from_secs(60),
        };
        for _ in 0..3 {
            assert!(l.hit("a", limit).is_none());
        }
        assert!(l.blocked("a", limit).is_some());
        assert!(l.hit("a", limit).is_some());
        assert!(l.blocked("b", limit).is_none());
        l.reset("a");
        assert!(l.blocked("a", limit).is_none());
    }

    #[test]
    fn pruning_for_a_short_window_keeps_a_long_lockout() {
        let l = Limiter::default();
        let account = Limit {
            max: 2,
            window: Duration::from_secs(900),
        };
        let peer = Limit {
            max: 30,
            window: Duration::from_secs(60),
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            l.hit_at("account:officer", account, t0, 2);
        }
        l.hit_at("peer:10.0.0.1", peer, t0, 2);
        // Two minutes later a new peer arrives at the cap: the expired peer window goes, the
        // account's 15-minute lockout stays.
        let later = t0 + Duration::from_secs(120);
        assert!(l.hit_at("peer:10.0.0.2", peer, later, 2).is_none());
        assert!(l.blocked("account:officer", account).is_some());
    }

    #[test]
    fn the_cap_is_hard_and_never_evicts_an_active_lockout() {
        let l = Limiter::default();
        let limit = Limit {
            max: 1,
            window: Duration::from_secs(900),
        };
        let t0 = Instant::now();
        for k in ["a", "b"] {
            l.hit_at(k, limit, t0, 2);
            l.hit_at(k, limit, t0, 2);
        }
        // Both keys are locked out; a third key is refused rather than pushing one out.
        assert!(l.hit_at("c", limit, t0, 2).is_some());
        assert_eq!(l.map().len(), 2);
        assert!(l.blocked("a", limit).is_some() && l.blocked("b", limit).is_some());
    }

    #[test]
    fn a_poisoned_lock_keeps_its_limits() {
        let l = std::sync::Arc::new(Limiter::default());
        let limit = Limit {
            max: 1,
            window: Duration::from_secs(60),
        };
        l.hit("a", limit);
        l.hit("a", limit);
        let poisoner = std::sync::Arc::clone(&l);
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.windows.lock();
            panic!("poison the lock");
        })
        .join();
        assert!(l.windows.is_poisoned());
        assert!(l.blocked("a", limit).is_some());
        assert!(l.hit("a", limit).is_some());
    }

    #[test]
    fn ipv6_peers_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert_eq!(peer_key(a), peer_key(b));
        let v4: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert_eq!(peer_key(v4), "peer:127.0.0.1");
    }
}

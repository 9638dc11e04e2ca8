//! Fixed-window counters for login attempts: per account (failures) and per peer address
//! (attempts). In memory, per server: a restart forgets them, which only ever loosens a limit for a
//! few minutes. IPv6 peers are counted per /64, since one host controls a whole /64.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

#[derive(Debug, Default)]
pub struct Limiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

const MAX_KEYS: usize = 100_000;

impl Limiter {
    /// Whether `key` is already over `limit`; if so, how long until its window ends.
    pub fn blocked(&self, key: &str, limit: Limit) -> Option<Duration> {
        let now = Instant::now();
        let map = self.windows.lock().ok()?;
        let (start, count) = map.get(key)?;
        let elapsed = now.duration_since(*start);
        (elapsed < limit.window && *count >= limit.max).then(|| limit.window - elapsed)
    }

    /// Counts one event for `key`; returns how long to wait if this event went over the limit.
    pub fn hit(&self, key: &str, limit: Limit) -> Option<Duration> {
        let now = Instant::now();
        let Ok(mut map) = self.windows.lock() else {
            return None;
        };
        if map.len() >= MAX_KEYS {
            map.retain(|_, (start, _)| now.duration_since(*start) < limit.window);
        }
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= limit.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let elapsed = now.duration_since(entry.0);
        (entry.1 > limit.max).then(|| limit.window.saturating_sub(elapsed))
    }

    pub fn reset(&self, key: &str) {
        if let Ok(mut map) = self.windows.lock() {
            map.remove(key);
        }
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
    fn ipv6_peers_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert_eq!(peer_key(a), peer_key(b));
        let v4: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert_eq!(peer_key(v4), "peer:127.0.0.1");
    }
}

//! The client's address behind reverse proxies and load balancers.
//!
//! A proxy appends the address it received a request from to `X-Forwarded-For`, so the header
//! reads `client, proxy1, proxy2` and the TCP peer is the last proxy. Anyone can send the header,
//! so it is believed only as far as trusted hands wrote it: when the peer is one of the configured
//! trusted proxies, the entries are read from the right, trusted addresses are skipped, and the
//! first address that is not trusted is the client. A peer that is not trusted is the client
//! itself, whatever the header says; with no trusted proxies configured (the default) the header
//! is never read. This is what nginx's `real_ip_recursive on` does.
//!
//! The login limits count attempts per client address: behind a load balancer without this,
//! every officer of a city would share the balancer's address, and one password-guessing script
//! would pause them all.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Addresses and networks whose `X-Forwarded-For` entries are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A trusted-proxy entry that is neither an address nor a network.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is neither an IP address nor a network such as 10.0.0.0/8 or fd00::/8")]
pub struct BadProxy(pub String);

impl TrustedProxies {
    /// Parses addresses (`10.1.2.3`, `::1`) and networks (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadProxy> {
        entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                e.parse::<IpNet>()
                    .map(|n| n.trunc())
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(e.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address, given the TCP peer and the request's headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        // Every `X-Forwarded-For` header, in order, is one list.
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut nearest = peer;
        for entry in entries.iter().rev() {
            match parse_entry(entry) {
                // A trusted proxy says it received the request from here.
                Some(ip) if self.trusts(ip) => nearest = ip,
                Some(ip) => return ip,
                // Not an address where a trusted hand should have written one: believe no
                // further than the last trusted hop.
                None => return nearest,
            }
        }
        nearest
    }
}

/// One entry: an address, possibly with a port (`1.2.3.4:5678`, `[2001:db8::1]:443`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn without_trusted_proxies_the_header_is_never_read() {
        let t = TrustedProxies::default();
        let h = headers(&["203.0.113.9"]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).expect("parse");
        let h = headers(&["10.0.0.7, 203.0.113.9"]);
        assert_eq!(t.client(ip("198.51.100.4"), &h), ip("198.51.100.4"));
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_entry_from_the_right_is_the_client() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.5"]).expect("parse");
        // The officer's phone forged the first entry; the edge proxy appended what it saw.
        let h = headers(&["1.2.3.4, 203.0.113.9", "192.168.1.5"]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // No header: the proxy itself (requests it makes on its own account).
        assert_eq!(t.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        // Only trusted hops: the furthest of them.
        let h = headers(&["10.9.9.9, 192.168.1.5"]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("10.9.9.9"));
    }

    #[test]
    fn garbage_and_ports_and_mapped_addresses() {
        let t = TrustedProxies::parse(&["10.0.0.1", "fd00::/8"]).expect("parse");
        // Garbage a trusted proxy would not write: believe no further than that proxy.
        let h = headers(&["203.0.113.9, unknown"]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        let h = headers(&["203.0.113.9:51234"]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        let h = headers(&["[2001:db8::7]:443"]);
        assert_eq!(t.client(ip("fd00::1"), &h), ip("2001:db8::7"));
        // A dual-stack listener sees IPv4 proxies as IPv4-mapped IPv6 addresses.
        let h = headers(&["203.0.113.9"]);
        assert_eq!(t.client(ip("::ffff:10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn entries_that_are_not_addresses_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/8", " ::1 "]).is_ok());
        let e = TrustedProxies::parse(&["proxy.example"]).expect_err("refused");
        assert!(e.to_string().contains("proxy.example"));
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
    }
}

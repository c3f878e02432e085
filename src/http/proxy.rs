//! Who the client is behind a reverse proxy: trusted proxy networks and
//! the `X-Forwarded-For` walk.
//!
//! `X-Forwarded-For` is a comma-separated list that each proxy appends
//! the address it received the request from to (the de-facto form that
//! RFC 7239 §1 and §7.4 describe; `Forwarded` itself is not read). Any
//! client can send the header, so only hops added by proxies the
//! operator trusts mean anything: starting from the peer, each hop is
//! believed only while the hop that reported it is a trusted proxy, and
//! the client is the right-most address that is not one.

use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;

/// An IP network, `10.0.0.0/8` or `fd00::/8`, or one address (`/32`,
/// `/128`). IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) match the IPv4
/// network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = String;

    /// Parses `ADDR` or `ADDR/PREFIX` (IPv4 prefix 0–32, IPv6 0–128).
    /// Errors: a message naming what is wrong.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(addr.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network (e.g. 10.0.0.0/8, ::1)"))?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

/// The client's address: `peer` itself unless `peer` is a trusted proxy,
/// in which case the `X-Forwarded-For` hops (all such headers, in order)
/// are walked from the right and the first address that is not a trusted
/// proxy is the client. When every hop is trusted, the left-most one is;
/// an unparseable hop stops the walk at the proxy that reported it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `::1` or
/// `[::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(hop) {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = std::net::SocketAddr::from_str(hop) {
        return Some(sock.ip().to_canonical());
    }
    IpAddr::from_str(hop.trim_start_matches('[').trim_end_matches(']'))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match_v4_v6_and_mapped_addresses() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.200.1.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")));
        assert!(!n.contains(ip("11.0.0.1")));
        let one: IpNet = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("example.com".parse::<IpNet>().is_err());
    }

    #[test]
    fn forwarded_for_is_ignored_from_an_untrusted_peer() {
        let h = xff(&["203.0.113.9"]);
        assert_eq!(
            client_ip(ip("198.51.100.7"), &h, &nets(&["127.0.0.1"])),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &[]), ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_for_from_a_trusted_proxy_yields_the_right_most_untrusted_hop() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        // The client forged the left-most entry; the proxies appended the rest.
        let h = xff(&["6.6.6.6, 203.0.113.9", "10.1.1.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // Every hop trusted: the left-most is the client.
        let h = xff(&["10.2.2.2, 10.1.1.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("10.2.2.2"));
        // No header: the proxy itself.
        assert_eq!(client_ip(ip("127.0.0.1"), &HeaderMap::new(), &trusted), ip("127.0.0.1"));
        // Ports and brackets are accepted; garbage stops at the proxy that reported it.
        let h = xff(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("2001:db8::1"));
        let h = xff(&["203.0.113.9, bogus, 10.1.1.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("10.1.1.1"));
    }
}

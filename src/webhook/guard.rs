//! The SSRF guard (SPEC §7): which addresses a webhook may be delivered
//! to. A webhook URL is chosen by an agent — a model acting on untrusted
//! input — so without a guard it could make the relay POST to the
//! machine's own services, the LAN, or a cloud metadata endpoint.
//!
//! Every delivery resolves the URL's host, refuses each address in a
//! forbidden class ([`classify`]) unless the operator's `[webhooks] allow`
//! admits it, and connects to the address it checked (the HTTP client is
//! pinned to it, so there is no second lookup to rebind). A literal IP in
//! a forbidden class is refused when the webhook is registered, before
//! any traffic. Cloud-metadata host names are refused by name.
//!
//! Forbidden classes (IANA special-purpose registries, RFC 6890):
//! unspecified and "this network" (0.0.0.0/8, `::`), loopback (127/8,
//! `::1`), private (10/8, 172.16/12, 192.168/16, fc00::/7), shared/CGNAT
//! (100.64/10, RFC 6598), link-local (169.254/16, fe80::/10), multicast
//! (224/4, ff00::/8), broadcast (255.255.255.255), documentation
//! (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20),
//! reserved and special-purpose (240/4, 192.0.0/24, 198.18/15
//! benchmarking, 192.88.99/24, 100::/64 discard, fec0::/10 site-local,
//! 2001::/23 IETF protocol assignments incl. Teredo, 64:ff9b:1::/48),
//! and the cloud metadata addresses 169.254.169.254, fd00:ec2::254 and
//! 100.100.100.200. IPv6 forms that embed an IPv4 address are judged by
//! that address: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
//! `::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`
//! (RFC 6052) and 6to4 `2002::/16` (RFC 3056).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused: its class, as written in errors and in a
/// delivery's `last_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 0.0.0.0/8, `::`.
    Unspecified,
    /// 127.0.0.0/8, `::1`.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918), fc00::/7 (RFC 4193).
    Private,
    /// 100.64.0.0/10 (RFC 6598).
    SharedCgnat,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// Documentation ranges (RFC 5737, RFC 3849, RFC 9637).
    Documentation,
    /// Reserved or special-purpose ranges (240/4, 198.18/15, 100::/64…).
    Reserved,
    /// A cloud provider's instance-metadata service (AWS, GCP, Azure,
    /// Alibaba).
    Metadata,
}

impl Class {
    /// The class in words.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::SharedCgnat => "shared (CGNAT)",
            Self::LinkLocal => "link-local",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Reserved => "reserved",
            Self::Metadata => "cloud metadata",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cloud metadata addresses, refused even inside an allowlisted network
/// unless listed as that single address.
const METADATA_V4: [Ipv4Addr; 2] = [Ipv4Addr::new(169, 254, 169, 254), Ipv4Addr::new(100, 100, 100, 200)];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

/// Host names of metadata services, refused by name (lower case, no
/// trailing dot).
pub const METADATA_NAMES: [&str; 5] = [
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Whether `host` (a DNS name) names a metadata service.
pub fn is_metadata_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    METADATA_NAMES.contains(&h.as_str())
}

/// The forbidden class of `ip`, or `None` for an address a webhook may be
/// delivered to. IPv6 forms embedding an IPv4 address are judged by it.
pub fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    let [a, b, c, _] = ip.octets();
    if METADATA_V4.contains(&ip) {
        return Some(Class::Metadata);
    }
    Some(match (a, b, c) {
        (0, _, _) => Class::Unspecified,
        (127, _, _) => Class::Loopback,
        (10, _, _) | (192, 168, _) => Class::Private,
        (172, 16..=31, _) => Class::Private,
        (100, 64..=127, _) => Class::SharedCgnat,
        (169, 254, _) => Class::LinkLocal,
        (224..=239, _, _) => Class::Multicast,
        _ if ip.is_broadcast() => Class::Broadcast,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Class::Documentation,
        (240..=255, _, _) | (192, 0, 0) | (198, 18..=19, _) | (192, 88, 99) => Class::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    if METADATA_V6.contains(&ip) {
        return Some(Class::Metadata);
    }
    let s = ip.segments();
    let bits = u128::from(ip);
    let within = |net: u128, prefix: u32| bits >> (128 - prefix) == net >> (128 - prefix);
    Some(if ip.is_unspecified() {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if s[0] & 0xfe00 == 0xfc00 {
        Class::Private
    } else if s[0] & 0xffc0 == 0xfe80 {
        Class::LinkLocal
    } else if s[0] & 0xff00 == 0xff00 {
        Class::Multicast
    } else if within(0x2001_0db8 << 96, 32) || within(0x3fff << 112, 20) {
        Class::Documentation
    } else if s[0] & 0xffc0 == 0xfec0            // site-local (deprecated)
        || within(0x0100 << 112, 64)            // discard-only
        || within(0x2001 << 112, 23)            // IETF protocol assignments, Teredo
        || within(0x0064_ff9b_0001 << 80, 48)   // local-use NAT64
        || s[0] == 0
    // ::/16 leftovers (old compatible forms)
    {
        Class::Reserved
    } else {
        return None;
    })
}

/// The IPv4 address an IPv6 address carries, for the forms that route to
/// it: mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d` (not `::` or
/// `::1`), translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and
/// 6to4 `2002:aabb:ccdd::`.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, _, _] if u128::from(ip) > 1 => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

/// Which addresses a delivery may reach: every address outside the
/// forbidden classes, plus what the operator's `[webhooks] allow` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<ipnet::IpNet>,
}

/// A refused address: what it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The address.
    pub ip: IpAddr,
    /// Its class.
    pub class: Class,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is a {} address", self.ip, self.class)
    }
}

impl Policy {
    /// A policy admitting the networks of `allow` (see
    /// [`crate::config::WebhookSettings::allow`]).
    pub fn new(allow: Vec<ipnet::IpNet>) -> Self {
        Self { allow }
    }

    /// Whether a delivery may connect to `ip`: `Err` with the class when
    /// it is forbidden and not allowlisted. An IPv6 form embedding an
    /// IPv4 address is matched against the allowlist as that address too.
    /// A metadata address needs an allowlist entry naming exactly it.
    ///
    /// Errors: [`Refused`].
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let Some(class) = classify(ip) else {
            return Ok(());
        };
        let canonical = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let admitted = self.allow.iter().any(|net| {
            let single = net.prefix_len() == net.max_prefix_len();
            (class != Class::Metadata || single) && (net.contains(&ip) || net.contains(&canonical))
        });
        if admitted { Ok(()) } else { Err(Refused { ip, class }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<Class> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn every_forbidden_class_is_refused() {
        use Class::*;
        for (ip, want) in [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("::", Unspecified),
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("::1", Loopback),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.254", SharedCgnat),
            ("169.254.1.1", LinkLocal),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("ff02::1", Multicast),
            ("255.255.255.255", Broadcast),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("240.0.0.1", Reserved),
            ("198.18.0.1", Reserved),
            ("192.0.0.8", Reserved),
            ("192.88.99.1", Reserved),
            ("100::1", Reserved),
            ("fec0::1", Reserved),
            ("2001::1", Reserved),
            ("64:ff9b:1::1", Reserved),
            ("169.254.169.254", Metadata),
            ("100.100.100.200", Metadata),
            ("fd00:ec2::254", Metadata),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_embedding_ipv4_are_judged_by_the_ipv4_address() {
        use Class::*;
        for (ip, want) in [
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:7f00:1", Some(Loopback)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:169.254.169.254", Some(Metadata)),
            ("::127.0.0.1", Some(Loopback)),
            ("::ffff:0:192.168.0.1", Some(Private)),
            ("64:ff9b::10.0.0.1", Some(Private)),
            ("64:ff9b::169.254.169.254", Some(Metadata)),
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:c0a8:101::1", Some(Private)),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::8.8.8.8", None),
            ("2002:808:808::1", None),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn metadata_names_are_refused_by_name() {
        assert!(is_metadata_name("metadata.google.internal"));
        assert!(is_metadata_name("Metadata.Google.Internal."));
        assert!(is_metadata_name("instance-data"));
        assert!(!is_metadata_name("hooks.example.com"));
    }

    #[test]
    fn the_allowlist_admits_what_it_names() {
        let nets = |v: &[&str]| Policy::new(v.iter().map(|s| s.parse().unwrap()).collect());
        let none = Policy::default();
        assert!(none.check("127.0.0.1".parse().unwrap()).is_err());
        assert!(none.check("8.8.8.8".parse().unwrap()).is_ok());
        let local = nets(&["127.0.0.1/32", "10.1.0.0/16"]);
        assert!(local.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(
            local.check("::ffff:127.0.0.1".parse().unwrap()).is_ok(),
            "mapped form of an allowed address"
        );
        assert!(local.check("127.0.0.2".parse().unwrap()).is_err());
        assert!(local.check("10.1.9.9".parse().unwrap()).is_ok());
        assert!(local.check("10.2.0.1".parse().unwrap()).is_err());
        let e = local.check("::1".parse().unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "::1 is a loopback address");
        // A broad network does not admit the metadata service...
        let broad = nets(&["169.254.0.0/16", "0.0.0.0/0"]);
        assert!(broad.check("169.254.1.1".parse().unwrap()).is_ok());
        assert_eq!(
            broad.check("169.254.169.254".parse().unwrap()).unwrap_err().class,
            Class::Metadata
        );
        // ...only the address itself does.
        assert!(
            nets(&["169.254.169.254/32"])
                .check("169.254.169.254".parse().unwrap())
                .is_ok()
        );
    }
}

//! What a feed may never ban, whatever it says: the host's own addresses, loopback,
//! unspecified, multicast and broadcast, a trusted prefix (or a range overlapping one), and
//! ranges so wide they would cut the host off (shorter than /8 for IPv4, /16 for IPv6).
use std::net::IpAddr;

use ipnet::IpNet;

/// Why `net` may not be banned, or `None` when it may.
pub fn refuse(net: &IpNet, own: &[IpAddr], trusted: &[IpNet]) -> Option<&'static str> {
    let min = if net.addr().is_ipv4() { 8 } else { 16 };
    if net.prefix_len() < min {
        return Some("wider than /8 (IPv4) or /16 (IPv6)");
    }
    let a = net.addr();
    let special = a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || matches!(a, IpAddr::V4(v4) if v4.is_broadcast());
    if special
        || net.contains(&IpAddr::from([127, 0, 0, 1]))
        || net.contains(&IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]))
    {
        return Some("loopback, unspecified, multicast or broadcast");
    }
    if own
        .iter()
        .any(|o| net.contains(&crate::parse::fold_addr(*o)))
    {
        return Some("holds one of the host's own addresses");
    }
    if trusted.iter().any(|t| t.contains(net) || net.contains(t)) {
        return Some("overlaps a trusted prefix ([global] trusted)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_trusted_loopback_and_wide_ranges_are_refused() {
        let own: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        let trusted: Vec<IpNet> = vec!["198.51.100.10/32".parse().unwrap()];
        for n in [
            "192.0.2.1/32",
            "192.0.2.0/24",
            "198.51.100.0/24",
            "198.51.100.10/32",
            "127.0.0.1/32",
            "0.0.0.0/0",
            "10.0.0.0/7",
            "::1/128",
            "::/0",
            "ff02::1/128",
            "255.255.255.255/32",
        ] {
            assert!(refuse(&n.parse().unwrap(), &own, &trusted).is_some(), "{n}");
        }
        for n in [
            "203.0.113.9/32",
            "203.0.113.0/24",
            "2001:db8:66::/48",
            "10.0.0.0/8",
        ] {
            assert_eq!(refuse(&n.parse().unwrap(), &own, &trusted), None, "{n}");
        }
    }
}

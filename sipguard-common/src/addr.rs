//! IPv6 forms of IPv4 addresses, judged as their IPv4 address by both programs and by user
//! space: a dual-stack PBX socket sees a packet from `::ffff:a.b.c.d` as the IPv4 peer, so a
//! deny, ban or allow list of `a.b.c.d` must cover it.

/// The IPv4 address an IPv6 address stands for, if it is one of:
/// - IPv4-mapped, `::ffff:a.b.c.d` (RFC 4291 2.5.5.2);
/// - IPv4-compatible, `::a.b.c.d` (deprecated, RFC 4291 2.5.5.1), except where `a` is 0:
///   that keeps `::`, `::1` and the rest of `::/104` IPv6;
/// - the NAT64 well-known prefix, `64:ff9b::a.b.c.d` (RFC 6052).
#[inline(always)]
pub fn ipv4_in_ipv6(a: &[u8; 16]) -> Option<[u8; 4]> {
    let v4 = [a[12], a[13], a[14], a[15]];
    let zero_8_12 = a[8] | a[9] | a[10] | a[11] == 0;
    let zero_4_8 = a[4] | a[5] | a[6] | a[7] == 0;
    let head = [a[0], a[1], a[2], a[3]];
    let mapped = head == [0; 4] && zero_4_8 && a[8] | a[9] == 0 && a[10] & a[11] == 0xff;
    let compatible = head == [0; 4] && zero_4_8 && zero_8_12 && v4[0] != 0;
    let nat64 = head == NAT64_WKP && zero_4_8 && zero_8_12;
    if mapped || compatible || nat64 {
        Some(v4)
    } else {
        None
    }
}

/// The NAT64 well-known prefix `64:ff9b::/96`, its first 4 bytes.
pub const NAT64_WKP: [u8; 4] = [0x00, 0x64, 0xff, 0x9b];

/// For a prefix of `len` bits over IPv6 `a`: the IPv4 prefix it stands for, when it lies
/// wholly inside one of [`ipv4_in_ipv6`]'s ranges: `len` at least 96, and for the compatible
/// form, whose `::/104` (`0.0.0.0/8`) stays IPv6, no address of `::/104` in it (at least 104,
/// or a shorter prefix whose bits of the first IPv4 byte are not all 0: `::240.0.0.0/100`).
pub fn ipv4_net_in_ipv6(a: &[u8; 16], len: u8) -> Option<([u8; 4], u8)> {
    let v4 = ipv4_in_ipv6(a)?;
    if !(96..=128).contains(&len) {
        return None;
    }
    let compatible = a[..12].iter().all(|b| *b == 0);
    // The bits of the first IPv4 byte the prefix fixes (none at /96).
    let fixed = v4[0]
        .checked_shr(u32::from(104 - len.min(104)))
        .unwrap_or(0);
    (!compatible || fixed != 0).then_some((v4, len - 96))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn mapped_compatible_and_nat64_forms_are_their_ipv4_address() {
        for s in ["::ffff:192.0.2.7", "::192.0.2.7", "64:ff9b::192.0.2.7"] {
            assert_eq!(ipv4_in_ipv6(&v6(s)), Some([192, 0, 2, 7]), "{s}");
        }
        assert_eq!(ipv4_in_ipv6(&v6("::ffff:0.0.0.0")), Some([0; 4]));
    }

    #[test]
    fn loopback_unspecified_and_ordinary_ipv6_stay_ipv6() {
        for s in [
            "::",
            "::1",
            "::0.1.2.3",
            "2001:db8::c000:207",
            "::fffe:192.0.2.7",
            "::1:ffff:192.0.2.7",
            "64:ff9b:1::192.0.2.7",
            "64:ff9b::1:192.0.2.7",
            "fe80::ffff:192.0.2.7",
        ] {
            assert_eq!(ipv4_in_ipv6(&v6(s)), None, "{s}");
        }
    }

    #[test]
    fn prefixes_inside_a_form_are_their_ipv4_prefix() {
        assert_eq!(
            ipv4_net_in_ipv6(&v6("::ffff:192.0.2.0"), 120),
            Some(([192, 0, 2, 0], 24))
        );
        assert_eq!(ipv4_net_in_ipv6(&v6("64:ff9b::"), 96), Some(([0; 4], 0)));
        assert_eq!(ipv4_net_in_ipv6(&v6("::ffff:0:0"), 96), Some(([0; 4], 0)));
        assert_eq!(ipv4_net_in_ipv6(&v6("::10.0.0.0"), 100), None);
        assert_eq!(ipv4_net_in_ipv6(&v6("::"), 96), None);
        // Clear of ::/104 below /104: every address in it is compatible (fuzz: addr).
        assert_eq!(
            ipv4_net_in_ipv6(&v6("::240.0.0.0"), 100),
            Some(([240, 0, 0, 0], 4))
        );
        assert_eq!(
            ipv4_net_in_ipv6(&v6("::128.0.0.0"), 97),
            Some(([128, 0, 0, 0], 1))
        );
        assert_eq!(ipv4_net_in_ipv6(&v6("::127.0.0.0"), 97), None);
        assert_eq!(
            ipv4_net_in_ipv6(&v6("::ffff:10.0.0.0"), 104),
            Some(([10, 0, 0, 0], 8))
        );
        assert_eq!(ipv4_net_in_ipv6(&v6("::ffff:10.0.0.0"), 95), None);
        assert_eq!(
            ipv4_net_in_ipv6(&v6("::10.0.0.0"), 104),
            Some(([10, 0, 0, 0], 8))
        );
    }
}

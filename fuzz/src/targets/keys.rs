//! What the program derives from a packet's addresses and ICMP type: the 16-byte source
//! identity ([`SourceWords`], [`source_key`]) against a reference on `u128`, and the ICMP
//! classes (every type has exactly the class the table in `icmp.rs` documents).
//!
//! Input: 16 bytes of an IPv6 address, 4 of an IPv4 address, a prefix byte, an ICMP type.
use std::net::{Ipv4Addr, Ipv6Addr};

use sipguard_common::{
    icmp::{classify_icmp4, classify_icmp6, IcmpClass},
    keys::{source_key, SourceWords},
};

use crate::take;

pub fn run(data: &[u8]) {
    let (fields, _) = take::<22>(data);
    let mut v6 = [0u8; 16];
    v6.copy_from_slice(&fields[..16]);
    let v4 = [fields[16], fields[17], fields[18], fields[19]];
    let prefix = u32::from(fields[20]);
    let icmp_type = fields[21];

    // IPv4: ::ffff:a.b.c.d, never cut.
    let want = Ipv4Addr::from(v4).to_ipv6_mapped().octets();
    assert_eq!(SourceWords::v4(v4).key(), want, "{v4:?}");

    // IPv6: cut to the prefix (at most 128). IPv4-mapped sources may be folded to their IPv4
    // identity (issue 13): that rule has its own target (`addr`).
    if Ipv6Addr::from(v6).to_ipv4_mapped().is_none() {
        let words = SourceWords::v6(&v6, prefix);
        assert_eq!(words.prefix, u64::from(prefix.min(128)));
        assert_eq!(words.key(), cut(v6, prefix), "{v6:?}/{prefix}");
    }
    // The callee's side with any prefix word: 128 and above is uncut.
    let raw = SourceWords::v6(&v6, 128);
    assert_eq!(
        source_key(raw.hi, raw.lo, u64::from(prefix)),
        cut(v6, prefix)
    );
    assert_eq!(source_key(raw.hi, raw.lo, u64::MAX - u64::from(prefix)), v6);

    check_icmp(icmp_type);
}

fn cut(addr: [u8; 16], prefix: u32) -> [u8; 16] {
    let mask = match prefix {
        0 => 0,
        p if p >= 128 => u128::MAX,
        p => u128::MAX << (128 - p),
    };
    (u128::from_be_bytes(addr) & mask).to_be_bytes()
}

fn check_icmp(t: u8) {
    let v4 = match t {
        8 => IcmpClass::EchoRequest,
        0 => IcmpClass::EchoReply,
        3 | 11 | 12 => IcmpClass::Control,
        _ => IcmpClass::Other,
    };
    assert_eq!(classify_icmp4(t), v4, "ICMP type {t}");
    let v6 = match t {
        128 => IcmpClass::EchoRequest,
        129 => IcmpClass::EchoReply,
        1..=4 | 130..=137 | 143 => IcmpClass::Control,
        _ => IcmpClass::Other,
    };
    assert_eq!(classify_icmp6(t), v6, "ICMPv6 type {t}");
}

//! The lengths both programs take from the headers (`sipguard_common::lengths`): the UDP
//! payload of a packet ([`udp_payload_len`]) against a reference that cuts the payload out of
//! the IP payload's bytes as the rule documents it, and the tiny first fragment
//! ([`tiny_first_fragment`]).
//!
//! Input: the 8 bytes of a UDP header (its length big-endian at 4..6, as on the wire), 2 bytes
//! of IP payload length (big-endian: the IPv6 payload length, or the IPv4 total length less
//! the IP header), then a flags byte: bit 0 IPv6, bit 1 more fragments follow.
use sipguard_common::lengths::{
    tiny_first_fragment, udp_payload_len, SIP_FIRST_FRAGMENT_MIN, UDP_HLEN,
};

use crate::take;

pub fn run(data: &[u8]) {
    let (fields, _) = take::<11>(data);
    let udp_len = u16::from_be_bytes([fields[4], fields[5]]);
    let ip_left = usize::from(u16::from_be_bytes([fields[8], fields[9]]));
    let v6 = fields[10] & 1 != 0;
    let fragmented = fields[10] & 2 != 0;

    let got = udp_payload_len(udp_len, ip_left, v6, fragmented);
    let want = reference(&fields[..8], ip_left, v6, fragmented);
    assert_eq!(
        got, want,
        "UDP length {udp_len}, IP payload {ip_left}, v6 {v6}, fragmented {fragmented}"
    );
    if let Some(n) = got {
        assert!(n + UDP_HLEN <= ip_left, "{n} past the IP payload {ip_left}");
        let len = usize::from(udp_len);
        assert!(
            (UDP_HLEN..=ip_left).contains(&len)
                || (fragmented && len >= UDP_HLEN)
                || (v6 && len == 0),
            "UDP length {udp_len} accepted (IP payload {ip_left}, v6 {v6}, fragmented {fragmented})"
        );
    }
    // The family changes nothing but the meaning of 0.
    if udp_len != 0 {
        assert_eq!(got, udp_payload_len(udp_len, ip_left, !v6, fragmented));
    }
    // More fragments only ever accept more: the length then covers the whole datagram.
    if got.is_some() {
        assert_eq!(got, udp_payload_len(udp_len, ip_left, v6, true));
    }
    check_tiny(got, ip_left, fragmented);
}

/// The rule as `udp_payload_len` documents it, on bytes: the IP payload is `ip_left` bytes
/// starting with `header`, and the UDP payload is the slice between the header and where
/// the datagram ends in this packet.
fn reference(header: &[u8], ip_left: usize, v6: bool, fragmented: bool) -> Option<usize> {
    let mut ip_payload = vec![0u8; ip_left];
    let n = header.len().min(ip_left);
    ip_payload[..n].copy_from_slice(&header[..n]);
    // Too short for the whole header.
    if ip_payload.len() < 8 {
        return None;
    }
    let field = &ip_payload[4..6];
    let declared = usize::from(field[0]) << 8 | usize::from(field[1]);
    let datagram = match declared {
        // IPv6: 0 is "the rest of the IP payload" (Linux); IPv4: no datagram is 0 bytes long.
        0 if v6 => ip_payload.len(),
        0..=7 => return None,
        d if d > ip_payload.len() && !fragmented => return None,
        d => d,
    };
    let end = datagram.min(ip_payload.len());
    Some(ip_payload[8..end].len())
}

/// A first fragment is tiny below [`SIP_FIRST_FRAGMENT_MIN`] bytes of UDP data, and a stack
/// fragmenting at the smallest path MTU of either family never sends one.
fn check_tiny(udp_data: Option<usize>, ip_left: usize, fragmented: bool) {
    let Some(n) = udp_data else {
        return;
    };
    assert_eq!(tiny_first_fragment(n), n < SIP_FIRST_FRAGMENT_MIN, "{n}");
    // IPv4 at 576 bytes: 556 of IP payload, cut to 552 (fragments are 8-byte multiples), all
    // of it the datagram's; IPv6 at 1280 carries more.
    if fragmented && ip_left >= 552 && n == ip_left - UDP_HLEN {
        assert!(!tiny_first_fragment(n), "{n} of {ip_left}");
    }
}

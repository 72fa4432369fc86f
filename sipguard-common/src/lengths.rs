//! Lengths taken from the header that defines them, for both programs and the tests.
//!
//! A UDP payload ends where the UDP length says, and never past the end of the IP payload
//! (IPv4 total length, IPv6 payload length): Ethernet padding and trailers after the IP
//! packet are not payload. The frame end only caps what can be read.

/// Size of the UDP header.
pub const UDP_HLEN: usize = 8;

/// A first fragment to a SIP service with less UDP data than this is `tiny_fragment`:
/// stacks fragment at the path MTU (at least 576 bytes for IPv4, 1280 for IPv6), so an
/// honest first fragment holds the request line and the first headers.
pub const SIP_FIRST_FRAGMENT_MIN: usize = 512;

/// The UDP payload's length in this packet, or `None` when the UDP length is malformed.
///
/// `udp_len` is the header's field; `ip_left` the bytes of IP payload from the start of the
/// UDP header to the end of the IP packet (of this fragment, for a first fragment); `v6` the
/// family; `fragmented` whether more fragments follow (the UDP length then covers the whole
/// datagram, longer than this packet).
/// - Over IPv6 a length of 0 means the rest of the IP payload (the rule Linux applies).
/// - A length below the UDP header's own 8 bytes, or an IP payload too short to hold the UDP
///   header, is malformed.
/// - Outside a fragment, a length beyond the IP payload is malformed (Linux drops the
///   datagram); a shorter one ends the payload early, and the rest is not payload.
#[inline(always)]
pub fn udp_payload_len(udp_len: u16, ip_left: usize, v6: bool, fragmented: bool) -> Option<usize> {
    if ip_left < UDP_HLEN {
        return None;
    }
    let len = if v6 && udp_len == 0 {
        ip_left
    } else {
        udp_len as usize
    };
    if len < UDP_HLEN || (!fragmented && len > ip_left) {
        return None;
    }
    Some(if len < ip_left { len } else { ip_left } - UDP_HLEN)
}

/// A first fragment (more follow) to a SIP service whose UDP data in this packet is too small
/// for an honest stack to have sent: `tiny_fragment`.
#[inline(always)]
pub fn tiny_first_fragment(udp_data_in_packet: usize) -> bool {
    udp_data_in_packet < SIP_FIRST_FRAGMENT_MIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_udp_length_of_zero_is_the_rest_of_the_ip_payload() {
        assert_eq!(udp_payload_len(0, 408, true, false), Some(400));
        assert_eq!(udp_payload_len(0, 8, true, false), Some(0));
    }

    #[test]
    fn an_ipv4_udp_length_of_zero_is_malformed() {
        assert_eq!(udp_payload_len(0, 408, false, false), None);
    }

    #[test]
    fn udp_lengths_one_to_seven_are_malformed_in_both_families() {
        for len in 1..8 {
            assert_eq!(udp_payload_len(len, 408, false, false), None, "{len}");
            assert_eq!(udp_payload_len(len, 408, true, false), None, "{len}");
            assert_eq!(udp_payload_len(len, 408, true, true), None, "{len}");
        }
    }

    #[test]
    fn a_udp_length_beyond_the_ip_payload_is_malformed_unless_more_fragments_follow() {
        assert_eq!(udp_payload_len(409, 408, false, false), None);
        assert_eq!(udp_payload_len(1408, 408, false, true), Some(400));
        assert_eq!(udp_payload_len(1408, 408, true, true), Some(400));
    }

    #[test]
    fn a_short_udp_length_ends_the_payload_before_the_ip_payload_does() {
        assert_eq!(udp_payload_len(20, 408, false, false), Some(12));
        assert_eq!(udp_payload_len(8, 408, true, false), Some(0));
    }

    #[test]
    fn an_ip_payload_shorter_than_the_udp_header_is_malformed() {
        assert_eq!(udp_payload_len(8, 7, false, false), None);
        assert_eq!(udp_payload_len(0, 0, true, false), None);
    }

    #[test]
    fn first_fragments_below_the_sip_minimum_are_tiny() {
        assert!(tiny_first_fragment(0));
        assert!(tiny_first_fragment(8));
        assert!(tiny_first_fragment(SIP_FIRST_FRAGMENT_MIN - 1));
        assert!(!tiny_first_fragment(SIP_FIRST_FRAGMENT_MIN));
        assert!(!tiny_first_fragment(1472));
    }
}

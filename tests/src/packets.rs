//! Crafted Ethernet frames for BPF_PROG_TEST_RUN: the ordinary ones built with etherparse,
//! the odd ones (VLAN stacks, IPv4 options, IPv6 extension headers, fragments, truncation)
//! edited byte by byte from them.
use std::net::IpAddr;

use etherparse::PacketBuilder;

const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The protected host's addresses in crafted packets.
pub const DST_V4: [u8; 4] = [192, 0, 2, 1];
pub const DST_V6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const ETH_HLEN: usize = 14;

/// Transport part of a crafted packet.
#[derive(Clone, Copy, Debug)]
pub enum Transport {
    Udp {
        sport: u16,
        dport: u16,
    },
    TcpSyn {
        dport: u16,
    },
    TcpAck {
        dport: u16,
    },
    /// ICMP or ICMPv6 (by address family) echo request.
    Echo,
    /// ICMP or ICMPv6 message of any type.
    Icmp {
        icmp_type: u8,
    },
}

/// Builds Ethernet / IPv4 or IPv6 (by `src`'s family) / transport / payload, to the
/// protected host ([`DST_V4`], [`DST_V6`]).
pub fn frame(src: &str, t: Transport, payload: &[u8]) -> Vec<u8> {
    let dst = match src.parse::<IpAddr>().expect("test address") {
        IpAddr::V4(_) => IpAddr::from(DST_V4),
        IpAddr::V6(_) => IpAddr::from(DST_V6),
    };
    frame_to(src, &dst.to_string(), t, payload)
}

/// [`frame`] to the destination `dst` (of `src`'s family), as a box in front of several
/// hosts sees them.
pub fn frame_to(src: &str, dst: &str, t: Transport, payload: &[u8]) -> Vec<u8> {
    let src: IpAddr = src.parse().expect("test address");
    let dst: IpAddr = dst.parse().expect("test address");
    let eth = PacketBuilder::ethernet2(SRC_MAC, DST_MAC);
    let ip = match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(d)) => eth.ipv4(a.octets(), d.octets(), 64),
        (IpAddr::V6(a), IpAddr::V6(d)) => eth.ipv6(a.octets(), d.octets(), 64),
        _ => panic!("{src} and {dst}: one family per test frame"),
    };
    let v6 = src.is_ipv6();
    let mut out = Vec::new();
    macro_rules! write {
        ($b:expr) => {{
            let b = $b;
            out.reserve(b.size(payload.len()));
            b.write(&mut out, payload).expect("writing a test frame");
        }};
    }
    match t {
        Transport::Udp { sport, dport } => write!(ip.udp(sport, dport)),
        Transport::TcpSyn { dport } => write!(ip.tcp(40000, dport, 1, 64240).syn()),
        Transport::TcpAck { dport } => write!(ip.tcp(40000, dport, 1, 64240).ack(1)),
        Transport::Echo if v6 => write!(ip.icmpv6_echo_request(1, 1)),
        Transport::Echo => write!(ip.icmpv4_echo_request(1, 1)),
        Transport::Icmp { icmp_type } if v6 => write!(ip.icmpv6_raw(icmp_type, 0, [0; 4])),
        Transport::Icmp { icmp_type } => write!(ip.icmpv4_raw(icmp_type, 0, [0; 4])),
    }
    out
}

/// Ethernet and IP from the protected host to `client`, the transport still to come.
fn pbx_to(client: &str) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let host = match client.parse::<IpAddr>().expect("test address") {
        IpAddr::V4(_) => IpAddr::from(DST_V4),
        IpAddr::V6(_) => IpAddr::from(DST_V6),
    };
    host_to(&host.to_string(), client)
}

/// Ethernet and IP from `host` to `client` (one family), the transport still to come.
fn host_to(host: &str, client: &str) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let host: IpAddr = host.parse().expect("test address");
    let client: IpAddr = client.parse().expect("test address");
    let eth = PacketBuilder::ethernet2(DST_MAC, SRC_MAC);
    match (host, client) {
        (IpAddr::V4(h), IpAddr::V4(a)) => eth.ipv4(h.octets(), a.octets(), 64),
        (IpAddr::V6(h), IpAddr::V6(a)) => eth.ipv6(h.octets(), a.octets(), 64),
        _ => panic!("{host} and {client}: one family per test frame"),
    }
}

/// A UDP datagram `host` sends from its SIP port 5060 to `client`:5060, carrying `payload`:
/// the answer of one of the hosts behind a perimeter box, as the egress program sees it.
pub fn from_host(host: &str, client: &str, payload: &[u8]) -> Vec<u8> {
    let b = host_to(host, client).udp(5060, 5060);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("writing a test frame");
    out
}

/// A UDP datagram the protected host sends from its SIP port 5060 to `client`:5060 (what the
/// egress program sees), carrying `payload`.
pub fn from_pbx(client: &str, payload: &[u8]) -> Vec<u8> {
    let b = pbx_to(client).udp(5060, 5060);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("writing a test frame");
    out
}

/// A SIP response `code` to a request of `method`, as a PBX sends it: the copied headers
/// first (a long Via from the client can push CSeq far down), then the PBX's own.
pub fn response(code: u16, method: &str, via_padding: usize) -> Vec<u8> {
    challenge_with(code, method, via_padding, "abc")
}

/// [`response`] with the challenge's `nonce`.
pub fn challenge_with(code: u16, method: &str, via_padding: usize, nonce: &str) -> Vec<u8> {
    answer_for(
        code,
        method,
        "\"Alice\" <sip:1001@192.0.2.1>",
        &format!("nonce=\"{nonce}\", qop=\"auth\""),
        via_padding,
    )
}

/// A response `code` to `method` whose `From` value (copied from the request) is `from`,
/// with `challenge` after the realm of its `WWW-Authenticate` line.
pub fn answer_for(
    code: u16,
    method: &str,
    from: &str,
    challenge: &str,
    via_padding: usize,
) -> Vec<u8> {
    format!(
        "SIP/2.0 {code} Whatever\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK-1{}\r\n\
         From: {from};tag=1\r\nTo: <sip:1001@192.0.2.1>;tag=2\r\n\
         Call-ID: 42@192.0.2.66\r\nCSeq: 7 {method}\r\n\
         WWW-Authenticate: Digest realm=\"192.0.2.1\", {challenge}\r\n\
         Server: kamailio\r\nContent-Length: 0\r\n\r\n",
        "x".repeat(via_padding)
    )
    .into_bytes()
}

/// [`response`] for SIP user `user` (the user part of the `From` URI the PBX copies).
pub fn response_for_user(code: u16, method: &str, user: &str) -> Vec<u8> {
    answer_for(
        code,
        method,
        &format!("<sip:{user}@192.0.2.1>"),
        "nonce=\"abc\", qop=\"auth\"",
        0,
    )
}

/// A REGISTER with `Authorization` (`method` INVITE: an INVITE with `Proxy-Authorization`),
/// as a client answers a challenge; `guess` is written into the digest's `response=`, so two
/// guesses differ where a password guess does and a retransmission is the same bytes again.
/// Its nonce is one no test's PBX sends ([`response`]'s is `abc`): unproven evidence.
pub fn with_credentials(method: &str, guess: usize) -> Vec<u8> {
    with_nonce(method, guess, "made-up")
}

/// [`with_credentials`] echoing `nonce`.
pub fn with_nonce(method: &str, guess: usize, nonce: &str) -> Vec<u8> {
    let (uri, header) = if method == "INVITE" {
        ("sip:1002@192.0.2.1", "Proxy-Authorization")
    } else {
        ("sip:192.0.2.1", "Authorization")
    };
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK-{guess}\r\n\
         From: <sip:1001@192.0.2.1>;tag=1\r\nTo: <sip:1001@192.0.2.1>\r\n\
         Call-ID: 42@192.0.2.66\r\nCSeq: {} {method}\r\n\
         {header}: Digest username=\"1001\", realm=\"192.0.2.1\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{guess:032x}\"\r\nContent-Length: 0\r\n\r\n",
        guess + 2
    )
    .into_bytes()
}

/// UDP datagram from `src` to `dport` with a small payload.
pub fn udp(src: &str, dport: u16) -> Vec<u8> {
    frame(src, Transport::Udp { sport: 5060, dport }, b"payload")
}

/// UDP datagram from `src` to the SIP port with `payload`.
pub fn sip(src: &str, payload: &[u8]) -> Vec<u8> {
    frame(
        src,
        Transport::Udp {
            sport: 5060,
            dport: 5060,
        },
        payload,
    )
}

/// A REGISTER request with `padding` filler bytes in its headers (1300 makes a 1400-byte
/// frame).
pub fn register(padding: usize) -> Vec<u8> {
    let mut m =
        b"REGISTER sip:pbx.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060\r\n".to_vec();
    m.extend(std::iter::repeat_n(b'X', padding));
    m.extend_from_slice(b"\r\n\r\n");
    m
}

/// A REGISTER whose IPv4 frame is exactly 1400 bytes, with `ua_line` (e.g.
/// `"User-Agent: sipvicious\r\n\r\n"`) as its last bytes after 40-byte header lines.
pub fn register_1400_ending_with(ua_line: &str) -> Vec<u8> {
    let mut m = "REGISTER sip:192.0.2.1 SIP/2.0\r\nCSeq: 1 REGISTER\r\n".to_string();
    let left = |m: &String| 1400 - 42 - m.len() - ua_line.len();
    let mut n = 0;
    while left(&m) > 60 {
        m.push_str(&format!("X-Pad-{n:04}: {}\r\n", "p".repeat(26)));
        n += 1;
    }
    let rest = left(&m);
    m.push_str(&format!("X-Last: {}\r\n", "q".repeat(rest - 10)));
    m.push_str(ua_line);
    m.into_bytes()
}

/// Inserts 802.1Q (or 802.1ad + 802.1Q for two) tags after the MAC addresses.
pub fn with_vlan_tags(frame: &[u8], tags: usize) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    for i in 0..tags {
        let tpid: u16 = if tags >= 2 && i == 0 { 0x88A8 } else { 0x8100 };
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    out.extend_from_slice(&frame[12..]);
    out
}

/// IPv4 frame with `option_words` 32-bit words of IP options (NOPs) before the transport.
pub fn with_ipv4_options(frame: &[u8], option_words: usize) -> Vec<u8> {
    let ihl = 5 + option_words;
    assert!(ihl <= 15, "IHL is 4 bits");
    let mut out = frame[..ETH_HLEN + 20].to_vec();
    out[ETH_HLEN] = 0x40 | ihl as u8;
    out.extend(std::iter::repeat_n(1u8, option_words * 4)); // NOP options
    out.extend_from_slice(&frame[ETH_HLEN + 20..]);
    set_ipv4_total_len(&mut out);
    out
}

/// Marks an IPv4 frame as a later fragment (offset in 8-byte units, MF set).
pub fn as_ipv4_later_fragment(frame: &[u8], offset_units: u16) -> Vec<u8> {
    let mut out = frame.to_vec();
    let flags_off = 0x2000 | (offset_units & 0x1fff);
    out[ETH_HLEN + 6..ETH_HLEN + 8].copy_from_slice(&flags_off.to_be_bytes());
    out
}

/// IPv6 frame with extension headers (by next-header number: 0 hop-by-hop, 43 routing,
/// 60 destination options, 44 fragment, 51 AH) inserted between the fixed header and the
/// transport.
/// A fragment header gets `fragment_offset` (8-byte units).
pub fn with_ipv6_ext(frame: &[u8], chain: &[u8], fragment_offset: u16) -> Vec<u8> {
    let fixed = ETH_HLEN + 40;
    let mut out = frame[..fixed].to_vec();
    let upper = frame[ETH_HLEN + 6];
    out[ETH_HLEN + 6] = chain.first().copied().unwrap_or(upper);
    for (i, &kind) in chain.iter().enumerate() {
        let next = chain.get(i + 1).copied().unwrap_or(upper);
        match kind {
            44 => {
                let off = fragment_offset << 3 | 1; // M flag
                out.extend_from_slice(&[next, 0]);
                out.extend_from_slice(&off.to_be_bytes());
                out.extend_from_slice(&[0, 0, 0, 7]);
            }
            51 => {
                // AH: length in 4-byte units minus 2; 16 bytes = 2
                out.extend_from_slice(&[next, 2, 0, 0]);
                out.extend_from_slice(&[0; 12]);
            }
            _ => {
                // 16 bytes: hdr ext len 1, PadN filling the rest
                out.extend_from_slice(&[next, 1, 1, 12]);
                out.extend_from_slice(&[0; 12]);
            }
        }
    }
    out.extend_from_slice(&frame[fixed..]);
    let payload_len = (out.len() - fixed) as u16;
    out[ETH_HLEN + 4..ETH_HLEN + 6].copy_from_slice(&payload_len.to_be_bytes());
    out
}

/// Sets an IPv4 frame's total length from the frame size.
fn set_ipv4_total_len(frame: &mut [u8]) {
    let total = (frame.len() - ETH_HLEN) as u16;
    frame[ETH_HLEN + 2..ETH_HLEN + 4].copy_from_slice(&total.to_be_bytes());
}

/// True for an IPv6 frame (EtherType 0x86dd right after the MAC addresses).
fn is_ipv6(frame: &[u8]) -> bool {
    frame[12..14] == [0x86, 0xdd]
}

/// Offset of the transport header in an untagged frame without IPv4 options or IPv6
/// extension headers.
pub fn l4_offset(frame: &[u8]) -> usize {
    ETH_HLEN + if is_ipv6(frame) { 40 } else { 20 }
}

/// `frame` (untagged, no options or extension headers) with its UDP length field set to
/// `len`; nothing else changes.
pub fn with_udp_len(frame: &[u8], len: u16) -> Vec<u8> {
    let mut out = frame.to_vec();
    let at = l4_offset(frame) + 4;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
    out
}

/// `frame` with its IP length (IPv4 total length, IPv6 payload length) changed by `delta`
/// bytes; the frame itself keeps its size.
pub fn with_ip_len_delta(frame: &[u8], delta: i32) -> Vec<u8> {
    let mut out = frame.to_vec();
    let at = ETH_HLEN + if is_ipv6(frame) { 4 } else { 2 };
    let len = u16::from_be_bytes([out[at], out[at + 1]]) as i32 + delta;
    out[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
    out
}

/// `frame` with `trailer` appended after the IP packet (Ethernet padding or a trailer that a
/// NIC or a forger adds); the IP and UDP lengths are unchanged.
pub fn with_trailer(frame: &[u8], trailer: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    out.extend_from_slice(trailer);
    out
}

/// Splits an untagged IPv4 or IPv6 frame (no options or extension headers) into two IP
/// fragments, as a sending stack does: the first carries `first_len` bytes of the IP payload
/// (the transport header included; a multiple of 8) with more-fragments set, the second the
/// rest at that offset. IPv6 fragments get a fragment header with identification `id`,
/// IPv4 ones the identification `id`.
pub fn fragments(frame: &[u8], first_len: usize, id: u32) -> [Vec<u8>; 2] {
    assert!(
        first_len.is_multiple_of(8),
        "fragment offsets are in 8-byte units"
    );
    let fixed = l4_offset(frame);
    let payload = &frame[fixed..];
    assert!(
        first_len < payload.len(),
        "the first fragment must leave a rest"
    );
    let parts = [&payload[..first_len], &payload[first_len..]];
    let mut out = [Vec::new(), Vec::new()];
    for (i, part) in parts.iter().enumerate() {
        let offset_units = if i == 0 { 0 } else { (first_len / 8) as u16 };
        let more = i == 0;
        let mut f = frame[..fixed].to_vec();
        if is_ipv6(frame) {
            let upper = f[ETH_HLEN + 6];
            f[ETH_HLEN + 6] = 44;
            f.extend_from_slice(&[upper, 0]);
            f.extend_from_slice(&(offset_units << 3 | more as u16).to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(part);
            let payload_len = (f.len() - fixed) as u16;
            f[ETH_HLEN + 4..ETH_HLEN + 6].copy_from_slice(&payload_len.to_be_bytes());
        } else {
            f[ETH_HLEN + 4..ETH_HLEN + 6].copy_from_slice(&(id as u16).to_be_bytes());
            let flags = (more as u16) << 13 | offset_units;
            f[ETH_HLEN + 6..ETH_HLEN + 8].copy_from_slice(&flags.to_be_bytes());
            f.extend_from_slice(part);
            set_ipv4_total_len(&mut f);
        }
        out[i] = f;
    }
    out
}

/// A TCP segment the protected host sends from its SIP port 5060 to `client`:40000 (what the
/// egress program sees), carrying `payload`.
pub fn from_pbx_tcp(client: &str, payload: &[u8]) -> Vec<u8> {
    let b = pbx_to(client).tcp(5060, 40000, 1, 64240).ack(1).psh();
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("writing a test frame");
    out
}

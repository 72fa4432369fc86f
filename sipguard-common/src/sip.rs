//! SIP classification of a UDP payload from its first bytes: pure code shared by the XDP
//! program and the host tests. No copy of the payload beyond the first [`HEAD_LEN`] bytes.

/// Bytes of the payload the classifier looks at.
pub const HEAD_LEN: usize = 16;

/// What a UDP datagram to a SIP service is.
pub mod class {
    /// RFC 5626 keep-alive: a double CRLF ping or a single CRLF pong (or an empty datagram).
    pub const KEEPALIVE: u32 = 0;
    /// `SIP/2.0 NNN ...`
    pub const RESPONSE: u32 = 1;
    pub const REGISTER: u32 = 2;
    pub const INVITE: u32 = 3;
    pub const OPTIONS: u32 = 4;
    /// Any other request method (ACK, BYE, CANCEL, SUBSCRIBE, NOTIFY, MESSAGE, extensions...).
    pub const OTHER_REQUEST: u32 = 5;
    /// Neither a request nor a response: binary junk, a truncated request line, or a known
    /// method in the wrong case (methods are case-sensitive; "register" is not REGISTER).
    pub const GARBAGE: u32 = 6;
    /// Slots reserved per service in the counter map.
    pub const COUNT: u32 = 8;
}

/// Names of the classes as exported in metrics; index = class number.
pub const CLASS_NAMES: [&str; 7] = [
    "keepalive",
    "response",
    "register",
    "invite",
    "options",
    "other_request",
    "garbage",
];

/// Classifies a payload of `len` bytes whose first `min(len, HEAD_LEN)` bytes are in `head`
/// (the rest of `head` is ignored).
///
/// Payloads of 5 to 15 bytes are garbage without a look: no SIP request or response is that
/// short (a request line alone, `ACK x SIP/2.0` and its CRLF, is 15 bytes), and keep-alives
/// are at most 4. So the XDP program reads either at most 4 bytes or exactly 16.
#[inline(always)]
pub fn classify(head: &[u8; HEAD_LEN], len: usize) -> u32 {
    if len <= 4 {
        return if only_crlf(head, len) {
            class::KEEPALIVE
        } else {
            class::GARBAGE
        };
    }
    if len < HEAD_LEN {
        return class::GARBAGE;
    }
    // The common cases with one 8-byte compare each.
    let w = u64::from_le_bytes([
        head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7],
    ]);
    if w == word(b"REGISTER") && head[8] == b' ' {
        return class::REGISTER;
    }
    if w & 0x00ff_ffff_ffff_ffff == word(b"INVITE \0") {
        return class::INVITE;
    }
    if w == word(b"OPTIONS ") {
        return class::OPTIONS;
    }
    if w == word(b"SIP/2.0 ") {
        return if head[8].is_ascii_digit() && head[9].is_ascii_digit() && head[10].is_ascii_digit()
        {
            class::RESPONSE
        } else {
            class::GARBAGE
        };
    }
    request_class(head)
}

/// Eight bytes as the little-endian word the classifier compares against.
#[inline(always)]
const fn word(b: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*b)
}

#[inline(always)]
fn only_crlf(head: &[u8; HEAD_LEN], n: usize) -> bool {
    let mut i = 0;
    while i < 4 {
        if i < n && head[i] != b'\r' && head[i] != b'\n' {
            return false;
        }
        i += 1;
    }
    true
}

/// A request line starts with an upper-case method token and a space, with something after
/// the space: a space in the last byte we see ends a truncated line. (REGISTER, INVITE and
/// OPTIONS were matched before; a token that merely starts like them, such as REGISTERX, is
/// another method.)
#[inline(always)]
fn request_class(head: &[u8; HEAD_LEN]) -> u32 {
    let mut i = 0;
    while i < HEAD_LEN - 1 {
        let b = head[i];
        if b == b' ' {
            return if i == 0 {
                class::GARBAGE
            } else {
                class::OTHER_REQUEST
            };
        }
        if !b.is_ascii_uppercase() {
            return class::GARBAGE;
        }
        i += 1;
    }
    class::GARBAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(payload: &[u8]) -> u32 {
        let mut head = [0u8; HEAD_LEN];
        let n = payload.len().min(HEAD_LEN);
        head[..n].copy_from_slice(&payload[..n]);
        classify(&head, payload.len())
    }

    #[test]
    fn double_and_single_crlf_are_keepalives() {
        assert_eq!(of(b"\r\n\r\n"), class::KEEPALIVE);
        assert_eq!(of(b"\r\n"), class::KEEPALIVE);
        assert_eq!(of(b""), class::KEEPALIVE);
    }

    #[test]
    fn crlf_followed_by_more_is_not_a_keepalive() {
        assert_eq!(of(b"\r\n\r\nX"), class::GARBAGE);
    }

    #[test]
    fn status_line_is_a_response() {
        assert_eq!(of(b"SIP/2.0 401 Unauthorized\r\n"), class::RESPONSE);
        assert_eq!(of(b"SIP/2.0 200 OK\r\n"), class::RESPONSE);
        assert_eq!(of(b"SIP/2.0 20"), class::GARBAGE);
        assert_eq!(of(b"SIP/2.0 OK OK OK\r\n"), class::GARBAGE);
    }

    #[test]
    fn register_invite_and_options_have_their_own_class() {
        assert_eq!(of(b"REGISTER sip:pbx SIP/2.0\r\n"), class::REGISTER);
        assert_eq!(of(b"INVITE sip:100@pbx SIP/2.0\r\n"), class::INVITE);
        assert_eq!(of(b"OPTIONS sip:100@pbx SIP/2.0\r\n"), class::OPTIONS);
    }

    #[test]
    fn other_methods_are_other_requests() {
        for line in [
            &b"ACK sip:x SIP/2.0\r\n"[..],
            b"BYE sip:x SIP/2.0\r\n",
            b"CANCEL sip:x SIP/2.0\r\n",
            b"SUBSCRIBE sip:x SIP/2.0\r\n",
            b"NOTIFY sip:x SIP/2.0\r\n",
            b"MESSAGE sip:x SIP/2.0\r\n",
            b"PUBLISH sip:x SIP/2.0\r\n",
            b"FOO sip:x SIP/2.0\r\n",
        ] {
            assert_eq!(of(line), class::OTHER_REQUEST, "{line:?}");
        }
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(of(b"register sip:pbx SIP/2.0\r\n"), class::GARBAGE);
        assert_eq!(of(b"Invite sip:pbx SIP/2.0\r\n"), class::GARBAGE);
    }

    #[test]
    fn a_method_that_merely_starts_like_a_known_one_is_other() {
        assert_eq!(of(b"REGISTERX sip:pbx SIP/2.0\r\n"), class::OTHER_REQUEST);
        assert_eq!(of(b"INVITES sip:pbx SIP/2.0\r\n"), class::OTHER_REQUEST);
    }

    #[test]
    fn truncated_request_lines_are_garbage() {
        assert_eq!(of(b"REGIS"), class::GARBAGE);
        assert_eq!(of(b"REGISTER"), class::GARBAGE);
        assert_eq!(of(b"REGISTER "), class::GARBAGE);
    }

    #[test]
    fn a_space_in_the_last_visible_byte_is_a_truncated_line() {
        assert_eq!(of(b"ABCDEFGHIJKLMNO sip:x SIP/2.0\r\n"), class::GARBAGE); // space at 15
        assert_eq!(
            of(b"ABCDEFGHIJKLMN sip:x SIP/2.0\r\n"),
            class::OTHER_REQUEST
        ); // at 14
    }

    #[test]
    fn payloads_of_5_to_15_bytes_are_garbage() {
        assert_eq!(of(b"ACK x SIP/2.0\r\n"), class::GARBAGE); // 15
        assert_eq!(of(b"ACK xy SIP/2.0\r\n"), class::OTHER_REQUEST); // 16
    }

    #[test]
    fn binary_junk_and_overlong_tokens_are_garbage() {
        assert_eq!(of(&[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01]), class::GARBAGE); // TLS hello
        assert_eq!(of(b"ABCDEFGHIJKLMNOPQRSTUV sip:x"), class::GARBAGE);
        assert_eq!(of(b" REGISTER sip:x"), class::GARBAGE);
    }
}

/// Over TCP, messages follow each other in the byte stream, and one segment can carry many
/// (pipelining). A segment to a SIP service pays its first message's limits once per request
/// in it: one, plus the request lines after its first line, found by their end, the SIP
/// version then CR or LF (RFC 3261 25.1: `Request-Line = Method SP Request-URI SP
/// SIP-Version CRLF`). A body cannot hide the next request (the count ignores where messages
/// start), a status line ("SIP/2.0 200") and a Via ("SIP/2.0/TCP") are no request line.
/// The eBPF program searches the first [`crate::ua::SCAN_LIMIT`] bytes of the segment.
///
/// Whether the 8 bytes of `w` (little-endian, as loaded from the packet) end a request line:
/// `SIP/2.0` in any case, then CR or LF.
#[inline(always)]
pub const fn ends_request_line(w: u64) -> bool {
    // Lower-cases the first three bytes: only `S` and `s` become `s`, and so on.
    let folded = w | 0x0020_2020;
    folded == u64::from_le_bytes(*b"sip/2.0\r") || folded == u64::from_le_bytes(*b"sip/2.0\n")
}

/// The pure rule of the eBPF count, for tests and fuzzing: requests in `payload` (TCP).
pub fn tcp_requests(payload: &[u8]) -> u64 {
    let scan = &payload[..payload.len().min(crate::ua::SCAN_LIMIT)];
    let Some(first_lf) = scan.iter().position(|b| *b == b'\n') else {
        return 1;
    };
    let after = scan[first_lf + 1..]
        .windows(8)
        .filter(|w| {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            ends_request_line(u64::from_le_bytes(b))
        })
        .count() as u64;
    1 + after
}

#[cfg(test)]
mod pipelining_tests {
    use super::*;

    #[test]
    fn one_request_is_one_however_long_its_headers() {
        let m =
            b"REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.10\r\nCSeq: 1 REGISTER\r\n\r\n";
        assert_eq!(tcp_requests(m), 1);
    }

    #[test]
    fn pipelined_requests_each_count_bodies_or_not() {
        let one = "REGISTER sip:pbx SIP/2.0\r\nCSeq: 1 REGISTER\r\nContent-Length: 1\r\n\r\nx";
        let five = one.repeat(5);
        assert_eq!(tcp_requests(five.as_bytes()), 5);
        let lf = "OPTIONS sip:pbx sip/2.0\nl: 0\n\n".repeat(3);
        assert_eq!(tcp_requests(lf.as_bytes()), 3);
    }

    #[test]
    fn status_lines_and_vias_are_no_requests() {
        let m = b"NOTIFY sip:a SIP/2.0\r\nVia: SIP/2.0/TCP a\r\n\r\nSIP/2.0 200 OK\r\n";
        assert_eq!(tcp_requests(m), 1);
    }

    #[test]
    fn a_continuation_without_a_request_line_is_one() {
        assert_eq!(tcp_requests(b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\n"), 1);
        assert_eq!(tcp_requests(b"REGIS"), 1);
    }
}

//! The requests a SIP-over-TCP segment carries (`sipguard_common::sip`, issue 13):
//! [`tcp_requests`] against a naive count over the payload's bytes, [`ends_request_line`] on
//! every 8-byte window against a byte comparison, and the count's monotony (bytes appended
//! within the scanned part never lower it, bytes past it never change it).
//!
//! Input: the TCP payload.
use sipguard_common::{
    sip::{ends_request_line, tcp_requests},
    ua::SCAN_LIMIT,
};

pub fn run(data: &[u8]) {
    let got = tcp_requests(data);
    assert_eq!(got, reference(data), "{:?}", String::from_utf8_lossy(data));
    for w in data.windows(8) {
        let word = u64::from_le_bytes(w.try_into().unwrap_or_default());
        assert_eq!(ends_request_line(word), is_version_end(w), "{w:?}");
    }
    // Prefixes: every 61st length and the last 8, so a payload costs a few dozen counts.
    let scanned = data.len().min(SCAN_LIMIT);
    let cuts = (0..scanned)
        .step_by(61)
        .chain(scanned.saturating_sub(8)..scanned);
    for cut in cuts {
        let shorter = tcp_requests(&data[..cut]);
        assert!(
            shorter <= got,
            "{shorter} requests in {cut} bytes, {got} in {}",
            data.len()
        );
    }
    assert_eq!(
        got,
        tcp_requests(&data[..scanned]),
        "bytes past {SCAN_LIMIT}"
    );
}

/// `SIP/2.0` in any case, then CR or LF: the end of a request line (RFC 3261 25.1).
fn is_version_end(w: &[u8]) -> bool {
    w.len() == 8 && w[..7].eq_ignore_ascii_case(b"sip/2.0") && matches!(w[7], b'\r' | b'\n')
}

/// One request, plus one per request-line end that starts after the first LF, in the first
/// [`SCAN_LIMIT`] bytes.
fn reference(data: &[u8]) -> u64 {
    let scanned = &data[..data.len().min(SCAN_LIMIT)];
    let Some(first_lf) = scanned.iter().position(|&b| b == b'\n') else {
        return 1;
    };
    let mut n = 1;
    for start in first_lf + 1..scanned.len() {
        if start + 8 <= scanned.len() && is_version_end(&scanned[start..start + 8]) {
            n += 1;
        }
    }
    n
}

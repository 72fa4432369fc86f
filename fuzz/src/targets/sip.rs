//! The SIP classifier of a UDP payload ([`classify`]), against a byte-by-byte reference
//! written from its documentation, and the rule that the bytes of `head` past the payload
//! don't count.
//!
//! Input: two bytes of a length override (little-endian; used when the flag bit of the third
//! byte is set, so lengths that don't match the bytes given are fuzzed too, as the XDP program
//! passes the length from the header and reads at most [`HEAD_LEN`] bytes), then the payload.
use sipguard_common::sip::{class, classify, CLASS_NAMES, HEAD_LEN};

use crate::take;

pub fn run(data: &[u8]) {
    let ([lo, hi, flags], payload) = take::<3>(data);
    let len = if flags & 1 != 0 {
        usize::from(u16::from_le_bytes([lo, hi]))
    } else {
        payload.len()
    };
    let seen = len.min(HEAD_LEN).min(payload.len());
    // Bytes past the payload's end: zeros in one head, 0xff in the other.
    let (mut zeros, _) = take::<HEAD_LEN>(&payload[..seen]);
    let mut ones = [0xffu8; HEAD_LEN];
    ones[..seen].copy_from_slice(&zeros[..seen]);
    if seen < len.min(HEAD_LEN) {
        // The length claims bytes the payload doesn't have: the program would read whatever
        // is there; fill them alike in both heads.
        for i in seen..len.min(HEAD_LEN) {
            zeros[i] = 0x5a;
            ones[i] = 0x5a;
        }
    }
    let got = classify(&zeros, len);
    assert!((got as usize) < CLASS_NAMES.len(), "class {got}");
    assert_eq!(
        got,
        classify(&ones, len),
        "bytes past the payload changed the class"
    );
    let visible = &zeros[..len.min(HEAD_LEN)];
    assert_eq!(got, reference(visible, len), "{visible:?} of length {len}");
}

/// The classifier's documented rules, one byte at a time; `head` is the payload's first
/// `min(len, HEAD_LEN)` bytes.
fn reference(head: &[u8], len: usize) -> u32 {
    if len <= 4 {
        return if head.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            class::KEEPALIVE
        } else {
            class::GARBAGE
        };
    }
    if len < HEAD_LEN {
        return class::GARBAGE;
    }
    if head.starts_with(b"REGISTER ") {
        return class::REGISTER;
    }
    if head.starts_with(b"INVITE ") {
        return class::INVITE;
    }
    if head.starts_with(b"OPTIONS ") {
        return class::OPTIONS;
    }
    if let Some(code) = head.strip_prefix(b"SIP/2.0 ") {
        return if code[..3].iter().all(u8::is_ascii_digit) {
            class::RESPONSE
        } else {
            class::GARBAGE
        };
    }
    // An upper-case token and a space, with at least one byte after the space in the head.
    let token = head.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if token > 0 && token < HEAD_LEN - 1 && head[token] == b' ' {
        class::OTHER_REQUEST
    } else {
        class::GARBAGE
    }
}

//! The User-Agent fingerprints of `sipguard_common::ua`: the word-at-a-time helpers the XDP
//! program finds line ends and lower-cases with, against byte-by-byte references, and the
//! pattern table ([`Scanners`]) with its reference matcher.
//!
//! Input: 16 bytes for the word helpers (two words, and a byte to search for), then lines:
//! every line but the last is a pattern pushed into one table, the last is the header value.
use sipguard_common::ua::{
    anchor_hash, bytes_below, lower_ascii, lowest_byte, zero_bytes, PatternError, Scanners, CR, LF,
    MAX_PATTERNS, MAX_PER_SLOT, PATTERN_MAX, PATTERN_MIN, WINDOW,
};

use crate::take;

pub fn run(data: &[u8]) {
    let (words, rest) = take::<16>(data);
    let (a, b) = words.split_at(8);
    for w in [a, b] {
        let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
        for byte in [b'\n', b'\r', 0, words[15]] {
            check_search(w, byte);
        }
        check_lower(w);
        check_cut(w);
    }
    check_table(rest);
}

fn bytes_of(w: u64) -> [u8; 8] {
    w.to_le_bytes()
}

/// [`zero_bytes`] of `w ^ byte×8` flags the first `byte` exactly (none: no flag), and
/// [`lowest_byte`] and [`bytes_below`] read that flag.
fn check_search(w: u64, byte: u8) {
    let mask = zero_bytes(w ^ u64::from_le_bytes([byte; 8]));
    match bytes_of(w).iter().position(|&b| b == byte) {
        None => assert_eq!(mask, 0, "{w:#018x}: no {byte:#04x}, flags {mask:#018x}"),
        Some(i) => {
            assert_ne!(mask, 0);
            assert_eq!(mask.trailing_zeros() / 8, i as u32, "{w:#018x} {byte:#04x}");
            assert_eq!(lowest_byte(mask), i as u32, "{w:#018x} {byte:#04x}");
            let below = if i == 0 { 0 } else { u64::MAX >> (64 - 8 * i) };
            assert_eq!(bytes_below(mask), below, "{w:#018x} {byte:#04x}");
        }
    }
    // Only high bits are ever flagged.
    assert_eq!(mask & !0x8080_8080_8080_8080, 0);
}

fn check_lower(w: u64) {
    let want = u64::from_le_bytes(bytes_of(w).map(|b| b.to_ascii_lowercase()));
    assert_eq!(lower_ascii(w), want, "{w:#018x}");
}

/// The value copy's step: the bytes before the first CR or LF, lower-cased, zeros after.
fn check_cut(w: u64) {
    let line_end = zero_bytes(w ^ CR) | zero_bytes(w ^ LF);
    let got = lower_ascii(w & bytes_below(line_end));
    let mut want = [0u8; 8];
    for (dst, src) in want.iter_mut().zip(
        bytes_of(w)
            .iter()
            .take_while(|b| !matches!(b, b'\r' | b'\n')),
    ) {
        *dst = src.to_ascii_lowercase();
    }
    assert_eq!(got, u64::from_le_bytes(want), "{w:#018x}");
}

fn check_table(rest: &[u8]) {
    let mut lines: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
    let value = lines.pop().unwrap_or_default();
    let mut table = Scanners::default();
    let mut accepted: Vec<Vec<u8>> = Vec::new();
    for pattern in lines.into_iter().take(MAX_PATTERNS + 4) {
        let lower = pattern.to_ascii_lowercase();
        let want = if pattern.len() < PATTERN_MIN {
            Err(PatternError::TooShort)
        } else if pattern.len() > PATTERN_MAX {
            Err(PatternError::TooLong)
        } else if !pattern.iter().all(|b| (0x20..0x7f).contains(b)) {
            Err(PatternError::NotPrintableAscii)
        } else if accepted.len() >= MAX_PATTERNS {
            Err(PatternError::TooMany)
        } else if accepted
            .iter()
            .filter(|p| slot_of(p) == slot_of(&lower))
            .count()
            >= MAX_PER_SLOT as usize
        {
            Err(PatternError::SlotFull)
        } else {
            Ok(())
        };
        assert_eq!(table.push(pattern), want, "{pattern:?}");
        if want.is_ok() {
            accepted.push(lower);
        }
    }
    assert_eq!(table.count as usize, accepted.len());
    // Each check below is a scan of the whole table: the first and the last pattern pushed
    // are enough per input (the fuzzer varies which they are).
    let ends = [accepted.first(), accepted.last()];
    for p in ends.into_iter().flatten() {
        assert!(table.matches(p), "{p:?} does not match itself");
        assert!(
            table.matches(&p.to_ascii_uppercase()),
            "{p:?} in upper case"
        );
        let mut late = vec![b'.'; WINDOW - p.len()];
        late.extend_from_slice(p);
        assert!(table.matches(&late), "{p:?} at the window's end");
        late.insert(0, b'.');
        let past = accepted
            .iter()
            .any(|q| contains(&late[..WINDOW].to_ascii_lowercase(), q));
        assert_eq!(table.matches(&late), past, "{p:?} past the window's end");
    }
    let window = value[..value.len().min(WINDOW)].to_ascii_lowercase();
    let found = accepted.iter().any(|p| contains(&window, p));
    assert_eq!(table.matches(value), found, "{value:?}");
    if found {
        // The program's anchor table: some start of the value whose 4 bytes hash to a slot
        // naming a pattern with that anchor, which matches there.
        let hit = (0..window.len().saturating_sub(PATTERN_MIN - 1)).any(|at| {
            let anchor =
                u32::from_le_bytes([window[at], window[at + 1], window[at + 2], window[at + 3]]);
            let slot = table.slots[anchor_hash(anchor) as usize];
            (0..table.count as usize).any(|i| {
                let p = &table.patterns[i];
                slot & (1 << i) != 0
                    && p.anchor == anchor
                    && window[at..].starts_with(&p.bytes[..p.len as usize])
            })
        });
        assert!(hit, "{value:?} matches but no anchor slot finds it");
    }
}

fn slot_of(lower: &[u8]) -> u32 {
    anchor_hash(u32::from_le_bytes([lower[0], lower[1], lower[2], lower[3]]))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

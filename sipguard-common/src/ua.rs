//! Scanner fingerprints: the User-Agent substrings table the XDP program matches, and the
//! word-at-a-time (SWAR) helpers it uses, shared with the host so they are unit-tested here.
//!
//! How the program uses them, per SIP request that needs a look (see the program's `ua`
//! module): it walks the payload 8 bytes at a time looking for line feeds ([`zero_bytes`] on
//! `word ^ LF`), tests each line start for `user-agent` with one masked 8-byte compare, copies
//! the first [`WINDOW`] bytes of the value, lower-cased ([`lower_ascii`]) and cut at the end of
//! the line, then rolls a 4-byte anchor over it: an anchor whose slot in [`Scanners::slots`]
//! names patterns is checked against those patterns only.

/// Most patterns in one policy.
pub const MAX_PATTERNS: usize = 32;
/// Longest pattern, in bytes.
pub const PATTERN_MAX: usize = 32;
/// Shortest pattern: the anchor is 4 bytes.
pub const PATTERN_MIN: usize = 4;
/// Bytes of the User-Agent value compared (values are cut here; scanner names are short).
pub const WINDOW: usize = 64;
/// Payload bytes searched for the User-Agent header (a UDP SIP request fits in far less).
pub const SCAN_LIMIT: usize = 2048;
/// Slots of the anchor table.
pub const SLOTS: u32 = 1024;
/// Most patterns whose anchors share one slot (patterns that start with the same 4 letters
/// do): the program checks at most this many per candidate start.
pub const MAX_PER_SLOT: u32 = 4;
/// Words of scratch the program lower-cases the value into: the window plus room for a
/// pattern starting at the window's last byte, read as zeros.
pub const SCRATCH_WORDS: usize = (WINDOW + PATTERN_MAX + 8) / 8;

/// One pattern: lower-case ASCII, zero-padded.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UaPattern {
    pub len: u32,
    /// The first 4 bytes as a little-endian u32.
    pub anchor: u32,
    pub bytes: [u8; PATTERN_MAX],
}

/// The patterns of one policy epoch.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanners {
    pub count: u32,
    pub _pad: u32,
    /// Slot `anchor_hash(anchor)`: bit i set for pattern i having that anchor's hash.
    pub slots: [u32; SLOTS as usize],
    pub patterns: [UaPattern; MAX_PATTERNS],
}

impl Default for Scanners {
    fn default() -> Self {
        Self {
            count: 0,
            _pad: 0,
            slots: [0; SLOTS as usize],
            patterns: [UaPattern::default(); MAX_PATTERNS],
        }
    }
}

/// Why a pattern can't be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternError {
    TooShort,
    TooLong,
    /// Only printable ASCII (space to `~`) can be compared case-insensitively here.
    NotPrintableAscii,
    TooMany,
    /// More than [`MAX_PER_SLOT`] patterns start alike.
    SlotFull,
}

impl Scanners {
    /// Adds `pattern`, lower-cased.
    pub fn push(&mut self, pattern: &[u8]) -> Result<(), PatternError> {
        if pattern.len() < PATTERN_MIN {
            return Err(PatternError::TooShort);
        }
        if pattern.len() > PATTERN_MAX {
            return Err(PatternError::TooLong);
        }
        if !pattern.iter().all(|b| (0x20..0x7f).contains(b)) {
            return Err(PatternError::NotPrintableAscii);
        }
        let index = self.count as usize;
        if index >= MAX_PATTERNS {
            return Err(PatternError::TooMany);
        }
        let mut p = UaPattern {
            len: pattern.len() as u32,
            ..UaPattern::default()
        };
        for (dst, src) in p.bytes.iter_mut().zip(pattern) {
            *dst = src.to_ascii_lowercase();
        }
        p.anchor = u32::from_le_bytes([p.bytes[0], p.bytes[1], p.bytes[2], p.bytes[3]]);
        let slot = &mut self.slots[anchor_hash(p.anchor) as usize];
        if slot.count_ones() >= MAX_PER_SLOT {
            return Err(PatternError::SlotFull);
        }
        *slot |= 1 << index;
        self.patterns[index] = p;
        self.count += 1;
        Ok(())
    }

    /// Reference matcher: does `value` (the header value, any case) contain a pattern within
    /// its first [`WINDOW`] bytes? The XDP program gives the same answer; host tests compare.
    pub fn matches(&self, value: &[u8]) -> bool {
        let value = &value[..value.len().min(WINDOW)];
        self.patterns[..self.count as usize].iter().any(|p| {
            let p = &p.bytes[..p.len as usize];
            value
                .windows(p.len())
                .any(|w| w.iter().zip(p).all(|(a, b)| a.to_ascii_lowercase() == *b))
        })
    }
}

/// Slot of an anchor.
#[inline(always)]
pub const fn anchor_hash(anchor: u32) -> u32 {
    anchor.wrapping_mul(0x9E37_79B1) >> (32 - SLOTS.trailing_zeros())
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
/// Eight line feeds.
pub const LF: u64 = 0x0a0a_0a0a_0a0a_0a0a;
/// Eight carriage returns.
pub const CR: u64 = 0x0d0d_0d0d_0d0d_0d0d;

/// High bit set in each zero byte of `x`. Exact for the lowest zero byte; a byte just above a
/// zero byte may be flagged too when it is 0x01, so callers use only the lowest flag or
/// re-check what they find.
#[inline(always)]
pub const fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Byte index (0 = lowest address) of the lowest flag in a [`zero_bytes`] mask, which must not
/// be zero. BPF has no count-trailing-zeros instruction: isolate the lowest bit, then one
/// multiplication moves the index into the top byte.
#[inline(always)]
pub const fn lowest_byte(mask: u64) -> u32 {
    let low = mask & mask.wrapping_neg();
    ((low >> 7).wrapping_mul(0x0001_0203_0405_0607) >> 56) as u32
}

/// The bytes of `w` below the lowest flag of a non-zero [`zero_bytes`] mask.
#[inline(always)]
pub const fn bytes_below(mask: u64) -> u64 {
    let low = mask & mask.wrapping_neg();
    (low >> 7).wrapping_sub(1)
}

/// ASCII lower case of eight bytes at once; bytes that are not `A`-`Z` are unchanged.
#[inline(always)]
pub const fn lower_ascii(w: u64) -> u64 {
    let heptets = w & !HIGHS;
    let above_z = heptets.wrapping_add(0x2525_2525_2525_2525); // high bit: > b'Z'
    let from_a = heptets.wrapping_add(0x3f3f_3f3f_3f3f_3f3f); // high bit: >= b'A'
    let upper = (from_a ^ above_z) & !w & HIGHS;
    w | (upper >> 2)
}

/// `b"user-age"` as a little-endian word: the line-start test ORs 0x20 into every byte,
/// which lower-cases letters and leaves `-` alone.
pub const USER_AGE: u64 = u64::from_le_bytes(*b"user-age");
/// The OR mask of that test.
pub const CASE_BITS: u64 = 0x2020_2020_2020_2020;
/// The credential headers' line starts, for the same test: `Authorization` and
/// `Proxy-Authorization` (RFC 3261 gives neither a compact form).
pub const AUTHORIZ: u64 = u64::from_le_bytes(*b"authoriz");
pub const PROXY_AU: u64 = u64::from_le_bytes(*b"proxy-au");
/// What follows `proxy-au` in `Proxy-Authorization` (not `Proxy-Authenticate`).
pub const THORIZAT: u64 = u64::from_le_bytes(*b"thorizat");

#[cfg(test)]
mod tests {
    use super::*;

    fn word(b: &[u8; 8]) -> u64 {
        u64::from_le_bytes(*b)
    }

    #[test]
    fn zero_bytes_finds_the_first_line_feed_at_each_position() {
        for i in 0..8 {
            let mut b = *b"abcdefgh";
            b[i] = b'\n';
            let m = zero_bytes(word(&b) ^ LF);
            assert_ne!(m, 0);
            assert_eq!(lowest_byte(m), i as u32);
        }
        assert_eq!(zero_bytes(word(b"abcdefgh") ^ LF), 0);
    }

    #[test]
    fn lowest_byte_is_the_first_of_several() {
        let m = zero_bytes(word(b"ab\ncd\nef") ^ LF);
        assert_eq!(lowest_byte(m), 2);
        let rest = m & (m - 1);
        assert_eq!(lowest_byte(rest), 5);
    }

    #[test]
    fn bytes_below_keeps_what_precedes_the_line_end() {
        let w = word(b"Zoi\r\nXYZ");
        let m = zero_bytes(w ^ CR) | zero_bytes(w ^ LF);
        assert_eq!((w & bytes_below(m)).to_le_bytes(), *b"Zoi\0\0\0\0\0");
    }

    #[test]
    fn lower_ascii_changes_only_capital_letters() {
        let all: [u8; 256] = core::array::from_fn(|i| i as u8);
        for chunk in all.chunks(8) {
            let w = u64::from_le_bytes(chunk.try_into().unwrap());
            let got = lower_ascii(w).to_le_bytes();
            for (g, b) in got.iter().zip(chunk) {
                assert_eq!(*g, b.to_ascii_lowercase(), "byte {b:#x}");
            }
        }
    }

    #[test]
    fn user_agent_word_test_is_case_insensitive() {
        for name in [b"User-Age", b"USER-AGE", b"user-age", b"uSeR-aGe"] {
            assert_eq!(word(name) | CASE_BITS, USER_AGE);
        }
        assert_ne!(word(b"User_Age") | CASE_BITS, USER_AGE);
        assert_ne!(word(b"Usr-Agen") | CASE_BITS, USER_AGE);
    }

    #[test]
    fn patterns_are_lowercased_and_filtered() {
        let mut s = Scanners::default();
        s.push(b"Friendly-Scanner").unwrap();
        assert_eq!(&s.patterns[0].bytes[..16], b"friendly-scanner");
        assert_eq!(s.patterns[0].anchor, u32::from_le_bytes(*b"frie"));
        let h = anchor_hash(s.patterns[0].anchor);
        assert!(h < SLOTS);
        assert_eq!(s.slots[h as usize], 1);
        assert!(s.matches(b"FRIENDLY-SCANNER"));
        assert!(s.matches(b"x friendly-scanner y"));
        assert!(!s.matches(b"friendly-scan"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        let mut s = Scanners::default();
        assert_eq!(s.push(b"sip"), Err(PatternError::TooShort));
        assert_eq!(s.push(&[b'a'; 33]), Err(PatternError::TooLong));
        assert_eq!(
            s.push("sipé".as_bytes()),
            Err(PatternError::NotPrintableAscii)
        );
        for i in 0..MAX_PER_SLOT {
            s.push(std::format!("abcd{i}").as_bytes()).unwrap();
        }
        assert_eq!(s.push(b"abcdx"), Err(PatternError::SlotFull));
        let mut s = Scanners::default();
        for i in 0..MAX_PATTERNS {
            s.push(std::format!("p{i:02}xyz").as_bytes()).unwrap();
        }
        assert_eq!(s.push(b"zzzzz"), Err(PatternError::TooMany));
    }

    #[test]
    fn matching_stops_at_the_window() {
        let mut s = Scanners::default();
        s.push(b"sipvicious").unwrap();
        let mut value = [b'x'; 80];
        value[WINDOW - 10..WINDOW].copy_from_slice(b"sipvicious");
        assert!(s.matches(&value));
        let mut late = [b'x'; 80];
        late[WINDOW - 9..WINDOW + 1].copy_from_slice(b"sipvicious");
        assert!(!s.matches(&late));
    }
}

//! Digest nonces as both programs see them: the egress program records the nonce of every
//! challenge the PBX sends (by hash, with the address it went to), and the XDP program checks
//! the nonce a request's credentials echo. A failure is proven evidence over UDP when its
//! request's nonce is one the PBX sent to that same address, and to no other: the sender
//! received the PBX's answer, so the source address is not forged.
//!
//! One hash on both sides, fed byte by byte, so the packet (XDP) and the copied response
//! (egress) give the same value; and one rolling test for where a nonce value starts.

/// Bytes of a nonce value hashed; a longer one has no hash (it proves nothing).
pub const NONCE_MAX_LEN: usize = 128;
/// Bytes of a header line searched for `nonce="`.
pub const NONCE_SCAN: usize = 512;

/// The hash before the first byte.
pub const NONCE_HASH_INIT: u64 = 0xcbf2_9ce4_8422_2325;

/// One more byte of a nonce value (FNV-1a, 64-bit).
#[inline(always)]
pub const fn nonce_hash_step(h: u64, byte: u8) -> u64 {
    (h ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3)
}

/// The hash of a whole value, as the programs compute it (never 0; 0 for an empty value).
pub fn nonce_hash(value: &[u8]) -> u64 {
    if value.is_empty() || value.len() > NONCE_MAX_LEN {
        return 0;
    }
    value
        .iter()
        .fold(NONCE_HASH_INIT, |h, &b| nonce_hash_step(h, b))
        | 1
}

/// `window` holds the last 8 bytes read (the newest in the low byte, `window << 8 | byte`):
/// true when they are a separator (space, tab or comma) and `nonce="` in any case, so that
/// the next byte starts the value. `cnonce="` is not it.
#[inline(always)]
pub const fn nonce_value_starts(window: u64) -> bool {
    const LOWER: u64 = 0x0020_2020_2020_0000;
    const WANTED: u64 = u64::from_be_bytes(*b"\0nonce=\"");
    let sep = (window >> 56) as u8;
    (window | LOWER) & 0x00ff_ffff_ffff_ffff == WANTED
        && (sep == b' ' || sep == b',' || sep == b'\t')
}

/// Value of the `NONCES` LRU map (key: the nonce's hash): the address the PBX sent it to
/// (IPv4 as ::ffff:a.b.c.d, IPv6 whole), and whether it also went to another (then it proves
/// nothing: Kamailio's default nonce is the same for every client challenged in one second).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonceOwner {
    pub addr: [u8; 16],
    /// 1: seen going to two addresses.
    pub shared: u32,
    pub _pad: u32,
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;

    fn starts_after(text: &[u8]) -> Vec<usize> {
        let mut window = 0u64;
        let mut out = Vec::new();
        for (i, &b) in text.iter().enumerate() {
            window = window << 8 | b as u64;
            if nonce_value_starts(window) {
                out.push(i + 1);
            }
        }
        out
    }

    #[test]
    fn the_nonce_value_is_found_in_any_case_after_a_separator() {
        let line = b"Authorization: Digest username=\"1001\", NONCE=\"abc\",nonce=\"d\"";
        let found = starts_after(line);
        assert_eq!(found.len(), 2);
        assert_eq!(&line[found[0]..found[0] + 3], b"abc");
        assert_eq!(line[found[1]], b'd');
    }

    #[test]
    fn cnonce_and_unquoted_forms_are_not_the_nonce() {
        assert!(starts_after(b"Digest cnonce=\"abc\", qop=auth").is_empty());
        assert!(starts_after(b"Digest nonce=abc").is_empty());
        assert!(starts_after(b"Digest xnonce=\"abc\"").is_empty());
    }

    #[test]
    fn the_hash_is_never_zero_and_empty_or_long_values_have_none() {
        assert_ne!(nonce_hash(b"abc"), 0);
        assert_ne!(nonce_hash(b"abc"), nonce_hash(b"abd"));
        assert_eq!(nonce_hash(b""), 0);
        assert_eq!(nonce_hash(&[b'x'; NONCE_MAX_LEN + 1]), 0);
    }
}

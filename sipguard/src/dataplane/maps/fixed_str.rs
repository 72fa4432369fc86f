//! Strings in fixed-size, NUL-padded byte arrays: how the maps keep service names
//! (`SERVICE_NAMES`) and the admin's ban notes (`BAN_NOTES`).
//!
//! One encoding for every such map, so that a name written by the policy writer reads back
//! the same in `status`, `/metrics` and the event log.

/// `text` in `N` bytes: cut to at most `N - 1` bytes at a character boundary (so at least one
/// NUL ends it), the rest zero.
pub(crate) fn encode<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let mut len = text.len().min(N.saturating_sub(1));
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    out[..len].copy_from_slice(&text.as_bytes()[..len]);
    out
}

/// The text in `bytes`, up to the first NUL (all of it without one); invalid UTF-8 is
/// replaced, not refused (the kernel side never writes these).
pub(crate) fn decode(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_text_reads_back_as_written() {
        let bytes: [u8; 8] = encode("sip");
        assert_eq!(bytes, *b"sip\0\0\0\0\0");
        assert_eq!(decode(&bytes), "sip");
        assert_eq!(decode(&encode::<8>("")), "");
    }

    #[test]
    fn a_long_text_is_cut_leaving_a_nul() {
        let bytes: [u8; 4] = encode("abcdef");
        assert_eq!(bytes, *b"abc\0");
        assert_eq!(decode(&bytes), "abc");
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // "é" is two bytes: a cut after 3 bytes would split the second one.
        let bytes: [u8; 4] = encode("aéé");
        assert_eq!(decode(&bytes), "aé");
        let bytes: [u8; 3] = encode("ééé");
        assert_eq!(decode(&bytes), "é");
    }

    #[test]
    fn bytes_without_a_nul_are_read_whole() {
        assert_eq!(decode(b"full"), "full");
        assert_eq!(decode(&[b'a', 0xff, 0]), "a\u{fffd}");
    }
}

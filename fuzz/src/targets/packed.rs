//! The words the XDP program's global functions take their arguments in: every `unpack` of
//! any word keeps each field within its width (the bounds the verifier sees), and `pack` then
//! `unpack` gives back what was packed when the fields fit.
//!
//! Input: three little-endian words.
use sipguard_common::packed::{AttemptLimits, BanArgs, DropWhat, Span};

use crate::take;

pub fn run(data: &[u8]) {
    let (bytes, _) = take::<24>(data);
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[8 * i..8 * i + 8]);
        u64::from_le_bytes(w)
    };
    let (a, b, c) = (word(0), word(1), word(2));

    let ban = BanArgs::unpack(a, b, c);
    assert!((1..=128).contains(&ban.prefix), "prefix {}", ban.prefix);
    assert_eq!(
        BanArgs::unpack(ban.pack().0, ban.pack().1, ban.pack().2),
        ban
    );
    let fitting = BanArgs {
        prefix: (a & 0x7f) + 1,
        ..ban
    };
    let (x, y, z) = fitting.pack();
    assert_eq!(BanArgs::unpack(x, y, z), fitting);

    assert_eq!(Span::unpack(a).pack(), a);
    let span = Span {
        start: b & 0xffff_ffff,
        end: c & 0xffff,
        requests: (c >> 16) & 0xffff,
    };
    assert_eq!(Span::unpack(span.pack()), span);

    let limits = AttemptLimits::unpack(a);
    assert!(
        limits.attempts <= 0xffff && limits.prefix <= 0xff && limits.window_ms <= u32::MAX.into()
    );
    assert_eq!(AttemptLimits::unpack(limits.pack()), limits);
    assert_eq!(limits.pack(), a & !0xff00_0000, "{a:#018x}");

    let what = DropWhat::unpack(b);
    assert!(what.service <= 0xffff && what.reason <= 0xffff && what.verdict <= 0xff);
    assert_eq!(DropWhat::unpack(what.pack()), what);
    assert_eq!(what.pack(), b & 0xff_ffff_ffff, "{b:#018x}");
}

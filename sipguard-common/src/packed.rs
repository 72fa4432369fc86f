//! The arguments of the eBPF crate's global functions, packed into words.
//!
//! A BPF call takes at most five arguments, all registers, and a global function is checked
//! by the verifier on its own, so what it needs travels as integers, not as a struct on the
//! caller's stack (that stack counts against the 512 bytes the caller and its deepest callee
//! share). The small values go two or three to a word. Each packing is written here once, as a
//! `pack` for the caller and an `unpack` for the callee, so the two sides can't disagree on a
//! shift, and the round trip is tested on the host.
//!
//! Every `unpack` masks each field to its width: the callee is verified with its arguments
//! unknown, and the masks are the bounds the verifier sees.

/// `sipguard_ban_source`'s arguments after the source's two words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BanArgs {
    /// Bits of the source to ban (1..=128; IPv4 sources come as ::ffff:a.b.c.d /128).
    pub prefix: u64,
    /// 4 or 6.
    pub family: u8,
    pub seconds: u32,
    /// `BAN_REASON_*`.
    pub reason: u32,
    /// `BAN_SCOPE_*`.
    pub scope: u32,
    /// Failures or attempts counted, for the ban's event.
    pub count: u32,
    /// The evidence proves the source receives the PBX's answers (failures answered over
    /// TCP). Unproven evidence never bans a source the PBX recently accepted.
    pub proven: bool,
}

impl BanArgs {
    /// (prefix | family << 8 | proven << 16, seconds | reason << 32, scope | count << 32).
    #[inline(always)]
    pub const fn pack(self) -> (u64, u64, u64) {
        (
            self.prefix | (self.family as u64) << 8 | (self.proven as u64) << 16,
            self.seconds as u64 | (self.reason as u64) << 32,
            self.scope as u64 | (self.count as u64) << 32,
        )
    }

    /// The callee's side of [`pack`](Self::pack); the prefix comes back within 1..=128.
    #[inline(always)]
    pub fn unpack(prefix_family: u64, seconds_reason: u64, scope_count: u64) -> Self {
        Self {
            prefix: (prefix_family & 0xff).clamp(1, 128),
            family: (prefix_family >> 8) as u8,
            proven: (prefix_family >> 16) & 1 != 0,
            seconds: (seconds_reason & 0xffff_ffff) as u32,
            reason: (seconds_reason >> 32) as u32,
            scope: (scope_count & 0xffff_ffff) as u32,
            count: (scope_count >> 32) as u32,
        }
    }
}

/// Where a SIP payload lies in the frame, `[start, end)`, and how many requests it holds
/// (1, or more for a TCP segment), as one word: start | end << 32 | requests << 48 (offsets
/// are below 16 KiB, requests below 2^16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
    pub requests: u64,
}

impl Span {
    #[inline(always)]
    pub const fn pack(self) -> u64 {
        self.start | self.end << 32 | self.requests << 48
    }

    #[inline(always)]
    pub const fn unpack(span: u64) -> Self {
        Self {
            start: span & 0xffff_ffff,
            end: (span >> 32) & 0xffff,
            requests: span >> 48,
        }
    }
}

/// `sipguard_credential_attempt`'s limits in one word: attempts | prefix << 16 | window in
/// ms << 32 (attempts are at most 1000, a prefix at most 128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptLimits {
    /// Unanswered requests with credentials a source may send (`Policy::autoban_attempts`).
    pub attempts: u64,
    /// Bits of the source's identity (see `SourceWords`).
    pub prefix: u64,
    /// `Policy::autoban_window_ms`.
    pub window_ms: u64,
}

impl AttemptLimits {
    #[inline(always)]
    pub const fn pack(self) -> u64 {
        self.attempts | self.prefix << 16 | self.window_ms << 32
    }

    #[inline(always)]
    pub const fn unpack(limits: u64) -> Self {
        Self {
            attempts: limits & 0xffff,
            prefix: (limits >> 16) & 0xff,
            window_ms: limits >> 32,
        }
    }
}

/// `sipguard_drop_sample`'s verdict in one word: service | reason << 16 | verdict << 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropWhat {
    /// Service slot (below `MAX_SERVICES`).
    pub service: u32,
    /// `reason::*`.
    pub reason: u32,
    /// `verdict::*`.
    pub verdict: u32,
}

impl DropWhat {
    #[inline(always)]
    pub const fn pack(self) -> u64 {
        self.service as u64 | (self.reason as u64) << 16 | (self.verdict as u64) << 32
    }

    #[inline(always)]
    pub const fn unpack(what: u64) -> Self {
        Self {
            service: (what & 0xffff) as u32,
            reason: ((what >> 16) & 0xffff) as u32,
            verdict: ((what >> 32) & 0xff) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        bans::{BAN_REASON_AUTH_ATTEMPTS, BAN_SCOPE_SIP},
        layout::MAX_SERVICES,
        verdict::{self, reason},
    };

    #[test]
    fn ban_arguments_come_back_as_they_were_sent() {
        for (prefix, family) in [(128, 4), (64, 6), (1, 6), (128, 6)] {
            let args = BanArgs {
                prefix,
                family,
                seconds: u32::MAX,
                reason: BAN_REASON_AUTH_ATTEMPTS,
                scope: BAN_SCOPE_SIP,
                count: 1001,
                proven: family == 6,
            };
            let (a, b, c) = args.pack();
            assert_eq!(BanArgs::unpack(a, b, c), args);
        }
    }

    #[test]
    fn a_ban_prefix_comes_back_within_one_to_128() {
        let zero = BanArgs {
            prefix: 0,
            family: 6,
            seconds: 1,
            reason: 0,
            scope: 0,
            count: 0,
            proven: true,
        };
        let (a, b, c) = zero.pack();
        assert_eq!(BanArgs::unpack(a, b, c).prefix, 1);
        assert_eq!(BanArgs::unpack(200 | 6 << 8, b, c).prefix, 128);
        assert_eq!(BanArgs::unpack(200 | 6 << 8, b, c).family, 6);
    }

    #[test]
    fn payload_spans_come_back_as_they_were_sent() {
        let span = Span {
            start: 42,
            end: 16383,
            requests: 7,
        };
        assert_eq!(Span::unpack(span.pack()), span);
    }

    #[test]
    fn attempt_limits_come_back_as_they_were_sent() {
        let limits = AttemptLimits {
            attempts: 1000,
            prefix: 128,
            window_ms: 86_400_000,
        };
        assert_eq!(AttemptLimits::unpack(limits.pack()), limits);
        let v6 = AttemptLimits {
            attempts: 1,
            prefix: 64,
            window_ms: u32::MAX as u64,
        };
        assert_eq!(AttemptLimits::unpack(v6.pack()), v6);
    }

    #[test]
    fn drop_samples_come_back_as_they_were_sent() {
        for verdict in [verdict::DROP, verdict::WOULD_DROP] {
            let what = DropWhat {
                service: MAX_SERVICES - 1,
                reason: reason::COUNT - 1,
                verdict,
            };
            assert_eq!(DropWhat::unpack(what.pack()), what);
        }
    }
}

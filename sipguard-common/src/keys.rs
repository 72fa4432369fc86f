//! Keys and values of the per-source maps: the scoped LPM keys of the allow, deny and trusted
//! lists, the rate and auto-ban state per source, the fragment verdicts, and the arithmetic
//! that turns a source address into the 16-byte identity those maps are keyed by.
//!
//! A source's identity is its address as IPv6: IPv4 as `::ffff:a.b.c.d`, IPv6 cut to the
//! policy's rate prefix (an attacker who owns a /64 is one source). The programs carry it as
//! two words and a prefix ([`SourceWords`]) rather than as a key on the stack, because the
//! global BPF functions that need it take their arguments in registers; [`source_key`] turns
//! the words back into the key on the callee's side.

/// LPM trie key data for an IPv4 source scoped to an epoch or a service.
///
/// The LPM prefix length covers the 32 scope bits plus the address prefix, so one trie holds
/// the allow lists of every service of both epochs. `scope` is stored big-endian so that the
/// bit order matches the trie's byte-wise matching (it is always matched in full anyway).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopedV4 {
    pub scope: [u8; 4],
    pub addr: [u8; 4],
}

/// LPM trie key data for an IPv6 source scoped to an epoch or a service.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopedV6 {
    pub scope: [u8; 4],
    pub addr: [u8; 16],
}

/// Bits of the scope part of a scoped LPM key.
pub const SCOPE_BITS: u32 = 32;

/// Scope of an allow-list entry: the service slot of one epoch.
#[inline(always)]
pub const fn allow_scope(epoch: u32, service: u32) -> [u8; 4] {
    crate::layout::service_index(epoch, service).to_be_bytes()
}

/// Scope of a deny-list or trusted-list entry: the epoch.
#[inline(always)]
pub const fn epoch_scope(epoch: u32) -> [u8; 4] {
    epoch.to_be_bytes()
}

/// Key of the `RATES` LRU map: a source (IPv4 as ::ffff:a.b.c.d, IPv6 cut to the policy's
/// prefix) and a rate class. The value is a [`SourceState`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RateKey {
    pub addr: [u8; 16],
    pub class: u32,
}

/// Value of the `RATES` map: what sipguard remembers of one (source, class).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceState {
    /// GCRA theoretical arrival time, coarse ns (0 while the class has no rate limit).
    pub tat: u64,
    /// The scanner verdict below holds until this time, coarse ns.
    pub ua_until: u64,
    /// 1: the source's last request read carried a scanner User-Agent.
    pub ua_scanner: u32,
    pub _pad: u32,
}

/// Value of the `AUTH_FAILS` LRU map (key: the client, IPv4 as ::ffff:a.b.c.d, IPv6 cut to
/// the rate prefix).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthFailures {
    /// SIP users whose failures from this client began since `window_start_ns` and that have
    /// not logged in since (the egress program; each user's own tally is in `USER_FAILS`):
    /// the enumeration count.
    pub users: u32,
    /// Requests with credentials since `pending_start_ns` with no 2xx (INVITE: or 18x) back
    /// (the XDP program counts them, the egress program clears them).
    pub pending: u32,
    pub window_start_ns: u64,
    pub pending_start_ns: u64,
    /// Digest of the last request with credentials counted in `pending` (the XDP program:
    /// a copy of it within [`RETRANSMISSION_NS`] is a retransmission, not another attempt).
    pub last_digest: u64,
    pub last_digest_ns: u64,
    /// Of `pending`, the requests whose nonce the PBX had sent to this very address (the XDP
    /// program; see [`crate::nonce`]): their failures are proven evidence.
    pub bound: u32,
    pub _pad: u32,
}

/// Key of the `USER_FAILS` LRU map: a client (as `AUTH_FAILS` keys it) and the SIP user its
/// failed requests named (a seeded hash of the user part of the response's `From` URI, which
/// the PBX copies from the request: for a REGISTER the account registered, for an INVITE the
/// caller). Only the egress program reads and writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UserKey {
    pub addr: [u8; 16],
    pub user: u64,
}

/// Value of the `USER_FAILS` map: one (client, user)'s run of failures.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserFailures {
    /// Failures since `window_start_ns` with no success of this user in between.
    pub count: u32,
    pub _pad: u32,
    pub window_start_ns: u64,
    /// The client's `AuthFailures::window_start_ns` when this user was counted among its
    /// `users`: a user counted in an earlier window is counted again in the current one.
    pub counted_in_ns: u64,
}

/// How long a request is retransmitted: RFC 3261's 64*T1 (Timer B for an INVITE, Timer F
/// for the rest), 32 s.
pub const RETRANSMISSION_NS: u64 = 32_000_000_000;

/// Key of the `FRAGS` LRU map: a datagram, by source (IPv4 as ::ffff:a.b.c.d) and IP
/// identification. Only the XDP program reads and writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub addr: [u8; 16],
    pub id: u32,
}

/// Value of the `FRAGS` map: the verdict on a datagram's first fragment.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragVerdict {
    /// The service slot the first fragment was counted under.
    pub service: u32,
    /// 1: the first fragment was dropped (not merely counted as would_drop).
    pub dropped: u32,
}

/// A source as a global BPF function takes it: the 16 bytes of its identity before the cut,
/// as two little-endian words, and the prefix to cut them to (128 for IPv4 as
/// ::ffff:a.b.c.d, the policy's rate prefix for IPv6). Words, not a key on the stack: the
/// caller's stack plus its deepest callee's must stay within 512 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceWords {
    pub hi: u64,
    pub lo: u64,
    pub prefix: u64,
}

impl SourceWords {
    /// An IPv4 source, as ::ffff:a.b.c.d, never cut.
    #[inline(always)]
    pub const fn v4(addr: [u8; 4]) -> Self {
        Self {
            hi: 0,
            lo: 0xffff_0000 | (u32::from_le_bytes(addr) as u64) << 32,
            prefix: 128,
        }
    }

    /// An IPv6 source, to be cut to `rate_v6_prefix` bits (at most 128).
    #[inline(always)]
    pub fn v6(addr: &[u8; 16], rate_v6_prefix: u32) -> Self {
        let mut hi = [0u8; 8];
        let mut lo = [0u8; 8];
        hi.copy_from_slice(&addr[..8]);
        lo.copy_from_slice(&addr[8..]);
        Self {
            hi: u64::from_le_bytes(hi),
            lo: u64::from_le_bytes(lo),
            prefix: rate_v6_prefix.min(128) as u64,
        }
    }

    /// The identity these words stand for: [`source_key`].
    #[inline(always)]
    pub fn key(self) -> [u8; 16] {
        source_key(self.hi, self.lo, self.prefix)
    }
}

/// The key of a source's [`SourceWords`]: the 16 bytes cut to `prefix` bits (128 or more:
/// uncut).
#[inline(always)]
pub fn source_key(hi: u64, lo: u64, prefix: u64) -> [u8; 16] {
    let (mut h, mut l) = (u64::from_be(hi), u64::from_be(lo));
    if prefix < 128 {
        if prefix >= 64 {
            l &= !(u64::MAX >> (prefix - 64));
        } else {
            l = 0;
            h &= !(u64::MAX >> prefix);
        }
    }
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&h.to_be().to_le_bytes());
    key[8..].copy_from_slice(&l.to_be().to_le_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    const V6: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33,
        0x44,
    ];

    /// The address cut to `prefix` bits, computed another way.
    fn cut(addr: [u8; 16], prefix: u32) -> [u8; 16] {
        let mask = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix.min(128))
        };
        (u128::from_be_bytes(addr) & mask).to_be_bytes()
    }

    #[test]
    fn an_ipv4_source_is_its_mapped_ipv6_address() {
        let key = SourceWords::v4([192, 0, 2, 7]).key();
        assert_eq!(
            key,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7]
        );
    }

    #[test]
    fn an_ipv6_source_is_cut_to_the_rate_prefix() {
        for prefix in 0..=128 {
            assert_eq!(
                SourceWords::v6(&V6, prefix).key(),
                cut(V6, prefix),
                "/{prefix}"
            );
        }
    }

    #[test]
    fn a_rate_prefix_past_128_keeps_the_whole_address() {
        let words = SourceWords::v6(&V6, 200);
        assert_eq!(words.prefix, 128);
        assert_eq!(words.key(), V6);
    }

    #[test]
    fn the_default_prefix_makes_one_source_of_a_slash_64() {
        let mut other = V6;
        other[15] ^= 0xff;
        other[8] ^= 0x80;
        assert_eq!(
            SourceWords::v6(&V6, 64).key(),
            SourceWords::v6(&other, 64).key()
        );
        assert_ne!(
            SourceWords::v6(&V6, 128).key(),
            SourceWords::v6(&other, 128).key()
        );
    }

    #[test]
    fn source_key_of_words_rebuilds_the_bytes() {
        let words = SourceWords::v6(&V6, 128);
        assert_eq!(source_key(words.hi, words.lo, words.prefix), V6);
        assert_eq!(source_key(words.hi, words.lo, 255), V6);
    }
}

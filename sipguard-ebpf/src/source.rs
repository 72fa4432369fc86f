//! A packet's source as the programs identify it: its rate identity (IPv4 as
//! ::ffff:a.b.c.d, IPv6 cut to the policy's rate prefix), the same as two words for a global
//! function, and whether the epoch trusts it. Shared by the ingress and egress programs (the
//! egress program's "source" is the client a response goes to).

use aya_ebpf::maps::lpm_trie::Key;
use sipguard_common::{epoch_scope, Policy, ScopedV4, ScopedV6, SourceWords, SCOPE_BITS};

use crate::{
    maps::{TRUSTED_V4, TRUSTED_V6},
    parse::Src,
};

/// `src` as [`SourceWords`]: IPv4 uncut, IPv6 to be cut to the policy's rate prefix.
#[inline(always)]
pub(crate) fn words(policy: &Policy, src: &Src) -> SourceWords {
    match src {
        Src::V4(a) => SourceWords::v4(*a),
        Src::V6(a) => SourceWords::v6(a, policy.rate_v6_prefix),
    }
}

/// The rate-limited identity of a source: IPv4 as ::ffff:a.b.c.d, IPv6 cut to the policy's
/// prefix so that one /64 is one source.
#[inline(always)]
pub(crate) fn rate_key(policy: &Policy, src: &Src) -> [u8; 16] {
    words(policy, src).key()
}

/// The source is in the epoch's trusted list.
#[inline(always)]
pub(crate) fn is_trusted(epoch: u32, src: &Src) -> bool {
    let scope = epoch_scope(epoch);
    match src {
        Src::V4(addr) => TRUSTED_V4
            .get(Key::new(SCOPE_BITS + 32, ScopedV4 { scope, addr: *addr }))
            .is_some(),
        Src::V6(addr) => TRUSTED_V6
            .get(Key::new(SCOPE_BITS + 128, ScopedV6 { scope, addr: *addr }))
            .is_some(),
    }
}

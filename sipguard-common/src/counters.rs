//! The per-CPU counter arrays: by (service, reason, verdict) for every packet, by (service,
//! SIP class, verdict) for the packets of SIP services, and the programs' bans by reason.
//!
//! The index functions are the only way into the flat arrays, on both sides: the XDP program
//! counts with them, the daemon sums the CPUs' values with them.

use crate::{layout::MAX_SERVICES, sip, verdict};

/// Per-CPU packet and byte counter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

/// Entries of the per-CPU `COUNTERS` array: service x reason x verdict.
pub const COUNTER_ENTRIES: u32 = MAX_SERVICES * verdict::reason::COUNT * verdict::COUNT;

/// Index into the `COUNTERS` array.
#[inline(always)]
pub const fn counter_index(service: u32, reason: u32, verdict: u32) -> u32 {
    (service * verdict::reason::COUNT + reason) * verdict::COUNT + verdict
}

/// Entries of the per-CPU `SIP_COUNTERS` array: service x SIP class x verdict.
pub const SIP_COUNTER_ENTRIES: u32 = MAX_SERVICES * sip::class::COUNT * verdict::COUNT;

/// Index into the `SIP_COUNTERS` array.
#[inline(always)]
pub const fn sip_counter_index(service: u32, class: u32, verdict: u32) -> u32 {
    (service * sip::class::COUNT + class) * verdict::COUNT + verdict
}

/// Slots of the per-CPU ban counter (`BAN_COUNTERS`): by `BAN_REASON_*` (below
/// [`BAN_COUNTER_INSERT_FAILED`]), then the evidence the programs weighed and did not ban on.
pub const BAN_COUNTER_ENTRIES: u32 = 16;
/// The `BAN_COUNTERS` slot of the bans the programs decided but could not write (the ban map
/// full): never a reason's.
pub const BAN_COUNTER_INSERT_FAILED: u32 = 7;
/// Challenges (401/407) to requests without credentials: the normal first half of a digest
/// login, never a failure (anyone can make the PBX send one to any address over UDP).
pub const BAN_COUNTER_CHALLENGES: u32 = 8;
/// Requests with credentials seen again within the retransmission window: one attempt.
pub const BAN_COUNTER_RETRANSMISSIONS: u32 = 9;
/// Bans withheld: the evidence was unproven (a forger could have produced it) and the source
/// recently logged in (`LEARNED`).
pub const BAN_COUNTER_SPARED: u32 = 10;
/// Failures answered over UDP: counted toward a ban from SIP at most, since a forger can make
/// the PBX send them to any address.
pub const BAN_COUNTER_UNPROVEN_FAILURES: u32 = 11;
/// Failures answered over UDP to a request whose nonce the PBX had sent to that address
/// alone: proven evidence.
pub const BAN_COUNTER_NONCE_PROVEN: u32 = 12;
/// Challenge nonces the PBX sent to a second address: they prove nothing (Kamailio's default
/// nonce, the same for every client in a second).
pub const BAN_COUNTER_SHARED_NONCES: u32 = 13;
/// 401/407s to requests with credentials that say `stale=true`: the nonce had expired, not
/// the password failed (RFC 7616: the digest was valid; Kamailio says so before it checks
/// the password at all). Either way no password was refused, so it is no failure: the
/// challenge an office of phones collects when the PBX restarts or its nonces expire.
pub const BAN_COUNTER_STALE: u32 = 14;
/// The programs' bans still in force that a newer one pushed out of their room (see
/// [`AUTO_BAN_ROOM`](crate::AUTO_BAN_ROOM)): the ban maps are under pressure.
pub const BAN_COUNTER_EVICTED: u32 = 15;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{bans::BAN_REASON_NAMES, verdict::reason};

    #[test]
    fn counter_indexes_are_unique_and_in_range() {
        let last = counter_index(MAX_SERVICES - 1, reason::COUNT - 1, verdict::COUNT - 1);
        assert_eq!(last, COUNTER_ENTRIES - 1);
        assert_ne!(counter_index(1, 0, 0), counter_index(0, 1, 0));
        assert_ne!(counter_index(0, 1, 0), counter_index(0, 0, 1));
    }

    #[test]
    fn sip_counter_indexes_are_unique_and_in_range() {
        let last = sip_counter_index(MAX_SERVICES - 1, sip::class::COUNT - 1, verdict::COUNT - 1);
        assert_eq!(last, SIP_COUNTER_ENTRIES - 1);
        assert_eq!(sip::CLASS_NAMES.len() as u32, sip::class::GARBAGE + 1);
    }

    #[test]
    fn every_ban_reason_has_a_counter_slot() {
        assert!(BAN_REASON_NAMES.len() as u32 <= BAN_COUNTER_INSERT_FAILED);
    }
}

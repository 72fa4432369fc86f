//! Ban reasons only user space sets: bans from the fleet feeds (CrowdSec, APIBan).
//!
//! `Ban::reason` is a `u32` the programs never interpret for a ban they did not make (they
//! count only their own, in `BAN_COUNTERS`), so user space can name reasons of its own
//! without a change to `sipguard-common`. The codes sit far above the shared
//! `BAN_REASON_*` (0 to 5 today, growing by one) so that a reason added there can't take
//! them, and above `BAN_COUNTER_ENTRIES` so that no program counter is ever indexed by them.
use sipguard_common::BAN_REASON_NAMES;

/// A decision of a CrowdSec Local API (`[crowdsec]`).
pub const BAN_REASON_CROWDSEC: u32 = 16;
/// An address of the APIBan feed (`[apiban]`).
pub const BAN_REASON_APIBAN: u32 = 17;

/// The name of ban reason `reason`, shared or user space's own; `None` for an unknown code.
pub fn ban_reason_name(reason: u32) -> Option<&'static str> {
    match reason {
        BAN_REASON_CROWDSEC => Some("crowdsec"),
        BAN_REASON_APIBAN => Some("apiban"),
        r => BAN_REASON_NAMES.get(r as usize).copied(),
    }
}

/// Whether a ban with `reason` came from a fleet feed (and must never be sent back to it).
pub fn from_fleet(reason: u32) -> bool {
    matches!(reason, BAN_REASON_CROWDSEC | BAN_REASON_APIBAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_reasons_have_names_and_never_collide_with_the_shared_ones() {
        assert_eq!(ban_reason_name(BAN_REASON_CROWDSEC), Some("crowdsec"));
        assert_eq!(ban_reason_name(BAN_REASON_APIBAN), Some("apiban"));
        assert_eq!(
            ban_reason_name(sipguard_common::BAN_REASON_MANUAL),
            Some("manual")
        );
        assert!((BAN_REASON_NAMES.len() as u32) < BAN_REASON_CROWDSEC);
        const { assert!(sipguard_common::BAN_COUNTER_ENTRIES <= BAN_REASON_CROWDSEC) };
        assert!(from_fleet(BAN_REASON_APIBAN) && !from_fleet(sipguard_common::BAN_REASON_LOG));
        assert_eq!(ban_reason_name(99), None);
    }
}

//! How much a policy may hold, and the bounds of its numbers.
//!
//! The capacities come from the map sizes in `sipguard_common` (one source for the kernel, the
//! map writer and this validator), halved where the maps hold two policy epochs while a new
//! policy replaces the old one. A config that passes these checks always fits the maps, so a
//! reload never fails half-way.
use std::ops::RangeInclusive;

use sipguard_common::{
    ALLOW_MAX_ENTRIES, DENY_MAX_ENTRIES, EPOCHS, MAX_SERVICES, TRUSTED_MAX_ENTRIES,
};

/// Services a config may define: the data plane's service slots minus slot 0, which means "no
/// service matched".
pub const MAX_CONFIG_SERVICES: usize = MAX_SERVICES as usize - 1;
/// Allow entries of all services together: one epoch's share of `ALLOW_V4`/`ALLOW_V6`.
pub const MAX_ALLOW_ENTRIES: usize = (ALLOW_MAX_ENTRIES / EPOCHS) as usize;
/// Deny entries: one epoch's share of `DENY_V4`/`DENY_V6`.
pub const MAX_DENY_ENTRIES: usize = (DENY_MAX_ENTRIES / EPOCHS) as usize;
/// Trusted entries: one epoch's share of `TRUSTED_V4`/`TRUSTED_V6`.
pub const MAX_TRUSTED_ENTRIES: usize = (TRUSTED_MAX_ENTRIES / EPOCHS) as usize;

/// Entries of `[global] protect`, and of one service's `to`: the destination tries hold both,
/// for both epochs (`DEST_MAX_ENTRIES`); the map writer checks the exact total.
pub const MAX_PROTECT_ENTRIES: usize = 1024;
pub const MAX_TO_ENTRIES: usize = 256;

/// Highest rate or burst accepted (requests per second per source).
pub const MAX_RATE: u32 = 1_000_000;

/// `tracked_sources` bounds: below a few thousand a busy PBX's phones evict each other; each
/// entry costs about 100 bytes of kernel memory, allocated up front.
pub const TRACKED_SOURCES_RANGE: RangeInclusive<u32> = 1024..=8_388_608;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_one_epoch_of_each_map() {
        // The numbers the error messages and the docs quote.
        assert_eq!(MAX_CONFIG_SERVICES, 31);
        assert_eq!(MAX_ALLOW_ENTRIES, 65536 / 2);
        assert_eq!(MAX_DENY_ENTRIES, 262144 / 2);
        assert_eq!(MAX_TRUSTED_ENTRIES, 8192 / 2);
    }
}

//! The shape of the maps: how many epochs, services, ports and entries each map holds, where
//! each value of the `STATE` array lives, and the index functions of the flat arrays.
//!
//! Both sides size their maps from these numbers (the eBPF crate declares the maps with them,
//! the daemon checks a policy against them and walks the arrays with them), so a capacity is
//! written once. [`LAYOUT_VERSION`] names the whole set: a daemon refuses pinned maps of another
//! layout.

/// Number of policy slots (double buffering).
pub const EPOCHS: u32 = 2;
/// Service ids are 1..MAX_SERVICES; 0 means "no service matched".
pub const MAX_SERVICES: u32 = 32;
pub const SERVICE_NONE: u32 = 0;

/// Transport slots of the port -> service table.
pub const PROTO_SLOT_UDP: u32 = 0;
pub const PROTO_SLOT_TCP: u32 = 1;
pub const PROTO_SLOTS: u32 = 2;
pub const PORTS: u32 = 65536;
/// Entries of the `PORT_SERVICE` array: epoch x transport x port.
pub const PORT_MAP_ENTRIES: u32 = EPOCHS * PROTO_SLOTS * PORTS;

/// Capacity of the LPM tries. Allow/deny lists are written only by the daemon and are never
/// evicted; the capacity is per map, shared by both epochs.
pub const ALLOW_MAX_ENTRIES: u32 = 65536;
pub const DENY_MAX_ENTRIES: u32 = 262144;
pub const BAN_MAX_ENTRIES: u32 = 65536;
/// The programs' own bans (scanner, auth failures, attempts, enumeration) live in tries of
/// their own (`AUTO_BANS_V4`, `AUTO_BANS_V6`), apart from the admin's, log and fleet bans
/// in `BANS_V4`/`BANS_V6`: an attack that makes the programs ban can never push out a ban
/// the admin made. The room keeps the most recent [`AUTO_BAN_ROOM`] of them (both families
/// together, in the `AUTO_BAN_RING`): a new one takes the slot of the one made that many bans
/// earlier, which, if still in force, is evicted (and counted).
pub const AUTO_BAN_ROOM: u32 = 65536;
/// Capacity of each of the programs' ban tries: the room, and slack for two CPUs banning at
/// once (the ring's head is not atomic on every kernel) and for bans carried over a layout
/// change.
pub const AUTO_BANS_MAX_ENTRIES: u32 = AUTO_BAN_ROOM + 4096;
/// Capacity of the trusted-source tries (both epochs).
pub const TRUSTED_MAX_ENTRIES: u32 = 8192;
/// Sources tracked for rate limiting. LRU: a spoofed-source flood churns it, but allow
/// lists, bans and trusted lists live in other maps that traffic cannot evict.
pub const RATE_MAX_ENTRIES: u32 = 131072;
/// Datagrams whose first fragment's verdict is kept for their later fragments.
pub const FRAG_MAX_ENTRIES: u32 = 16384;
/// Clients tracked for auto-ban.
pub const AUTH_FAILS_MAX_ENTRIES: u32 = 65536;
/// (Client, SIP user) failure tallies (`USER_FAILS`, LRU): an evicted tally starts again,
/// and its user is counted once more toward the client's enumeration count.
pub const USER_FAILS_MAX_ENTRIES: u32 = 65536;
/// Sources the PBX recently accepted (a 2xx or 18x to a request with credentials), which
/// only proven evidence may ban (`LEARNED`). Only a correct password puts a source here, so
/// a flood cannot churn it.
pub const LEARNED_MAX_ENTRIES: u32 = 16384;
/// Challenge nonces remembered (`NONCES`, LRU): an evicted one only makes a later failure
/// unproven, never proven.
pub const NONCES_MAX_ENTRIES: u32 = 65536;
/// Capacity of each destination trie (`DESTS_V4`, `DESTS_V6`, both epochs): the protected
/// hosts (`[global] protect`) and the services' destinations (`to`).
pub const DEST_MAX_ENTRIES: u32 = 8192;

/// A `PORT_SERVICE` value (or `Policy::icmp_echo_service`) with this bit names no service but
/// a destination group, in its low 16 bits: the services on that port are told apart by the
/// packet's destination, looked up in the destination tries under [`dest_scope`].
pub const DEST_SCOPED: u32 = 1 << 31;
/// The destination group of `[global] protect`: a packet to a destination outside it passes
/// untouched (`reason::UNPROTECTED`). Service groups are numbered from 1.
pub const DEST_GROUP_PROTECT: u32 = 0;
/// Destination groups per epoch (the group is 16 bits of the scope).
pub const DEST_GROUPS: u32 = 1 << 16;

/// Index of the active epoch in the `STATE` array: its low bit; the value counts the policies
/// applied (the programs read `& 1`).
pub const STATE_ACTIVE_EPOCH: u32 = 0;
/// Index of the map layout version in the `STATE` array, written by the daemon that created
/// the pinned maps. A daemon refuses to adopt pinned maps of another layout.
pub const STATE_LAYOUT: u32 = 1;
/// Index of the "bans may exist" flag in the `STATE` array. The ban tries are searched only
/// when it is non-zero: a trie lookup costs ~10 ns even when the trie is empty. Whoever
/// inserts a ban sets the flag *after* the insert; whoever clears it (when every ban is gone)
/// clears it first and re-checks the tries afterwards, setting it again if a ban appeared.
pub const STATE_BANS_PRESENT: u32 = 2;
/// Index of the programs' next slot in the `AUTO_BAN_RING` (wrapping; the slot is the value
/// modulo [`AUTO_BAN_ROOM`]).
pub const STATE_AUTO_BAN_HEAD: u32 = 3;
pub const STATE_ENTRIES: u32 = 4;
/// Bump whenever a map's key, value or size changes.
pub const LAYOUT_VERSION: u32 = 14;

/// Service names (`SERVICE_NAMES` array, index = [`service_index`]), NUL-padded; read by
/// `sipguard status` and the metrics exporter, never by the XDP program.
pub const SERVICE_NAME_LEN: usize = 32;

/// Index into the `PORT_SERVICE` array.
#[inline(always)]
pub const fn port_index(epoch: u32, proto_slot: u32, port: u16) -> u32 {
    (epoch * PROTO_SLOTS + proto_slot) * PORTS + port as u32
}

/// Scope of a destination-trie entry: one destination group of one epoch.
#[inline(always)]
pub const fn dest_scope(epoch: u32, group: u32) -> [u8; 4] {
    (epoch * DEST_GROUPS + (group & (DEST_GROUPS - 1))).to_be_bytes()
}

/// Index into the `SERVICES` array.
#[inline(always)]
pub const fn service_index(epoch: u32, service: u32) -> u32 {
    epoch * MAX_SERVICES + service
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_indexes_cover_both_epochs_and_transports() {
        assert_eq!(port_index(0, PROTO_SLOT_UDP, 0), 0);
        assert_eq!(port_index(0, PROTO_SLOT_TCP, 0), PORTS);
        assert_eq!(port_index(1, PROTO_SLOT_UDP, 0), 2 * PORTS);
        assert_eq!(port_index(1, PROTO_SLOT_TCP, 65535), PORT_MAP_ENTRIES - 1);
    }

    #[test]
    fn service_indexes_keep_the_epochs_apart() {
        assert_eq!(service_index(0, MAX_SERVICES - 1) + 1, service_index(1, 0));
        assert_eq!(
            service_index(EPOCHS - 1, MAX_SERVICES - 1),
            EPOCHS * MAX_SERVICES - 1
        );
    }
}

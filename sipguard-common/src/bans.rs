//! Bans: the value of the `BANS_V4` / `BANS_V6` LPM tries (keyed by source prefix), why a
//! source was banned and what of its traffic the ban covers, and the admin's note on a ban.
//!
//! Bans are runtime state, not policy: they are not per epoch and survive reloads and daemon
//! restarts. The programs make them (scanner User-Agents, auto-ban), the daemon makes them from
//! logs and by hand, and removes them once they expire.

/// A ban (`BANS_V4` / `BANS_V6` LPM tries keyed by source prefix). Bans are runtime state,
/// not policy: they are not per epoch, survive reloads and daemon restarts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ban {
    /// Nanoseconds on the programs' clock at which the ban ends; 0 = never. The clock is
    /// CLOCK_MONOTONIC_COARSE (`bpf_ktime_get_coarse_ns`, jiffy resolution, the cheap one)
    /// where the kernel has it (5.11), else CLOCK_MONOTONIC; bans are measured in seconds.
    pub expires_ns: u64,
    /// Nanoseconds on the same clock at which the ban was set.
    pub created_ns: u64,
    /// Packets dropped because of this ban, counted by the XDP program with a plain add (no
    /// atomics on its target): two CPUs hitting one ban at once may lose a count. For display.
    pub hits: u64,
    /// `BAN_REASON_*`.
    pub reason: u32,
    /// `BAN_SCOPE_*`.
    pub scope: u32,
}

pub const BAN_REASON_MANUAL: u32 = 0;
/// Set by the XDP program on a scanner User-Agent when the policy bans scanners.
pub const BAN_REASON_SCANNER: u32 = 1;
/// Set by the egress program: too many authentication failures answered by the PBX.
pub const BAN_REASON_AUTH_FAILURES: u32 = 2;
/// Set by the daemon from a log file (`[[logwatch]]`).
pub const BAN_REASON_LOG: u32 = 3;
/// Set by the XDP program: too many requests carrying credentials that the PBX never
/// accepted (`Policy::autoban_attempts`).
pub const BAN_REASON_AUTH_ATTEMPTS: u32 = 4;
/// Set by the egress program: failures naming too many SIP users (`Policy::autoban_users`):
/// a guesser rotating extensions.
pub const BAN_REASON_AUTH_ENUMERATION: u32 = 5;
/// Names of the ban reasons, index = reason.
pub const BAN_REASON_NAMES: [&str; 6] = [
    "manual",
    "scanner",
    "auth_failures",
    "log",
    "auth_attempts",
    "auth_enumeration",
];
/// The ban covers every packet of the source.
pub const BAN_SCOPE_ALL: u32 = 0;
/// The ban covers the source's packets to SIP services only (sources behind carrier-grade NAT
/// shared with honest users keep their web and RTP).
pub const BAN_SCOPE_SIP: u32 = 1;

/// A slot of the `AUTO_BAN_RING` array: which of the programs' bans holds it, so that the
/// ban made [`AUTO_BAN_ROOM`](crate::AUTO_BAN_ROOM) bans later can evict exactly that one
/// (a newer ban on the same prefix has another `created_ns` and stays).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoBanSlot {
    /// The key's data: IPv4 in the first 4 bytes, IPv6 cut to `prefix_len`.
    pub addr: [u8; 16],
    /// The ban's `created_ns`; 0: the slot was never used.
    pub created_ns: u64,
    /// 4 or 6.
    pub family: u32,
    pub prefix_len: u32,
}

/// Key of the `BAN_NOTES` map (user space only): the admin's text for a ban.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BanNoteKey {
    /// 4 or 6.
    pub family: u8,
    pub prefix_len: u8,
    pub _pad: [u8; 2],
    pub addr: [u8; 16],
}

/// Bytes of a ban's note (the `BAN_NOTES` value), NUL-padded.
pub const BAN_NOTE_LEN: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ban_reason_names_cover_every_reason() {
        assert_eq!(
            BAN_REASON_NAMES.len() as u32,
            BAN_REASON_AUTH_ENUMERATION + 1
        );
        assert_eq!(BAN_REASON_NAMES[BAN_REASON_LOG as usize], "log");
    }
}

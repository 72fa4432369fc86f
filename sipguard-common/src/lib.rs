//! Types and constants shared by the sipguard XDP program (`sipguard-ebpf`) and the daemon:
//! the contract between kernel and user space.
//!
//! Everything here is `#[repr(C)]` with explicit padding (never `packed`), so the kernel and
//! user space agree on every byte. The `user` feature adds `aya::Pod` impls ([`pod`]).
//!
//! # Map layout
//! A policy lives in one of two *epochs* (slots). The daemon writes a complete new policy into
//! the inactive epoch, then flips [`STATE_ACTIVE_EPOCH`] with a single array write, so no packet
//! is ever judged by a half-written policy. Keys of every policy map therefore carry the epoch:
//! arrays are indexed by it ([`port_index`], [`service_index`]), LPM keys are scoped by it
//! ([`allow_scope`], [`epoch_scope`]).
//!
//! The maps fall in four groups (their names: [`map_names`]):
//! - policy, per epoch: [`Policy`] (the epoch's global [`settings`]), [`ServicePolicy`]
//!   ([`service`]), the port table, the allow, deny and trusted lists ([`keys`]), the scanner
//!   patterns ([`ua`]);
//! - runtime state, not per epoch, kept across reloads and restarts: `STATE`, bans
//!   ([`bans`]), rate and auto-ban state per source and fragment verdicts ([`keys`]);
//! - counters by [`verdict`] and reason ([`counters`]) and the [`events`] ring buffer;
//! - per-CPU scratch of one program run, private to the eBPF crate.
//!
//! Sizes and capacities are in [`layout`]; [`LAYOUT_VERSION`] changes with any of them.
//! [`packed`] holds the packing of the eBPF crate's global-function arguments, [`sip`] and
//! [`ua`] the payload classification both sides run, [`icmp`] the ICMP type classes.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod addr;
pub mod bans;
pub mod counters;
pub mod events;
pub mod icmp;
pub mod keys;
pub mod layout;
pub mod lengths;
pub mod map_names;
pub mod nonce;
pub mod packed;
#[cfg(feature = "user")]
mod pod;
pub mod service;
pub mod settings;
pub mod sip;
pub mod ua;
pub mod verdict;

pub use bans::*;
pub use counters::*;
pub use events::*;
pub use icmp::*;
pub use keys::*;
pub use layout::*;
pub use nonce::NonceOwner;
pub use service::*;
pub use settings::*;
pub use verdict::{reason, REASON_NAMES, VERDICT_NAMES};

#[cfg(test)]
mod tests {
    use core::mem::size_of;

    use super::*;

    #[test]
    fn struct_sizes_have_no_implicit_padding() {
        assert_eq!(size_of::<Counter>(), 16);
        assert_eq!(size_of::<Policy>(), 60);
        assert_eq!(size_of::<AuthFailures>(), 48);
        assert_eq!(size_of::<UserKey>(), 24);
        assert_eq!(size_of::<AutoBanSlot>(), 32);
        assert_eq!(size_of::<UserFailures>(), 24);
        assert_eq!(size_of::<NonceOwner>(), 24);
        assert_eq!(size_of::<Event>(), 40);
        assert_eq!(size_of::<SourceState>(), 24);
        assert_eq!(size_of::<BanNoteKey>(), 20);
        assert_eq!(size_of::<ua::UaPattern>(), 40);
        assert_eq!(size_of::<ua::Scanners>(), 8 + 4 * 1024 + 32 * 40);
        assert_eq!(size_of::<ServicePolicy>(), 52);
        assert_eq!(size_of::<RateKey>(), 20);
        assert_eq!(size_of::<ScopedV4>(), 8);
        assert_eq!(size_of::<ScopedV6>(), 20);
        assert_eq!(size_of::<Ban>(), 32);
        assert_eq!(size_of::<FragKey>(), 20);
        assert_eq!(size_of::<FragVerdict>(), 8);
    }

    #[test]
    fn the_old_root_paths_still_name_the_same_items() {
        assert_eq!(verdict::PASS, 0);
        assert_eq!(reason::FLOOD, reason::FLOOD);
        assert_eq!(rate_class::COUNT, rate_class::COUNT);
        assert_eq!(counter_index(0, reason::DEFAULT, verdict::DROP), 4);
    }
}

//! `aya::Pod` for every map key and value, so the daemon can read and write them (feature
//! `user`; the eBPF crate builds without aya).
//!
//! Every type here is `#[repr(C)]`, `Copy`, made of integers and integer arrays, with explicit
//! padding fields (the size tests in `lib.rs` pin that no implicit padding exists): any bit
//! pattern is a valid value, and no byte is uninitialised.

use crate::{
    ua, AuthFailures, AutoBanSlot, Ban, BanNoteKey, Counter, Event, FragKey, FragVerdict,
    NonceOwner, Policy, RateKey, ScopedV4, ScopedV6, ServicePolicy, SourceState, UserFailures,
    UserKey,
};

/// `aya::Pod` for each type, with the one reason that holds for all of them.
macro_rules! pod {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: see the module doc: `#[repr(C)]` plain-old-data of integers with explicit
            // padding, so every bit pattern is a value and no byte is uninitialised.
            unsafe impl aya::Pod for $t {}
        )*
    };
}

pod!(
    Counter,
    Policy,
    ServicePolicy,
    ScopedV4,
    ScopedV6,
    Ban,
    RateKey,
    SourceState,
    BanNoteKey,
    AuthFailures,
    Event,
    FragKey,
    FragVerdict,
    NonceOwner,
    UserKey,
    UserFailures,
    AutoBanSlot,
    ua::Scanners,
);

//! `aya::Pod` for every map key and value, so the daemon can read and write them (feature
//! `user`; the eBPF crate builds without aya).
//!
//! Every type here is `#[repr(C)]`, `Copy`, made of integers and integer arrays, with explicit
//! padding fields (the size tests in `lib.rs` pin that no implicit padding exists): any bit
//! pattern is a valid value, and no byte is uninitialised.

use crate::{
    ua, AuthFailures, Ban, BanNoteKey, Counter, Event, FragKey, FragVerdict, Policy, RateKey,
    ScopedV4, ScopedV6, ServicePolicy, SourceState,
};

// SAFETY (all impls below): see the module doc: plain-old-data, no implicit padding.
unsafe impl aya::Pod for Counter {}
unsafe impl aya::Pod for Policy {}
unsafe impl aya::Pod for ServicePolicy {}
unsafe impl aya::Pod for ScopedV4 {}
unsafe impl aya::Pod for ScopedV6 {}
unsafe impl aya::Pod for Ban {}
unsafe impl aya::Pod for RateKey {}
unsafe impl aya::Pod for SourceState {}
unsafe impl aya::Pod for BanNoteKey {}
unsafe impl aya::Pod for AuthFailures {}
unsafe impl aya::Pod for Event {}
unsafe impl aya::Pod for FragKey {}
unsafe impl aya::Pod for FragVerdict {}
unsafe impl aya::Pod for ua::Scanners {}

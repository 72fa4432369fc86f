//! sipguard's integration tests, one binary with a module per area (as aya's integration
//! tests are): the programs are built and linked once, and the BPF_PROG_TEST_RUN modules
//! share one loaded object ([`sipguard_tests::harness`]).
//!
//! Tiers: BPF_PROG_TEST_RUN on the real object (`xdp_verdicts`, `sip_classes`, `sip_rates`,
//! `sip_scanners`, `autoban`, `ban_room`, `learned_trust`, `nonces`, `user_tallies`, `floods`, `no_bypass`, `destinations`); the real daemon in network namespaces
//! (`e2e`, `no_bypass_e2e`, `bench_policy`; `perimeter`: on a router in front of the PBX,
//! and on several interfaces); fleet-wide bans with a real CrowdSec LAPI and fake feeds
//! (`fleet`); real VoIP tools and fail2ban (`real_tools`; over TCP: `real_tools_tcp`);
//! `sipguard audit` (`audit`);
//! and the Debian package (`deb`, ignored outside a throwaway guest). `cargo xtask test`
//! runs them all on the host and the BPF modules, a named subset of `e2e` and `deb` in each
//! guest kernel (`xtask/src/matrix.rs`); filter by module with `cargo test -p sipguard-tests
//! -- xdp_verdicts::`.
#![allow(
    clippy::unwrap_used,
    reason = "test code: helpers shared by tests unwrap, and a failed unwrap is a failed test"
)]

mod audit;
mod autoban;
mod ban_room;
mod bench_policy;
mod deb;
mod destinations;
mod e2e;
mod fleet;
mod floods;
mod learned_trust;
mod log_bans;
mod no_bypass;
mod no_bypass_e2e;
mod nonces;
mod perimeter;
mod real_tools;
mod real_tools_tcp;
mod sip_classes;
mod sip_rates;
mod sip_scanners;
mod user_tallies;
mod xdp_verdicts;

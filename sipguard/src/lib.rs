//! sipguard: an XDP firewall for VoIP phone systems.
//!
//! The library holds everything the `sipguard` binary, the tests and the benchmarks share:
//! the config parser ([`config`]), its translation into map contents ([`policy`]), the map
//! writer ([`maps`]), loading and attaching the XDP program ([`loader`]), the Prometheus
//! exporter ([`metrics`]), the status report ([`status`]), ban management ([`bans`]) and the
//! PBX configuration audit ([`audit`]).
pub mod audit;
pub mod bans;
pub mod config;
pub mod diff;
pub mod ebpf;
pub mod error;
pub mod events;
pub mod install;
pub mod kernel;
pub mod loader;
pub mod logwatch;
pub mod maps;
pub mod metrics;
pub mod parse;
pub mod policy;
pub mod status;

pub use error::Error;

/// Where the daemon pins the program's maps by default.
pub const DEFAULT_PIN_PATH: &str = "/sys/fs/bpf/sipguard";

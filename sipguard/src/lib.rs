//! sipguard: an XDP firewall for VoIP phone systems.
//!
//! The library holds everything the `sipguard` binary, the tests and the benchmarks share,
//! in layers; each names only the layers before it (`xtask/src/lint.rs` holds the same order
//! as a table and fails CI on a path that breaks it):
//!
//! ```text
//! sipguard-common ← parse ← config ← policy ← dataplane ← control ← audit ← bin
//!                             ↖ host ↙
//! ```
//!
//! * [`parse`]: the duration, port and prefix syntax the policy file and the CLI share.
//! * [`config`]: the TOML policy file, parsed and validated (errors name file, line, field
//!   and value), and the built-in default.
//! * [`policy`]: a validated config compiled for this host into what the maps hold.
//! * [`host`]: the machine apart from BPF: its interfaces, the effective user, installing
//!   onto it. It names only `config`; `dataplane` and `control` use it.
//! * [`dataplane`]: everything that makes bpf() or netlink calls: the kernel probe, loading,
//!   the pin directory, attaching, the map reader and writer, the ban clock.
//! * [`control`]: the long-running daemon (lifecycle, events, metrics, log watch) and the
//!   admin operations on a running filter (bans, status, detach, the applied record).
//! * [`audit`]: `sipguard audit`, the PBX configuration checker; it judges sockets by the
//!   policy's exposure and reads the daemon's applied record, so it sits above `control`.
//! * the binary (`src/bin/sipguard`): arguments, logging, one file per subcommand.
//!
//! Each layer has its own error ([`config::ConfigError`], [`host::HostError`],
//! [`dataplane::DataplaneError`], [`control::ControlError`]); [`Error`], at the crate
//! boundary, only wraps them.
pub mod audit;
pub mod config;
pub mod control;
pub mod dataplane;
pub mod error;
pub mod host;
pub mod parse;
pub mod policy;

pub use error::Error;

/// Where the daemon pins the program's maps by default.
pub const DEFAULT_PIN_PATH: &str = "/sys/fs/bpf/sipguard";

//! The control layer: the long-running daemon and the admin commands' behaviour, over the
//! data plane.
//!
//! [`daemon`] is the lifecycle (start, apply, reload, reap, signals); around it run the
//! event log ([`events`]), the Prometheus exporter ([`metrics`]) and the log watch
//! ([`logwatch`]). The admin's operations on a running filter are [`bans`], [`status`] and
//! [`detach`]; [`applied`] records the policy the daemon runs, for `check --diff` and the
//! audit. Errors are [`ControlError`]; what is refused on purpose is a [`Refusal`].
//!
//! This layer names [`crate::dataplane`], [`crate::policy`], [`crate::config`] and
//! [`crate::host`]; only the binary and [`crate::audit`] (the applied record) name it.
pub mod applied;
pub mod bans;
pub mod daemon;
pub mod detach;
pub mod error;
pub mod events;
pub mod fleet;
pub mod logwatch;
pub mod metrics;
pub mod status;

pub use daemon::{Daemon, Options};
pub use error::{ControlError, Refusal};

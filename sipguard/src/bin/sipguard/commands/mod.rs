//! One module per subcommand, each a `run` (or, for the ban family, one function per
//! subcommand) from its parsed arguments to `anyhow::Result`.
use sipguard::{control::ControlError, host};

pub mod audit;
pub mod ban;
pub mod check;
pub mod default_config;
pub mod detach;
pub mod install;
pub mod reload;
pub mod run;
pub mod status;

/// Refuses `what` (e.g. "sipguard ban") unless running as root.
pub fn require_root(what: &'static str) -> Result<(), ControlError> {
    if host::is_root() {
        Ok(())
    } else {
        Err(ControlError::NotRoot { what })
    }
}

//! The data plane: everything that makes bpf() or netlink calls.
//!
//! The kernel probe ([`kernel`]) decides what this kernel offers; [`mod@load`] loads the object
//! ([`object`]) with its maps pinned in the pin directory ([`pin_dir`]); [`attach`] puts
//! the programs on an interface and keeps them there between daemons; [`maps`] reads and
//! writes the maps, the policy double-buffered; [`clock`] is the time bans expire by.
//!
//! This layer names [`crate::policy`] (what to write) and
//! [`crate::host`] (which interface), never the daemon above it. Its errors are
//! [`DataplaneError`].
pub mod attach;
pub mod clock;
pub mod error;
pub mod kernel;
pub mod load;
pub mod maps;
pub mod object;
pub mod pin_dir;

pub use attach::AttachMode;
pub use error::DataplaneError;
pub use load::{load, Loaded};
pub use maps::Maps;

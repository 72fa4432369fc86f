//! The machine sipguard runs on, apart from BPF: its network interfaces as `ip` and the
//! ioctls see them ([`iface`]), the effective user, and installing sipguard onto it
//! ([`install`]).
//!
//! This layer names only [`crate::config`] (an install validates the config it keeps); the
//! data plane and the daemon use it to check an interface before they attach to it.
pub mod error;
pub mod iface;
pub mod install;

pub use error::HostError;

/// True when running with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

//! [`HostError`]: what can go wrong reading the host's interfaces or installing onto it.
use crate::config::ConfigError;

/// An error of the host layer.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// An existing config that `sipguard install` would keep doesn't validate.
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("interface {name:?} not found (`ip link` lists the interfaces)")]
    NoSuchInterface { name: String },

    #[error("{iface} is not an Ethernet interface (link type {link_type}); sipguard parses Ethernet frames")]
    NotEthernet { iface: String, link_type: u16 },

    /// What `sipguard install` refuses to write into a shell-sourced file and a unit.
    #[error("{iface:?} is not an interface name (at most 15 letters, digits, '.', '_', '-', '@')")]
    NotAnInterfaceName { iface: String },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl HostError {
    /// `map_err` for an I/O operation described by `what`.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

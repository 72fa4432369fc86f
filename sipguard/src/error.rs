//! The library's error type: one enum for everything that crosses the crate boundary.
use std::path::PathBuf;

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("{what} needs root (CAP_BPF and CAP_NET_ADMIN); run it with sudo")]
    NotRoot { what: &'static str },

    /// An operation that would break a promise (e.g. banning a trusted address).
    #[error("{0}")]
    Refused(String),

    #[error("interface {name:?} not found (`ip link` lists the interfaces)")]
    NoSuchInterface { name: String },

    #[error(
        "another XDP program is already attached to {iface}; see `ip link show dev {iface}` \
         and remove it with `ip link set dev {iface} xdp off` first"
    )]
    XdpBusy { iface: String },

    #[error(
        "another sipguard is running with the maps in {dir}; one daemon per pin directory \
         (give a second interface its own --pin-path)"
    )]
    AlreadyRunning { dir: PathBuf },

    #[error("{iface} is not an Ethernet interface (link type {link_type}); sipguard parses Ethernet frames")]
    NotEthernet { iface: String, link_type: u16 },

    #[error("attaching XDP to {iface} in {mode} mode failed: {source}")]
    Attach {
        iface: String,
        mode: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },

    /// The running kernel can't run sipguard: `missing` completes "Linux {release} ...".
    #[error("Linux {release} {missing}; sipguard needs Linux 5.10 or later with BPF, XDP and cls_bpf")]
    Kernel { release: String, missing: String },

    #[error("Linux {release} refused the {program} program ({io_error}); the verifier's last lines:\n{verifier_tail}")]
    Verifier {
        release: String,
        program: &'static str,
        io_error: std::io::Error,
        verifier_tail: String,
    },

    #[error("loading the eBPF object failed: {0}")]
    Load(#[source] Box<aya::EbpfError>),

    #[error("program {0:?} missing from the eBPF object")]
    MissingProgram(&'static str),

    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },

    #[error("map {name}: not found; is sipguard running? (pinned maps live in {dir})")]
    MissingMap { name: &'static str, dir: PathBuf },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("policy does not fit the maps: {0}")]
    Capacity(String),

    #[error("{what} the link pinned at {path}: {source}")]
    Link {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    pub(crate) fn map(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> Self {
        move |source| Self::Map { name, source }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

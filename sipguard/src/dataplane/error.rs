//! [`DataplaneError`]: what can go wrong between sipguard and the kernel's BPF and netlink
//! interfaces (probing, loading, pinning, attaching, reading and writing maps).
//!
//! Every variant's text is what the admin reads after `error:`; several are matched by the
//! integration tests, so a change of wording is a change of behaviour.
use std::{fmt, path::PathBuf};

use crate::host::HostError;

/// An error of the data plane layer.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// The interface can't take the programs (missing, not Ethernet).
    #[error(transparent)]
    Host(#[from] HostError),

    /// The running kernel can't run sipguard: `missing` completes "Linux {release} ...".
    #[error(
        "Linux {release} {missing}; sipguard needs Linux 5.10 or later with BPF, XDP and cls_bpf"
    )]
    Kernel { release: String, missing: String },

    /// The kernel-feature override (`SIPGUARD_KERNEL_FEATURES`) can't be read.
    #[error("{var}: {why}")]
    Override { var: &'static str, why: String },

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

    #[error("attaching XDP to {iface} in {mode} mode failed: {source}")]
    Attach {
        iface: String,
        mode: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },

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

    /// A policy bigger than the maps; checked before any write, so nothing was written.
    #[error("policy does not fit the maps: {have} {what}, at most {max}")]
    Capacity {
        what: CapacityKind,
        have: usize,
        max: usize,
    },

    /// A ban the kernel could not store: the ban map holds `capacity` prefixes already.
    #[error(
        "the ban map {name} is full ({capacity} prefixes): the ban was not made; `sipguard bans` \
         lists what fills it (unban, or ban a wider prefix that covers many)"
    )]
    BanMapFull { name: &'static str, capacity: u32 },

    /// Every service slot is taken in the active epoch or the new policy.
    #[error("policy does not fit the maps: no free service slot for {service:?}")]
    NoFreeSlot { service: String },

    #[error("{what} the link pinned at {path}: {source}")]
    Link {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a [`DataplaneError::Capacity`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapacityKind {
    Services,
    AllowEntries,
    TrustedEntries,
    DenyEntries,
    DestEntries,
}

impl fmt::Display for CapacityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CapacityKind::Services => "services",
            CapacityKind::AllowEntries => "allow entries",
            CapacityKind::TrustedEntries => "trusted entries",
            CapacityKind::DenyEntries => "deny entries",
            CapacityKind::DestEntries => "destination entries (protect and to)",
        })
    }
}

/// A program-level failure aya reports outside of a load (a program of the wrong type, a
/// link that can't be taken): reported as a failed load, as before the split.
impl From<aya::programs::ProgramError> for DataplaneError {
    fn from(e: aya::programs::ProgramError) -> Self {
        Self::Load(Box::new(aya::EbpfError::ProgramError(e)))
    }
}

impl DataplaneError {
    /// `map_err` for a map operation on the map `name`.
    pub(crate) fn map(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> Self {
        move |source| Self::Map { name, source }
    }

    /// `map_err` for an I/O operation described by `what`.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capacity_error_reads_as_before_the_split() {
        let e = DataplaneError::Capacity {
            what: CapacityKind::AllowEntries,
            have: 40000,
            max: 32768,
        };
        assert_eq!(
            e.to_string(),
            "policy does not fit the maps: 40000 allow entries, at most 32768"
        );
        let e = DataplaneError::NoFreeSlot {
            service: "sip".into(),
        };
        assert_eq!(
            e.to_string(),
            "policy does not fit the maps: no free service slot for \"sip\""
        );
    }
}

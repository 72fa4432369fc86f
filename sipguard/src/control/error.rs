//! [`ControlError`]: what the daemon and the admin commands report, and [`Refusal`], the
//! operations they refuse because doing them would break a promise.
use std::path::PathBuf;

use ipnet::IpNet;

use crate::{config::ConfigError, dataplane::DataplaneError, host::HostError};

/// An error of the control layer.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error(transparent)]
    Host(#[from] HostError),

    #[error(transparent)]
    Dataplane(#[from] DataplaneError),

    /// An operation that would break a promise (e.g. banning a trusted address).
    #[error(transparent)]
    Refused(#[from] Refusal),

    /// `sipguard run` without an interface to guard.
    #[error("no interface to protect: name one or more with --iface")]
    NoInterface,

    /// The same interface named twice.
    #[error("--iface {iface} is named twice")]
    InterfaceTwice { iface: String },

    #[error("{what} needs root (CAP_BPF and CAP_NET_ADMIN); run it with sudo")]
    NotRoot { what: &'static str },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    /// The loaded object has no `EVENTS` map to read the programs' events from.
    #[error("the object has no EVENTS map")]
    NoEvents,

    #[error("EVENTS is not a ring buffer")]
    EventsNotRingBuf(#[source] aya::maps::MapError),

    /// The ring buffer's descriptor can't be watched by the runtime.
    #[error("watching EVENTS: {0}")]
    WatchEvents(String),

    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),

    /// A signal handler can't be installed.
    #[error(transparent)]
    Signal(std::io::Error),

    /// The exporter's own metrics can't be built or encoded (a bug: their names are fixed).
    #[error("building the metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// What the daemon and the admin commands refuse to do.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A trusted address must never be locked out.
    #[error(
        "refusing to ban {net}: it overlaps {trusted}, which the running policy trusts \
         ([global] trusted)"
    )]
    BanTrusted { net: IpNet, trusted: IpNet },

    /// No daemon recorded the policy it runs (see [`super::applied`]).
    #[error(
        "no running policy recorded at {} ({error}): is a sipguard daemon running with {}?",
        path.display(),
        pin_dir.display()
    )]
    NoRunningPolicy {
        path: PathBuf,
        pin_dir: PathBuf,
        error: std::io::Error,
    },

    #[error("nothing to detach: {} does not exist", dir.display())]
    NothingToDetach { dir: PathBuf },

    /// A running daemon would re-attach what `detach` removes.
    #[error(
        "a sipguard daemon is running with {}: stop it first (its exit leaves the filter \
         attached; detach then removes it)",
        dir.display()
    )]
    DaemonRunning { dir: PathBuf },

    #[error("no sipguard link for {iface} in {}", dir.display())]
    NotAttached { iface: String, dir: PathBuf },
}

impl ControlError {
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
    fn refusals_read_as_one_sentence_without_a_cause_chain() {
        let e = ControlError::from(Refusal::NoRunningPolicy {
            path: "/run/sipguard/x.applied.toml".into(),
            pin_dir: "/sys/fs/bpf/x".into(),
            error: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        assert_eq!(
            e.to_string(),
            "no running policy recorded at /run/sipguard/x.applied.toml (entity not found): \
             is a sipguard daemon running with /sys/fs/bpf/x?"
        );
        assert!(std::error::Error::source(&e).is_none());
        let e = Refusal::BanTrusted {
            net: "192.0.2.0/24".parse().unwrap(),
            trusted: "192.0.2.10/32".parse().unwrap(),
        };
        assert_eq!(
            e.to_string(),
            "refusing to ban 192.0.2.0/24: it overlaps 192.0.2.10/32, which the running \
             policy trusts ([global] trusted)"
        );
    }
}

//! What the running kernel offers, probed before the programs are loaded.
//!
//! sipguard runs on every kernel from 5.10 on (Debian 11, Ubuntu 22.04, RHEL 9, Debian 12
//! and 13, ...). Where a kernel lacks a facility, the loader picks the older equivalent with
//! the same behaviour: a load-time constant the verifier prunes by (the clock), or another
//! attach method (TC egress through a clsact qdisc and netlink where TCX is missing). What
//! sipguard can't do without is checked here first, so that an unfit kernel is refused in one
//! sentence naming it and what it lacks, not with a verifier log.
use aya::{
    maps::MapType,
    programs::ProgramType,
    sys::{is_helper_supported, is_map_supported, is_program_supported, BpfHelper},
    util::KernelVersion,
};

use super::DataplaneError;

/// The oldest kernel sipguard is tested on (the kernel matrix boots Debian's 5.10).
pub const OLDEST: (u8, u8) = (5, 10);

/// What the loader adapts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `bpf_ktime_get_coarse_ns` (5.11): else the programs read `bpf_ktime_get_ns`.
    pub coarse_clock: bool,
    /// TCX (6.6): the egress program's link is pinned and adopted like the XDP one; else it
    /// is a clsact filter, kept across daemon restarts by its netlink handle.
    pub tcx: bool,
}

/// The running kernel's release (`uname -r`), for messages.
pub fn release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Probes the kernel; fails with one sentence when it is older than [`OLDEST`] or lacks
/// something sipguard needs.
pub fn probe() -> Result<Features, DataplaneError> {
    let unfit = |missing: String| DataplaneError::Kernel {
        release: release(),
        missing,
    };
    let version = KernelVersion::current().ok();
    if let Some(v) = version {
        if v < KernelVersion::new(OLDEST.0, OLDEST.1, 0) {
            return Err(unfit(format!(
                "is older than {}.{}, the oldest kernel sipguard supports (it needs XDP links, \
                 ring buffers and BPF global functions)",
                OLDEST.0, OLDEST.1
            )));
        }
    }
    let program = |t: ProgramType, what: &str| match is_program_supported(t) {
        Ok(true) => Ok(()),
        Ok(false) => Err(unfit(format!("has no {what} programs"))),
        Err(e) => Err(unfit(format!(
            "answers no BPF program load ({e}): is CONFIG_BPF_SYSCALL set?"
        ))),
    };
    program(ProgramType::Xdp, "XDP")?;
    program(ProgramType::SchedClassifier, "TC classifier (cls_bpf)")?;
    for (map, what) in [
        (MapType::RingBuf, "ring buffer maps (5.8)"),
        (MapType::LpmTrie, "LPM trie maps"),
        (MapType::LruHash, "LRU hash maps"),
        (MapType::PerCpuArray, "per-CPU array maps"),
    ] {
        if !is_map_supported(map).unwrap_or(false) {
            return Err(unfit(format!("has no {what}")));
        }
    }
    let helper = |h| is_helper_supported(ProgramType::Xdp, h).unwrap_or(false);
    if !helper(BpfHelper::BPF_FUNC_ringbuf_output) {
        return Err(unfit("has no bpf_ringbuf_output helper (5.8)".to_owned()));
    }
    let probed = Features {
        coarse_clock: detect_coarse_clock(),
        tcx: version.is_some_and(|v| v >= KernelVersion::new(6, 6, 0)),
    };
    with_override(probed).map_err(|why| DataplaneError::Override {
        var: OVERRIDE_ENV,
        why,
    })
}

/// `features` with [`OVERRIDE_ENV`] applied, when it is set.
fn with_override(features: Features) -> Result<Features, String> {
    match std::env::var(OVERRIDE_ENV) {
        Ok(spec) => features.overridden(&spec),
        Err(_) => Ok(features),
    }
}

/// Whether the kernel has `bpf_ktime_get_coarse_ns` for XDP: probed, or without the
/// privileges to probe, by version (5.11).
fn detect_coarse_clock() -> bool {
    is_helper_supported(ProgramType::Xdp, BpfHelper::BPF_FUNC_ktime_get_coarse_ns).unwrap_or_else(
        |_| KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(5, 11, 0)),
    )
}

/// Whether the programs read the coarse clock on this kernel, decided as [`probe`] decides
/// it (once per process): the daemon and the CLI then write and judge ban expiry on the very
/// clock the programs compare it with.
pub fn coarse_clock() -> bool {
    static COARSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *COARSE.get_or_init(|| {
        let detected = detect_coarse_clock();
        let features = Features {
            coarse_clock: detected,
            tcx: false,
        };
        with_override(features).map_or(detected, |f| f.coarse_clock)
    })
}

/// For tests: `coarse_clock=0,tcx=0` (any subset) replaces what the probe found, so that the
/// older variants run on a new kernel, and a variant the kernel lacks shows the verifier's
/// refusal.
pub const OVERRIDE_ENV: &str = "SIPGUARD_KERNEL_FEATURES";

impl Features {
    /// These features with `spec` (`name=0|1`, comma-separated) applied.
    fn overridden(mut self, spec: &str) -> Result<Self, String> {
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not name=0 or name=1"))?;
            let value = match value {
                "0" => false,
                "1" => true,
                other => return Err(format!("{name}: {other:?} is not 0 or 1")),
            };
            match name {
                "coarse_clock" => self.coarse_clock = value,
                "tcx" => self.tcx = value,
                other => return Err(format!("no feature {other:?} (coarse_clock, tcx)")),
            }
        }
        Ok(self)
    }

    /// What differs on this kernel from the newest, for `sipguard status` and the log; empty
    /// when nothing does.
    pub fn differences(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.coarse_clock {
            out.push("clock: bpf_ktime_get_ns (no coarse clock before 5.11)");
        }
        if !self.tcx {
            out.push(
                "egress: a clsact filter (no TCX before 6.6), kept when the daemon exits and \
                 adopted in place by the next",
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Features;

    const ALL: Features = Features {
        coarse_clock: true,
        tcx: true,
    };

    #[test]
    fn an_override_replaces_only_the_features_it_names() {
        assert_eq!(
            ALL.overridden("tcx=0").unwrap(),
            Features {
                coarse_clock: true,
                tcx: false
            }
        );
        assert!(
            !ALL.overridden(" coarse_clock=0 , tcx=1 ")
                .unwrap()
                .coarse_clock
        );
        assert_eq!(ALL.overridden("").unwrap(), ALL);
    }

    #[test]
    fn an_override_names_what_is_wrong() {
        assert_eq!(
            ALL.overridden("tcx").unwrap_err(),
            "\"tcx\" is not name=0 or name=1"
        );
        assert_eq!(
            ALL.overridden("tcx=yes").unwrap_err(),
            "tcx: \"yes\" is not 0 or 1"
        );
        assert_eq!(
            ALL.overridden("btf=1").unwrap_err(),
            "no feature \"btf\" (coarse_clock, tcx)"
        );
    }

    #[test]
    fn the_newest_kernels_differ_in_nothing() {
        assert!(ALL.differences().is_empty());
        let old = Features {
            coarse_clock: false,
            tcx: false,
        };
        assert_eq!(old.differences().len(), 2);
    }
}

//! What the exporter learns by watching the maps over time, for "silence is an alarm": when
//! each reason's packet count last rose, and whether the XDP program is on its interface.
use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use crate::{control::ControlError, dataplane::Maps, host::iface};

/// See the module doc. Sampled by the daemon every [`SAMPLE_EVERY`], never on the packet
/// path.
#[derive(Debug, Default)]
pub struct Activity {
    pub(super) iface: String,
    primed: bool,
    totals: BTreeMap<&'static str, u64>,
    pub(super) last_match: BTreeMap<&'static str, SystemTime>,
    pub(super) attached: Option<bool>,
}

/// How often the daemon samples [`Activity`].
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// What one sample reads: the counters summed per reason, and the interface's XDP state.
pub(super) type Sample = (BTreeMap<&'static str, u64>, Option<bool>);

impl Activity {
    pub fn new(iface: &str) -> Self {
        Self {
            iface: iface.to_owned(),
            ..Self::default()
        }
    }

    /// The counters summed per reason and the interface's XDP state, read without holding the
    /// activity (a scrape must not wait for `ip`).
    pub(super) fn read(maps: &Maps, iface: &str) -> Result<Sample, ControlError> {
        let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
        for row in maps.counters()? {
            *totals.entry(row.reason).or_default() += row.packets;
        }
        Ok((totals, iface::xdp_attached(iface)))
    }

    /// Takes in one sample taken at `now`: a reason whose total rose since the last sample
    /// matched at `now` (the first sample only primes the totals).
    pub(super) fn observe(
        &mut self,
        totals: BTreeMap<&'static str, u64>,
        attached: Option<bool>,
        now: SystemTime,
    ) {
        if self.primed {
            for (reason, total) in &totals {
                if self.totals.get(reason).is_none_or(|prev| total > prev) {
                    self.last_match.insert(reason, now);
                }
            }
        }
        self.totals = totals;
        self.primed = true;
        self.attached = attached;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_matches_when_its_count_rises_after_the_first_sample() {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mut a = Activity::new("eth0");
        a.observe(BTreeMap::from([("allowed", 5)]), Some(true), t(1));
        assert!(a.last_match.is_empty(), "the first sample only primes");
        a.observe(
            BTreeMap::from([("allowed", 5), ("banned", 1)]),
            Some(true),
            t(2),
        );
        assert_eq!(a.last_match.get("banned"), Some(&t(2)));
        assert_eq!(a.last_match.get("allowed"), None);
        a.observe(
            BTreeMap::from([("allowed", 6), ("banned", 1)]),
            Some(false),
            t(3),
        );
        assert_eq!(a.last_match.get("allowed"), Some(&t(3)));
        assert_eq!(a.last_match.get("banned"), Some(&t(2)));
        assert_eq!(a.attached, Some(false));
    }
}

//! What the exporter learns by watching the maps over time, for "silence is an alarm": when
//! each reason's packet count last rose, and whether the XDP program is on each interface.
use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use crate::{control::ControlError, dataplane::Maps, host::iface};

/// See the module doc. Sampled by the daemon every [`SAMPLE_EVERY`], never on the packet
/// path.
#[derive(Debug, Default)]
pub struct Activity {
    primed: bool,
    totals: BTreeMap<&'static str, u64>,
    pub(super) last_match: BTreeMap<&'static str, SystemTime>,
    /// Per interface (in the daemon's order): its XDP mode, None when nothing is attached;
    /// an interface `ip` can't say about is left out.
    pub(super) attached: Vec<(String, Option<&'static str>)>,
}

/// How often the daemon samples [`Activity`].
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// What one sample reads: the counters summed per reason, and each interface's XDP state.
pub(super) type Sample = (
    BTreeMap<&'static str, u64>,
    Vec<(String, Option<&'static str>)>,
);

impl Activity {
    /// The counters summed per reason and each interface's XDP state, read without holding
    /// the activity (a scrape must not wait for `ip`).
    pub(super) fn read(maps: &Maps, ifaces: &[String]) -> Result<Sample, ControlError> {
        let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
        for row in maps.counters()? {
            *totals.entry(row.reason).or_default() += row.packets;
        }
        let attached = ifaces
            .iter()
            .filter_map(|i| iface::xdp_mode(i).map(|mode| (i.clone(), mode)))
            .collect();
        Ok((totals, attached))
    }

    /// Takes in one sample taken at `now`: a reason whose total rose since the last sample
    /// matched at `now` (the first sample only primes the totals).
    pub(super) fn observe(
        &mut self,
        totals: BTreeMap<&'static str, u64>,
        attached: Vec<(String, Option<&'static str>)>,
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
        let on = |mode| vec![("eth0".to_owned(), mode)];
        let mut a = Activity::default();
        a.observe(BTreeMap::from([("allowed", 5)]), on(Some("native")), t(1));
        assert!(a.last_match.is_empty(), "the first sample only primes");
        a.observe(
            BTreeMap::from([("allowed", 5), ("banned", 1)]),
            on(Some("native")),
            t(2),
        );
        assert_eq!(a.last_match.get("banned"), Some(&t(2)));
        assert_eq!(a.last_match.get("allowed"), None);
        a.observe(
            BTreeMap::from([("allowed", 6), ("banned", 1)]),
            on(None),
            t(3),
        );
        assert_eq!(a.last_match.get("allowed"), Some(&t(3)));
        assert_eq!(a.last_match.get("banned"), Some(&t(2)));
        assert_eq!(a.attached, on(None));
    }
}

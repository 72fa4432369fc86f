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
    /// Bans lost to a full ban map, and the programs' bans evicted from their room, since
    /// the last warning, and when that warning was logged.
    unreported_ban_failures: u64,
    unreported_evictions: u64,
    warned_at: Option<SystemTime>,
}

/// The pseudo-reason under which [`Activity`] tracks bans lost to a full ban map
/// (`sipguard_last_match_timestamp_seconds{reason="ban_insert_failed"}`).
pub const BAN_INSERT_FAILED: &str = "ban_insert_failed";

/// The pseudo-reason under which [`Activity`] tracks the programs' bans evicted from their
/// room by newer ones.
pub const BAN_EVICTED: &str = "ban_evicted";

/// Ban-map pressure to warn about: bans lost to a full map, and the programs' bans pushed out
/// of their room, since the last warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BanPressure {
    pub lost: u64,
    pub evicted: u64,
}

/// The daemon warns about lost and evicted bans at most this often.
pub const BAN_FAILURE_WARN_EVERY: Duration = Duration::from_secs(60);

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
        totals.insert(BAN_INSERT_FAILED, maps.ban_insert_failures()?);
        totals.insert(BAN_EVICTED, maps.ban_evictions()?);
        let attached = ifaces
            .iter()
            .filter_map(|i| iface::xdp_mode(i).map(|mode| (i.clone(), mode)))
            .collect();
        Ok((totals, attached))
    }

    /// Takes in one sample taken at `now`: a reason whose total rose since the last sample
    /// matched at `now` (the first sample only primes the totals). Returns the bans lost to
    /// a full ban map to warn about now: those since the last warning, at most once per
    /// [`BAN_FAILURE_WARN_EVERY`].
    pub(super) fn observe(
        &mut self,
        totals: BTreeMap<&'static str, u64>,
        attached: Vec<(String, Option<&'static str>)>,
        now: SystemTime,
    ) -> Option<BanPressure> {
        let rise =
            |before: &BTreeMap<&'static str, u64>, after: &BTreeMap<&'static str, u64>, key| {
                after
                    .get(key)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(before.get(key).copied().unwrap_or(0))
            };
        if self.primed {
            for (reason, total) in &totals {
                if self.totals.get(reason).is_none_or(|prev| total > prev) {
                    self.last_match.insert(reason, now);
                }
            }
            self.unreported_ban_failures += rise(&self.totals, &totals, BAN_INSERT_FAILED);
            self.unreported_evictions += rise(&self.totals, &totals, BAN_EVICTED);
        }
        self.totals = totals;
        self.primed = true;
        self.attached = attached;
        let due = self
            .warned_at
            .is_none_or(|at| now.duration_since(at).unwrap_or_default() >= BAN_FAILURE_WARN_EVERY);
        if (self.unreported_ban_failures == 0 && self.unreported_evictions == 0) || !due {
            return None;
        }
        self.warned_at = Some(now);
        Some(BanPressure {
            lost: std::mem::take(&mut self.unreported_ban_failures),
            evicted: std::mem::take(&mut self.unreported_evictions),
        })
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

    #[test]
    fn bans_lost_to_a_full_map_are_reported_at_most_once_a_minute() {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let lost = |n| BTreeMap::from([(BAN_INSERT_FAILED, n)]);
        let mut a = Activity::default();
        assert_eq!(
            a.observe(lost(7), Vec::new(), t(1)),
            None,
            "the first sample only primes"
        );
        assert_eq!(a.observe(lost(7), Vec::new(), t(2)), None);
        assert_eq!(
            a.observe(lost(10), Vec::new(), t(3)),
            Some(BanPressure {
                lost: 3,
                evicted: 0
            })
        );
        assert_eq!(a.last_match.get(BAN_INSERT_FAILED), Some(&t(3)));
        // More within the minute: kept for the next warning.
        assert_eq!(a.observe(lost(12), Vec::new(), t(4)), None);
        assert_eq!(a.observe(lost(15), Vec::new(), t(62)), None);
        assert_eq!(
            a.observe(lost(15), Vec::new(), t(63)),
            Some(BanPressure {
                lost: 5,
                evicted: 0
            })
        );
        assert_eq!(a.observe(lost(15), Vec::new(), t(200)), None, "nothing new");
    }

    #[test]
    fn evicted_bans_are_reported_with_the_lost_ones_at_most_once_a_minute() {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let both =
            |lost, evicted| BTreeMap::from([(BAN_INSERT_FAILED, lost), (BAN_EVICTED, evicted)]);
        let mut a = Activity::default();
        assert_eq!(a.observe(both(0, 0), Vec::new(), t(1)), None);
        assert_eq!(
            a.observe(both(0, 900), Vec::new(), t(2)),
            Some(BanPressure {
                lost: 0,
                evicted: 900
            })
        );
        assert_eq!(
            a.observe(both(1, 1900), Vec::new(), t(3)),
            None,
            "within the minute"
        );
        assert_eq!(
            a.observe(both(1, 2000), Vec::new(), t(62)),
            Some(BanPressure {
                lost: 1,
                evicted: 1100
            })
        );
    }
}

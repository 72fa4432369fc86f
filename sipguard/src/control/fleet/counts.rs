//! The feeds' own counters, kept in the daemon and rendered by the exporter
//! (`sipguard_crowdsec_*`, `sipguard_apiban_*`). Origins come from the network: at most
//! [`MAX_ORIGINS`] distinct ones are kept as labels, the rest count as `other`.
use std::{collections::BTreeMap, sync::Mutex, time::SystemTime};

/// Distinct origin labels kept.
pub const MAX_ORIGINS: usize = 32;

/// One feed's counters.
#[derive(Clone, Debug, Default)]
pub struct FeedCounts {
    /// (origin, action) -> decisions: `applied`, `deleted`, `kept_other`, `full`, `protected`.
    pub decisions: BTreeMap<(String, &'static str), u64>,
    /// (request, why) -> failed requests (`decisions`, `alerts`, `usage_metrics`, `banned`).
    pub failures: BTreeMap<(&'static str, &'static str), u64>,
    pub last_success: Option<SystemTime>,
    /// Alerts by outcome: `sent`, `failed`, `dropped` (crowdsec only).
    pub alerts: BTreeMap<&'static str, u64>,
}

/// The two feeds' counters.
static COUNTS: Mutex<[Option<FeedCounts>; 2]> = Mutex::new([None, None]);

/// A feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    Crowdsec = 0,
    Apiban = 1,
}

fn with<T>(feed: Feed, f: impl FnOnce(&mut FeedCounts) -> T) -> T {
    let mut all = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
    f(all[feed as usize].get_or_insert_with(FeedCounts::default))
}

/// A label made of network text: lowercase, `[a-z0-9_:/.-]`, at most 32 characters.
pub(super) fn label(origin: &str) -> String {
    let s: String = origin
        .chars()
        .take(32)
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_:/.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

/// Adds `n` decisions of `origin` with `action`.
pub fn decisions(feed: Feed, origin: &str, action: &'static str, n: u64) {
    if n == 0 {
        return;
    }
    with(feed, |c| {
        let mut o = label(origin);
        let known = c.decisions.keys().filter(|(k, _)| *k == o).count() > 0;
        let distinct = c
            .decisions
            .keys()
            .map(|(k, _)| k.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if !known && distinct >= MAX_ORIGINS {
            o = "other".into();
        }
        *c.decisions.entry((o, action)).or_default() += n;
    });
}

pub fn failure(feed: Feed, request: &'static str, why: &'static str) {
    with(feed, |c| {
        *c.failures.entry((request, why)).or_default() += 1
    });
}

pub fn success(feed: Feed) {
    with(feed, |c| c.last_success = Some(SystemTime::now()));
}

pub fn alerts(outcome: &'static str, n: u64) {
    with(Feed::Crowdsec, |c| {
        *c.alerts.entry(outcome).or_default() += n
    });
}

/// A copy of `feed`'s counters; `None` when the feed is not configured in this process.
pub fn snapshot(feed: Feed) -> Option<FeedCounts> {
    COUNTS.lock().unwrap_or_else(|p| p.into_inner())[feed as usize].clone()
}

/// Makes `feed` show in the metrics (with zero counts) from the start.
pub fn register(feed: Feed) {
    with(feed, |_| ());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_labels_are_tamed() {
        assert_eq!(label("CAPI"), "capi");
        assert_eq!(label("we\"ird}\n"), "we_ird__");
        assert_eq!(label(""), "unknown");
        assert_eq!(label(&"x".repeat(100)).len(), 32);
    }
}

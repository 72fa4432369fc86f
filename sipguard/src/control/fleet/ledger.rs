//! Which CrowdSec decisions hold each banned prefix: several decisions (scenarios, origins)
//! may name one address, and deleting one of them lifts the ban only when none is left.
//! Rebuilt from every `startup=true` answer; pure, unit-tested without root.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;

use super::decisions::{Decision, Delta};

/// Which decisions the config applies (`[crowdsec] origins`, `scenarios_*`).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub origins: Vec<String>,
    pub scenarios_containing: Vec<String>,
    pub scenarios_not_containing: Vec<String>,
}

impl Filter {
    pub fn wants(&self, d: &Decision) -> bool {
        let scenario = d.scenario.to_lowercase();
        (self.origins.is_empty() || self.origins.contains(&d.origin))
            && (self.scenarios_containing.is_empty()
                || self
                    .scenarios_containing
                    .iter()
                    .any(|s| scenario.contains(s.as_str())))
            && !self
                .scenarios_not_containing
                .iter()
                .any(|s| scenario.contains(s.as_str()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// Ban clock nanoseconds.
    until: u64,
    origin: String,
    scenario: String,
}

/// The decisions in force, by prefix.
#[derive(Debug, Default)]
pub struct Ledger {
    by_net: HashMap<IpNet, BTreeMap<String, Entry>>,
}

/// A ban to write: prefix, end (ban clock), the origin and scenario of its longest decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub net: IpNet,
    pub until: u64,
    pub origin: String,
    pub scenario: String,
}

/// What an answer changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub ban: Vec<Hold>,
    /// Prefixes no decision holds any more.
    pub lift: Vec<IpNet>,
    /// Decisions taken in and deleted, by origin (for the metrics).
    pub added: BTreeMap<String, u64>,
    pub deleted: BTreeMap<String, u64>,
    /// Decisions the filter left out.
    pub filtered: u64,
}

impl Ledger {
    /// Prefixes held now.
    pub fn nets(&self) -> impl Iterator<Item = &IpNet> {
        self.by_net.keys()
    }

    pub fn len(&self) -> usize {
        self.by_net.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_net.is_empty()
    }

    /// Takes in `delta` at ban clock `now`. `startup`: the answer is the whole set (the
    /// ledger starts over; the caller lifts what the kernel holds beyond it).
    pub fn apply(&mut self, delta: &Delta, now: u64, startup: bool, filter: &Filter) -> Changes {
        let mut changes = Changes::default();
        let mut touched: BTreeSet<IpNet> = BTreeSet::new();
        if startup {
            self.by_net.clear();
        }
        for d in &delta.deleted {
            if let Some(entries) = self.by_net.get_mut(&d.net) {
                if entries.remove(&d.key).is_some() {
                    *changes.deleted.entry(d.origin.clone()).or_default() += 1;
                    touched.insert(d.net);
                }
            }
        }
        for d in &delta.new {
            if !filter.wants(d) {
                changes.filtered += 1;
                continue;
            }
            let until = now.saturating_add(d.left.as_nanos().min(u128::from(u64::MAX / 2)) as u64);
            if d.left.is_zero() {
                continue;
            }
            self.by_net.entry(d.net).or_default().insert(
                d.key.clone(),
                Entry {
                    until,
                    origin: d.origin.clone(),
                    scenario: d.scenario.clone(),
                },
            );
            *changes.added.entry(d.origin.clone()).or_default() += 1;
            touched.insert(d.net);
        }
        for net in touched {
            match self
                .by_net
                .get(&net)
                .and_then(|e| e.values().max_by_key(|e| e.until))
            {
                Some(e) => changes.ban.push(Hold {
                    net,
                    until: e.until,
                    origin: e.origin.clone(),
                    scenario: e.scenario.clone(),
                }),
                None => {
                    self.by_net.remove(&net);
                    changes.lift.push(net);
                }
            }
        }
        changes
    }

    /// Forgets `net` (its ban could not be written or was refused).
    pub fn forget(&mut self, net: &IpNet) {
        self.by_net.remove(net);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn d(key: &str, net: &str, secs: u64, origin: &str) -> Decision {
        Decision {
            key: key.into(),
            net: net.parse().unwrap(),
            left: Duration::from_secs(secs),
            origin: origin.into(),
            scenario: "crowdsecurity/ssh-bf".into(),
        }
    }

    #[test]
    fn a_ban_lasts_as_long_as_its_longest_decision_and_goes_with_the_last() {
        let mut l = Ledger::default();
        let f = Filter::default();
        let c = l.apply(
            &Delta {
                new: vec![
                    d("1", "192.0.2.9/32", 60, "cscli"),
                    d("2", "192.0.2.9/32", 600, "capi"),
                ],
                ..Delta::default()
            },
            0,
            true,
            &f,
        );
        assert_eq!(c.ban.len(), 1);
        assert_eq!(c.ban[0].until, 600_000_000_000);
        assert_eq!(c.ban[0].origin, "capi");
        let c = l.apply(
            &Delta {
                deleted: vec![d("2", "192.0.2.9/32", 0, "capi")],
                ..Delta::default()
            },
            1,
            false,
            &f,
        );
        assert!(c.lift.is_empty());
        assert_eq!(
            c.ban[0].until, 60_000_000_000,
            "the other decision still holds it"
        );
        let c = l.apply(
            &Delta {
                deleted: vec![d("1", "192.0.2.9/32", 0, "cscli")],
                ..Delta::default()
            },
            2,
            false,
            &f,
        );
        assert_eq!(c.lift, ["192.0.2.9/32".parse::<IpNet>().unwrap()]);
        assert!(l.is_empty());
    }

    #[test]
    fn deleting_an_unknown_decision_changes_nothing() {
        let mut l = Ledger::default();
        let c = l.apply(
            &Delta {
                deleted: vec![d("5", "192.0.2.9/32", 0, "cscli")],
                ..Delta::default()
            },
            0,
            false,
            &Filter::default(),
        );
        assert_eq!(c, Changes::default());
    }

    #[test]
    fn the_filter_picks_origins_and_scenarios() {
        let f = Filter {
            origins: vec!["capi".into(), "cscli".into()],
            scenarios_containing: vec!["ssh".into()],
            scenarios_not_containing: vec!["http".into()],
        };
        assert!(f.wants(&d("1", "192.0.2.1/32", 1, "capi")));
        assert!(!f.wants(&d("1", "192.0.2.1/32", 1, "lists")));
        let mut other = d("1", "192.0.2.1/32", 1, "capi");
        other.scenario = "crowdsecurity/http-ssh-probing".into();
        assert!(!f.wants(&other));
        let mut l = Ledger::default();
        let c = l.apply(
            &Delta {
                new: vec![d("1", "192.0.2.1/32", 9, "lists")],
                ..Delta::default()
            },
            0,
            false,
            &f,
        );
        assert_eq!(c.filtered, 1);
        assert!(c.ban.is_empty());
    }

    #[test]
    fn a_startup_answer_starts_the_ledger_over() {
        let mut l = Ledger::default();
        let f = Filter::default();
        l.apply(
            &Delta {
                new: vec![d("1", "192.0.2.1/32", 9, "cscli")],
                ..Delta::default()
            },
            0,
            false,
            &f,
        );
        l.apply(
            &Delta {
                new: vec![d("2", "192.0.2.2/32", 9, "cscli")],
                ..Delta::default()
            },
            0,
            true,
            &f,
        );
        let nets: Vec<String> = l.nets().map(ToString::to_string).collect();
        assert_eq!(nets, ["192.0.2.2/32"]);
    }
}

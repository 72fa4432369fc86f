//! Many bans at once, for the fleet feeds: a community blocklist of tens of thousands of
//! entries is written with one read of the tries, not one per ban as [`Maps::ban`] does.
//!
//! The rules are the tries' own, kept by [`plan`], a pure function unit-tested here:
//! - the nesting of [`super::bans::nest`] (no inner ban ends before the outer one), with the
//!   prefixes that may contain a ban found by lookup, not by a walk of every ban;
//! - a ban in force of another reason on the same prefix is kept as it is (an admin's,
//!   the programs' or the log watch's ban is never overwritten, so lifting a fleet decision
//!   can never lift it);
//! - capacity: feeds never take the last `reserve` slots of a trie, which stay for the
//!   admin's, the programs' and the log watch's bans (the tries never evict).
use std::collections::{BTreeSet, HashMap};

use ipnet::IpNet;
use sipguard_common::{Ban, BAN_MAX_ENTRIES, BAN_NOTE_LEN, STATE_BANS_PRESENT};

use super::{
    bans::{not_found, note_key},
    fixed_str, Expiry, Maps, Result,
};
use crate::dataplane::{object::map, DataplaneError};

/// One ban a feed wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetBan {
    pub net: IpNet,
    pub expiry: Expiry,
    /// The feed's `BAN_REASON_*` ([`super::reasons`]).
    pub reason: u32,
    /// `BAN_SCOPE_*`.
    pub scope: u32,
    /// Kept beside the ban (origin and scenario), cut to 63 bytes.
    pub note: String,
}

/// What [`Maps::ban_many`] did with each ban asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BulkReport {
    /// Written (new or renewed).
    pub written: Vec<IpNet>,
    /// Left alone: a ban in force of another reason holds the prefix.
    pub kept_other: Vec<IpNet>,
    /// Not written: the trie has no room left for feeds.
    pub full: Vec<IpNet>,
}

/// The writes that apply `bans` over `existing`: (prefix, value) to put, in order, and the
/// report. `now` is the ban clock; `reserve` the slots per trie left to other bans.
pub(crate) fn plan(
    existing: &[(IpNet, Ban)],
    bans: &[FleetBan],
    now: u64,
    reserve: u32,
    created_ns: u64,
) -> (Vec<(IpNet, Ban)>, BulkReport) {
    let mut state: HashMap<IpNet, Ban> = existing.iter().map(|(n, b)| (*n, *b)).collect();
    let mut lens: [BTreeSet<u8>; 2] = [BTreeSet::new(), BTreeSet::new()];
    let family = |n: &IpNet| usize::from(matches!(n, IpNet::V6(_)));
    let mut count = [0u32; 2];
    for n in state.keys() {
        lens[family(n)].insert(n.prefix_len());
        count[family(n)] += 1;
    }
    let limit = BAN_MAX_ENTRIES.saturating_sub(reserve);
    let mut writes: Vec<(IpNet, Ban)> = Vec::new();
    let mut report = BulkReport::default();
    for want in bans {
        let net = want.net.trunc();
        let f = family(&net);
        let current = state.get(&net).copied();
        if let Some(b) = current {
            if b.reason != want.reason && !Expiry::from_ns(b.expires_ns).has_passed(now) {
                report.kept_other.push(net);
                continue;
            }
        } else if count[f] >= limit {
            report.full.push(net);
            continue;
        }
        // Around it: every present prefix length up to its own.
        let mut expiry = want.expiry;
        for &len in lens[f].range(..=net.prefix_len()) {
            let Ok(outer) = IpNet::new(net.addr(), len) else {
                continue;
            };
            if let Some(b) = state.get(&outer.trunc()) {
                let e = Expiry::from_ns(b.expires_ns);
                if e.outlasts(expiry) {
                    expiry = e;
                }
            }
        }
        // Inside it (ranges only): shorter bans are extended to its end.
        if net.prefix_len() < net.max_prefix_len() {
            let inner: Vec<(IpNet, Ban)> = state
                .iter()
                .filter(|(n, b)| {
                    **n != net && net.contains(*n) && expiry.outlasts(Expiry::from_ns(b.expires_ns))
                })
                .map(|(n, b)| (*n, *b))
                .collect();
            for (n, b) in inner {
                let extended = Ban {
                    expires_ns: expiry.as_ns(),
                    ..b
                };
                state.insert(n, extended);
                writes.push((n, extended));
            }
        }
        let ban = Ban {
            expires_ns: expiry.as_ns(),
            created_ns: current
                .filter(|b| b.reason == want.reason)
                .map_or(created_ns, |b| b.created_ns),
            hits: current
                .filter(|b| b.reason == want.reason)
                .map_or(0, |b| b.hits),
            reason: want.reason,
            scope: want.scope,
        };
        if current.is_none() {
            count[f] += 1;
            lens[f].insert(net.prefix_len());
        }
        state.insert(net, ban);
        writes.push((net, ban));
        report.written.push(net);
    }
    (writes, report)
}

impl Maps {
    /// Writes `bans` as [`plan`] says, with their notes. `reserve`: slots per trie that
    /// feeds leave free. A note that finds no room is left out (the ban holds all the same).
    pub fn ban_many(&mut self, bans: &[FleetBan], now: u64, reserve: u32) -> Result<BulkReport> {
        let existing = self.admin_bans()?;
        // A prefix the programs banned themselves (their own room) keeps that ban, as one of
        // another reason in the admin's room does: the decision it caused is not written
        // beside it (so the listing shows one ban, the programs' reason).
        let programs: HashMap<IpNet, Ban> = self.programs_bans()?.into_iter().collect();
        let (held, wanted): (Vec<&FleetBan>, Vec<&FleetBan>) = bans.iter().partition(|b| {
            programs.get(&b.net.trunc()).is_some_and(|p| {
                p.reason != b.reason && !Expiry::from_ns(p.expires_ns).has_passed(now)
            })
        });
        let wanted: Vec<FleetBan> = wanted.into_iter().cloned().collect();
        let (writes, mut report) = plan(&existing, &wanted, now, reserve, now);
        report
            .kept_other
            .extend(held.into_iter().map(|b| b.net.trunc()));
        for (net, ban) in &writes {
            self.put_ban(*net, *ban)?;
        }
        let notes: HashMap<IpNet, &str> = bans
            .iter()
            .map(|b| (b.net.trunc(), b.note.as_str()))
            .collect();
        for net in &report.written {
            if let Some(note) = notes.get(net).filter(|n| !n.is_empty()) {
                let _ = self.ban_notes.insert(
                    note_key(*net),
                    fixed_str::encode::<BAN_NOTE_LEN>(note),
                    0,
                );
            }
        }
        if !writes.is_empty() {
            self.state
                .set(STATE_BANS_PRESENT, 1, 0)
                .map_err(DataplaneError::map(map::STATE))?;
        }
        Ok(report)
    }

    /// Lifts the bans on exactly `nets` whose reason is `reason`, and their notes; returns
    /// those lifted. A ban of another reason on the same prefix stays.
    pub fn unban_many(&mut self, nets: &[IpNet], reason: u32) -> Result<Vec<IpNet>> {
        let mut lifted = Vec::new();
        for &net in nets {
            let net = net.trunc();
            let key4;
            let key6;
            let current = match net {
                IpNet::V4(n) => {
                    key4 = aya::maps::lpm_trie::Key::new(
                        u32::from(n.prefix_len()),
                        n.network().octets(),
                    );
                    self.bans_v4.get(&key4, 0)
                }
                IpNet::V6(n) => {
                    key6 = aya::maps::lpm_trie::Key::new(
                        u32::from(n.prefix_len()),
                        n.network().octets(),
                    );
                    self.bans_v6.get(&key6, 0)
                }
            };
            match current {
                Ok(b) if b.reason == reason => {
                    if self.unban_admin(net)? {
                        lifted.push(net);
                    }
                }
                Ok(_) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(DataplaneError::map(super::bans::bans_map(net))(e)),
            }
        }
        Ok(lifted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::maps::reasons::{BAN_REASON_APIBAN, BAN_REASON_CROWDSEC};

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ban(expires_ns: u64, reason: u32) -> Ban {
        Ban {
            expires_ns,
            created_ns: 1,
            hits: 0,
            reason,
            scope: 0,
        }
    }

    fn want(n: &str, until: u64) -> FleetBan {
        FleetBan {
            net: net(n),
            expiry: Expiry::At(until),
            reason: BAN_REASON_CROWDSEC,
            scope: 0,
            note: "cscli".into(),
        }
    }

    #[test]
    fn a_ban_of_another_reason_in_force_is_kept_and_an_expired_one_replaced() {
        let existing = [
            (
                net("192.0.2.7/32"),
                ban(0, sipguard_common::BAN_REASON_MANUAL),
            ),
            (net("192.0.2.8/32"), ban(5, sipguard_common::BAN_REASON_LOG)),
        ];
        let (writes, r) = plan(
            &existing,
            &[want("192.0.2.7/32", 100), want("192.0.2.8/32", 100)],
            10,
            0,
            10,
        );
        assert_eq!(r.kept_other, [net("192.0.2.7/32")]);
        assert_eq!(r.written, [net("192.0.2.8/32")]);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].1.reason, BAN_REASON_CROWDSEC);
    }

    #[test]
    fn a_feed_ban_inside_a_longer_range_inherits_its_end_and_a_range_extends_inner_bans() {
        let existing = [(net("198.51.100.0/24"), ban(900, BAN_REASON_APIBAN))];
        let (writes, _) = plan(&existing, &[want("198.51.100.9/32", 100)], 0, 0, 0);
        assert_eq!(writes.len(), 1);
        assert_eq!(
            (writes[0].0, writes[0].1.expires_ns),
            (net("198.51.100.9/32"), 900)
        );
        let existing = [(
            net("203.0.113.9/32"),
            ban(50, sipguard_common::BAN_REASON_MANUAL),
        )];
        let (writes, _) = plan(&existing, &[want("203.0.113.0/24", 100)], 0, 0, 0);
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!(writes[0].0, net("203.0.113.9/32"));
        assert_eq!(writes[0].1.expires_ns, 100);
        assert_eq!(
            writes[0].1.reason,
            sipguard_common::BAN_REASON_MANUAL,
            "extended, still the admin's"
        );
    }

    #[test]
    fn feeds_leave_the_reserve_free_and_renewing_a_ban_needs_no_new_slot() {
        let reserve = BAN_MAX_ENTRIES - 2;
        let existing = [(net("192.0.2.1/32"), ban(0, BAN_REASON_CROWDSEC))];
        let (_, r) = plan(
            &existing,
            &[
                want("192.0.2.2/32", 9),
                want("192.0.2.3/32", 9),
                want("192.0.2.1/32", 9),
                want("2001:db8::1/128", 9),
            ],
            0,
            reserve,
            0,
        );
        assert_eq!(
            r.written,
            [
                net("192.0.2.2/32"),
                net("192.0.2.1/32"),
                net("2001:db8::1/128")
            ]
        );
        assert_eq!(r.full, [net("192.0.2.3/32")]);
    }

    #[test]
    fn bans_of_one_batch_nest_with_each_other() {
        let (writes, r) = plan(
            &[],
            &[want("192.0.2.0/24", 500), want("192.0.2.5/32", 10)],
            0,
            0,
            0,
        );
        assert_eq!(r.written.len(), 2);
        assert_eq!(writes[1].1.expires_ns, 500);
    }
}

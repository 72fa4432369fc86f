//! What the maps count, read for `status` and `/metrics`: packets and bytes by (service,
//! reason, verdict) and by (service, SIP class, verdict), the bans the programs made, and how
//! full each bounded map is.
//!
//! The counters are per-CPU arrays indexed by (service slot, kind, verdict); the rule that
//! turns them into rows (sum the CPUs, name the slot by the active epoch, leave out what
//! never counted) is `rows`, a pure function.
use std::collections::BTreeMap;

use aya::maps::{MapData, MapError, PerCpuArray, PerCpuValues};
use sipguard_common::{
    counter_index, reason, sip, sip_counter_index, verdict, Counter, ALLOW_MAX_ENTRIES,
    BAN_COUNTER_CHALLENGES, BAN_COUNTER_NONCE_PROVEN, BAN_COUNTER_RETRANSMISSIONS,
    BAN_COUNTER_SHARED_NONCES, BAN_COUNTER_SPARED, BAN_COUNTER_STALE,
    BAN_COUNTER_UNPROVEN_FAILURES, BAN_REASON_AUTH_ATTEMPTS, BAN_REASON_AUTH_ENUMERATION,
    BAN_REASON_AUTH_FAILURES, BAN_REASON_NAMES, BAN_REASON_SCANNER, DENY_MAX_ENTRIES,
    DEST_MAX_ENTRIES, MAX_SERVICES, REASON_NAMES, TRUSTED_MAX_ENTRIES, VERDICT_NAMES,
};

use super::{Maps, Result};
use crate::dataplane::{object::map, DataplaneError};

/// One counter, summed over CPUs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CounterRow {
    pub service: String,
    pub reason: &'static str,
    pub verdict: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

/// One SIP counter (SIP services only), summed over CPUs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SipCounterRow {
    pub service: String,
    pub class: &'static str,
    pub verdict: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

/// Entries used and capacity of a map.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Fill {
    pub map: &'static str,
    pub entries: u64,
    pub capacity: u64,
}

/// One counter of a per-CPU counter array, summed: the service's name, the `kind` it counts
/// by (a reason or a SIP class), the verdict, and the sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row<K> {
    pub service: String,
    pub kind: K,
    pub verdict: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

impl From<Row<&'static str>> for CounterRow {
    fn from(r: Row<&'static str>) -> Self {
        Self {
            service: r.service,
            reason: r.kind,
            verdict: r.verdict,
            packets: r.packets,
            bytes: r.bytes,
        }
    }
}

impl From<Row<&'static str>> for SipCounterRow {
    fn from(r: Row<&'static str>) -> Self {
        Self {
            service: r.service,
            class: r.kind,
            verdict: r.verdict,
            packets: r.packets,
            bytes: r.bytes,
        }
    }
}

/// The rows with traffic for every named service (`names` by slot; slot 0, no service, is
/// always read, an unnamed other slot never), every kind in `kinds` and every verdict.
/// `read(service, kind, verdict)` gives a counter's (packets, bytes) summed over CPUs.
pub(crate) fn rows<K: Copy, E>(
    names: &[String],
    kinds: &[K],
    mut read: impl FnMut(u32, u32, u32) -> Result<(u64, u64), E>,
) -> Result<Vec<Row<K>>, E> {
    let mut out = Vec::new();
    for (service, name) in names.iter().enumerate() {
        if service != 0 && name.is_empty() {
            continue;
        }
        for (k, &kind) in kinds.iter().enumerate() {
            for (v, &verdict) in VERDICT_NAMES.iter().enumerate() {
                let (packets, bytes) = read(service as u32, k as u32, v as u32)?;
                if packets > 0 {
                    out.push(Row {
                        service: name.clone(),
                        kind,
                        verdict,
                        packets,
                        bytes,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// A counter's per-CPU values summed.
fn sum<'a>(per_cpu: impl IntoIterator<Item = &'a Counter>) -> (u64, u64) {
    per_cpu
        .into_iter()
        .fold((0, 0), |(p, b), c| (p + c.packets, b + c.bytes))
}

/// The bans only the programs make, whose counts [`Maps::ban_counts`] reports.
const PROGRAM_BAN_REASONS: [u32; 4] = [
    BAN_REASON_SCANNER,
    BAN_REASON_AUTH_FAILURES,
    BAN_REASON_AUTH_ATTEMPTS,
    BAN_REASON_AUTH_ENUMERATION,
];

impl Maps {
    /// Every counter with traffic, summed over CPUs, labelled with the active epoch's names.
    pub fn counters(&self) -> Result<Vec<CounterRow>> {
        let rows =
            self.sum_counters(&self.counters, map::COUNTERS, &REASON_NAMES, counter_index)?;
        Ok(rows.into_iter().map(CounterRow::from).collect())
    }

    /// Every SIP counter with traffic, by (service, SIP class, verdict).
    pub fn sip_counters(&self) -> Result<Vec<SipCounterRow>> {
        let rows = self.sum_counters(
            &self.sip_counters,
            map::SIP_COUNTERS,
            &sip::CLASS_NAMES,
            sip_counter_index,
        )?;
        Ok(rows.into_iter().map(SipCounterRow::from).collect())
    }

    /// [`rows`] of one per-CPU counter array, indexed by `index(service, kind, verdict)`.
    fn sum_counters(
        &self,
        counters: &PerCpuArray<MapData, Counter>,
        map_name: &'static str,
        kinds: &'static [&'static str],
        index: fn(u32, u32, u32) -> u32,
    ) -> Result<Vec<Row<&'static str>>> {
        let names = self.service_names()?;
        rows(&names, kinds, |service, kind, verdict| {
            let per_cpu = counters
                .get(&index(service, kind, verdict), 0)
                .map_err(DataplaneError::map(map_name))?;
            Ok(sum(per_cpu.iter()))
        })
    }

    /// Sets every counter of the service slot `service` to zero (a slot given to a new
    /// service).
    pub(super) fn reset_counters(&mut self, service: u32) -> Result<()> {
        let cpus = aya::util::nr_cpus().map_err(|(what, e)| DataplaneError::Io {
            what: what.to_owned(),
            source: e,
        })?;
        let zero = || {
            PerCpuValues::try_from(vec![Counter::default(); cpus])
                .map_err(DataplaneError::io("per-CPU counter values"))
        };
        for v in 0..verdict::COUNT {
            for r in 0..reason::COUNT {
                self.counters
                    .set(counter_index(service, r, v), zero()?, 0)
                    .map_err(DataplaneError::map(map::COUNTERS))?;
            }
            for c in 0..sip::class::COUNT {
                self.sip_counters
                    .set(sip_counter_index(service, c, v), zero()?, 0)
                    .map_err(DataplaneError::map(map::SIP_COUNTERS))?;
            }
        }
        Ok(())
    }

    /// Bans the programs made, by reason name, summed over CPUs (`scanner`, `auth_failures`,
    /// `auth_attempts`, `auth_enumeration`; the reasons only user space uses, `manual` and `log`, are left out).
    pub fn ban_counts(&self) -> Result<Vec<(&'static str, u64)>> {
        let mut out = Vec::new();
        for (i, name) in BAN_REASON_NAMES.iter().enumerate() {
            if !PROGRAM_BAN_REASONS.contains(&(i as u32)) {
                continue;
            }
            let values = self
                .ban_counters
                .get(&(i as u32), 0)
                .map_err(DataplaneError::map(map::BAN_COUNTERS))?;
            out.push((*name, values.iter().sum()));
        }
        Ok(out)
    }

    /// What the programs weighed for auto-ban and did not ban on, summed over CPUs, by kind:
    /// `challenge` (a 401/403/407 to a request without credentials), `retransmission` (a
    /// request with credentials seen again, counted once), `unproven_failure` (a failure
    /// answered over UDP: it bans from SIP at most), `nonce_proven` (a failure answered over
    /// UDP whose request echoed a nonce the PBX had sent to that address alone: proven),
    /// `shared_nonce` (a challenge nonce the PBX sent to a second address: it proves
    /// nothing), `spared` (a ban withheld: unproven evidence against a source the PBX
    /// accepted lately), `stale` (a 401/407 with `stale=true` to a request with credentials:
    /// an expired nonce, no refused password).
    pub fn evidence_counts(&self) -> Result<Vec<(&'static str, u64)>> {
        [
            ("challenge", BAN_COUNTER_CHALLENGES),
            ("retransmission", BAN_COUNTER_RETRANSMISSIONS),
            ("unproven_failure", BAN_COUNTER_UNPROVEN_FAILURES),
            ("nonce_proven", BAN_COUNTER_NONCE_PROVEN),
            ("shared_nonce", BAN_COUNTER_SHARED_NONCES),
            ("spared", BAN_COUNTER_SPARED),
            ("stale", BAN_COUNTER_STALE),
        ]
        .into_iter()
        .map(|(kind, slot)| {
            let values = self
                .ban_counters
                .get(&slot, 0)
                .map_err(DataplaneError::map(map::BAN_COUNTERS))?;
            Ok((kind, values.iter().sum()))
        })
        .collect()
    }

    /// Entries in use per map (tries are walked; arrays report their configured part).
    pub fn fill(&self) -> Result<Vec<Fill>> {
        let trie = |name: &'static str, keys: usize, capacity: u32| Fill {
            map: name,
            entries: keys as u64,
            capacity: u64::from(capacity),
        };
        Ok(vec![
            trie(
                map::ALLOW_V4,
                count(self.allow_v4.keys(), map::ALLOW_V4)?,
                ALLOW_MAX_ENTRIES,
            ),
            trie(
                map::ALLOW_V6,
                count(self.allow_v6.keys(), map::ALLOW_V6)?,
                ALLOW_MAX_ENTRIES,
            ),
            trie(
                map::DENY_V4,
                count(self.deny_v4.keys(), map::DENY_V4)?,
                DENY_MAX_ENTRIES,
            ),
            trie(
                map::DENY_V6,
                count(self.deny_v6.keys(), map::DENY_V6)?,
                DENY_MAX_ENTRIES,
            ),
            trie(
                map::TRUSTED_V4,
                count(self.trusted_v4.keys(), map::TRUSTED_V4)?,
                TRUSTED_MAX_ENTRIES,
            ),
            trie(
                map::TRUSTED_V6,
                count(self.trusted_v6.keys(), map::TRUSTED_V6)?,
                TRUSTED_MAX_ENTRIES,
            ),
            trie(
                map::DESTS_V4,
                count(self.dests_v4.keys(), map::DESTS_V4)?,
                DEST_MAX_ENTRIES,
            ),
            trie(
                map::DESTS_V6,
                count(self.dests_v6.keys(), map::DESTS_V6)?,
                DEST_MAX_ENTRIES,
            ),
            trie(
                map::BANS_V4,
                count(self.bans_v4.keys(), map::BANS_V4)?,
                sipguard_common::BAN_MAX_ENTRIES,
            ),
            trie(
                map::BANS_V6,
                count(self.bans_v6.keys(), map::BANS_V6)?,
                sipguard_common::BAN_MAX_ENTRIES,
            ),
            // The programs' room holds AUTO_BAN_ROOM bans of both families together.
            trie(
                map::AUTO_BANS_V4,
                count(self.auto_bans_v4.keys(), map::AUTO_BANS_V4)?,
                sipguard_common::AUTO_BAN_ROOM,
            ),
            trie(
                map::AUTO_BANS_V6,
                count(self.auto_bans_v6.keys(), map::AUTO_BANS_V6)?,
                sipguard_common::AUTO_BAN_ROOM,
            ),
            Fill {
                map: map::SERVICES,
                entries: self
                    .service_names()?
                    .iter()
                    .skip(1)
                    .filter(|n| !n.is_empty())
                    .count() as u64,
                capacity: MAX_SERVICES as u64 - 1,
            },
        ])
    }
}

/// How many keys `keys` yields; the first error stops the walk.
fn count<K>(keys: impl Iterator<Item = Result<K, MapError>>, name: &'static str) -> Result<usize> {
    let mut n = 0;
    for k in keys {
        k.map_err(DataplaneError::map(name))?;
        n += 1;
    }
    Ok(n)
}

/// Counters by (service, reason, verdict) name, for tests and reports.
pub fn counter_map(rows: &[CounterRow]) -> BTreeMap<(String, String, String), u64> {
    rows.iter()
        .map(|r| {
            (
                (r.service.clone(), r.reason.to_owned(), r.verdict.to_owned()),
                r.packets,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(named: &[&str]) -> Vec<String> {
        let mut out = vec![String::new(); 4];
        out[0] = super::super::NO_SERVICE.to_owned();
        for (i, n) in named.iter().enumerate() {
            out[i + 1] = (*n).to_owned();
        }
        out
    }

    #[test]
    fn rows_name_the_service_and_leave_out_what_never_counted() {
        let read = |service: u32, kind: u32, verdict: u32| -> Result<(u64, u64), ()> {
            Ok(match (service, kind, verdict) {
                (0, 1, 0) => (3, 300),
                (1, 0, 1) => (5, 500),
                // An unnamed slot is never read into a row, whatever it holds.
                (2, _, _) => (9, 900),
                _ => (0, 0),
            })
        };
        let rows = rows(&names(&["sip"]), &["allowed", "banned"], read).unwrap();
        assert_eq!(
            rows,
            [
                Row {
                    service: "none".into(),
                    kind: "banned",
                    verdict: VERDICT_NAMES[0],
                    packets: 3,
                    bytes: 300
                },
                Row {
                    service: "sip".into(),
                    kind: "allowed",
                    verdict: VERDICT_NAMES[1],
                    packets: 5,
                    bytes: 500
                },
            ]
        );
    }

    #[test]
    fn a_read_error_stops_the_rows() {
        let read = |_, _, _| -> Result<(u64, u64), &'static str> { Err("gone") };
        assert_eq!(rows(&names(&[]), &["allowed"], read), Err("gone"));
    }

    #[test]
    fn per_cpu_values_are_summed() {
        let cpus = [
            Counter {
                packets: 1,
                bytes: 60,
            },
            Counter {
                packets: 2,
                bytes: 1500,
            },
        ];
        assert_eq!(sum(&cpus), (3, 1560));
        assert_eq!(sum(&[]), (0, 0));
    }

    #[test]
    fn a_counter_row_keeps_its_reason_and_a_sip_row_its_class() {
        let row = || Row {
            service: "sip".to_owned(),
            kind: "register",
            verdict: "pass",
            packets: 1,
            bytes: 2,
        };
        assert_eq!(CounterRow::from(row()).reason, "register");
        assert_eq!(SipCounterRow::from(row()).class, "register");
        let map = counter_map(&[CounterRow::from(row())]);
        assert_eq!(
            map.get(&("sip".into(), "register".into(), "pass".into())),
            Some(&1)
        );
    }
}

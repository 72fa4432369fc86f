//! Typed access to the XDP program's maps, from a freshly loaded object or from the pins.
//!
//! Policy updates are double-buffered: [`Maps::apply`] writes the whole new policy into the
//! inactive epoch, then flips the active epoch with one array write. A packet is judged
//! either entirely by the old policy or entirely by the new one; a failed write leaves the
//! running policy untouched.
use std::{collections::BTreeMap, net::IpAddr, path::Path};

use aya::{
    maps::{
        lpm_trie::Key, Array, HashMap, LpmTrie, Map, MapData, MapError, PerCpuArray, PerCpuValues,
    },
    Ebpf,
};
use ipnet::IpNet;
use sipguard_common::{
    allow_scope, counter_index, epoch_scope, port_index, reason, service_index, sip,
    sip_counter_index, verdict, Ban, Counter, Policy, ScopedV4, ScopedV6, ServicePolicy,
    ALLOW_MAX_ENTRIES, DENY_MAX_ENTRIES, EPOCHS, LAYOUT_VERSION, MAX_SERVICES, POLICY_HAS_DENY_V4,
    POLICY_HAS_DENY_V6, POLICY_HAS_TRUSTED, PORTS, PROTO_SLOTS, REASON_NAMES, SCOPE_BITS,
    SERVICE_NAME_LEN, STATE_ACTIVE_EPOCH, STATE_BANS_PRESENT, STATE_LAYOUT, TRUSTED_MAX_ENTRIES,
    VERDICT_NAMES,
};

use sipguard_common::{
    ua::Scanners, BanNoteKey, BAN_NOTE_LEN, BAN_REASON_AUTH_ATTEMPTS, BAN_REASON_AUTH_FAILURES,
    BAN_REASON_NAMES, BAN_REASON_SCANNER,
};

use crate::{ebpf::map, policy::CompiledPolicy, Error};

type Result<T, E = Error> = std::result::Result<T, E>;

/// All maps of the XDP program.
pub struct Maps {
    state: Array<MapData, u32>,
    policy: Array<MapData, Policy>,
    services: Array<MapData, ServicePolicy>,
    service_names: Array<MapData, [u8; SERVICE_NAME_LEN]>,
    port_service: Array<MapData, u32>,
    allow_v4: LpmTrie<MapData, ScopedV4, u32>,
    allow_v6: LpmTrie<MapData, ScopedV6, u32>,
    deny_v4: LpmTrie<MapData, ScopedV4, u32>,
    deny_v6: LpmTrie<MapData, ScopedV6, u32>,
    trusted_v4: LpmTrie<MapData, ScopedV4, u32>,
    trusted_v6: LpmTrie<MapData, ScopedV6, u32>,
    bans_v4: LpmTrie<MapData, [u8; 4], Ban>,
    bans_v6: LpmTrie<MapData, [u8; 16], Ban>,
    counters: PerCpuArray<MapData, Counter>,
    sip_counters: PerCpuArray<MapData, Counter>,
    scanners: Array<MapData, Scanners>,
    ban_notes: HashMap<MapData, BanNoteKey, [u8; BAN_NOTE_LEN]>,
    ban_counters: PerCpuArray<MapData, u64>,
    /// Capacity of the per-source table (`RATES`), fixed when it was created.
    tracked_sources: u32,
}

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

/// Name shown for traffic that matched no service.
pub const NO_SERVICE: &str = "none";

impl Maps {
    /// Takes the maps out of a loaded object (the program keeps its own references).
    pub fn from_ebpf(ebpf: &mut Ebpf) -> Result<Self> {
        // RATES stays in the object (only the program uses it): a map taken out and dropped
        // before the program loads would close the descriptor the program refers to.
        let tracked_sources = match ebpf.map(map::RATES) {
            Some(Map::LruHashMap(data)) => {
                data.info().map_err(Error::map(map::RATES))?.max_entries()
            }
            _ => {
                return Err(Error::MissingMap {
                    name: map::RATES,
                    dir: Default::default(),
                })
            }
        };
        Self::build(tracked_sources, |name| {
            ebpf.take_map(name).ok_or(Error::MissingMap {
                name,
                dir: Default::default(),
            })
        })
    }

    /// Opens the maps pinned under `dir` by a running (or killed) daemon.
    pub fn open_pinned(dir: &Path) -> Result<Self> {
        let rates = dir.join(map::RATES);
        let tracked_sources = MapData::from_pin(&rates)
            .and_then(|data| data.info())
            .map_err(Error::map(map::RATES))?
            .max_entries();
        Self::build(tracked_sources, |name| {
            let path = dir.join(name);
            if !path.exists() {
                return Err(Error::MissingMap {
                    name,
                    dir: dir.to_owned(),
                });
            }
            let data = MapData::from_pin(&path).map_err(Error::map(name))?;
            Map::from_map_data(data).map_err(Error::map(name))
        })
    }

    fn build(
        tracked_sources: u32,
        mut take: impl FnMut(&'static str) -> Result<Map>,
    ) -> Result<Self> {
        macro_rules! typed {
            ($name:expr) => {
                take($name)?.try_into().map_err(Error::map($name))?
            };
        }
        Ok(Self {
            tracked_sources,
            state: typed!(map::STATE),
            policy: typed!(map::POLICY),
            services: typed!(map::SERVICES),
            service_names: typed!(map::SERVICE_NAMES),
            port_service: typed!(map::PORT_SERVICE),
            allow_v4: typed!(map::ALLOW_V4),
            allow_v6: typed!(map::ALLOW_V6),
            deny_v4: typed!(map::DENY_V4),
            deny_v6: typed!(map::DENY_V6),
            trusted_v4: typed!(map::TRUSTED_V4),
            trusted_v6: typed!(map::TRUSTED_V6),
            bans_v4: typed!(map::BANS_V4),
            bans_v6: typed!(map::BANS_V6),
            counters: typed!(map::COUNTERS),
            sip_counters: typed!(map::SIP_COUNTERS),
            scanners: typed!(map::SCANNERS),
            ban_notes: typed!(map::BAN_NOTES),
            ban_counters: typed!(map::BAN_COUNTERS),
        })
    }

    /// Layout version stored in the maps (0: never written).
    pub fn layout(&self) -> Result<u32> {
        self.state
            .get(&STATE_LAYOUT, 0)
            .map_err(Error::map(map::STATE))
    }

    pub fn active_epoch(&self) -> Result<u32> {
        Ok(self.generation()? & 1)
    }

    /// Policies applied to these maps so far (wrapping): the active epoch is its low bit, and
    /// `sipguard reload` watches it move to know that the daemon applied the new policy.
    pub fn generation(&self) -> Result<u32> {
        self.state
            .get(&STATE_ACTIVE_EPOCH, 0)
            .map_err(Error::map(map::STATE))
    }

    /// The policy the XDP program uses now.
    pub fn active_policy(&self) -> Result<Policy> {
        let epoch = self.active_epoch()?;
        self.policy.get(&epoch, 0).map_err(Error::map(map::POLICY))
    }

    /// Names of the services of the active epoch, by slot (slot 0 is [`NO_SERVICE`]).
    pub fn service_names(&self) -> Result<Vec<String>> {
        let epoch = self.active_epoch()?;
        self.names_of(epoch)
    }

    fn names_of(&self, epoch: u32) -> Result<Vec<String>> {
        (0..MAX_SERVICES)
            .map(|id| {
                if id == 0 {
                    return Ok(NO_SERVICE.to_owned());
                }
                let raw = self
                    .service_names
                    .get(&service_index(epoch, id), 0)
                    .map_err(Error::map(map::SERVICE_NAMES))?;
                let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
            })
            .collect()
    }

    /// Writes `policy` into the inactive epoch and makes it active. Returns the new epoch.
    ///
    /// Services keep their slot across reloads and restarts (matched by name), so their
    /// counters stay continuous; a slot given to a new service has its counters reset.
    pub fn apply(&mut self, policy: &CompiledPolicy) -> Result<u32> {
        check_capacity(policy)?;
        if self.layout()? != LAYOUT_VERSION {
            self.state
                .set(STATE_LAYOUT, LAYOUT_VERSION, 0)
                .map_err(Error::map(map::STATE))?;
        }
        let active = self.active_epoch()?;
        let target = active ^ 1;
        let (slots, new_slots) = self.assign_slots(active, policy)?;

        self.clear_epoch(target)?;
        self.write_ports(target, policy, &slots)?;
        self.write_services(target, policy, &slots)?;
        let (deny_v4, deny_v6) = self.write_lists(target, policy, &slots)?;
        self.scanners
            .set(target, policy.scanners, 0)
            .map_err(Error::map(map::SCANNERS))?;

        // The settings as compiled, plus what only the writer knows: which lists got entries
        // in this epoch, and the icmp service's slot.
        let mut value = policy.settings;
        if !policy.trusted.is_empty() {
            value.flags |= POLICY_HAS_TRUSTED;
        }
        if deny_v4 {
            value.flags |= POLICY_HAS_DENY_V4;
        }
        if deny_v6 {
            value.flags |= POLICY_HAS_DENY_V6;
        }
        value.icmp_echo_service = policy
            .services
            .iter()
            .zip(&slots)
            .find(|(s, _)| s.icmp)
            .map_or(0, |(_, &slot)| slot);
        self.policy
            .set(target, value, 0)
            .map_err(Error::map(map::POLICY))?;
        // The flip: from the next packet on, the new epoch decides.
        let next = self.generation()?.wrapping_add(1);
        debug_assert_eq!(next & 1, target);
        self.state
            .set(STATE_ACTIVE_EPOCH, next, 0)
            .map_err(Error::map(map::STATE))?;
        // A slot given to a new service starts from zero, whatever it counted before. Only now:
        // a rejected apply must not touch the running counters.
        for slot in new_slots {
            self.reset_counters(slot)?;
        }
        Ok(target)
    }

    /// Slot per service (same order as `policy.services`): the slot the service had in the
    /// active epoch, else a slot free in both the active epoch and the new policy (so a
    /// removed service keeps its slot until the flip), else any slot the new policy leaves
    /// free. Also returns the slots given to new services.
    fn assign_slots(&self, active: u32, policy: &CompiledPolicy) -> Result<(Vec<u32>, Vec<u32>)> {
        let old = self.names_of(active)?;
        let mut used = vec![false; MAX_SERVICES as usize];
        used[0] = true;
        let mut slots = vec![0u32; policy.services.len()];
        for (i, s) in policy.services.iter().enumerate() {
            if let Some(slot) = old.iter().skip(1).position(|n| *n == s.name) {
                slots[i] = slot as u32 + 1;
                used[slot + 1] = true;
            }
        }
        let mut new_slots = Vec::new();
        for (i, s) in policy.services.iter().enumerate() {
            if slots[i] != 0 {
                continue;
            }
            let free = (0..used.len())
                .find(|&j| !used[j] && old[j].is_empty())
                .or_else(|| used.iter().position(|u| !u))
                .ok_or_else(|| Error::Capacity(format!("no free service slot for {:?}", s.name)))?;
            used[free] = true;
            slots[i] = free as u32;
            new_slots.push(free as u32);
        }
        Ok((slots, new_slots))
    }

    fn reset_counters(&mut self, service: u32) -> Result<()> {
        let cpus = aya::util::nr_cpus().map_err(|(what, e)| Error::Io {
            what: what.to_owned(),
            source: e,
        })?;
        let zero = || {
            PerCpuValues::try_from(vec![Counter::default(); cpus])
                .map_err(Error::io("per-CPU counter values"))
        };
        for v in 0..verdict::COUNT {
            for r in 0..reason::COUNT {
                self.counters
                    .set(counter_index(service, r, v), zero()?, 0)
                    .map_err(Error::map(map::COUNTERS))?;
            }
            for c in 0..sip::class::COUNT {
                self.sip_counters
                    .set(sip_counter_index(service, c, v), zero()?, 0)
                    .map_err(Error::map(map::SIP_COUNTERS))?;
            }
        }
        Ok(())
    }

    /// Removes every allow and deny entry of `epoch` (left from the policy before last).
    fn clear_epoch(&mut self, epoch: u32) -> Result<()> {
        let first = allow_scope(epoch, 0);
        let last = allow_scope(epoch, MAX_SERVICES - 1);
        let in_epoch = |scope: [u8; 4]| scope >= first && scope <= last;
        remove_where(&mut self.allow_v4, map::ALLOW_V4, |k| in_epoch(k.scope))?;
        remove_where(&mut self.allow_v6, map::ALLOW_V6, |k| in_epoch(k.scope))?;
        let scope = epoch_scope(epoch);
        remove_where(&mut self.deny_v4, map::DENY_V4, |k| k.scope == scope)?;
        remove_where(&mut self.deny_v6, map::DENY_V6, |k| k.scope == scope)?;
        remove_where(&mut self.trusted_v4, map::TRUSTED_V4, |k| k.scope == scope)?;
        remove_where(&mut self.trusted_v6, map::TRUSTED_V6, |k| k.scope == scope)?;
        Ok(())
    }

    fn write_ports(&mut self, epoch: u32, policy: &CompiledPolicy, slots: &[u32]) -> Result<()> {
        let mut table = vec![0u32; (PROTO_SLOTS * PORTS) as usize];
        for (s, &slot) in policy.services.iter().zip(slots) {
            for &(proto, range) in &s.ports {
                for port in range.lo..=range.hi {
                    table[(proto * PORTS + port as u32) as usize] = slot;
                }
            }
        }
        for proto in 0..PROTO_SLOTS {
            for port in 0..PORTS {
                let value = table[(proto * PORTS + port) as usize];
                self.port_service
                    .set(port_index(epoch, proto, port as u16), value, 0)
                    .map_err(Error::map(map::PORT_SERVICE))?;
            }
        }
        Ok(())
    }

    fn write_services(&mut self, epoch: u32, policy: &CompiledPolicy, slots: &[u32]) -> Result<()> {
        let mut values =
            vec![(ServicePolicy::default(), [0u8; SERVICE_NAME_LEN]); MAX_SERVICES as usize];
        for (s, &slot) in policy.services.iter().zip(slots) {
            let mut name = [0u8; SERVICE_NAME_LEN];
            let len = s.name.len().min(SERVICE_NAME_LEN - 1);
            name[..len].copy_from_slice(&s.name.as_bytes()[..len]);
            values[slot as usize] = (s.map_value(), name);
        }
        for (slot, (value, name)) in values.into_iter().enumerate() {
            let index = service_index(epoch, slot as u32);
            self.services
                .set(index, value, 0)
                .map_err(Error::map(map::SERVICES))?;
            self.service_names
                .set(index, name, 0)
                .map_err(Error::map(map::SERVICE_NAMES))?;
        }
        Ok(())
    }

    /// Writes allow and deny entries; returns whether the deny lists hold v4 / v6 entries.
    fn write_lists(
        &mut self,
        epoch: u32,
        policy: &CompiledPolicy,
        slots: &[u32],
    ) -> Result<(bool, bool)> {
        for (s, &slot) in policy.services.iter().zip(slots) {
            let scope = allow_scope(epoch, slot);
            for net in &s.allow {
                insert_scoped(&mut self.allow_v4, &mut self.allow_v6, scope, net, slot)
                    .map_err(Error::map(map::ALLOW_V4))?;
            }
        }
        let scope = epoch_scope(epoch);
        let (mut v4, mut v6) = (false, false);
        for (i, net) in policy.deny.iter().enumerate() {
            match net {
                IpNet::V4(_) => v4 = true,
                IpNet::V6(_) => v6 = true,
            }
            insert_scoped(&mut self.deny_v4, &mut self.deny_v6, scope, net, i as u32)
                .map_err(Error::map(map::DENY_V4))?;
        }
        for (i, net) in policy.trusted.iter().enumerate() {
            insert_scoped(
                &mut self.trusted_v4,
                &mut self.trusted_v6,
                scope,
                net,
                i as u32,
            )
            .map_err(Error::map(map::TRUSTED_V4))?;
        }
        Ok((v4, v6))
    }

    /// Every counter with traffic, summed over CPUs, labelled with the active epoch's names.
    pub fn counters(&self) -> Result<Vec<CounterRow>> {
        let rows =
            self.sum_counters(&self.counters, map::COUNTERS, &REASON_NAMES, counter_index)?;
        Ok(rows
            .into_iter()
            .map(|(service, reason, verdict, packets, bytes)| CounterRow {
                service,
                reason,
                verdict,
                packets,
                bytes,
            })
            .collect())
    }

    /// Every SIP counter with traffic, by (service, SIP class, verdict).
    pub fn sip_counters(&self) -> Result<Vec<SipCounterRow>> {
        let rows = self.sum_counters(
            &self.sip_counters,
            map::SIP_COUNTERS,
            &sip::CLASS_NAMES,
            sip_counter_index,
        )?;
        Ok(rows
            .into_iter()
            .map(|(service, class, verdict, packets, bytes)| SipCounterRow {
                service,
                class,
                verdict,
                packets,
                bytes,
            })
            .collect())
    }

    /// Non-zero per-CPU counters summed: (service, kind, verdict, packets, bytes), for every
    /// named service, every kind in `kinds` and every verdict.
    #[allow(clippy::type_complexity)]
    fn sum_counters(
        &self,
        counters: &PerCpuArray<MapData, Counter>,
        map_name: &'static str,
        kinds: &'static [&'static str],
        index: fn(u32, u32, u32) -> u32,
    ) -> Result<Vec<(String, &'static str, &'static str, u64, u64)>> {
        let names = self.service_names()?;
        let mut rows = Vec::new();
        for (service, name) in names.iter().enumerate() {
            if service != 0 && name.is_empty() {
                continue;
            }
            for (k, kind) in kinds.iter().enumerate() {
                for (v, verdict_name) in VERDICT_NAMES.iter().enumerate() {
                    let per_cpu = counters
                        .get(&index(service as u32, k as u32, v as u32), 0)
                        .map_err(Error::map(map_name))?;
                    let (packets, bytes) = per_cpu
                        .iter()
                        .fold((0, 0), |(p, b), c| (p + c.packets, b + c.bytes));
                    if packets > 0 {
                        rows.push((name.clone(), *kind, *verdict_name, packets, bytes));
                    }
                }
            }
        }
        Ok(rows)
    }

    /// Capacity of the per-source table (`[global] tracked_sources` when it was created).
    pub fn tracked_sources(&self) -> u32 {
        self.tracked_sources
    }

    /// Entries in use per map (tries are walked; arrays report their configured part).
    pub fn fill(&self) -> Result<Vec<Fill>> {
        Ok(vec![
            Fill {
                map: map::ALLOW_V4,
                entries: count(self.allow_v4.keys(), map::ALLOW_V4)?,
                capacity: ALLOW_MAX_ENTRIES as u64,
            },
            Fill {
                map: map::ALLOW_V6,
                entries: count(self.allow_v6.keys(), map::ALLOW_V6)?,
                capacity: ALLOW_MAX_ENTRIES as u64,
            },
            Fill {
                map: map::DENY_V4,
                entries: count(self.deny_v4.keys(), map::DENY_V4)?,
                capacity: DENY_MAX_ENTRIES as u64,
            },
            Fill {
                map: map::DENY_V6,
                entries: count(self.deny_v6.keys(), map::DENY_V6)?,
                capacity: DENY_MAX_ENTRIES as u64,
            },
            Fill {
                map: map::TRUSTED_V4,
                entries: count(self.trusted_v4.keys(), map::TRUSTED_V4)?,
                capacity: TRUSTED_MAX_ENTRIES as u64,
            },
            Fill {
                map: map::TRUSTED_V6,
                entries: count(self.trusted_v6.keys(), map::TRUSTED_V6)?,
                capacity: TRUSTED_MAX_ENTRIES as u64,
            },
            Fill {
                map: map::BANS_V4,
                entries: count(self.bans_v4.keys(), map::BANS_V4)?,
                capacity: sipguard_common::BAN_MAX_ENTRIES as u64,
            },
            Fill {
                map: map::BANS_V6,
                entries: count(self.bans_v6.keys(), map::BANS_V6)?,
                capacity: sipguard_common::BAN_MAX_ENTRIES as u64,
            },
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

    /// Bans `net` until `ban.expires_ns` ([`ban_clock_ns`] time, 0 = never).
    ///
    /// The kernel sees only the longest matching ban, so nested bans are kept consistent: a
    /// ban inside a longer-lasting one inherits its expiry, and bans inside a new,
    /// longer-lasting one are extended. Otherwise an expired /32 would let its address
    /// through a /24 that is still banned.
    pub fn ban(&mut self, net: IpNet, mut ban: Ban) -> Result<()> {
        let net = net.trunc();
        for (other, mut existing) in self.bans()? {
            if other.contains(&net) && outlasts(existing.expires_ns, ban.expires_ns) {
                ban.expires_ns = existing.expires_ns;
            } else if net.contains(&other)
                && other != net
                && outlasts(ban.expires_ns, existing.expires_ns)
            {
                existing.expires_ns = ban.expires_ns;
                self.put_ban(other, existing)?;
            }
        }
        self.put_ban(net, ban)?;
        // After the insert: the program searches the ban tries only when this flag is set.
        self.state
            .set(STATE_BANS_PRESENT, 1, 0)
            .map_err(Error::map(map::STATE))
    }

    fn put_ban(&mut self, net: IpNet, ban: Ban) -> Result<()> {
        match net {
            IpNet::V4(n) => self
                .bans_v4
                .insert(
                    &Key::new(n.prefix_len() as u32, n.network().octets()),
                    ban,
                    0,
                )
                .map_err(Error::map(map::BANS_V4)),
            IpNet::V6(n) => self
                .bans_v6
                .insert(
                    &Key::new(n.prefix_len() as u32, n.network().octets()),
                    ban,
                    0,
                )
                .map_err(Error::map(map::BANS_V6)),
        }
    }

    /// [`Maps::ban`] with the admin's text, kept beside the ban (cut to 63 bytes).
    pub fn ban_with_note(&mut self, net: IpNet, ban: Ban, note: &str) -> Result<()> {
        let net = net.trunc();
        self.ban(net, ban)?;
        let mut text = [0u8; BAN_NOTE_LEN];
        let mut len = note.len().min(BAN_NOTE_LEN - 1);
        while !note.is_char_boundary(len) {
            len -= 1;
        }
        text[..len].copy_from_slice(&note.as_bytes()[..len]);
        if len == 0 {
            let _ = self.ban_notes.remove(&note_key(net));
            return Ok(());
        }
        self.ban_notes
            .insert(note_key(net), text, 0)
            .map_err(Error::map(map::BAN_NOTES))
    }

    /// The admin's text for the ban on exactly `net`, if any.
    pub fn ban_note(&self, net: IpNet) -> Option<String> {
        let text = self.ban_notes.get(&note_key(net.trunc()), 0).ok()?;
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        Some(String::from_utf8_lossy(&text[..end]).into_owned())
    }

    /// Removes the ban on exactly `net`; false when there was none.
    pub fn unban(&mut self, net: IpNet) -> Result<bool> {
        let net = net.trunc();
        let removed = match net {
            IpNet::V4(n) => self
                .bans_v4
                .remove(&Key::new(n.prefix_len() as u32, n.network().octets())),
            IpNet::V6(n) => self
                .bans_v6
                .remove(&Key::new(n.prefix_len() as u32, n.network().octets())),
        };
        let _ = self.ban_notes.remove(&note_key(net));
        match removed {
            Ok(()) => Ok(true),
            Err(MapError::KeyNotFound) => Ok(false),
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(2) => Ok(false),
            Err(e) => Err(Error::map(if net.addr().is_ipv4() {
                map::BANS_V4
            } else {
                map::BANS_V6
            })(e)),
        }
    }

    /// Removes the bans that expired before `now` ([`ban_clock_ns`] time); returns them. The
    /// kernel already ignores them: this only frees their slots. Nested bans share expiry
    /// (see [`Maps::ban`]), so removing one never uncovers a longer ban's address.
    pub fn reap_expired_bans(&mut self, now: u64) -> Result<Vec<IpNet>> {
        let expired: Vec<IpNet> = self
            .bans()?
            .into_iter()
            .filter(|(_, b)| b.expires_ns != 0 && b.expires_ns <= now)
            .map(|(net, _)| net)
            .collect();
        for &net in &expired {
            self.unban(net)?;
        }
        Ok(expired)
    }

    /// The trusted prefixes of the active policy.
    pub fn trusted(&self) -> Result<Vec<IpNet>> {
        let scope = epoch_scope(self.active_epoch()?);
        let mut out = Vec::new();
        for key in self.trusted_v4.keys() {
            let key = key.map_err(Error::map(map::TRUSTED_V4))?;
            let k = key.data();
            if k.scope == scope {
                let len = (key.prefix_len() - SCOPE_BITS) as u8;
                out.extend(IpNet::new(IpAddr::from(k.addr), len).ok());
            }
        }
        for key in self.trusted_v6.keys() {
            let key = key.map_err(Error::map(map::TRUSTED_V6))?;
            let k = key.data();
            if k.scope == scope {
                let len = (key.prefix_len() - SCOPE_BITS) as u8;
                out.extend(IpNet::new(IpAddr::from(k.addr), len).ok());
            }
        }
        Ok(out)
    }

    /// Bans the programs made, by reason name, summed over CPUs (`scanner`, `auth_failures`,
    /// `auth_attempts`; the reasons only user space uses, `manual` and `log`, are left out).
    pub fn ban_counts(&self) -> Result<Vec<(&'static str, u64)>> {
        let mut out = Vec::new();
        let programs = [
            BAN_REASON_SCANNER,
            BAN_REASON_AUTH_FAILURES,
            BAN_REASON_AUTH_ATTEMPTS,
        ];
        for (i, name) in BAN_REASON_NAMES.iter().enumerate() {
            if !programs.contains(&(i as u32)) {
                continue;
            }
            let values = self
                .ban_counters
                .get(&(i as u32), 0)
                .map_err(Error::map(map::BAN_COUNTERS))?;
            out.push((*name, values.iter().sum()));
        }
        Ok(out)
    }

    /// Every ban with its prefix.
    pub fn bans(&self) -> Result<Vec<(IpNet, Ban)>> {
        let mut out = Vec::new();
        for item in self.bans_v4.iter() {
            let (k, v) = item.map_err(Error::map(map::BANS_V4))?;
            let net = IpNet::new(IpAddr::from(k.data()), k.prefix_len() as u8)
                .expect("kernel keeps prefix lengths <= 32");
            out.push((net, v));
        }
        for item in self.bans_v6.iter() {
            let (k, v) = item.map_err(Error::map(map::BANS_V6))?;
            let net = IpNet::new(IpAddr::from(k.data()), k.prefix_len() as u8)
                .expect("kernel keeps prefix lengths <= 128");
            out.push((net, v));
        }
        Ok(out)
    }
}

/// The bans and their notes pinned in `dir`, read with this build's types: for a daemon that
/// replaces pinned maps of another layout and carries the bans over (the ban maps' keys and
/// values have kept their sizes; a map that no longer fits is an error, the caller decides).
pub fn pinned_bans(dir: &Path) -> Result<Vec<(IpNet, Ban, String)>> {
    let open = |name: &'static str| -> Result<Map> {
        let data = MapData::from_pin(dir.join(name)).map_err(Error::map(name))?;
        Map::from_map_data(data).map_err(Error::map(name))
    };
    let v4: LpmTrie<MapData, [u8; 4], Ban> =
        LpmTrie::try_from(open(map::BANS_V4)?).map_err(Error::map(map::BANS_V4))?;
    let v6: LpmTrie<MapData, [u8; 16], Ban> =
        LpmTrie::try_from(open(map::BANS_V6)?).map_err(Error::map(map::BANS_V6))?;
    let notes: Option<HashMap<MapData, BanNoteKey, [u8; BAN_NOTE_LEN]>> = open(map::BAN_NOTES)
        .ok()
        .and_then(|m| HashMap::try_from(m).ok());
    let mut out = Vec::new();
    let mut push = |net: IpNet, ban: Ban| {
        let note = notes
            .as_ref()
            .and_then(|n| n.get(&note_key(net), 0).ok())
            .map(|text| {
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                String::from_utf8_lossy(&text[..end]).into_owned()
            })
            .unwrap_or_default();
        out.push((net, ban, note));
    };
    for item in v4.iter() {
        let (k, v) = item.map_err(Error::map(map::BANS_V4))?;
        if let Ok(net) = IpNet::new(IpAddr::from(k.data()), k.prefix_len() as u8) {
            push(net, v);
        }
    }
    for item in v6.iter() {
        let (k, v) = item.map_err(Error::map(map::BANS_V6))?;
        if let Ok(net) = IpNet::new(IpAddr::from(k.data()), k.prefix_len() as u8) {
            push(net, v);
        }
    }
    Ok(out)
}

/// Everything that could make an apply fail half-way, checked before any write.
fn check_capacity(policy: &CompiledPolicy) -> Result<()> {
    if !policy.fits() {
        return Err(Error::Capacity(format!(
            "{} services, at most {}",
            policy.services.len(),
            MAX_SERVICES - 1
        )));
    }
    let allow_total: usize = policy.services.iter().map(|s| s.allow.len()).sum();
    if allow_total > (ALLOW_MAX_ENTRIES / EPOCHS) as usize {
        return Err(Error::Capacity(format!(
            "{allow_total} allow entries, at most {}",
            ALLOW_MAX_ENTRIES / EPOCHS
        )));
    }
    if policy.trusted.len() > (TRUSTED_MAX_ENTRIES / EPOCHS) as usize {
        return Err(Error::Capacity(format!(
            "{} trusted entries, at most {}",
            policy.trusted.len(),
            TRUSTED_MAX_ENTRIES / EPOCHS
        )));
    }
    if policy.deny.len() > (DENY_MAX_ENTRIES / EPOCHS) as usize {
        return Err(Error::Capacity(format!(
            "{} deny entries, at most {}",
            policy.deny.len(),
            DENY_MAX_ENTRIES / EPOCHS
        )));
    }
    Ok(())
}

/// Whether ban expiry `a` ends later than `b` (0 = never).
fn note_key(net: IpNet) -> BanNoteKey {
    let mut addr = [0u8; 16];
    let family = match net.addr() {
        IpAddr::V4(a) => {
            addr[..4].copy_from_slice(&a.octets());
            4
        }
        IpAddr::V6(a) => {
            addr = a.octets();
            6
        }
    };
    BanNoteKey {
        family,
        prefix_len: net.prefix_len(),
        _pad: [0; 2],
        addr,
    }
}

fn outlasts(a: u64, b: u64) -> bool {
    b != 0 && (a == 0 || a > b)
}

fn count<K>(keys: impl Iterator<Item = Result<K, MapError>>, name: &'static str) -> Result<u64> {
    let mut n = 0;
    for k in keys {
        k.map_err(Error::map(name))?;
        n += 1;
    }
    Ok(n)
}

fn insert_scoped(
    v4: &mut LpmTrie<MapData, ScopedV4, u32>,
    v6: &mut LpmTrie<MapData, ScopedV6, u32>,
    scope: [u8; 4],
    net: &IpNet,
    value: u32,
) -> Result<(), MapError> {
    match net {
        IpNet::V4(n) => v4.insert(
            &Key::new(
                SCOPE_BITS + n.prefix_len() as u32,
                ScopedV4 {
                    scope,
                    addr: n.network().octets(),
                },
            ),
            value,
            0,
        ),
        IpNet::V6(n) => v6.insert(
            &Key::new(
                SCOPE_BITS + n.prefix_len() as u32,
                ScopedV6 {
                    scope,
                    addr: n.network().octets(),
                },
            ),
            value,
            0,
        ),
    }
}

fn remove_where<K: aya::Pod + Copy>(
    trie: &mut LpmTrie<MapData, K, u32>,
    name: &'static str,
    pred: impl Fn(&K) -> bool,
) -> Result<()> {
    let mut doomed = Vec::new();
    for key in trie.keys() {
        let key = key.map_err(Error::map(name))?;
        if pred(&key.data()) {
            doomed.push(key);
        }
    }
    for key in doomed {
        trie.remove(&key).map_err(Error::map(name))?;
    }
    Ok(())
}

/// The clock of ban expiry, in nanoseconds: the one the programs read on this kernel,
/// CLOCK_MONOTONIC_COARSE (`bpf_ktime_get_coarse_ns`, from 5.11) or CLOCK_MONOTONIC
/// (`bpf_ktime_get_ns`), so that a ban the daemon sees as expired is expired for the programs.
pub fn ban_clock_ns() -> u64 {
    let clock = if crate::kernel::coarse_clock() {
        nix::time::ClockId::CLOCK_MONOTONIC_COARSE
    } else {
        nix::time::ClockId::CLOCK_MONOTONIC
    };
    let ts = nix::time::clock_gettime(clock).expect("both monotonic clocks exist on Linux");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
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

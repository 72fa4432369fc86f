//! Typed access to the XDP program's maps, from a freshly loaded object or from the pins.
//!
//! [`Maps`] holds one typed handle per map the user side reads or writes; what it does with
//! them is split by job: writing a policy ([`apply`]), reading the counters ([`counters`]),
//! and the bans ([`bans`]). The rules those jobs follow (slot assignment, ban nesting, the
//! fixed-size strings of the maps) are pure functions beside them, unit-tested without root.
use std::{net::IpAddr, path::Path};

use aya::{
    maps::{Array, HashMap, LpmTrie, Map, MapData, PerCpuArray},
    Ebpf,
};
use ipnet::IpNet;
use sipguard_common::{
    epoch_scope, service_index, ua::Scanners, Ban, BanNoteKey, Counter, Policy, ScopedV4, ScopedV6,
    ServicePolicy, BAN_NOTE_LEN, DEST_GROUPS, DEST_GROUP_PROTECT, MAX_SERVICES, SCOPE_BITS,
    SERVICE_NAME_LEN, STATE_ACTIVE_EPOCH, STATE_LAYOUT,
};

use super::{object::map, DataplaneError};

pub mod apply;
pub mod bans;
pub mod bulk;
pub mod counters;
mod dests;
mod fixed_str;
pub mod reasons;

pub use bans::{pinned_bans, BanRoom, Expiry};
pub use bulk::{BulkReport, FleetBan};
pub use counters::{counter_map, CounterRow, Fill, SipCounterRow};
pub use reasons::{ban_reason_name, BAN_REASON_APIBAN, BAN_REASON_CROWDSEC};

type Result<T, E = DataplaneError> = std::result::Result<T, E>;

/// What the destination tries hold for the active policy ([`Maps::destinations`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Destinations {
    /// `[global] protect` (empty: every destination is judged).
    pub protect: Vec<IpNet>,
    /// (service, its `to`), for the services that name destinations.
    pub to: Vec<(String, Vec<IpNet>)>,
}

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
    dests_v4: LpmTrie<MapData, ScopedV4, u32>,
    dests_v6: LpmTrie<MapData, ScopedV6, u32>,
    bans_v4: LpmTrie<MapData, [u8; 4], Ban>,
    bans_v6: LpmTrie<MapData, [u8; 16], Ban>,
    /// The programs' own bans, in their room (`bans`).
    auto_bans_v4: LpmTrie<MapData, [u8; 4], Ban>,
    auto_bans_v6: LpmTrie<MapData, [u8; 16], Ban>,
    counters: PerCpuArray<MapData, Counter>,
    sip_counters: PerCpuArray<MapData, Counter>,
    scanners: Array<MapData, Scanners>,
    ban_notes: HashMap<MapData, BanNoteKey, [u8; BAN_NOTE_LEN]>,
    ban_counters: PerCpuArray<MapData, u64>,
    /// Capacity of the per-source table (`RATES`), fixed when it was created.
    tracked_sources: u32,
}

/// Name shown for traffic that matched no service.
pub const NO_SERVICE: &str = "none";

impl Maps {
    /// Takes the maps out of a loaded object (the program keeps its own references).
    pub fn from_ebpf(ebpf: &mut Ebpf) -> Result<Self> {
        // RATES stays in the object (only the program uses it): a map taken out and dropped
        // before the program loads would close the descriptor the program refers to.
        let tracked_sources = match ebpf.map(map::RATES) {
            Some(Map::LruHashMap(data)) => data
                .info()
                .map_err(DataplaneError::map(map::RATES))?
                .max_entries(),
            _ => {
                return Err(DataplaneError::MissingMap {
                    name: map::RATES,
                    dir: Default::default(),
                })
            }
        };
        Self::build(tracked_sources, |name| {
            ebpf.take_map(name).ok_or(DataplaneError::MissingMap {
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
            .map_err(DataplaneError::map(map::RATES))?
            .max_entries();
        Self::build(tracked_sources, |name| {
            let path = dir.join(name);
            if !path.exists() {
                return Err(DataplaneError::MissingMap {
                    name,
                    dir: dir.to_owned(),
                });
            }
            let data = MapData::from_pin(&path).map_err(DataplaneError::map(name))?;
            Map::from_map_data(data).map_err(DataplaneError::map(name))
        })
    }

    fn build(
        tracked_sources: u32,
        mut take: impl FnMut(&'static str) -> Result<Map>,
    ) -> Result<Self> {
        macro_rules! typed {
            ($name:expr) => {
                take($name)?
                    .try_into()
                    .map_err(DataplaneError::map($name))?
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
            dests_v4: typed!(map::DESTS_V4),
            dests_v6: typed!(map::DESTS_V6),
            bans_v4: typed!(map::BANS_V4),
            bans_v6: typed!(map::BANS_V6),
            auto_bans_v4: typed!(map::AUTO_BANS_V4),
            auto_bans_v6: typed!(map::AUTO_BANS_V6),
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
            .map_err(DataplaneError::map(map::STATE))
    }

    pub fn active_epoch(&self) -> Result<u32> {
        Ok(self.generation()? & 1)
    }

    /// Policies applied to these maps so far (wrapping): the active epoch is its low bit, and
    /// `sipguard reload` watches it move to know that the daemon applied the new policy.
    pub fn generation(&self) -> Result<u32> {
        self.state
            .get(&STATE_ACTIVE_EPOCH, 0)
            .map_err(DataplaneError::map(map::STATE))
    }

    /// The policy the XDP program uses now.
    pub fn active_policy(&self) -> Result<Policy> {
        let epoch = self.active_epoch()?;
        self.policy
            .get(&epoch, 0)
            .map_err(DataplaneError::map(map::POLICY))
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
                    .map_err(DataplaneError::map(map::SERVICE_NAMES))?;
                Ok(fixed_str::decode(&raw))
            })
            .collect()
    }

    /// The trusted prefixes of the active policy.
    pub fn trusted(&self) -> Result<Vec<IpNet>> {
        let scope = epoch_scope(self.active_epoch()?);
        let mut out = Vec::new();
        for key in self.trusted_v4.keys() {
            let key = key.map_err(DataplaneError::map(map::TRUSTED_V4))?;
            let k = key.data();
            if k.scope == scope {
                let len = (key.prefix_len() - SCOPE_BITS) as u8;
                out.extend(IpNet::new(IpAddr::from(k.addr), len).ok());
            }
        }
        for key in self.trusted_v6.keys() {
            let key = key.map_err(DataplaneError::map(map::TRUSTED_V6))?;
            let k = key.data();
            if k.scope == scope {
                let len = (key.prefix_len() - SCOPE_BITS) as u8;
                out.extend(IpNet::new(IpAddr::from(k.addr), len).ok());
            }
        }
        Ok(out)
    }

    /// The destinations of the active policy, from the destination tries: `[global] protect`
    /// and each service's `to` (service name, its destinations; only services that name any).
    pub fn destinations(&self) -> Result<Destinations> {
        let epoch = self.active_epoch()?;
        let names = self.names_of(epoch)?;
        let mut out = Destinations::default();
        let mut add = |scope: [u8; 4], net: Option<IpNet>, value: u32| {
            let scope = u32::from_be_bytes(scope);
            let (Some(net), true) = (net, scope / DEST_GROUPS == epoch) else {
                return;
            };
            if scope % DEST_GROUPS == DEST_GROUP_PROTECT {
                out.protect.push(net);
            } else if let Some(name) = names.get(value as usize).filter(|n| !n.is_empty()) {
                match out.to.iter_mut().find(|(n, _)| n == name) {
                    Some((_, nets)) => nets.push(net),
                    None => out.to.push((name.clone(), vec![net])),
                }
            }
        };
        for entry in self.dests_v4.iter() {
            let (key, value) = entry.map_err(DataplaneError::map(map::DESTS_V4))?;
            let len = (key.prefix_len() - SCOPE_BITS) as u8;
            add(
                key.data().scope,
                IpNet::new(IpAddr::from(key.data().addr), len).ok(),
                value,
            );
        }
        for entry in self.dests_v6.iter() {
            let (key, value) = entry.map_err(DataplaneError::map(map::DESTS_V6))?;
            let len = (key.prefix_len() - SCOPE_BITS) as u8;
            add(
                key.data().scope,
                IpNet::new(IpAddr::from(key.data().addr), len).ok(),
                value,
            );
        }
        out.protect.sort();
        for (_, nets) in &mut out.to {
            nets.sort();
            nets.dedup();
        }
        // In slot order, as the services are listed.
        out.to
            .sort_by_key(|(n, _)| names.iter().position(|m| m == n));
        Ok(out)
    }

    /// Capacity of the per-source table (`[global] tracked_sources` when it was created).
    pub fn tracked_sources(&self) -> u32 {
        self.tracked_sources
    }
}

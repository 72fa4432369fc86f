//! Writing a compiled policy into the maps, double-buffered.
//!
//! [`Maps::apply`] writes the whole new policy into the inactive epoch, then flips the active
//! epoch with one array write. A packet is judged either entirely by the old policy or
//! entirely by the new one; everything that could make the writes fail half-way (the map
//! capacities, the service slots) is checked before the first write, and a failed write
//! leaves the running policy untouched.
use aya::maps::{lpm_trie::Key, LpmTrie, MapData, MapError};
use ipnet::IpNet;
use sipguard_common::{
    allow_scope, dest_scope, epoch_scope, port_index, service_index, Policy, ScopedV4, ScopedV6,
    ServicePolicy, ALLOW_MAX_ENTRIES, DENY_MAX_ENTRIES, DEST_GROUPS, DEST_MAX_ENTRIES, EPOCHS,
    LAYOUT_VERSION, MAX_SERVICES, POLICY_HAS_DENY_V4, POLICY_HAS_DENY_V6, POLICY_HAS_TRUSTED,
    PORTS, PROTO_SLOTS, SCOPE_BITS, SERVICE_NAME_LEN, STATE_ACTIVE_EPOCH, STATE_LAYOUT,
    TRUSTED_MAX_ENTRIES,
};

use super::{
    dests::{self, DestLayout},
    fixed_str, Maps, Result,
};
use crate::{
    dataplane::{error::CapacityKind, object::map, DataplaneError},
    policy::CompiledPolicy,
};

impl Maps {
    /// Writes `policy` into the inactive epoch and makes it active. Returns the new epoch.
    ///
    /// Services keep their slot across reloads and restarts (matched by name), so their
    /// counters stay continuous; a slot given to a new service has its counters reset.
    pub fn apply(&mut self, policy: &CompiledPolicy) -> Result<u32> {
        check_capacity(policy)?;
        if self.layout()? != LAYOUT_VERSION {
            self.state
                .set(STATE_LAYOUT, LAYOUT_VERSION, 0)
                .map_err(DataplaneError::map(map::STATE))?;
        }
        let active = self.active_epoch()?;
        let target = active ^ 1;
        let names: Vec<&str> = policy.services.iter().map(|s| s.name.as_str()).collect();
        let Slots { slots, fresh } = assign_slots(&self.names_of(active)?, &names)?;
        let dests = dests::layout(policy, &slots);
        check_dest_capacity(&dests)?;

        self.clear_epoch(target)?;
        self.write_ports(target, &dests)?;
        self.write_dests(target, &dests)?;
        self.write_services(target, policy, &slots)?;
        let (deny_v4, deny_v6) = self.write_lists(target, policy, &slots)?;
        self.scanners
            .set(target, policy.scanners, 0)
            .map_err(DataplaneError::map(map::SCANNERS))?;
        self.policy
            .set(target, settings(policy, &dests, deny_v4, deny_v6), 0)
            .map_err(DataplaneError::map(map::POLICY))?;
        // The flip: from the next packet on, the new epoch decides.
        let next = self.generation()?.wrapping_add(1);
        debug_assert_eq!(next & 1, target);
        self.state
            .set(STATE_ACTIVE_EPOCH, next, 0)
            .map_err(DataplaneError::map(map::STATE))?;
        // A slot given to a new service starts from zero, whatever it counted before. Only now:
        // a rejected apply must not touch the running counters.
        for slot in fresh {
            self.reset_counters(slot)?;
        }
        Ok(target)
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
        let (first, last) = (dest_scope(epoch, 0), dest_scope(epoch, DEST_GROUPS - 1));
        let in_epoch = |scope: [u8; 4]| scope >= first && scope <= last;
        remove_where(&mut self.dests_v4, map::DESTS_V4, |k| in_epoch(k.scope))?;
        remove_where(&mut self.dests_v6, map::DESTS_V6, |k| in_epoch(k.scope))?;
        Ok(())
    }

    fn write_ports(&mut self, epoch: u32, dests: &DestLayout) -> Result<()> {
        for proto in 0..PROTO_SLOTS {
            for port in 0..PORTS {
                let value = dests.ports[(proto * PORTS + port) as usize];
                self.port_service
                    .set(port_index(epoch, proto, port as u16), value, 0)
                    .map_err(DataplaneError::map(map::PORT_SERVICE))?;
            }
        }
        Ok(())
    }

    /// The protected hosts and the services' destinations.
    fn write_dests(&mut self, epoch: u32, dests: &DestLayout) -> Result<()> {
        for &(group, net, value) in &dests.entries {
            insert_scoped(
                &mut self.dests_v4,
                &mut self.dests_v6,
                dest_scope(epoch, group),
                &net,
                value,
            )
            .map_err(DataplaneError::map(match net {
                IpNet::V4(_) => map::DESTS_V4,
                IpNet::V6(_) => map::DESTS_V6,
            }))?;
        }
        Ok(())
    }

    fn write_services(&mut self, epoch: u32, policy: &CompiledPolicy, slots: &[u32]) -> Result<()> {
        let mut values =
            vec![(ServicePolicy::default(), [0u8; SERVICE_NAME_LEN]); MAX_SERVICES as usize];
        for (s, &slot) in policy.services.iter().zip(slots) {
            values[slot as usize] = (s.map_value(), fixed_str::encode(&s.name));
        }
        for (slot, (value, name)) in values.into_iter().enumerate() {
            let index = service_index(epoch, slot as u32);
            self.services
                .set(index, value, 0)
                .map_err(DataplaneError::map(map::SERVICES))?;
            self.service_names
                .set(index, name, 0)
                .map_err(DataplaneError::map(map::SERVICE_NAMES))?;
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
                    .map_err(DataplaneError::map(map::ALLOW_V4))?;
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
                .map_err(DataplaneError::map(map::DENY_V4))?;
        }
        for (i, net) in policy.trusted.iter().enumerate() {
            insert_scoped(
                &mut self.trusted_v4,
                &mut self.trusted_v6,
                scope,
                net,
                i as u32,
            )
            .map_err(DataplaneError::map(map::TRUSTED_V4))?;
        }
        Ok((v4, v6))
    }
}

/// The `POLICY` value of an epoch: the settings as `compile` built them, plus what only the
/// writer knows: which lists got entries in this epoch, and the icmp service's slot (or
/// destination group).
fn settings(policy: &CompiledPolicy, dests: &DestLayout, deny_v4: bool, deny_v6: bool) -> Policy {
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
    value.icmp_echo_service = dests.icmp;
    value.digest_seed = digest_seed();
    value
}

/// 32 random bits, from the OS's randomness through std's hasher keys (the retransmission
/// digest's seed: see `ingress::attempts` in the eBPF crate).
fn digest_seed() -> u32 {
    use std::hash::BuildHasher;
    let h = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (h ^ (h >> 32)) as u32
}

/// Where the services of a new policy go, by [`assign_slots`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Slots {
    /// The slot of each service, in the policy's order.
    pub slots: Vec<u32>,
    /// The slots given to services the active epoch did not have (their counters restart).
    pub fresh: Vec<u32>,
}

/// Slot per service of `new` (service names, in the policy's order), given `old`, the names
/// by slot in the active epoch (slot 0 is no service; "" is a free slot): the slot the
/// service had in the active epoch, else a slot free in both the active epoch and the new
/// policy (so a removed service keeps its slot until the flip), else any slot the new policy
/// leaves free.
pub(crate) fn assign_slots(old: &[String], new: &[&str]) -> Result<Slots> {
    let mut used = vec![false; MAX_SERVICES as usize];
    used[0] = true;
    let mut slots = vec![0u32; new.len()];
    for (i, name) in new.iter().enumerate() {
        if let Some(slot) = old.iter().skip(1).position(|n| n == name) {
            slots[i] = slot as u32 + 1;
            used[slot + 1] = true;
        }
    }
    let mut fresh = Vec::new();
    for (i, name) in new.iter().enumerate() {
        if slots[i] != 0 {
            continue;
        }
        let free_in_old = |j: usize| old.get(j).is_none_or(|n| n.is_empty());
        let free = (0..used.len())
            .find(|&j| !used[j] && free_in_old(j))
            .or_else(|| used.iter().position(|u| !u))
            .ok_or_else(|| DataplaneError::NoFreeSlot {
                service: (*name).to_owned(),
            })?;
        used[free] = true;
        slots[i] = free as u32;
        fresh.push(free as u32);
    }
    Ok(Slots { slots, fresh })
}

/// `have` entries of `what` fit `max`, or the capacity error that says they don't.
fn within(what: CapacityKind, have: usize, max: u32) -> Result<()> {
    if have > max as usize {
        Err(DataplaneError::Capacity {
            what,
            have,
            max: max as usize,
        })
    } else {
        Ok(())
    }
}

/// Everything that could make an apply fail half-way, checked before any write.
fn check_capacity(policy: &CompiledPolicy) -> Result<()> {
    if !policy.fits() {
        return Err(DataplaneError::Capacity {
            what: CapacityKind::Services,
            have: policy.services.len(),
            max: MAX_SERVICES as usize - 1,
        });
    }
    let allow_total: usize = policy.services.iter().map(|s| s.allow.len()).sum();
    within(
        CapacityKind::AllowEntries,
        allow_total,
        ALLOW_MAX_ENTRIES / EPOCHS,
    )?;
    within(
        CapacityKind::TrustedEntries,
        policy.trusted.len(),
        TRUSTED_MAX_ENTRIES / EPOCHS,
    )?;
    within(
        CapacityKind::DenyEntries,
        policy.deny.len(),
        DENY_MAX_ENTRIES / EPOCHS,
    )
}

/// The destination entries of one epoch fit their share of the tries.
fn check_dest_capacity(dests: &DestLayout) -> Result<()> {
    let (v4, v6) = dests.counts();
    for have in [v4, v6] {
        within(CapacityKind::DestEntries, have, DEST_MAX_ENTRIES / EPOCHS)?;
    }
    Ok(())
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
        let key = key.map_err(DataplaneError::map(name))?;
        if pred(&key.data()) {
            doomed.push(key);
        }
    }
    for key in doomed {
        trie.remove(&key).map_err(DataplaneError::map(name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names by slot as the active epoch holds them: slot 0 is no service.
    fn old(names: &[&str]) -> Vec<String> {
        let mut out = vec![String::new(); MAX_SERVICES as usize];
        out[0] = crate::dataplane::maps::NO_SERVICE.to_owned();
        for (slot, name) in names.iter().enumerate() {
            out[slot + 1] = (*name).to_owned();
        }
        out
    }

    #[test]
    fn a_service_keeps_its_slot_across_a_reload() {
        let s = assign_slots(&old(&["sip", "rtp", "ssh"]), &["ssh", "sip"]).unwrap();
        assert_eq!(s.slots, [3, 1]);
        assert!(s.fresh.is_empty());
    }

    #[test]
    fn a_new_service_takes_a_slot_no_one_used_and_is_fresh() {
        // "rtp" left: its slot 2 stays unused until the flip, so "web" takes slot 3.
        let s = assign_slots(&old(&["sip", "rtp"]), &["sip", "web"]).unwrap();
        assert_eq!(s.slots, [1, 3]);
        assert_eq!(s.fresh, [3]);
    }

    #[test]
    fn the_first_policy_fills_the_slots_in_order() {
        let s = assign_slots(&old(&[]), &["a", "b", "c"]).unwrap();
        assert_eq!(s.slots, [1, 2, 3]);
        assert_eq!(s.fresh, [1, 2, 3]);
    }

    #[test]
    fn a_removed_services_slot_is_reused_when_no_unused_one_is_left() {
        let full: Vec<String> = (1..MAX_SERVICES).map(|i| format!("s{i}")).collect();
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let mut new = full.clone();
        new[4] = "newcomer";
        let s = assign_slots(&old(&full), &new).unwrap();
        assert_eq!(s.slots[4], 5, "the slot s5 left behind");
        assert_eq!(s.fresh, [5]);
    }

    #[test]
    fn more_services_than_slots_names_the_one_left_out() {
        let many: Vec<String> = (0..MAX_SERVICES).map(|i| format!("s{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = assign_slots(&old(&[]), &many).unwrap_err();
        assert!(
            matches!(&e, DataplaneError::NoFreeSlot { service } if service == "s31"),
            "{e}"
        );
    }
}

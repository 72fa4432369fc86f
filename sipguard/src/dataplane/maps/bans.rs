//! Bans in the `BANS_V4`/`BANS_V6` tries, with the admin's notes in `BAN_NOTES`, and the
//! programs' own bans in their room (`AUTO_BANS_V4`/`AUTO_BANS_V6`, the most recent
//! `AUTO_BAN_ROOM` of them, older ones evicted): an attack that makes the programs ban
//! fills only theirs, and the admin's bans keep their room. The programs check both.
//!
//! The kernel sees only the longest matching prefix, so nested bans must agree on expiry:
//! the rule is `nest`, a pure function unit-tested here, and [`Expiry`] says when a ban
//! ends without the `0 = never` of the map value. The map wrapper below them only moves
//! bytes.
use std::{net::IpAddr, path::Path};

use aya::maps::{lpm_trie::Key, HashMap, LpmTrie, Map, MapData, MapError};
use ipnet::IpNet;
use sipguard_common::{
    Ban, BanNoteKey, BAN_COUNTER_EVICTED, BAN_COUNTER_INSERT_FAILED, BAN_MAX_ENTRIES, BAN_NOTE_LEN,
    STATE_BANS_PRESENT,
};

use super::{fixed_str, Maps, Result};
use crate::dataplane::{object::map, DataplaneError};

/// When a ban ends, on the ban clock ([`crate::dataplane::clock::ban_clock_ns`]). The map
/// value stores it as `expires_ns`, where 0 means never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Never,
    /// Nanoseconds on the ban clock.
    At(u64),
}

impl Expiry {
    /// The expiry a map value's `expires_ns` stands for.
    pub fn from_ns(expires_ns: u64) -> Self {
        match expires_ns {
            0 => Expiry::Never,
            ns => Expiry::At(ns),
        }
    }

    /// The `expires_ns` of a map value.
    pub fn as_ns(self) -> u64 {
        match self {
            Expiry::Never => 0,
            Expiry::At(ns) => ns,
        }
    }

    /// Whether `self` ends later than `other`.
    pub fn outlasts(self, other: Expiry) -> bool {
        match (self, other) {
            (_, Expiry::Never) => false,
            (Expiry::Never, _) => true,
            (Expiry::At(a), Expiry::At(b)) => a > b,
        }
    }

    /// Whether a ban with this expiry is over at `now` (ban clock).
    pub fn has_passed(self, now: u64) -> bool {
        matches!(self, Expiry::At(ns) if ns <= now)
    }
}

/// What inserting a ban must also change so that no inner ban ends before an outer one.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Nesting {
    /// The new ban's expiry: its own, or that of a longer-lasting ban around it.
    pub expiry: Expiry,
    /// Bans inside the new one, each to be extended to the expiry given.
    pub extend: Vec<(IpNet, Expiry)>,
}

/// The nesting rule for a ban on `new` until `expiry`, among the `existing` bans (in the
/// order the tries list them): inside a longer-lasting ban, the new one inherits its expiry;
/// around shorter-lasting ones, it extends them to its own (as it stands when each is met).
/// Otherwise an expired /32 would let its address through a /24 that is still banned.
pub(crate) fn nest(new: IpNet, expiry: Expiry, existing: &[(IpNet, Expiry)]) -> Nesting {
    let mut out = Nesting {
        expiry,
        extend: Vec::new(),
    };
    for &(net, e) in existing {
        if net.contains(&new) && e.outlasts(out.expiry) {
            out.expiry = e;
        } else if new.contains(&net) && net != new && out.expiry.outlasts(e) {
            out.extend.push((net, out.expiry));
        }
    }
    out
}

impl Maps {
    /// Bans `net` until `ban.expires_ns` (ban clock time, 0 = never), nested as `nest` says.
    pub fn ban(&mut self, net: IpNet, mut ban: Ban) -> Result<()> {
        // The programs judge an IPv6 form of IPv4 as the IPv4 address: ban that.
        let net = crate::parse::fold_net(net.trunc());
        let existing = self.admin_bans()?;
        let expiries: Vec<(IpNet, Expiry)> = existing
            .iter()
            .map(|(n, b)| (*n, Expiry::from_ns(b.expires_ns)))
            .collect();
        let nesting = nest(net, Expiry::from_ns(ban.expires_ns), &expiries);
        for (inner, until) in nesting.extend {
            if let Some((_, b)) = existing.iter().find(|(n, _)| *n == inner) {
                let extended = Ban {
                    expires_ns: until.as_ns(),
                    ..*b
                };
                self.put_ban(inner, extended)?;
            }
        }
        ban.expires_ns = nesting.expiry.as_ns();
        self.put_ban(net, ban)?;
        // After the insert: the program searches the ban tries only when this flag is set.
        self.state
            .set(STATE_BANS_PRESENT, 1, 0)
            .map_err(DataplaneError::map(map::STATE))
    }

    pub(super) fn put_ban(&mut self, net: IpNet, ban: Ban) -> Result<()> {
        let (name, result) = match net {
            IpNet::V4(n) => (
                map::BANS_V4,
                self.bans_v4.insert(
                    &Key::new(u32::from(n.prefix_len()), n.network().octets()),
                    ban,
                    0,
                ),
            ),
            IpNet::V6(n) => (
                map::BANS_V6,
                self.bans_v6.insert(
                    &Key::new(u32::from(n.prefix_len()), n.network().octets()),
                    ban,
                    0,
                ),
            ),
        };
        result.map_err(|e| match &e {
            MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::ENOSPC) => {
                DataplaneError::BanMapFull {
                    name,
                    capacity: BAN_MAX_ENTRIES,
                }
            }
            _ => DataplaneError::map(name)(e),
        })
    }

    /// The programs' bans still in force that newer ones pushed out of their room (all CPUs).
    pub fn ban_evictions(&self) -> Result<u64> {
        let values = self
            .ban_counters
            .get(&BAN_COUNTER_EVICTED, 0)
            .map_err(DataplaneError::map(map::BAN_COUNTERS))?;
        Ok(values.iter().sum())
    }

    /// Bans the programs decided but could not write, the ban map being full (all CPUs).
    pub fn ban_insert_failures(&self) -> Result<u64> {
        let values = self
            .ban_counters
            .get(&BAN_COUNTER_INSERT_FAILED, 0)
            .map_err(DataplaneError::map(map::BAN_COUNTERS))?;
        Ok(values.iter().sum())
    }

    /// [`Maps::ban`] with the admin's text, kept beside the ban (cut to 63 bytes; an empty
    /// text removes an earlier ban's note on the same prefix).
    pub fn ban_with_note(&mut self, net: IpNet, ban: Ban, note: &str) -> Result<()> {
        let net = net.trunc();
        self.ban(net, ban)?;
        if note.is_empty() {
            return self.remove_note(net);
        }
        self.ban_notes
            .insert(note_key(net), fixed_str::encode::<BAN_NOTE_LEN>(note), 0)
            .map_err(DataplaneError::map(map::BAN_NOTES))
    }

    /// The admin's text for the ban on exactly `net`, if any.
    pub fn ban_note(&self, net: IpNet) -> Option<String> {
        let text = self.ban_notes.get(&note_key(net.trunc()), 0).ok()?;
        Some(fixed_str::decode(&text))
    }

    /// Removes the note of the ban on exactly `net`; none there is no error.
    fn remove_note(&mut self, net: IpNet) -> Result<()> {
        match self.ban_notes.remove(&note_key(net)) {
            Err(e) if !not_found(&e) => Err(DataplaneError::map(map::BAN_NOTES)(e)),
            _ => Ok(()),
        }
    }

    /// Removes the ban on exactly `net`, in either room, and its note; false when there was
    /// no ban.
    pub fn unban(&mut self, net: IpNet) -> Result<bool> {
        let admin = self.unban_admin(net)?;
        let net = crate::parse::fold_net(net.trunc());
        let removed = match net {
            IpNet::V4(n) => self
                .auto_bans_v4
                .remove(&Key::new(u32::from(n.prefix_len()), n.network().octets())),
            IpNet::V6(n) => self
                .auto_bans_v6
                .remove(&Key::new(u32::from(n.prefix_len()), n.network().octets())),
        };
        let programs = match removed {
            Ok(()) => true,
            Err(e) if not_found(&e) => false,
            Err(e) => {
                let name = if net.addr().is_ipv4() {
                    map::AUTO_BANS_V4
                } else {
                    map::AUTO_BANS_V6
                };
                return Err(DataplaneError::map(name)(e));
            }
        };
        Ok(admin || programs)
    }

    /// Removes the ban on exactly `net` from the admin's room (`BANS_V4`/`BANS_V6`) and its
    /// note; false when there was no ban there.
    pub(super) fn unban_admin(&mut self, net: IpNet) -> Result<bool> {
        let net = crate::parse::fold_net(net.trunc());
        let removed = match net {
            IpNet::V4(n) => self
                .bans_v4
                .remove(&Key::new(u32::from(n.prefix_len()), n.network().octets())),
            IpNet::V6(n) => self
                .bans_v6
                .remove(&Key::new(u32::from(n.prefix_len()), n.network().octets())),
        };
        let note = self.remove_note(net);
        let removed = match removed {
            Ok(()) => true,
            Err(e) if not_found(&e) => false,
            Err(e) => return Err(DataplaneError::map(bans_map(net))(e)),
        };
        note?;
        Ok(removed)
    }

    /// Removes the bans that expired before `now` (ban clock time); returns them. The
    /// kernel already ignores them: this only frees their slots. Nested bans share expiry
    /// (see `nest`), so removing one never uncovers a longer ban's address.
    pub fn reap_expired_bans(&mut self, now: u64) -> Result<Vec<IpNet>> {
        let expired: Vec<IpNet> = self
            .bans()?
            .into_iter()
            .filter(|(_, b)| Expiry::from_ns(b.expires_ns).has_passed(now))
            .map(|(net, _)| net)
            .collect();
        for &net in &expired {
            self.unban(net)?;
        }
        Ok(expired)
    }

    /// Every ban with its prefix, the admin's room first, then the programs'.
    pub fn bans(&self) -> Result<Vec<(IpNet, Ban)>> {
        Ok(self
            .bans_in_rooms()?
            .into_iter()
            .map(|(net, ban, _)| (net, ban))
            .collect())
    }

    /// Every ban with its prefix and the room it is in.
    pub fn bans_in_rooms(&self) -> Result<Vec<(IpNet, Ban, BanRoom)>> {
        let admin = self.admin_bans()?;
        let programs = self.programs_bans()?;
        Ok(admin
            .into_iter()
            .map(|(n, b)| (n, b, BanRoom::Admin))
            .chain(programs.into_iter().map(|(n, b)| (n, b, BanRoom::Programs)))
            .collect())
    }

    /// The bans in the admin's room: by hand, from logs, from the fleet.
    pub fn admin_bans(&self) -> Result<Vec<(IpNet, Ban)>> {
        entries(&self.bans_v4, &self.bans_v6)
    }

    /// The bans in the programs' room: the data plane's own.
    pub fn programs_bans(&self) -> Result<Vec<(IpNet, Ban)>> {
        auto_entries(&self.auto_bans_v4, &self.auto_bans_v6)
    }
}

/// Where a ban lives: the admin's room (`sipguard ban`, `[[logwatch]]`, fleet feeds; a full
/// room refuses new bans) or the programs' (their own bans; the oldest give way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BanRoom {
    Admin,
    Programs,
}

/// The bans of the programs' two tries, v4 then v6.
fn auto_entries(
    v4: &LpmTrie<MapData, [u8; 4], Ban>,
    v6: &LpmTrie<MapData, [u8; 16], Ban>,
) -> Result<Vec<(IpNet, Ban)>> {
    entries(v4, v6).map_err(|e| match e {
        DataplaneError::Map { name, source } if name == map::BANS_V4 => DataplaneError::Map {
            name: map::AUTO_BANS_V4,
            source,
        },
        DataplaneError::Map { name, source } if name == map::BANS_V6 => DataplaneError::Map {
            name: map::AUTO_BANS_V6,
            source,
        },
        e => e,
    })
}

/// Whether a map operation failed only because the key wasn't there.
/// The ban map of `net`'s family, for errors.
pub(super) fn bans_map(net: IpNet) -> &'static str {
    if net.addr().is_ipv4() {
        map::BANS_V4
    } else {
        map::BANS_V6
    }
}

pub(super) fn not_found(e: &MapError) -> bool {
    match e {
        MapError::KeyNotFound => true,
        MapError::SyscallError(e) => e.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}

/// The bans of two ban tries, v4 then v6, with their prefixes.
fn entries(
    v4: &LpmTrie<MapData, [u8; 4], Ban>,
    v6: &LpmTrie<MapData, [u8; 16], Ban>,
) -> Result<Vec<(IpNet, Ban)>> {
    let mut out = Vec::new();
    for item in v4.iter() {
        let (k, v) = item.map_err(DataplaneError::map(map::BANS_V4))?;
        // The kernel keeps prefix lengths within the key's bits.
        if let Ok(net) = IpNet::new(IpAddr::from(k.data()), k.prefix_len() as u8) {
            out.push((net, v));
        }
    }
    for item in v6.iter() {
        let (k, v) = item.map_err(DataplaneError::map(map::BANS_V6))?;
        if let Ok(net) = IpNet::new(IpAddr::from(k.data()), k.prefix_len() as u8) {
            out.push((net, v));
        }
    }
    Ok(out)
}

/// The bans and their notes pinned in `dir`, read with this build's types: for a daemon that
/// replaces pinned maps of another layout and carries the bans over (the ban maps' keys and
/// values have kept their sizes; a map that no longer fits is an error, the caller decides).
pub fn pinned_bans(dir: &Path) -> Result<Vec<(IpNet, Ban, String)>> {
    let open = |name: &'static str| -> Result<Map> {
        let data = MapData::from_pin(dir.join(name)).map_err(DataplaneError::map(name))?;
        Map::from_map_data(data).map_err(DataplaneError::map(name))
    };
    let v4: LpmTrie<MapData, [u8; 4], Ban> =
        LpmTrie::try_from(open(map::BANS_V4)?).map_err(DataplaneError::map(map::BANS_V4))?;
    let v6: LpmTrie<MapData, [u8; 16], Ban> =
        LpmTrie::try_from(open(map::BANS_V6)?).map_err(DataplaneError::map(map::BANS_V6))?;
    // The programs' room (layouts from 14 on): its bans are carried over too, into the
    // admin's room (they expire as before).
    let mut all = entries(&v4, &v6)?;
    if let (Ok(a4), Ok(a6)) = (open(map::AUTO_BANS_V4), open(map::AUTO_BANS_V6)) {
        if let (Ok(a4), Ok(a6)) = (
            LpmTrie::<MapData, [u8; 4], Ban>::try_from(a4),
            LpmTrie::<MapData, [u8; 16], Ban>::try_from(a6),
        ) {
            all.extend(auto_entries(&a4, &a6)?);
        }
    }
    // Notes are a nicety: bans without them are carried over all the same.
    let notes: Option<HashMap<MapData, BanNoteKey, [u8; BAN_NOTE_LEN]>> = open(map::BAN_NOTES)
        .ok()
        .and_then(|m| HashMap::try_from(m).ok());
    Ok(all
        .into_iter()
        .map(|(net, ban)| {
            let note = notes
                .as_ref()
                .and_then(|n| n.get(&note_key(net), 0).ok())
                .map(|text| fixed_str::decode(&text))
                .unwrap_or_default();
            (net, ban, note)
        })
        .collect())
}

/// The `BAN_NOTES` key of the ban on `net`.
pub(super) fn note_key(net: IpNet) -> BanNoteKey {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn zero_is_never_and_reads_back_as_zero() {
        assert_eq!(Expiry::from_ns(0), Expiry::Never);
        assert_eq!(Expiry::from_ns(7), Expiry::At(7));
        assert_eq!(Expiry::Never.as_ns(), 0);
        assert_eq!(Expiry::At(7).as_ns(), 7);
    }

    #[test]
    fn never_outlasts_every_end_and_nothing_outlasts_never() {
        assert!(Expiry::Never.outlasts(Expiry::At(u64::MAX)));
        assert!(!Expiry::At(u64::MAX).outlasts(Expiry::Never));
        assert!(!Expiry::Never.outlasts(Expiry::Never));
        assert!(Expiry::At(2).outlasts(Expiry::At(1)));
        assert!(!Expiry::At(1).outlasts(Expiry::At(1)));
    }

    #[test]
    fn a_ban_is_over_from_its_end_on_and_a_permanent_one_never() {
        assert!(!Expiry::At(100).has_passed(99));
        assert!(Expiry::At(100).has_passed(100));
        assert!(!Expiry::Never.has_passed(u64::MAX));
    }

    #[test]
    fn a_host_inside_a_longer_prefix_ban_inherits_its_end() {
        let outer = (net("192.0.2.0/24"), Expiry::At(900));
        let n = nest(net("192.0.2.7/32"), Expiry::At(100), &[outer]);
        assert_eq!(n.expiry, Expiry::At(900));
        assert!(n.extend.is_empty());
        let n = nest(
            net("192.0.2.7/32"),
            Expiry::At(100),
            &[(net("192.0.2.0/24"), Expiry::Never)],
        );
        assert_eq!(n.expiry, Expiry::Never);
    }

    #[test]
    fn a_longer_prefix_ban_extends_the_shorter_bans_inside_it() {
        let inner = [
            (net("192.0.2.7/32"), Expiry::At(100)),
            (net("192.0.2.8/32"), Expiry::At(5000)),
            (net("198.51.100.1/32"), Expiry::At(1)),
        ];
        let n = nest(net("192.0.2.0/24"), Expiry::At(900), &inner);
        assert_eq!(n.expiry, Expiry::At(900));
        assert_eq!(n.extend, [(net("192.0.2.7/32"), Expiry::At(900))]);
        let n = nest(net("192.0.2.0/24"), Expiry::Never, &inner);
        assert_eq!(n.extend.len(), 2, "a permanent ban outlasts both inside it");
    }

    #[test]
    fn a_ban_on_the_same_prefix_replaces_it_without_nesting() {
        let n = nest(
            net("192.0.2.7/32"),
            Expiry::At(100),
            &[(net("192.0.2.7/32"), Expiry::At(900))],
        );
        // The same prefix contains itself: the longer end is kept, nothing is extended.
        assert_eq!(n.expiry, Expiry::At(900));
        assert!(n.extend.is_empty());
        let n = nest(
            net("192.0.2.7/32"),
            Expiry::At(900),
            &[(net("192.0.2.7/32"), Expiry::At(100))],
        );
        assert_eq!(n.expiry, Expiry::At(900));
        assert!(n.extend.is_empty());
    }

    #[test]
    fn an_inner_ban_met_before_the_outer_is_extended_to_the_end_known_then() {
        // The tries list an inner ban before the outer one: it is extended to the new ban's
        // own end, before the new ban inherits the outer's.
        let existing = [
            (net("192.0.2.7/32"), Expiry::At(5)),
            (net("192.0.0.0/16"), Expiry::At(100)),
        ];
        let n = nest(net("192.0.2.0/24"), Expiry::At(10), &existing);
        assert_eq!(n.extend, [(net("192.0.2.7/32"), Expiry::At(10))]);
        assert_eq!(n.expiry, Expiry::At(100));
    }

    #[test]
    fn v4_and_v6_notes_have_distinct_keys() {
        let v4 = note_key(net("192.0.2.0/24"));
        assert_eq!((v4.family, v4.prefix_len), (4, 24));
        assert_eq!(&v4.addr[..4], &[192, 0, 2, 0]);
        assert!(v4.addr[4..].iter().all(|&b| b == 0));
        let v6 = note_key(net("2001:db8::/32"));
        assert_eq!((v6.family, v6.prefix_len), (6, 32));
        assert_eq!(&v6.addr[..4], &[0x20, 0x01, 0x0d, 0xb8]);
    }
}

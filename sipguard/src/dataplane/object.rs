//! The eBPF object, built from `sipguard-ebpf` by `build.rs` and embedded in the binary, and the
//! names the loader finds its programs, maps and globals by.
//!
//! The map names are `sipguard_common::map_names`, the one list both sides spell them from;
//! the test below parses the built object (no root needed) and checks that it holds exactly
//! those maps, each with the type, key size, value size and capacity the daemon expects, and
//! the programs the loader attaches.

/// The eBPF ELF object (program `sipguard`, maps named as in `sipguard-ebpf`).
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sipguard-xdp"));

/// Name of the XDP program in [`OBJECT`].
pub const PROGRAM: &str = "sipguard";
/// Name of the TC egress program (auto-ban from the PBX's answers) in [`OBJECT`].
pub const EGRESS_PROGRAM: &str = "sipguard_egress";
/// A program that only passes, for calibrating BPF_PROG_TEST_RUN's own cost (benchmark).
pub const NOOP_PROGRAM: &str = "sipguard_noop";

/// Map names in [`OBJECT`] (also the file names under the pin directory).
pub use sipguard_common::map_names as map;

/// Read-only globals in [`OBJECT`] that the loader sets before loading (the verifier prunes
/// by their values: see `sipguard-ebpf/src/clock.rs`).
pub mod global {
    /// u32, 1 where the kernel has `bpf_ktime_get_coarse_ns`.
    pub const COARSE_CLOCK: &str = "SIPGUARD_COARSE_CLOCK";
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, mem::size_of};

    use aya::maps::lpm_trie::Key;
    use aya_obj::{
        generated::bpf_map_type::{self, *},
        maps::PinningType,
        EbpfSectionKind, Object, ProgramSection,
    };
    use sipguard_common::{
        ua::Scanners, AuthFailures, AutoBanSlot, Ban, BanNoteKey, Counter, FragKey, FragVerdict,
        NonceOwner, Policy, RateKey, ScopedV4, ScopedV6, ServicePolicy, SourceState, UserFailures,
        UserKey, ALLOW_MAX_ENTRIES, AUTH_FAILS_MAX_ENTRIES, AUTO_BANS_MAX_ENTRIES, AUTO_BAN_ROOM,
        BAN_COUNTER_ENTRIES, BAN_MAX_ENTRIES, BAN_NOTE_LEN, COUNTER_ENTRIES, DENY_MAX_ENTRIES,
        DEST_MAX_ENTRIES, EPOCHS, EVENTS_BYTES, FRAG_MAX_ENTRIES, LEARNED_MAX_ENTRIES,
        MAX_SERVICES, NONCES_MAX_ENTRIES, PORT_MAP_ENTRIES, RATE_MAX_ENTRIES, SERVICE_NAME_LEN,
        SIP_COUNTER_ENTRIES, STATE_ENTRIES, TRUSTED_MAX_ENTRIES, USER_FAILS_MAX_ENTRIES,
    };

    use super::{map, EGRESS_PROGRAM, NOOP_PROGRAM, OBJECT, PROGRAM};

    /// What the daemon expects of a pinned map: the shape its `aya::maps` wrapper is typed
    /// with, and the capacity the layout gives it.
    struct Expected {
        name: &'static str,
        map_type: bpf_map_type,
        key: usize,
        value: usize,
        entries: u32,
    }

    const fn expect(
        name: &'static str,
        map_type: bpf_map_type,
        key: usize,
        value: usize,
        entries: u32,
    ) -> Expected {
        Expected {
            name,
            map_type,
            key,
            value,
            entries,
        }
    }

    /// Every pinned map, as the daemon (and the test harness) opens it.
    fn expected_pinned() -> Vec<Expected> {
        let u32s = size_of::<u32>();
        let per_epoch_services = EPOCHS * MAX_SERVICES;
        vec![
            expect(map::STATE, BPF_MAP_TYPE_ARRAY, u32s, u32s, STATE_ENTRIES),
            expect(
                map::POLICY,
                BPF_MAP_TYPE_ARRAY,
                u32s,
                size_of::<Policy>(),
                EPOCHS,
            ),
            expect(
                map::SERVICES,
                BPF_MAP_TYPE_ARRAY,
                u32s,
                size_of::<ServicePolicy>(),
                per_epoch_services,
            ),
            expect(
                map::SERVICE_NAMES,
                BPF_MAP_TYPE_ARRAY,
                u32s,
                SERVICE_NAME_LEN,
                per_epoch_services,
            ),
            expect(
                map::PORT_SERVICE,
                BPF_MAP_TYPE_ARRAY,
                u32s,
                u32s,
                PORT_MAP_ENTRIES,
            ),
            expect(
                map::ALLOW_V4,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<ScopedV4>>(),
                u32s,
                ALLOW_MAX_ENTRIES,
            ),
            expect(
                map::ALLOW_V6,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<ScopedV6>>(),
                u32s,
                ALLOW_MAX_ENTRIES,
            ),
            expect(
                map::DENY_V4,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<ScopedV4>>(),
                u32s,
                DENY_MAX_ENTRIES,
            ),
            expect(
                map::DENY_V6,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<ScopedV6>>(),
                u32s,
                DENY_MAX_ENTRIES,
            ),
            expect(
                map::TRUSTED_V4,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<ScopedV4>>(),
                u32s,
                TRUSTED_MAX_ENTRIES,
            ),
            expect(
                map::TRUSTED_V6,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<ScopedV6>>(),
                u32s,
                TRUSTED_MAX_ENTRIES,
            ),
            expect(
                map::DESTS_V4,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<ScopedV4>>(),
                u32s,
                DEST_MAX_ENTRIES,
            ),
            expect(
                map::DESTS_V6,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<ScopedV6>>(),
                u32s,
                DEST_MAX_ENTRIES,
            ),
            expect(
                map::SCANNERS,
                BPF_MAP_TYPE_ARRAY,
                u32s,
                size_of::<Scanners>(),
                EPOCHS,
            ),
            expect(
                map::BANS_V4,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<[u8; 4]>>(),
                size_of::<Ban>(),
                BAN_MAX_ENTRIES,
            ),
            expect(
                map::BANS_V6,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<[u8; 16]>>(),
                size_of::<Ban>(),
                BAN_MAX_ENTRIES,
            ),
            expect(
                map::AUTO_BANS_V4,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<[u8; 4]>>(),
                size_of::<Ban>(),
                AUTO_BANS_MAX_ENTRIES,
            ),
            expect(
                map::AUTO_BANS_V6,
                BPF_MAP_TYPE_LPM_TRIE,
                size_of::<Key<[u8; 16]>>(),
                size_of::<Ban>(),
                AUTO_BANS_MAX_ENTRIES,
            ),
            expect(
                map::AUTO_BAN_RING,
                BPF_MAP_TYPE_ARRAY,
                u32s,
                size_of::<AutoBanSlot>(),
                AUTO_BAN_ROOM,
            ),
            expect(
                map::BAN_NOTES,
                BPF_MAP_TYPE_HASH,
                size_of::<BanNoteKey>(),
                BAN_NOTE_LEN,
                BAN_MAX_ENTRIES,
            ),
            expect(
                map::RATES,
                BPF_MAP_TYPE_LRU_HASH,
                size_of::<RateKey>(),
                size_of::<SourceState>(),
                RATE_MAX_ENTRIES,
            ),
            expect(
                map::AUTH_FAILS,
                BPF_MAP_TYPE_LRU_HASH,
                16,
                size_of::<AuthFailures>(),
                AUTH_FAILS_MAX_ENTRIES,
            ),
            expect(
                map::USER_FAILS,
                BPF_MAP_TYPE_LRU_HASH,
                size_of::<UserKey>(),
                size_of::<UserFailures>(),
                USER_FAILS_MAX_ENTRIES,
            ),
            expect(
                map::LEARNED,
                BPF_MAP_TYPE_LRU_HASH,
                16,
                size_of::<u64>(),
                LEARNED_MAX_ENTRIES,
            ),
            expect(
                map::NONCES,
                BPF_MAP_TYPE_LRU_HASH,
                size_of::<u64>(),
                size_of::<NonceOwner>(),
                NONCES_MAX_ENTRIES,
            ),
            expect(
                map::SYN_BUDGET,
                BPF_MAP_TYPE_ARRAY,
                u32s,
                size_of::<u64>(),
                MAX_SERVICES,
            ),
            expect(
                map::FRAGS,
                BPF_MAP_TYPE_LRU_HASH,
                size_of::<FragKey>(),
                size_of::<FragVerdict>(),
                FRAG_MAX_ENTRIES,
            ),
            expect(
                map::COUNTERS,
                BPF_MAP_TYPE_PERCPU_ARRAY,
                u32s,
                size_of::<Counter>(),
                COUNTER_ENTRIES,
            ),
            expect(
                map::SIP_COUNTERS,
                BPF_MAP_TYPE_PERCPU_ARRAY,
                u32s,
                size_of::<Counter>(),
                SIP_COUNTER_ENTRIES,
            ),
            expect(
                map::BAN_COUNTERS,
                BPF_MAP_TYPE_PERCPU_ARRAY,
                u32s,
                size_of::<u64>(),
                BAN_COUNTER_ENTRIES,
            ),
            expect(map::EVENTS, BPF_MAP_TYPE_RINGBUF, 0, 0, EVENTS_BYTES),
        ]
    }

    fn object() -> Object {
        Object::parse(OBJECT).unwrap_or_else(|e| panic!("parsing the embedded object: {e}"))
    }

    /// The object's maps declared with `#[map]` (not its `.rodata`/`.data`/`.bss` sections).
    fn declared(object: &Object) -> impl Iterator<Item = (&String, &aya_obj::Map)> {
        object.maps.iter().filter(|(_, m)| {
            matches!(
                m.section_kind(),
                EbpfSectionKind::Maps | EbpfSectionKind::BtfMaps
            )
        })
    }

    #[test]
    fn the_object_holds_exactly_the_maps_named_in_map_names() {
        let object = object();
        let found: BTreeSet<&str> = declared(&object).map(|(name, _)| name.as_str()).collect();
        let listed: BTreeSet<&str> = map::ALL.into_iter().collect();
        assert_eq!(found, listed);
        assert_eq!(listed.len(), map::ALL.len(), "a name is listed twice");
    }

    #[test]
    fn exactly_the_pinned_maps_are_pinned_by_name() {
        let object = object();
        let pinned: BTreeSet<&str> = declared(&object)
            .filter(|(_, m)| m.pinning() == PinningType::ByName)
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(pinned, map::PINNED.into_iter().collect());
        let expected: BTreeSet<&str> = expected_pinned().iter().map(|e| e.name).collect();
        assert_eq!(
            expected, pinned,
            "every pinned map has its expected shape below"
        );
    }

    #[test]
    fn every_pinned_map_has_the_type_and_sizes_the_daemon_expects() {
        let object = object();
        for e in expected_pinned() {
            let m = object
                .maps
                .get(e.name)
                .unwrap_or_else(|| panic!("{} is missing", e.name));
            let found = (m.map_type(), m.key_size(), m.value_size(), m.max_entries());
            let wanted = (e.map_type as u32, e.key as u32, e.value as u32, e.entries);
            assert_eq!(found, wanted, "{}: (type, key, value, entries)", e.name);
        }
    }

    #[test]
    fn the_scratch_maps_are_single_per_cpu_values() {
        let object = object();
        for name in map::SCRATCH {
            let m = object
                .maps
                .get(name)
                .unwrap_or_else(|| panic!("{name} is missing"));
            assert_eq!(m.map_type(), BPF_MAP_TYPE_PERCPU_ARRAY as u32, "{name}");
            assert_eq!(m.max_entries(), 1, "{name}");
            assert_eq!(m.pinning(), PinningType::None, "{name}");
        }
    }

    #[test]
    fn the_programs_the_loader_uses_exist_with_their_types() {
        let object = object();
        let section = |name: &str| {
            object
                .programs
                .get(name)
                .map(|p| p.section.clone())
                .unwrap_or_else(|| panic!("program {name} is missing"))
        };
        assert!(matches!(section(PROGRAM), ProgramSection::Xdp { .. }));
        assert!(matches!(section(NOOP_PROGRAM), ProgramSection::Xdp { .. }));
        assert!(matches!(
            section(EGRESS_PROGRAM),
            ProgramSection::SchedClassifier
        ));
    }
}

//! Bringing a loaded object's maps back to what a fresh load gives, so that one load can serve
//! every test of a binary (as Cilium's BPF unit tests do): under software emulation each load
//! costs seconds of verifier time.
//!
//! The maps are enumerated from the ELF object (every `#[map]` of `sipguard-ebpf`, and the
//! data sections), not from a list kept by hand, and each is reset by its type:
//!
//! - arrays and per-CPU arrays: every index written with zeros. A fresh map is all zeros (the
//!   kernel zero-fills arrays it creates, and neither the loader nor the harness writes before
//!   the first `apply`): STATE then reads layout 0, generation 0 and no bans, which is exactly
//!   what the first `apply` expects of new maps (it writes the layout, fills epoch 1 and flips
//!   to it). A `.data` section starts from its bytes in the object instead; `.rodata` is frozen
//!   by the loader and can't differ.
//! - hash, LRU hash and LPM trie maps: every key deleted.
//! - ring buffers: drained.
//!
//! A map of a type this module doesn't know fails the reset: a new kind of state gets a rule
//! here before a test can see another test's leftovers in it.
use std::{
    io,
    os::fd::{AsFd as _, AsRawFd as _},
    path::Path,
    sync::LazyLock,
};

use aya::maps::{Map, MapData, MapInfo, MapType, RingBuf};
use aya_obj::{
    generated::{bpf_attr, bpf_cmd},
    maps::PinningType,
    EbpfSectionKind,
};
use sipguard::dataplane::Loaded;

/// What a map is in the object: enough to find it after a load and to know its fresh value.
struct Spec {
    name: String,
    /// Pinned by name: the loader's [`Maps`](sipguard::dataplane::Maps) took it out of the object,
    /// so it is reached through the pin directory.
    pinned: bool,
    section: EbpfSectionKind,
    /// The section's bytes, for `.data` (the value a fresh load starts from).
    data: Vec<u8>,
}

/// Every map of the embedded object, parsed once per process.
static SPECS: LazyLock<Vec<Spec>> = LazyLock::new(|| {
    let object = aya_obj::Object::parse(sipguard::dataplane::object::OBJECT)
        .expect("parsing the BPF object");
    let mut specs: Vec<Spec> = object
        .maps
        .iter()
        .map(|(name, map)| Spec {
            name: name.clone(),
            pinned: map.pinning() == PinningType::ByName,
            section: map.section_kind(),
            data: map.data().to_vec(),
        })
        .collect();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    specs
});

/// Names of the object's maps that [`reset`] brings back (all but the frozen `.rodata`).
pub fn resettable_maps() -> Vec<&'static str> {
    SPECS
        .iter()
        .filter(|s| s.section != EbpfSectionKind::Rodata)
        .map(|s| s.name.as_str())
        .collect()
}

/// Resets every map of `loaded` (pinned under `pin_dir`) to what a fresh load gives.
pub fn reset(loaded: &mut Loaded, pin_dir: &Path) {
    for spec in SPECS.iter() {
        if spec.section == EbpfSectionKind::Rodata {
            continue;
        }
        with_map(loaded, pin_dir, spec, |map| {
            reset_map(map, spec).unwrap_or_else(|e| panic!("resetting {}: {e}", spec.name))
        });
    }
}

/// The contents of every resettable map, without changing any: per map, its entries as
/// (key, value) bytes, arrays only where a value is not all zeros, ring buffers as the bytes
/// waiting to be read. Two objects with equal snapshots are indistinguishable to the programs
/// and to the tests.
pub fn snapshot(loaded: &mut Loaded, pin_dir: &Path) -> Vec<(String, Vec<Entry>)> {
    SPECS
        .iter()
        .filter(|s| s.section != EbpfSectionKind::Rodata)
        .map(|spec| {
            let entries = with_map(loaded, pin_dir, spec, |map| {
                read_map(map).unwrap_or_else(|e| panic!("reading {}: {e}", spec.name))
            });
            (spec.name.clone(), entries)
        })
        .collect()
}

/// One map entry, as raw bytes.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Runs `f` on the map `spec` names: from the pin directory when the object pins it, else
/// from the object (the loader only takes pinned maps out of it).
fn with_map<T>(
    loaded: &mut Loaded,
    pin_dir: &Path,
    spec: &Spec,
    f: impl FnOnce(&mut Map) -> T,
) -> T {
    if spec.pinned {
        let data = MapData::from_pin(pin_dir.join(&spec.name))
            .unwrap_or_else(|e| panic!("opening the pinned {}: {e}", spec.name));
        let mut map = Map::from_map_data(data).expect("a map type aya knows");
        return f(&mut map);
    }
    let map = loaded
        .ebpf
        .map_mut(&spec.name)
        .unwrap_or_else(|| panic!("{} is neither pinned nor left in the object", spec.name));
    f(map)
}

fn reset_map(map: &mut Map, spec: &Spec) -> io::Result<()> {
    let info = info(map);
    match info.map_type().map_err(io::Error::other)? {
        MapType::Array | MapType::PerCpuArray => {
            let mut fresh = vec![0u8; info.value_size() as usize];
            if spec.section == EbpfSectionKind::Data {
                fresh[..spec.data.len()].copy_from_slice(&spec.data);
            }
            fill_array(map_data(map), &info, &fresh)
        }
        MapType::Hash | MapType::LruHash | MapType::LpmTrie => delete_all(map_data(map), &info),
        MapType::RingBuf => {
            drain(map);
            Ok(())
        }
        other => Err(io::Error::other(format!(
            "no reset rule for a {other:?} map"
        ))),
    }
}

fn read_map(map: &mut Map) -> io::Result<Vec<Entry>> {
    let info = info(map);
    match info.map_type().map_err(io::Error::other)? {
        MapType::Array | MapType::PerCpuArray => read_array(map_data(map), &info),
        MapType::Hash | MapType::LruHash | MapType::LpmTrie => read_keyed(map_data(map), &info),
        MapType::RingBuf => pending(map_data(map)),
        other => Err(io::Error::other(format!(
            "no read rule for a {other:?} map"
        ))),
    }
}

fn info(map: &mut Map) -> MapInfo {
    map_data(map).info().expect("the map's info")
}

/// The map behind the variants [`reset_map`] handles.
fn map_data(map: &mut Map) -> &mut MapData {
    match map {
        Map::Array(d)
        | Map::PerCpuArray(d)
        | Map::HashMap(d)
        | Map::LruHashMap(d)
        | Map::LpmTrie(d)
        | Map::RingBuf(d) => d,
        other => panic!("no reset rule for this map type: {other:?}"),
    }
}

/// Bytes per element the kernel copies for this map's values: per-CPU maps hold one value,
/// rounded up to 8 bytes, per possible CPU.
fn value_stride(info: &MapInfo) -> io::Result<usize> {
    let size = info.value_size() as usize;
    if !matches!(info.map_type(), Ok(MapType::PerCpuArray)) {
        return Ok(size);
    }
    let cpus = aya::util::nr_cpus().map_err(|(what, e)| io::Error::new(e.kind(), what))?;
    Ok(size.next_multiple_of(8) * cpus)
}

/// Writes `fresh` (on every CPU of a per-CPU map) at every index, in one batch.
fn fill_array(data: &MapData, info: &MapInfo, fresh: &[u8]) -> io::Result<()> {
    let n = info.max_entries() as usize;
    let stride = value_stride(info)?;
    let per_cpu = fresh.len().next_multiple_of(8);
    let mut values = vec![0u8; n * stride];
    for slot in values.chunks_mut(per_cpu.min(stride)) {
        slot[..fresh.len()].copy_from_slice(fresh);
    }
    let keys: Vec<u32> = (0..n as u32).collect();
    let mut attr = batch_attr(data, n as u32);
    attr.batch.keys = keys.as_ptr() as u64;
    attr.batch.values = values.as_ptr() as u64;
    if let Err(e) = sys_bpf(bpf_cmd::BPF_MAP_UPDATE_BATCH, &mut attr) {
        if !batch_unsupported(&e) {
            return Err(e);
        }
        for (key, value) in keys.iter().zip(values.chunks(stride)) {
            let mut attr = elem_attr(data, &key.to_ne_bytes());
            attr.__bindgen_anon_2.__bindgen_anon_1.value = value.as_ptr() as u64;
            sys_bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr)?;
        }
        return Ok(());
    }
    // SAFETY: the kernel wrote `count` back into the batch member it was given.
    let done = unsafe { attr.batch.count } as usize;
    if done != n {
        return Err(io::Error::other(format!("{done} of {n} values written")));
    }
    Ok(())
}

/// Every index whose value isn't all zeros, read in one batch.
fn read_array(data: &MapData, info: &MapInfo) -> io::Result<Vec<Entry>> {
    let n = info.max_entries() as usize;
    let stride = value_stride(info)?;
    let mut keys = vec![0u32; n];
    let mut values = vec![0u8; n * stride];
    let mut out_batch = 0u32;
    let mut attr = batch_attr(data, n as u32);
    attr.batch.keys = keys.as_mut_ptr() as u64;
    attr.batch.values = values.as_mut_ptr() as u64;
    attr.batch.out_batch = &mut out_batch as *mut u32 as u64;
    let read = match sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_BATCH, &mut attr) {
        Err(e) if batch_unsupported(&e) => {
            for (i, value) in values.chunks_mut(stride).enumerate() {
                keys[i] = i as u32;
                let mut attr = elem_attr(data, &keys[i].to_ne_bytes());
                attr.__bindgen_anon_2.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
                sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr)?;
            }
            n
        }
        // ENOENT: the batch reached the end of the map.
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
        // SAFETY: the kernel wrote `count` back into the batch member it was given.
        _ => (unsafe { attr.batch.count }) as usize,
    };
    Ok(keys[..read]
        .iter()
        .zip(values.chunks(stride))
        .filter(|(_, v)| v.iter().any(|&b| b != 0))
        .map(|(k, v)| (k.to_ne_bytes().to_vec(), v.to_vec()))
        .collect())
}

/// Deletes the first key until there is none: safe against the walk's order changing as
/// keys go.
fn delete_all(data: &MapData, info: &MapInfo) -> io::Result<()> {
    let mut key = vec![0u8; info.key_size() as usize];
    while next_key(data, None, &mut key)? {
        let mut attr = elem_attr(data, &key);
        sys_bpf(bpf_cmd::BPF_MAP_DELETE_ELEM, &mut attr)?;
    }
    Ok(())
}

/// Every (key, value), in the kernel's walk order.
fn read_keyed(data: &MapData, info: &MapInfo) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut key = vec![0u8; info.key_size() as usize];
    let mut prev: Option<Vec<u8>> = None;
    while next_key(data, prev.as_deref(), &mut key)? {
        let mut value = vec![0u8; info.value_size() as usize];
        let mut attr = elem_attr(data, &key);
        attr.__bindgen_anon_2.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
        sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr)?;
        out.push((key.clone(), value));
        prev = Some(key.clone());
    }
    Ok(out)
}

/// The key after `prev` (the first with `None`) into `key`; false at the end.
fn next_key(data: &MapData, prev: Option<&[u8]>, key: &mut [u8]) -> io::Result<bool> {
    let mut attr = elem_attr(data, prev.unwrap_or_default());
    if prev.is_none() {
        attr.__bindgen_anon_2.key = 0;
    }
    attr.__bindgen_anon_2.__bindgen_anon_1.next_key = key.as_mut_ptr() as u64;
    match sys_bpf(bpf_cmd::BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads every record waiting in a ring buffer (the consumer position then meets the
/// producer's: nothing is left for the next test).
fn drain(map: &mut Map) {
    let mut ring = RingBuf::try_from(map).expect("a ring buffer");
    while ring.next().is_some() {}
}

/// How many bytes wait in a ring buffer, as one entry when any do. Read from the kernel's
/// positions (consumer page, then producer page, both mapped read-only), so a snapshot
/// consumes nothing.
fn pending(data: &MapData) -> io::Result<Vec<Entry>> {
    let consumer = ring_position(data, 0)?;
    let producer = ring_position(data, 1)?;
    let waiting = producer.wrapping_sub(consumer);
    Ok(if waiting == 0 {
        Vec::new()
    } else {
        vec![(b"pending".to_vec(), waiting.to_ne_bytes().to_vec())]
    })
}

/// The position at the start of the ring buffer's `page` (0: consumer, 1: producer).
fn ring_position(data: &MapData, page: usize) -> io::Result<u64> {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let fd = data.fd().as_fd().as_raw_fd();
    // SAFETY: a read-only shared mapping of one page of a ring buffer map, which the kernel
    // allows at these offsets; it is unmapped before returning.
    unsafe {
        let ptr = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            (page * size) as libc::off_t,
        );
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let pos = std::ptr::read_volatile(ptr as *const u64);
        libc::munmap(ptr, size);
        Ok(pos)
    }
}

/// Kernels before 5.13 have no batch operations on per-CPU arrays (ENOTSUPP, 524): one
/// element at a time there.
fn batch_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(524) | Some(libc::EINVAL))
}

fn elem_attr(data: &MapData, key: &[u8]) -> bpf_attr {
    // SAFETY: bpf_attr is plain data; all zeros is its documented empty value.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.__bindgen_anon_2.map_fd = data.fd().as_fd().as_raw_fd() as u32;
    attr.__bindgen_anon_2.key = key.as_ptr() as u64;
    attr
}

fn batch_attr(data: &MapData, count: u32) -> bpf_attr {
    // SAFETY: bpf_attr is plain data; all zeros is its documented empty value.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.batch.map_fd = data.fd().as_fd().as_raw_fd() as u32;
    attr.batch.count = count;
    attr
}

/// The bpf(2) map commands aya 0.14 has no untyped or batch form of.
fn sys_bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<()> {
    // SAFETY: `attr` is a valid bpf_attr whose pointers (keys, values) outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_int,
            attr as *mut bpf_attr,
            size_of::<bpf_attr>() as libc::c_uint,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

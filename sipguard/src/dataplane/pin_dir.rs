//! The pin directory under bpffs: where the maps and the programs' links live between
//! daemons, so that the filter, its bans and its counters outlive any one process.
//!
//! This module owns everything about the directory itself: mounting bpffs, the one-daemon
//! lock (an flock, which `/proc/locks` shows with the holder's pid), the names of the link
//! pins, and the migration that moves aside maps a new build can't adopt.
use std::{
    fs::File,
    path::{Path, PathBuf},
};

use aya::maps::{Array, Map, MapData};
use sipguard_common::{LAYOUT_VERSION, STATE_LAYOUT};

use super::{object::map, DataplaneError};

type Result<T, E = DataplaneError> = std::result::Result<T, E>;

/// Mounts bpffs on /sys/fs/bpf unless it is mounted, and creates `pin_dir`.
pub fn ensure_bpffs(pin_dir: &Path) -> Result<()> {
    let mounts = std::fs::read_to_string("/proc/mounts")
        .map_err(DataplaneError::io("reading /proc/mounts"))?;
    if !bpffs_mounted(&mounts) {
        nix::mount::mount(
            Some("bpf"),
            "/sys/fs/bpf",
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| DataplaneError::Io {
            what: "mounting bpffs on /sys/fs/bpf".into(),
            source: e.into(),
        })?;
    }
    std::fs::create_dir_all(pin_dir).map_err(DataplaneError::io(format!(
        "creating {}",
        pin_dir.display()
    )))?;
    Ok(())
}

/// Whether `/proc/mounts` (its text) shows bpffs on /sys/fs/bpf.
fn bpffs_mounted(mounts: &str) -> bool {
    mounts.lines().any(|l| {
        let mut f = l.split_whitespace();
        let (_, point, fstype) = (f.next(), f.next(), f.next());
        point == Some("/sys/fs/bpf") && fstype == Some("bpf")
    })
}

/// Takes an exclusive lock on the pin directory: one daemon per set of pinned maps, so a
/// second `sipguard run` can't write its policy into the maps a running one enforces. The
/// lock lasts as long as the returned file is open.
pub fn lock(pin_dir: &Path) -> Result<File> {
    use std::os::fd::AsRawFd as _;
    let dir = File::open(pin_dir)
        .map_err(DataplaneError::io(format!("opening {}", pin_dir.display())))?;
    // SAFETY: a plain syscall on a descriptor that `dir` keeps open for the call.
    if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            DataplaneError::AlreadyRunning {
                dir: pin_dir.to_owned(),
            }
        } else {
            DataplaneError::Io {
                what: format!("locking {}", pin_dir.display()),
                source: e,
            }
        });
    }
    Ok(dir)
}

/// The pid of the daemon holding `pin_dir` (its flock, as /proc/locks shows it).
pub fn daemon_pid(pin_dir: &Path) -> Option<i32> {
    use std::os::unix::fs::MetadataExt as _;
    let inode = std::fs::metadata(pin_dir).ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    flock_holder(&locks, inode)
}

/// The pid holding an flock on inode `inode`, from the text of `/proc/locks`.
fn flock_holder(locks: &str, inode: u64) -> Option<i32> {
    // "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF": pid, then major:minor:inode.
    locks.lines().filter(|l| l.contains("FLOCK")).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let pid: i32 = f.get(4)?.parse().ok()?;
        let ino: u64 = f.get(5)?.rsplit(':').next()?.parse().ok()?;
        (ino == inode).then_some(pid)
    })
}

/// Where the XDP program's link to `iface` is pinned: it keeps the program attached while no
/// daemon runs (after `kill -9`, during an upgrade), and the next daemon adopts it.
pub fn xdp_link_pin(pin_dir: &Path, iface: &str) -> PathBuf {
    pin_dir.join(format!("{XDP_LINK_PREFIX}{iface}"))
}

/// Where the egress program's link to `iface` is pinned (TCX only: a clsact filter has no
/// link to pin; see [`super::attach::EGRESS_TC_HANDLE`]).
pub fn egress_link_pin(pin_dir: &Path, iface: &str) -> PathBuf {
    pin_dir.join(format!("link_egress_{iface}"))
}

/// The file names of XDP link pins start with this, then the interface's name.
const XDP_LINK_PREFIX: &str = "link_xdp_";
/// Every link pin's file name starts with this.
const LINK_PREFIX: &str = "link_";

/// Interfaces with a sipguard link pinned in `pin_dir`.
pub fn pinned_interfaces(pin_dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(pin_dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix(XDP_LINK_PREFIX)
                .map(str::to_owned)
        })
        .collect();
    out.sort();
    out
}

/// Whether any interface's link is still pinned in `pin_dir`.
pub(crate) fn has_links(pin_dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(pin_dir)
        .map_err(DataplaneError::io(format!("reading {}", pin_dir.display())))?
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with(LINK_PREFIX)))
}

/// Removes `pin_dir` with every map (and so every ban and counter) pinned in it.
pub(crate) fn remove(pin_dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(pin_dir).map_err(DataplaneError::io(format!(
        "removing {}",
        pin_dir.display()
    )))
}

/// Pinned maps of another layout, moved aside by [`super::load()`]: the old program keeps
/// filtering through its pinned links until the new one, with its policy and the carried bans
/// written, replaces it in those links ([`super::attach::attach`]); then
/// [`Migration::finish`] removes the old maps.
pub struct Migration {
    /// What didn't fit.
    pub from: Mismatch,
    /// Where the old pins are now.
    pub old_dir: PathBuf,
    /// The old bans, with their notes, to write into the new maps.
    pub bans: Vec<(ipnet::IpNet, sipguard_common::Ban, String)>,
    _old_lock: File,
}

impl Migration {
    /// Removes the old maps and pins (the links now also live in the new directory).
    pub fn finish(self) -> Result<()> {
        std::fs::remove_dir_all(&self.old_dir).map_err(DataplaneError::io(format!(
            "removing {}",
            self.old_dir.display()
        )))
    }
}

/// Why the maps pinned in a directory can't be adopted as they are (see `mismatch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The layout version found (0: unreadable, so not ours).
    Layout(u32),
    /// The size of the pinned per-source table.
    TrackedSources(u32),
}

impl Mismatch {
    /// The name the old pin directory gets (bpffs refuses names with a dot).
    fn suffix(self) -> String {
        match self {
            Mismatch::Layout(found) => format!("layout-{found}"),
            Mismatch::TrackedSources(n) => format!("sources-{n}"),
        }
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Layout(found) => write!(f, "map layout {found}"),
            Mismatch::TrackedSources(n) => write!(f, "a per-source table of {n} entries"),
        }
    }
}

/// Why the maps pinned in `pin_dir` can't be adopted as they are: written by a daemon with
/// another map layout (adopting them would make the program misread every map), or with a
/// per-source table of another size than `[global] tracked_sources` asks for (a map's size
/// is fixed when it is created). `None` when there are none or they fit (or were never
/// written: a daemon that died before applying a policy).
pub(crate) fn mismatch(pin_dir: &Path, tracked_sources: u32) -> Option<Mismatch> {
    let path = pin_dir.join(map::STATE);
    if !path.exists() {
        return None;
    }
    let state: Option<Array<MapData, u32>> = MapData::from_pin(&path)
        .ok()
        .and_then(|data| Map::from_map_data(data).ok())
        .and_then(|m| Array::try_from(m).ok());
    let pinned_sources = || {
        let rates = MapData::from_pin(pin_dir.join(map::RATES)).ok()?;
        Some(rates.info().ok()?.max_entries())
    };
    judge(
        state.map(|s| s.get(&STATE_LAYOUT, 0).ok()),
        pinned_sources,
        tracked_sources,
    )
}

/// The rule of [`mismatch`]: `layout` is what the pinned `STATE` holds (None: no such array,
/// Some(None): unreadable), `pinned_sources` the size of the pinned per-source table.
fn judge(
    layout: Option<Option<u32>>,
    pinned_sources: impl FnOnce() -> Option<u32>,
    tracked_sources: u32,
) -> Option<Mismatch> {
    match layout {
        Some(Some(found)) if found == LAYOUT_VERSION || found == 0 => {}
        Some(Some(found)) => return Some(Mismatch::Layout(found)),
        _ => return Some(Mismatch::Layout(0)),
    }
    let pinned = pinned_sources()?;
    (pinned != tracked_sources).then_some(Mismatch::TrackedSources(pinned))
}

/// Moves the pins that don't fit aside (bpffs renames like any filesystem) and reads their
/// bans; the caller then creates the pin directory anew. `old_lock` (the lock on the
/// directory before the move) is held until the migration finishes.
pub(crate) fn set_aside(pin_dir: &Path, found: Mismatch, old_lock: File) -> Result<Migration> {
    let bans = match super::maps::pinned_bans(pin_dir) {
        Ok(bans) => bans,
        Err(e) => {
            tracing::warn!(
                "the bans of the maps with {found} can't be read, they are not carried over: {e}"
            );
            Vec::new()
        }
    };
    let old_dir = aside_dir(pin_dir, found);
    if old_dir.exists() {
        std::fs::remove_dir_all(&old_dir).map_err(DataplaneError::io(format!(
            "removing the stale {}",
            old_dir.display()
        )))?;
    }
    std::fs::rename(pin_dir, &old_dir).map_err(DataplaneError::io(format!(
        "moving the pins with {found} from {} to {}",
        pin_dir.display(),
        old_dir.display()
    )))?;
    Ok(Migration {
        from: found,
        old_dir,
        bans,
        _old_lock: old_lock,
    })
}

/// Where [`set_aside`] moves the pins of `pin_dir` that don't fit: a sibling named after it
/// and the mismatch.
fn aside_dir(pin_dir: &Path, found: Mismatch) -> PathBuf {
    let name = pin_dir
        .file_name()
        .map_or_else(|| "sipguard".into(), |n| n.to_string_lossy().into_owned());
    pin_dir.with_file_name(format!("{name}-{}", found.suffix()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_pid_is_the_flock_holder_of_the_pin_directory_inode() {
        let locks = "1: POSIX  ADVISORY  WRITE 900 00:19:5678 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 4321 00:2a:99 0 EOF\n";
        assert_eq!(flock_holder(locks, 5678), Some(1234));
        assert_eq!(flock_holder(locks, 99), Some(4321));
        assert_eq!(flock_holder(locks, 1), None);
        assert_eq!(flock_holder("garbage\nFLOCK x\n", 1), None);
    }

    #[test]
    fn bpffs_counts_as_mounted_only_on_sys_fs_bpf() {
        assert!(bpffs_mounted(
            "sysfs /sys sysfs rw 0 0\nbpf /sys/fs/bpf bpf rw,relatime 0 0\n"
        ));
        assert!(!bpffs_mounted("bpf /mnt/bpf bpf rw 0 0\n"));
        assert!(!bpffs_mounted("tmpfs /sys/fs/bpf tmpfs rw 0 0\n"));
    }

    #[test]
    fn link_pins_are_named_after_the_interface() {
        let dir = Path::new("/sys/fs/bpf/sipguard");
        assert_eq!(
            xdp_link_pin(dir, "eth0"),
            PathBuf::from("/sys/fs/bpf/sipguard/link_xdp_eth0")
        );
        assert_eq!(
            egress_link_pin(dir, "eth0"),
            PathBuf::from("/sys/fs/bpf/sipguard/link_egress_eth0")
        );
    }

    #[test]
    fn maps_of_another_layout_or_table_size_are_set_aside_under_a_dotless_name() {
        let none = || -> Option<u32> { None };
        assert_eq!(judge(Some(Some(LAYOUT_VERSION)), || Some(64), 64), None);
        assert_eq!(judge(Some(Some(0)), none, 64), None, "never written");
        assert_eq!(
            judge(Some(Some(LAYOUT_VERSION + 1)), none, 64),
            Some(Mismatch::Layout(LAYOUT_VERSION + 1))
        );
        assert_eq!(judge(Some(None), none, 64), Some(Mismatch::Layout(0)));
        assert_eq!(judge(None, none, 64), Some(Mismatch::Layout(0)));
        assert_eq!(
            judge(Some(Some(LAYOUT_VERSION)), || Some(128), 64),
            Some(Mismatch::TrackedSources(128))
        );
        let dir = Path::new("/sys/fs/bpf/sipguard");
        assert_eq!(
            aside_dir(dir, Mismatch::Layout(3)),
            PathBuf::from("/sys/fs/bpf/sipguard-layout-3")
        );
        assert_eq!(
            aside_dir(dir, Mismatch::TrackedSources(128)),
            PathBuf::from("/sys/fs/bpf/sipguard-sources-128")
        );
    }
}

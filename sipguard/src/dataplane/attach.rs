//! Loading the XDP object with pinned maps and attaching it to an interface.
use std::{
    ffi::CString,
    path::{Path, PathBuf},
};

use aya::{
    maps::{Array, Map, MapData},
    programs::{
        links::{FdLink, PinnedLink},
        tc::{self, NlOptions, SchedClassifierLink, TcAttachOptions, TcHandle},
        xdp::XdpLink,
        ProgramError, SchedClassifier, TcAttachType, Xdp, XdpMode,
    },
    Ebpf, EbpfLoader,
};
use sipguard_common::{LAYOUT_VERSION, STATE_LAYOUT};

use crate::{
    ebpf::{self, map},
    kernel,
    maps::Maps,
    Error,
};

type Result<T, E = Error> = std::result::Result<T, E>;

/// How to attach: `auto` tries native (driver) XDP and falls back to generic (skb).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AttachMode {
    #[default]
    Auto,
    Native,
    Skb,
}

/// A loaded object: the program (attached or not) and its maps, with the pin directory
/// locked for as long as it lives.
pub struct Loaded {
    pub ebpf: Ebpf,
    pub maps: Maps,
    /// Set when the pinned maps had another layout: they were moved aside, and this build's
    /// maps start empty in the pin directory.
    pub migration: Option<Migration>,
    /// What the kernel offers, as probed before loading.
    pub features: kernel::Features,
    _lock: std::fs::File,
}

/// Pinned maps of another layout, moved aside by [`load`]: the old program keeps filtering
/// through its pinned links until the new one, with its policy and the carried bans written,
/// replaces it in those links ([`attach`]); then [`Migration::finish`] removes the old maps.
pub struct Migration {
    /// What didn't fit.
    pub from: Mismatch,
    /// Where the old pins are now.
    pub old_dir: PathBuf,
    /// The old bans, with their notes, to write into the new maps.
    pub bans: Vec<(ipnet::IpNet, sipguard_common::Ban, String)>,
    _old_lock: std::fs::File,
}

impl Migration {
    /// Removes the old maps and pins (the links now also live in the new directory).
    pub fn finish(self) -> Result<()> {
        std::fs::remove_dir_all(&self.old_dir)
            .map_err(Error::io(format!("removing {}", self.old_dir.display())))
    }
}

impl Loaded {
    /// The XDP program (for BPF_PROG_TEST_RUN in tests and benchmarks).
    pub fn program(&self) -> Result<&Xdp> {
        self.ebpf
            .program(ebpf::PROGRAM)
            .ok_or(Error::MissingProgram(ebpf::PROGRAM))?
            .try_into()
            .map_err(|e: ProgramError| Error::Load(Box::new(aya::EbpfError::ProgramError(e))))
    }
}

/// True when running with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Mounts bpffs on /sys/fs/bpf unless it is mounted, and creates `pin_dir`.
pub fn ensure_bpffs(pin_dir: &Path) -> Result<()> {
    let mounts =
        std::fs::read_to_string("/proc/mounts").map_err(Error::io("reading /proc/mounts"))?;
    let mounted = mounts.lines().any(|l| {
        let mut f = l.split_whitespace();
        let (_, point, fstype) = (f.next(), f.next(), f.next());
        point == Some("/sys/fs/bpf") && fstype == Some("bpf")
    });
    if !mounted {
        nix::mount::mount(
            Some("bpf"),
            "/sys/fs/bpf",
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| Error::Io {
            what: "mounting bpffs on /sys/fs/bpf".into(),
            source: e.into(),
        })?;
    }
    std::fs::create_dir_all(pin_dir)
        .map_err(Error::io(format!("creating {}", pin_dir.display())))?;
    Ok(())
}

/// Takes an exclusive lock on the pin directory: one daemon per set of pinned maps, so a
/// second `sipguard run` can't write its policy into the maps a running one enforces.
fn lock_pin_dir(pin_dir: &Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd as _;
    let dir = std::fs::File::open(pin_dir)
        .map_err(Error::io(format!("opening {}", pin_dir.display())))?;
    // Safety: plain syscall on a valid descriptor.
    if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Error::AlreadyRunning {
                dir: pin_dir.to_owned(),
            }
        } else {
            Error::Io {
                what: format!("locking {}", pin_dir.display()),
                source: e,
            }
        });
    }
    Ok(dir)
}

/// Why the maps pinned in `pin_dir` can't be adopted as they are: written by a daemon with
/// another map layout (adopting them would make the program misread every map), or with a
/// per-source table of another size than `[global] tracked_sources` asks for (a map's size
/// is fixed when it is created). `None` when there are none or they fit (or were never
/// written: a daemon that died before applying a policy).
fn pinned_mismatch(pin_dir: &Path, tracked_sources: u32) -> Option<Mismatch> {
    let path = pin_dir.join(map::STATE);
    if !path.exists() {
        return None;
    }
    let state: Option<Array<MapData, u32>> = MapData::from_pin(&path)
        .ok()
        .and_then(|data| Map::from_map_data(data).ok())
        .and_then(|m| Array::try_from(m).ok());
    match state.map(|s| s.get(&STATE_LAYOUT, 0)) {
        Some(Ok(found)) if found == LAYOUT_VERSION || found == 0 => {}
        Some(Ok(found)) => return Some(Mismatch::Layout(found)),
        _ => return Some(Mismatch::Layout(0)),
    }
    let rates = MapData::from_pin(pin_dir.join(map::RATES)).ok()?;
    let pinned = rates.info().ok()?.max_entries();
    (pinned != tracked_sources).then_some(Mismatch::TrackedSources(pinned))
}

/// See [`pinned_mismatch`].
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

/// Moves the pins that don't fit aside (bpffs renames like any filesystem) and reads their
/// bans; the caller then creates the pin directory anew.
fn set_aside(pin_dir: &Path, found: Mismatch, old_lock: std::fs::File) -> Result<Migration> {
    let bans = match crate::maps::pinned_bans(pin_dir) {
        Ok(bans) => bans,
        Err(e) => {
            tracing::warn!(
                "the bans of the maps with {found} can't be read, they are not carried over: {e}"
            );
            Vec::new()
        }
    };
    let name = pin_dir
        .file_name()
        .map_or_else(|| "sipguard".into(), |n| n.to_string_lossy().into_owned());
    let old_dir = pin_dir.with_file_name(format!("{name}-{}", found.suffix()));
    if old_dir.exists() {
        std::fs::remove_dir_all(&old_dir).map_err(Error::io(format!(
            "removing the stale {}",
            old_dir.display()
        )))?;
    }
    std::fs::rename(pin_dir, &old_dir).map_err(Error::io(format!(
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

/// Loads the object with its maps pinned under `pin_dir` (reusing maps already pinned there,
/// so bans and counters survive a restart) and loads the program into the kernel, with a
/// per-source table of `tracked_sources` entries (`[global] tracked_sources`). Fails when
/// another sipguard holds the same pin directory.
pub fn load(pin_dir: &Path, tracked_sources: u32) -> Result<Loaded> {
    let features = kernel::probe()?;
    ensure_bpffs(pin_dir)?;
    let mut lock = lock_pin_dir(pin_dir)?;
    let mut migration = None;
    if let Some(found) = pinned_mismatch(pin_dir, tracked_sources) {
        migration = Some(set_aside(pin_dir, found, lock)?);
        std::fs::create_dir_all(pin_dir)
            .map_err(Error::io(format!("creating {}", pin_dir.display())))?;
        lock = lock_pin_dir(pin_dir)?;
    }
    let coarse_clock = u32::from(features.coarse_clock);
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(pin_dir)
        .map_max_entries(map::RATES, tracked_sources)
        .override_global(ebpf::global::COARSE_CLOCK, &coarse_clock, true)
        .load(ebpf::OBJECT)
        .map_err(|e| Error::Load(Box::new(e)))?;
    let maps = Maps::from_ebpf(&mut ebpf)?;
    xdp_program(&mut ebpf)?
        .load()
        .map_err(|e| load_error("XDP", e))?;
    egress_program(&mut ebpf)
        .and_then(|p| p.load())
        .map_err(|e| load_error("TC egress", e))?;
    Ok(Loaded {
        ebpf,
        maps,
        migration,
        features,
        _lock: lock,
    })
}

/// A program load's failure: the verifier's refusal as its last lines, naming the kernel.
fn load_error(program: &'static str, e: ProgramError) -> Error {
    match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            // For development: the whole log, which names the function that failed.
            if let Some(path) = std::env::var_os("SIPGUARD_VERIFIER_LOG") {
                let _ = std::fs::write(path, &log);
            }
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            Error::Verifier {
                release: kernel::release(),
                program,
                io_error,
                verifier_tail: tail,
            }
        }
        other => Error::Load(Box::new(aya::EbpfError::ProgramError(other))),
    }
}

fn egress_program(ebpf: &mut Ebpf) -> Result<&mut SchedClassifier, ProgramError> {
    ebpf.program_mut(ebpf::EGRESS_PROGRAM)
        .ok_or_else(|| ProgramError::UnexpectedProgramType)?
        .try_into()
}

/// Where the XDP program's link to `iface` is pinned: it keeps the program attached while no
/// daemon runs (after `kill -9`, during an upgrade), and the next daemon adopts it.
pub fn xdp_link_pin(pin_dir: &Path, iface: &str) -> PathBuf {
    pin_dir.join(format!("link_xdp_{iface}"))
}

/// Where the egress program's link to `iface` is pinned (TCX only: a clsact filter has no
/// link to pin; see [`EGRESS_TC_HANDLE`]).
pub fn egress_link_pin(pin_dir: &Path, iface: &str) -> PathBuf {
    pin_dir.join(format!("link_egress_{iface}"))
}

fn link_error(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> Error {
    let path = path.to_owned();
    move |source| Error::Link { what, path, source }
}

/// The link pinned at `path`, if one is there and still attached to a live interface.
fn pinned_link(path: &Path) -> Option<FdLink> {
    if !path.exists() {
        return None;
    }
    match PinnedLink::from_pin(path) {
        Ok(link) => Some(link.into()),
        Err(e) => {
            tracing::warn!(path = %path.display(), "ignoring a pinned link that can't be opened: {e}");
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// What adopting and pinning links needs of a program type (aya's XDP and TC programs have
/// the same methods, but no trait for them).
trait Relink {
    type Link: TryFrom<FdLink, Error = aya::programs::links::LinkError>;
    type Id;
    fn attach_to_link(&mut self, link: Self::Link) -> Result<Self::Id, ProgramError>;
    fn take_link(&mut self, id: Self::Id) -> Result<Self::Link, ProgramError>;
}

impl Relink for Xdp {
    type Link = XdpLink;
    type Id = aya::programs::xdp::XdpLinkId;
    fn attach_to_link(&mut self, link: XdpLink) -> Result<Self::Id, ProgramError> {
        Xdp::attach_to_link(self, link)
    }
    fn take_link(&mut self, id: Self::Id) -> Result<XdpLink, ProgramError> {
        Xdp::take_link(self, id)
    }
}

impl Relink for SchedClassifier {
    type Link = SchedClassifierLink;
    type Id = aya::programs::tc::SchedClassifierLinkId;
    fn attach_to_link(&mut self, link: SchedClassifierLink) -> Result<Self::Id, ProgramError> {
        SchedClassifier::attach_to_link(self, link)
    }
    fn take_link(&mut self, id: Self::Id) -> Result<SchedClassifierLink, ProgramError> {
        SchedClassifier::take_link(self, id)
    }
}

/// Pins the link `id` of `program` at `pin`: it then keeps the program attached when the
/// daemon exits. Only a bpf_link can be pinned (XDP from kernel 5.9, TCX).
fn pin_link<P: Relink>(program: &mut P, id: P::Id, pin: &Path) -> Result<()>
where
    FdLink: TryFrom<P::Link, Error = aya::programs::links::LinkError>,
{
    let link = program
        .take_link(id)
        .map_err(|e| link_error("taking", pin)(Box::new(e)))?;
    let fd = FdLink::try_from(link).map_err(|e| link_error("pinning", pin)(Box::new(e)))?;
    fd.pin(pin)
        .map_err(|e| link_error("pinning", pin)(Box::new(e)))?;
    Ok(())
}

/// Swaps `program` into the link pinned at `pin`, or after a layout change at `old_pin` (then
/// pinned at `pin` too, so that removing the old directory leaves it attached). True when a
/// link was adopted; a link that can't be (its interface went away) is removed.
fn adopt<P: Relink>(program: &mut P, pin: &Path, old_pin: Option<PathBuf>) -> Result<bool>
where
    FdLink: TryFrom<P::Link, Error = aya::programs::links::LinkError>,
{
    for (from, moved) in [(Some(pin.to_owned()), false), (old_pin, true)] {
        let Some(from) = from else { continue };
        let Some(fd) = pinned_link(&from) else {
            continue;
        };
        let adopted = P::Link::try_from(fd)
            .map_err(|e| link_error("reading", &from)(Box::new(e)))
            .and_then(|link| {
                program
                    .attach_to_link(link)
                    .map_err(|e| link_error("replacing the program of", &from)(Box::new(e)))
            });
        match adopted {
            Ok(id) => {
                if moved {
                    pin_link(program, id, pin)?;
                }
                return Ok(true);
            }
            Err(e) => {
                // A link whose interface went away, or one the kernel no longer updates.
                tracing::warn!("{e}; attaching anew");
                let _ = std::fs::remove_file(&from);
            }
        }
    }
    Ok(false)
}

/// Attaches the egress program (auto-ban from the PBX's answers) to `iface`, and keeps it
/// there when the daemon exits, like the XDP program. Returns whether the filter of an earlier
/// daemon was adopted (its program swapped for this one's, with no gap).
///
/// With TCX (kernels from 6.6) the link is pinned and adopted like the XDP program's. Before
/// that, the program goes into a cls_bpf filter on the clsact qdisc at a fixed priority and
/// handle ([`EGRESS_TC_PRIORITY`], [`EGRESS_TC_HANDLE`]): netlink filters outlive the process
/// that made them, and the next daemon finds the filter there and replaces its program in
/// place (one netlink request, which cls_bpf applies atomically), so that there is never a
/// second filter counting the same answers twice.
pub fn attach_egress(loaded: &mut Loaded, pin_dir: &Path, iface: &str) -> Result<bool> {
    let tcx = loaded.features.tcx;
    let pin = egress_link_pin(pin_dir, iface);
    let old_pin = loaded
        .migration
        .as_ref()
        .map(|m| egress_link_pin(&m.old_dir, iface));
    let program = egress_program(&mut loaded.ebpf)
        .map_err(|e| Error::Load(Box::new(aya::EbpfError::ProgramError(e))))?;
    let attach_error = |source| Error::Attach {
        iface: iface.to_owned(),
        mode: "tc egress",
        source,
    };
    if tcx {
        if adopt(program, &pin, old_pin)? {
            return Ok(true);
        }
        let id = program
            .attach(iface, TcAttachType::Egress)
            .map_err(attach_error)?;
        pin_link(program, id, &pin)?;
        return Ok(false);
    }
    // EEXIST when the qdisc is there already (another tool's, or ours from before).
    let _ = tc::qdisc_add_clsact(iface);
    let ours = SchedClassifierLink::attached(
        iface,
        TcAttachType::Egress,
        EGRESS_TC_PRIORITY,
        EGRESS_TC_HANDLE,
        None,
    )
    .map_err(Error::io(format!("finding {iface}")))?;
    let (id, adopted) = match program.attach_to_link(ours) {
        Ok(id) => (id, true),
        // No filter there (the first start, or the interface was re-created).
        Err(_) => {
            let options = TcAttachOptions::Netlink(NlOptions {
                priority: EGRESS_TC_PRIORITY,
                handle: EGRESS_TC_HANDLE,
                classid: None,
            });
            let id = program
                .attach_with_options(iface, TcAttachType::Egress, options)
                .map_err(attach_error)?;
            (id, false)
        }
    };
    // Dropping the link would delete the filter when the daemon exits: keep it in the kernel.
    let link = program
        .take_link(id)
        .map_err(|e| Error::Load(Box::new(aya::EbpfError::ProgramError(e))))?;
    std::mem::forget(link);
    Ok(adopted)
}

/// Where sipguard's egress filter sits on the clsact qdisc on kernels without TCX: a
/// priority and handle of its own, so that a restarted daemon finds it (`tc filter show dev
/// IF egress` lists it as `sipguard_egress`).
pub const EGRESS_TC_PRIORITY: u16 = 0x5167;
pub const EGRESS_TC_HANDLE: TcHandle = TcHandle::new(0, 0x5167);

/// Removes sipguard's clsact egress filter from `iface` (kernels without TCX). True when
/// there was one.
fn detach_egress_filter(iface: &str) -> Result<bool> {
    match tc::qdisc_detach_program(iface, TcAttachType::Egress, ebpf::EGRESS_PROGRAM) {
        Ok(()) => Ok(true),
        Err(tc::TcError::IoError(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Io {
            what: format!("removing the egress filter from {iface}"),
            source: std::io::Error::other(e),
        }),
    }
}

fn xdp_program(ebpf: &mut Ebpf) -> Result<&mut Xdp> {
    ebpf.program_mut(ebpf::PROGRAM)
        .ok_or(Error::MissingProgram(ebpf::PROGRAM))?
        .try_into()
        .map_err(|e: ProgramError| Error::Load(Box::new(aya::EbpfError::ProgramError(e))))
}

/// The interface's index, or a clear error when it does not exist.
pub fn interface_index(iface: &str) -> Result<u32> {
    let missing = || Error::NoSuchInterface {
        name: iface.to_owned(),
    };
    let c_iface = CString::new(iface).map_err(|_| missing())?;
    // Safety: valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c_iface.as_ptr()) } {
        0 => Err(missing()),
        index => Ok(index),
    }
}

/// The interface's index after checking it is an Ethernet link: on a tun, WireGuard or PPP
/// interface XDP sees IP headers at offset 0, which this program would misread.
pub fn check_interface(iface: &str) -> Result<u32> {
    let index = interface_index(iface)?;
    let link_type =
        link_type(iface).map_err(Error::io(format!("reading the link type of {iface}")))?;
    if link_type != libc::ARPHRD_ETHER {
        return Err(Error::NotEthernet {
            iface: iface.to_owned(),
            link_type,
        });
    }
    Ok(index)
}

/// ARPHRD_* link type of `iface` in this network namespace (SIOCGIFHWADDR).
fn link_type(iface: &str) -> std::io::Result<u16> {
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
    // Safety: plain syscalls; the ifreq is zeroed and its name NUL-terminated.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let sock = OwnedFd::from_raw_fd(fd);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr
            .ifr_name
            .iter_mut()
            .zip(iface.bytes().take(libc::IFNAMSIZ - 1))
        {
            *dst = src as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ifr.ifr_ifru.ifru_hwaddr.sa_family)
    }
}

/// Attaches the loaded program to `iface` and pins its link (see [`xdp_link_pin`]). When a
/// link is pinned there already (a daemon before this one, killed or upgraded), the new
/// program replaces the old one in it atomically: no packet goes unfiltered. Returns the mode
/// ("native" / "skb"), or "adopted" for a replacement (the mode stays the old link's).
pub fn attach(
    loaded: &mut Loaded,
    pin_dir: &Path,
    iface: &str,
    mode: AttachMode,
) -> Result<&'static str> {
    interface_index(iface)?;
    let pin = xdp_link_pin(pin_dir, iface);
    // After a layout change, the old program's link is in the directory set aside.
    let old_pin = loaded
        .migration
        .as_ref()
        .map(|m| xdp_link_pin(&m.old_dir, iface));
    let program = xdp_program(&mut loaded.ebpf)?;
    if adopt(program, &pin, old_pin)? {
        return Ok("adopted");
    }
    let try_mode = |program: &mut Xdp, xdp_mode, name: &'static str| {
        program
            .attach(iface, xdp_mode)
            .map(|id| (id, name))
            .map_err(|source| classify_attach_error(iface, name, source))
    };
    let (id, name) = match mode {
        AttachMode::Native => try_mode(program, XdpMode::Driver, "native"),
        AttachMode::Skb => try_mode(program, XdpMode::Skb, "skb"),
        AttachMode::Auto => match try_mode(program, XdpMode::Driver, "native") {
            Err(Error::Attach { .. }) => try_mode(program, XdpMode::Skb, "skb"),
            other => other,
        },
    }?;
    pin_link(program, id, &pin)?;
    Ok(name)
}

/// `sipguard detach`: removes the links pinned for `iface` (the programs leave the interface)
/// and, when no other interface's link is left, the pinned maps and their directory. Refused
/// while a daemon holds the directory. Returns what was removed.
pub fn detach(pin_dir: &Path, iface: &str) -> Result<Vec<String>> {
    if !pin_dir.exists() {
        return Err(Error::Refused(format!(
            "nothing to detach: {} does not exist",
            pin_dir.display()
        )));
    }
    let lock = lock_pin_dir(pin_dir).map_err(|e| match e {
        Error::AlreadyRunning { dir } => Error::Refused(format!(
            "a sipguard daemon is running with {}: stop it first (its exit leaves the filter \
             attached; detach then removes it)",
            dir.display()
        )),
        other => other,
    })?;
    let mut removed = Vec::new();
    for pin in [
        xdp_link_pin(pin_dir, iface),
        egress_link_pin(pin_dir, iface),
    ] {
        if pin.exists() {
            std::fs::remove_file(&pin).map_err(Error::io(format!("removing {}", pin.display())))?;
            removed.push(pin.display().to_string());
        }
    }
    if interface_index(iface).is_ok() && detach_egress_filter(iface)? {
        removed.push(format!("the egress filter on {iface}"));
    }
    if removed.is_empty() {
        return Err(Error::Refused(format!(
            "no sipguard link for {iface} in {}",
            pin_dir.display()
        )));
    }
    let others = std::fs::read_dir(pin_dir)
        .map_err(Error::io(format!("reading {}", pin_dir.display())))?
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with("link_"));
    if !others {
        drop(lock);
        std::fs::remove_dir_all(pin_dir)
            .map_err(Error::io(format!("removing {}", pin_dir.display())))?;
        let _ = std::fs::remove_file(crate::diff::record_path(pin_dir));
        removed.push(format!("{} (maps, bans, counters)", pin_dir.display()));
    }
    Ok(removed)
}

fn classify_attach_error(iface: &str, mode: &'static str, source: ProgramError) -> Error {
    // The kernel answers EBUSY (bpf_link) or EEXIST (netlink) when XDP is taken.
    let mut busy = false;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&source);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            busy |= matches!(io.raw_os_error(), Some(libc::EBUSY) | Some(libc::EEXIST));
        }
        cause = e.source();
    }
    if busy {
        Error::XdpBusy {
            iface: iface.to_owned(),
        }
    } else {
        Error::Attach {
            iface: iface.to_owned(),
            mode,
            source,
        }
    }
}

/// Whether `iface` has an XDP program, per `ip -j link show` (None: `ip` can't say).
pub fn xdp_attached(iface: &str) -> Option<bool> {
    xdp_mode(iface).map(|m| m.is_some())
}

/// The XDP mode on `iface` ("native", "skb", "offload", "multi"), `Some(None)` when no XDP
/// program is attached or the interface is gone, `None` when `ip` can't say.
pub fn xdp_mode(iface: &str) -> Option<Option<&'static str>> {
    let out = std::process::Command::new("ip")
        .args(["-j", "link", "show", "dev", iface])
        .output()
        .ok()?;
    if !out.status.success() {
        // The interface is gone: nothing is attached to it.
        return Some(None);
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let xdp = &doc[0]["xdp"];
    if xdp.is_null() {
        return Some(None);
    }
    // XDP_ATTACHED_* as iproute2 prints it.
    Some(Some(match xdp["mode"].as_u64() {
        Some(1) => "native",
        Some(2) => "skb",
        Some(3) => "offload",
        Some(4) => "multi",
        _ => "attached",
    }))
}

/// Interfaces with a sipguard link pinned in `pin_dir`.
pub fn pinned_interfaces(pin_dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(pin_dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("link_xdp_")
                .map(str::to_owned)
        })
        .collect();
    out.sort();
    out
}

/// The pid of the daemon holding `pin_dir` (its flock, as /proc/locks shows it).
pub fn daemon_pid(pin_dir: &Path) -> Option<i32> {
    use std::os::unix::fs::MetadataExt as _;
    let inode = std::fs::metadata(pin_dir).ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF": pid, then major:minor:inode.
    locks.lines().filter(|l| l.contains("FLOCK")).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let pid: i32 = f.get(4)?.parse().ok()?;
        let ino: u64 = f.get(5)?.rsplit(':').next()?.parse().ok()?;
        (ino == inode).then_some(pid)
    })
}

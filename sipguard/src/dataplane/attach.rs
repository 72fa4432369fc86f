//! Putting the loaded programs on an interface, and keeping them there between daemons.
//!
//! The XDP program (and on TCX kernels the egress one) is attached through a bpf_link pinned
//! in the pin directory: the link keeps the program attached when the daemon exits, even by
//! `kill -9`, and the next daemon *adopts* it, swapping its own program in atomically, so no
//! packet goes unfiltered. On kernels without TCX the egress program sits in a cls_bpf
//! filter on the clsact qdisc instead, found again by its fixed priority and handle.
use std::path::{Path, PathBuf};

use aya::programs::{
    links::{FdLink, LinkError, PinnedLink},
    tc::{self, NlOptions, SchedClassifierLink, TcAttachOptions, TcHandle},
    xdp::XdpLink,
    ProgramError, SchedClassifier, TcAttachType, Xdp, XdpMode,
};

use super::{
    load::{egress_program, xdp_program, Loaded},
    object,
    pin_dir::{egress_link_pin, xdp_link_pin},
    DataplaneError,
};
use crate::host::iface::interface_index;

type Result<T, E = DataplaneError> = std::result::Result<T, E>;

/// How to attach: `auto` tries native (driver) XDP and falls back to generic (skb).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AttachMode {
    #[default]
    Auto,
    Native,
    Skb,
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
            Err(DataplaneError::Attach { .. }) => try_mode(program, XdpMode::Skb, "skb"),
            other => other,
        },
    }?;
    pin_link(program, id, &pin)?;
    Ok(name)
}

/// What attaching did on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnInterface {
    pub iface: String,
    /// "native", "skb", or "adopted" (see [`attach`]).
    pub xdp_mode: &'static str,
    /// Whether the egress filter of an earlier daemon was adopted (see [`attach_egress`]).
    pub egress_adopted: bool,
}

/// Attaches both programs to every interface of `ifaces`, in order: the same loaded programs
/// and so the same maps on each (a ban or a rate bucket earned on one holds on all), each
/// interface's links pinned under its own name and adopted from an earlier daemon as on one
/// interface. When one interface fails, what this call attached anew to the interfaces before
/// it is taken off again (adopted links stay: they were attached before), so that a failed
/// start leaves no interface half-guarded; the error names the interface.
pub fn attach_all(
    loaded: &mut Loaded,
    pin_dir: &Path,
    ifaces: &[String],
    mode: AttachMode,
) -> Result<Vec<OnInterface>> {
    let tcx = loaded.features.tcx;
    let mut done: Vec<OnInterface> = Vec::new();
    for iface in ifaces {
        let xdp_mode = match attach(loaded, pin_dir, iface, mode) {
            Ok(m) => m,
            Err(e) => return Err(undo(pin_dir, tcx, &done, e)),
        };
        let egress_adopted = match attach_egress(loaded, pin_dir, iface) {
            Ok(adopted) => adopted,
            Err(e) => {
                // Its XDP link is undone with the others; its egress was never attached.
                done.push(OnInterface {
                    iface: iface.clone(),
                    xdp_mode,
                    egress_adopted: true,
                });
                return Err(undo(pin_dir, tcx, &done, e));
            }
        };
        done.push(OnInterface {
            iface: iface.clone(),
            xdp_mode,
            egress_adopted,
        });
    }
    Ok(done)
}

/// Takes off what [`attach_all`] attached anew before `failure` (best effort: each step that
/// fails is logged), and returns `failure`.
fn undo(
    pin_dir: &Path,
    tcx: bool,
    done: &[OnInterface],
    failure: DataplaneError,
) -> DataplaneError {
    for on in done {
        let mut pins = Vec::new();
        if on.xdp_mode != "adopted" {
            pins.push(xdp_link_pin(pin_dir, &on.iface));
        }
        if !on.egress_adopted {
            if tcx {
                pins.push(egress_link_pin(pin_dir, &on.iface));
            } else if let Err(e) = detach_egress_filter(&on.iface) {
                tracing::warn!(iface = %on.iface, "undoing the egress filter: {e}");
            }
        }
        for pin in pins.iter().filter(|p| p.exists()) {
            if let Err(e) = std::fs::remove_file(pin) {
                tracing::warn!(pin = %pin.display(), "undoing an attachment: {e}");
            }
        }
        tracing::warn!(iface = %on.iface, "{failure}: took sipguard off {} again", on.iface);
    }
    failure
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
    let program = egress_program(&mut loaded.ebpf)?;
    if tcx {
        attach_egress_tcx(program, iface, &pin, old_pin)
    } else {
        attach_egress_clsact(program, iface)
    }
}

/// The egress program through a pinned TCX link (see [`attach_egress`]).
fn attach_egress_tcx(
    program: &mut SchedClassifier,
    iface: &str,
    pin: &Path,
    old_pin: Option<PathBuf>,
) -> Result<bool> {
    if adopt(program, pin, old_pin)? {
        return Ok(true);
    }
    let id = program
        .attach(iface, TcAttachType::Egress)
        .map_err(egress_attach_error(iface))?;
    pin_link(program, id, pin)?;
    Ok(false)
}

/// The egress program in sipguard's filter on the clsact qdisc (see [`attach_egress`]).
fn attach_egress_clsact(program: &mut SchedClassifier, iface: &str) -> Result<bool> {
    // EEXIST when the qdisc is there already (another tool's, or ours from before): either
    // way there is a clsact qdisc to attach to, and an attach below says what else went wrong.
    let _ = tc::qdisc_add_clsact(iface);
    let ours = SchedClassifierLink::attached(
        iface,
        TcAttachType::Egress,
        EGRESS_TC_PRIORITY,
        EGRESS_TC_HANDLE,
        None,
    )
    .map_err(DataplaneError::io(format!("finding {iface}")))?;
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
                .map_err(egress_attach_error(iface))?;
            (id, false)
        }
    };
    // Dropping the link would delete the filter when the daemon exits: keep it in the kernel.
    let link = program.take_link(id)?;
    std::mem::forget(link);
    Ok(adopted)
}

fn egress_attach_error(iface: &str) -> impl FnOnce(ProgramError) -> DataplaneError + '_ {
    move |source| DataplaneError::Attach {
        iface: iface.to_owned(),
        mode: "tc egress",
        source,
    }
}

/// Where sipguard's egress filter sits on the clsact qdisc on kernels without TCX: a
/// priority and handle of its own, so that a restarted daemon finds it (`tc filter show dev
/// IF egress` lists it as `sipguard_egress`).
pub const EGRESS_TC_PRIORITY: u16 = 0x5167;
pub const EGRESS_TC_HANDLE: TcHandle = TcHandle::new(0, 0x5167);

/// Takes sipguard's programs off `iface`: removes the links pinned for it in `pin_dir` (the
/// programs leave the interface with their last pin) and its clsact egress filter. Returns
/// what was removed (empty: nothing of sipguard's was there). The caller holds the pin
/// directory's lock, so that no daemon re-attaches meanwhile.
pub(crate) fn detach(pin_dir: &Path, iface: &str) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for pin in [
        xdp_link_pin(pin_dir, iface),
        egress_link_pin(pin_dir, iface),
    ] {
        if pin.exists() {
            std::fs::remove_file(&pin)
                .map_err(DataplaneError::io(format!("removing {}", pin.display())))?;
            removed.push(pin.display().to_string());
        }
    }
    if interface_index(iface).is_ok() && detach_egress_filter(iface)? {
        removed.push(format!("the egress filter on {iface}"));
    }
    Ok(removed)
}

/// Removes sipguard's clsact egress filter from `iface` (kernels without TCX). True when
/// there was one.
fn detach_egress_filter(iface: &str) -> Result<bool> {
    match tc::qdisc_detach_program(iface, TcAttachType::Egress, object::EGRESS_PROGRAM) {
        Ok(()) => Ok(true),
        Err(tc::TcError::IoError(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(DataplaneError::Io {
            what: format!("removing the egress filter from {iface}"),
            source: std::io::Error::other(e),
        }),
    }
}

fn classify_attach_error(iface: &str, mode: &'static str, source: ProgramError) -> DataplaneError {
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
        DataplaneError::XdpBusy {
            iface: iface.to_owned(),
        }
    } else {
        DataplaneError::Attach {
            iface: iface.to_owned(),
            mode,
            source,
        }
    }
}

fn link_error(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> DataplaneError {
    let path = path.to_owned();
    move |source| DataplaneError::Link { what, path, source }
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
            // Best effort: a pin left behind is ignored the same way next time.
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// What adopting and pinning links needs of a program type (aya's XDP and TC programs have
/// the same methods, but no trait for them).
trait Relink {
    type Link: TryFrom<FdLink, Error = LinkError>;
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
    type Id = tc::SchedClassifierLinkId;
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
    FdLink: TryFrom<P::Link, Error = LinkError>,
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
    FdLink: TryFrom<P::Link, Error = LinkError>,
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
                // Best effort: the new link pinned below replaces it anyway.
                let _ = std::fs::remove_file(&from);
            }
        }
    }
    Ok(false)
}

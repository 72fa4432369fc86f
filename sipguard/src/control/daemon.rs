//! The daemon's lifecycle: start (load, attach, apply), then serve until a signal, applying
//! a new policy on SIGHUP (or when `--watch` sees the file change) and reaping expired bans.
//!
//! The order of the start is the part that matters most, and it differs on a layout change:
//! see [`Daemon::start`], `attach_then_apply` and `migrate_then_attach`.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use aya::maps::{MapData, RingBuf};
use tokio::signal::unix::{signal, SignalKind};

use super::{applied, events, fleet, logwatch, metrics, ControlError};
use crate::{
    config::{Config, Mode},
    dataplane::{
        self,
        attach::{self, AttachMode},
        clock::ban_clock_ns,
        kernel,
        object::map,
        pin_dir::{self, Mismatch},
        Loaded, Maps,
    },
    host::iface,
    policy::{CompiledPolicy, HostFacts},
};

type Result<T, E = ControlError> = std::result::Result<T, E>;

/// How the daemon runs: `sipguard run`'s options.
#[derive(Clone, Debug)]
pub struct Options {
    /// The interfaces to protect (at least one): the same programs and maps on each, so a
    /// ban or a rate bucket earned on one holds on all.
    pub ifaces: Vec<String>,
    /// The policy file; `None`: the built-in default.
    pub config: Option<PathBuf>,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<SocketAddr>,
    /// Count what would be dropped as would_drop and pass everything, whatever the file says.
    pub monitor: bool,
    pub xdp_mode: AttachMode,
    /// The pin directory (bans and counters survive restarts there).
    pub pin_path: PathBuf,
    /// Reload when the config file changes.
    pub watch: bool,
}

impl Options {
    /// The config file (or the built-in default), with `--monitor` applied.
    pub fn load_config(&self) -> Result<Config> {
        let mut config = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::builtin_default(),
        };
        if self.monitor {
            config.global.mode = Mode::Monitor;
        }
        Ok(config)
    }
}

/// A started daemon: the programs attached to the interface with the policy applied.
pub struct Daemon {
    opts: Options,
    loaded: Loaded,
    /// The policy applied at the start (a reload doesn't change the log files it watches).
    config: Config,
    /// Taken by the task that serves them.
    metrics: Option<std::net::TcpListener>,
    /// Taken by the task that logs them.
    events: Option<RingBuf<MapData>>,
}

/// What attaching did on every interface, and the events ring taken meanwhile.
struct Attached {
    ifaces: Vec<attach::OnInterface>,
    events: RingBuf<MapData>,
}

impl Daemon {
    /// Loads the programs, attaches them to every interface of `opts.ifaces` and applies the
    /// policy.
    ///
    /// On the same map layout (or a first start), the programs are attached before the
    /// policy is written (`attach_then_apply`); after a layout change, the policy and the
    /// carried bans are written before the new program is swapped in
    /// (`migrate_then_attach`).
    pub fn start(opts: Options) -> Result<Self> {
        let config = opts.load_config()?;
        if opts.ifaces.is_empty() {
            return Err(ControlError::NoInterface);
        }
        // Every interface is checked before anything is loaded: a typo in the second one
        // leaves nothing attached to the first.
        for (i, name) in opts.ifaces.iter().enumerate() {
            if opts.ifaces[..i].contains(name) {
                return Err(ControlError::InterfaceTwice {
                    iface: name.clone(),
                });
            }
            iface::check_interface(name)?;
        }
        let mut loaded = dataplane::load(&opts.pin_path, config.global.tracked_sources)?;
        let metrics = opts.metrics.map(metrics::bind).transpose()?;
        let attached = if loaded.migration.is_some() {
            migrate_then_attach(&mut loaded, &opts, &config)?
        } else {
            attach_then_apply(&mut loaded, &opts, &config)?
        };
        for note in loaded.features.differences() {
            tracing::info!(kernel = %kernel::release(), "on this kernel: {note}");
        }
        for on in &attached.ifaces {
            tracing::info!(
                iface = %on.iface,
                xdp_mode = on.xdp_mode,
                egress = if on.egress_adopted { "adopted" } else { "attached" },
                "attached"
            );
        }
        for stale in pin_dir::pinned_interfaces(&opts.pin_path)
            .into_iter()
            .filter(|i| !opts.ifaces.contains(i))
        {
            tracing::warn!(
                iface = %stale,
                "a link of an earlier daemon is still pinned for {stale}, which this daemon \
                 doesn't guard: its filter stays as it was (`sipguard detach --iface {stale}` \
                 removes it)"
            );
        }
        tracing::info!(
            ifaces = %opts.ifaces.join(","),
            config = %config.source,
            services = config.services.len(),
            policy_mode = ?config.global.mode,
            default = ?config.global.default_action,
            kernel = %kernel::release(),
            "sipguard attached"
        );
        Ok(Self {
            opts,
            loaded,
            config,
            metrics,
            events: Some(attached.events),
        })
    }

    /// Compiles `config` for this host, makes it the active policy, and records it as the
    /// running policy (for `sipguard check --diff`). Returns the new epoch.
    pub fn apply(&mut self, config: &Config) -> Result<u32> {
        apply(&mut self.loaded, &self.opts, config)
    }

    /// SIGHUP: re-reads the config; a config that fails validation leaves the running policy.
    pub fn reload(&mut self) {
        let result = self
            .opts
            .load_config()
            .and_then(|config| self.apply(&config).map(|epoch| (config, epoch)));
        match result {
            Ok((config, epoch)) => {
                tracing::info!(
                    config = %config.source,
                    services = config.services.len(),
                    epoch,
                    "policy reloaded"
                );
                let running = self.loaded.maps.tracked_sources();
                if config.global.tracked_sources != running {
                    tracing::warn!(
                        tracked_sources = config.global.tracked_sources,
                        running,
                        "[global] tracked_sources takes effect at the next start (the table's size is fixed while it is in use)"
                    );
                }
            }
            Err(e) => tracing::error!("reload rejected, the running policy stays: {e}"),
        }
    }

    /// Frees the slots of expired bans (the kernel ignores them by itself).
    pub fn reap_bans(&mut self) {
        match self.loaded.maps.reap_expired_bans(ban_clock_ns()) {
            Ok(expired) => {
                for net in expired {
                    tracing::info!(%net, "ban expired");
                }
            }
            Err(e) => tracing::warn!("removing expired bans: {e}"),
        }
    }

    /// Serves metrics, logs the programs' events, watches the log files, and reloads and
    /// reaps, until SIGINT or SIGTERM. The filter stays attached with the last policy.
    pub fn run_until_signal(mut self) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ControlError::Runtime)?;
        runtime.block_on(self.serve())?;
        let ifaces = self.opts.ifaces.clone();
        drop(self);
        let detach: Vec<String> = ifaces.iter().map(|i| format!("--iface {i}")).collect();
        tracing::info!(
            ifaces = %ifaces.join(","),
            "exiting; the filter stays attached with the last policy (`sipguard detach {}` \
             removes it)",
            detach.join(" ")
        );
        Ok(())
    }

    /// The daemon's tasks and its signal loop (see [`Daemon::run_until_signal`]).
    async fn serve(&mut self) -> Result<()> {
        if let Some(listener) = self.metrics.take() {
            let pin_path = self.opts.pin_path.clone();
            let ifaces = self.opts.ifaces.clone();
            tokio::spawn(async move {
                if let Err(e) = metrics::serve(listener, pin_path, ifaces).await {
                    tracing::error!("metrics server stopped: {e}");
                }
            });
        }
        // The fleet feeds named in the config at start (a reload doesn't change them).
        let reporter = fleet::start(
            self.config.crowdsec.as_ref(),
            self.config.apiban.as_ref(),
            &self.opts.pin_path,
        );
        self.spawn_event_log(reporter.clone())?;
        // Log files named in the config at start (a reload doesn't change them).
        tokio::spawn(logwatch::run(
            self.config.logwatch.clone(),
            self.opts.pin_path.clone(),
            reporter,
        ));
        let mut sigint = signal(SignalKind::interrupt()).map_err(ControlError::Signal)?;
        let mut sigterm = signal(SignalKind::terminate()).map_err(ControlError::Signal)?;
        let mut sighup = signal(SignalKind::hangup()).map_err(ControlError::Signal)?;
        // The kernel ignores expired bans by itself; this frees their slots now and then.
        let mut reap = tokio::time::interval(Duration::from_secs(10));
        let mut watch = tokio::time::interval(Duration::from_secs(1));
        let mut seen = self.opts.config.as_deref().and_then(file_fingerprint);
        loop {
            tokio::select! {
                _ = sigint.recv() => break,
                _ = sigterm.recv() => break,
                _ = sighup.recv() => self.reload(),
                _ = reap.tick() => self.reap_bans(),
                _ = watch.tick(), if self.opts.watch => {
                    let now = self.opts.config.as_deref().and_then(file_fingerprint);
                    if now.is_some() && now != seen {
                        seen = now;
                        tracing::info!("the config file changed");
                        self.reload();
                    }
                }
            }
        }
        Ok(())
    }

    /// Logs the programs' events from the `EVENTS` ring buffer (taken at the start).
    fn spawn_event_log(&mut self, reporter: fleet::Reporter) -> Result<()> {
        let events = self.events.take().ok_or(ControlError::NoEvents)?;
        // SAFETY: the ring buffer owns its map fd for as long as the AsyncFd owns the ring
        // buffer, and always answers that same fd.
        let events = unsafe { tokio::io::unix::AsyncFd::register(events) }
            .map_err(|e| ControlError::WatchEvents(e.to_string()))?;
        // Drop samples name their service: the names of the policy active when logged.
        let names = Maps::open_pinned(&self.opts.pin_path)?;
        tokio::spawn(events::log(
            events,
            move |slot| {
                names
                    .service_names()
                    .ok()
                    .and_then(|n| n.get(usize::from(slot)).cloned())
                    .unwrap_or_else(|| "unknown".into())
            },
            reporter,
        ));
        Ok(())
    }
}

/// Compiles `config` for this host, writes it into the maps and records it with the
/// interfaces it guards (see [`Daemon::apply`]).
fn apply(loaded: &mut Loaded, opts: &Options, config: &Config) -> Result<u32> {
    let policy = CompiledPolicy::compile(config, &HostFacts::read());
    for note in &policy.notes {
        tracing::warn!("{note}");
    }
    let epoch = loaded.maps.apply(&policy)?;
    if let Err(e) = applied::record(&opts.pin_path, config, &opts.ifaces) {
        tracing::warn!("recording the running policy for `check --diff`: {e}");
    }
    Ok(epoch)
}

/// The start on maps this build adopts as they are (or a first start): attach first, then
/// write the policy.
///
/// Attaching first means that if the interface is taken, nothing was written. Until the
/// policy lands the program enforces what the pinned maps hold: the previous policy on a
/// restart (a pinned link from a daemon before this one, killed or upgraded, gets the new
/// program swapped in atomically, over the same maps), and on a first start nothing: it
/// passes, as the host did before. `EVENTS` is taken before the first policy is applied.
fn attach_then_apply(loaded: &mut Loaded, opts: &Options, config: &Config) -> Result<Attached> {
    let ifaces = attach::attach_all(loaded, &opts.pin_path, &opts.ifaces, opts.xdp_mode)?;
    let events = events_ring(loaded)?;
    apply(loaded, opts, config)?;
    Ok(Attached { ifaces, events })
}

/// The start after a layout change ([`crate::dataplane::pin_dir::Migration`]): write the
/// carried bans and the policy first, then swap the program in.
///
/// The new maps start empty while the old program still filters through its pinned links
/// (over the old maps, set aside): swapping the new program in before its maps hold the
/// policy and the bans would open a gap in which it passes everything. Once the links hold
/// the new program, the old maps are removed.
fn migrate_then_attach(loaded: &mut Loaded, opts: &Options, config: &Config) -> Result<Attached> {
    if let Some(m) = &loaded.migration {
        let bans = m.bans.clone();
        for (net, ban, note) in bans {
            loaded.maps.ban_with_note(net, ban, &note)?;
        }
    }
    apply(loaded, opts, config)?;
    let ifaces = attach::attach_all(loaded, &opts.pin_path, &opts.ifaces, opts.xdp_mode)?;
    if let Some(m) = loaded.migration.take() {
        let (from, bans) = (m.from, m.bans.len());
        m.finish()?;
        match from {
            Mismatch::Layout(from) => tracing::warn!(
                from_layout = from,
                to_layout = sipguard_common::LAYOUT_VERSION,
                bans_carried = bans,
                "the pinned maps had another layout: replaced them and the program, carried the bans over"
            ),
            Mismatch::TrackedSources(from) => tracing::warn!(
                from_tracked_sources = from,
                tracked_sources = config.global.tracked_sources,
                bans_carried = bans,
                "the pinned per-source table had another size: replaced the maps and the program, carried the bans over (rate buckets start afresh)"
            ),
        }
    }
    let events = events_ring(loaded)?;
    Ok(Attached { ifaces, events })
}

/// The `EVENTS` ring buffer, taken out of the loaded object.
fn events_ring(loaded: &mut Loaded) -> Result<RingBuf<MapData>> {
    let events = loaded
        .ebpf
        .take_map(map::EVENTS)
        .ok_or(ControlError::NoEvents)?;
    RingBuf::try_from(events).map_err(ControlError::EventsNotRingBuf)
}

/// What tells a config file's versions apart: an editor's save (a new inode by rename, or the
/// same file rewritten) changes one of these.
fn file_fingerprint(path: &Path) -> Option<(u64, u64, SystemTime)> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.modified().ok()?))
}

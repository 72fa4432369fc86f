//! The `sipguard` daemon and CLI.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sipguard::{
    bans,
    config::{Config, Mode, DEFAULT_CONFIG},
    events,
    loader::{self, AttachMode, Loaded},
    maps::Maps,
    metrics,
    policy::{CompiledPolicy, HostFacts},
    status::Status,
    Error, DEFAULT_PIN_PATH,
};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(
    name = "sipguard",
    version,
    about = "XDP firewall for VoIP phone systems"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Attach the filter to an interface and enforce a policy (SIGHUP reloads the config
    /// file). The filter stays attached when the daemon exits, even by kill -9; the next
    /// daemon adopts it without a gap, `sipguard detach` removes it.
    Run(RunArgs),
    /// Make the running daemon reload its config file: the file is validated here first (an
    /// error names file, line, field and value, and nothing is sent), then the daemon is
    /// signalled (SIGHUP) and this waits until it has applied the new policy.
    Reload {
        #[arg(long, default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
    },
    /// Install for systemd: the binary in /usr/local/sbin, a config to start from in
    /// /etc/sipguard (an existing one is validated and kept), the unit, IFACE in
    /// /etc/default/sipguard, and the Grafana dashboard in /usr/local/share/sipguard. Then:
    /// systemctl daemon-reload && systemctl enable --now sipguard.
    Install {
        /// The interface to protect (required for a local install).
        #[arg(long, required_unless_present = "layout")]
        iface: Option<String>,
        /// Install under this directory instead of / (packaging, staging).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// The Debian package's paths (/usr/sbin, /usr/lib/systemd/system, /usr/share), for
        /// staging a package under --root (`cargo xtask deb`).
        #[arg(long, value_enum)]
        layout: Option<InstallLayout>,
    },
    /// Remove the filter from an interface, with its pinned maps and bans when no other
    /// interface uses them. Refused while a daemon runs: stop it first.
    Detach {
        #[arg(long)]
        iface: String,
        #[arg(long, default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
    },
    /// Validate a config file: exit 0 when valid, else print what is wrong and exit 1.
    Check {
        #[arg(long)]
        config: PathBuf,
        /// Also print what applying it would change against the running daemon's policy.
        #[arg(long)]
        diff: bool,
        #[arg(long, default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
    },
    /// Show where the filter is attached, the daemon, the policy, counters with their current
    /// rates, bans and map fill levels.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Rates are measured over this long (0: counters only, no wait).
        #[arg(long, default_value = "1s")]
        interval: String,
        /// Directory of the pinned maps.
        #[arg(long, default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
    },
    /// Print the built-in default policy (a starting point for a config file).
    DefaultConfig,
    /// Ban an address or prefix (IPv4 or IPv6). The kernel expires it; it survives restarts.
    Ban {
        /// Address or CIDR, e.g. 203.0.113.7 or 2001:db8:bad::/48.
        net: String,
        /// How long, e.g. 30m, 12h, 7d (default: until `sipguard unban`).
        #[arg(long = "for")]
        duration: Option<String>,
        /// Why (shown by `sipguard bans`).
        #[arg(long, default_value = "")]
        reason: String,
        /// All of the source's traffic, or only its packets to SIP services.
        #[arg(long, value_enum, default_value_t = bans::Scope::All)]
        scope: bans::Scope,
        #[arg(long, default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
    },
    /// Remove the ban on exactly this address or prefix.
    Unban {
        net: String,
        #[arg(long, default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
    },
    /// Audit the PBX's configuration (Asterisk/FreePBX, FreeSWITCH, sshd) and the host's
    /// listening sockets against the sipguard policy. Exit 0 with no high finding, 1 with
    /// any; secrets are masked.
    Audit {
        /// Audit a copied tree (its etc/asterisk, etc/freeswitch, etc/ssh) instead of /.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Print the findings as a JSON array.
        #[arg(long)]
        json: bool,
        /// Judge sockets by this policy file (default: the running daemon's, else the
        /// built-in default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Don't read the host's listening sockets (auditing a backup).
        #[arg(long)]
        no_sockets: bool,
        /// The daemon whose running policy judges the sockets.
        #[arg(long, default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
    },
    /// List bans: address, reason, time left, packets dropped.
    Bans {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum InstallLayout {
    /// /usr/local and /etc/systemd/system (the default without --layout).
    Local,
    /// The Debian package's paths.
    Debian,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Interface to protect (the PBX's NIC, or the perimeter box's outside NIC).
    #[arg(long)]
    iface: String,
    /// Policy file (TOML). Without it the built-in default protects a stock Asterisk/FreePBX.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9477.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Count what would be dropped as would_drop and pass everything.
    #[arg(long)]
    monitor: bool,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    xdp_mode: AttachMode,
    /// Directory of the pinned maps (bans and counters survive restarts there).
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pin_path: PathBuf,
    /// Reload when the config file changes (checked every second; a config that fails
    /// validation is logged once and the running policy stays).
    #[arg(long, requires = "config")]
    watch: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Audit {
        root,
        json,
        config,
        no_sockets,
        pin_path,
    } = cli.command
    {
        let opts = sipguard::audit::Options {
            root,
            config,
            pin_path,
            sockets: !no_sockets,
        };
        return ExitCode::from(sipguard::audit::run(&opts, json));
    }
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Check {
            config,
            diff,
            pin_path,
        } => check(&config, diff.then_some(pin_path.as_path())),
        Command::Status {
            json,
            interval,
            pin_path,
        } => status(&pin_path, json, &interval),
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Ban {
            net,
            duration,
            reason,
            scope,
            pin_path,
        } => ban(&pin_path, &net, duration.as_deref(), &reason, scope),
        Command::Unban { net, pin_path } => unban(&pin_path, &net),
        Command::Bans { json, pin_path } => list_bans(&pin_path, json),
        Command::Audit { .. } => unreachable!("handled above"),
        Command::Detach { iface, pin_path } => detach(&pin_path, &iface),
        Command::Reload { pin_path } => reload_daemon(&pin_path),
        Command::Install {
            iface,
            root,
            layout,
        } => install(&root, iface.as_deref(), layout),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load_config(path: Option<&Path>, monitor: bool) -> Result<Config, Error> {
    let mut config = match path {
        Some(p) => Config::from_file(p)?,
        None => Config::builtin_default(),
    };
    if monitor {
        config.global.mode = Mode::Monitor;
    }
    Ok(config)
}

fn check(path: &Path, diff_against: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::from_file(path)?;
    println!(
        "{}: OK ({} services, {} deny entries)",
        path.display(),
        config.services.len(),
        config.global.deny.len()
    );
    if let Some(pin_path) = diff_against {
        let running = sipguard::diff::running(pin_path)?;
        let changes = sipguard::config::diff::diff(&running, &config);
        if changes.is_empty() {
            println!("no change against the running policy");
        } else {
            println!("against the running policy ({}):", running.source);
            for line in changes {
                println!("{line}");
            }
        }
    }
    Ok(())
}

fn status(pin_path: &Path, json: bool, interval: &str) -> anyhow::Result<()> {
    let interval = sipguard::parse::duration(interval)
        .map_err(|e| anyhow::anyhow!("--interval {interval:?}: {e}"))?;
    let maps = Maps::open_pinned(pin_path)?;
    let status = Status::read(&maps, pin_path, interval)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status.to_text());
    }
    Ok(())
}

fn ban(
    pin_path: &Path,
    net: &str,
    duration: Option<&str>,
    reason: &str,
    scope: bans::Scope,
) -> anyhow::Result<()> {
    if !loader::is_root() {
        return Err(Error::NotRoot {
            what: "sipguard ban",
        }
        .into());
    }
    let net = sipguard::parse::exact_net(net)?;
    let duration = duration
        .map(|d| {
            sipguard::parse::duration(d)
                .map_err(|e| anyhow::anyhow!("--for {d:?}: {e}"))
                .and_then(|d| {
                    if d.is_zero() {
                        anyhow::bail!("--for 0: leave --for out for a ban until unbanned")
                    }
                    Ok(d)
                })
        })
        .transpose()?;
    let mut maps = Maps::open_pinned(pin_path)?;
    bans::ban(&mut maps, net, duration, reason, scope)?;
    match duration {
        Some(d) => println!("banned {net} for {}s", d.as_secs()),
        None => println!("banned {net} until `sipguard unban {net}`"),
    }
    Ok(())
}

fn unban(pin_path: &Path, net: &str) -> anyhow::Result<()> {
    if !loader::is_root() {
        return Err(Error::NotRoot {
            what: "sipguard unban",
        }
        .into());
    }
    let net = sipguard::parse::exact_net(net)?;
    let mut maps = Maps::open_pinned(pin_path)?;
    if !maps.unban(net)? {
        let listed: Vec<String> = maps
            .bans()?
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        anyhow::bail!(
            "no ban on {net} (bans: {})",
            if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            }
        );
    }
    println!("unbanned {net}");
    Ok(())
}

/// The pid of the daemon holding `pin_path`.
fn daemon_pid(pin_path: &Path) -> anyhow::Result<i32> {
    anyhow::ensure!(
        pin_path.exists(),
        "{}: no sipguard maps there",
        pin_path.display()
    );
    loader::daemon_pid(pin_path)
        .with_context(|| format!("no sipguard daemon is running with {}", pin_path.display()))
}

/// The daemon's `--config` file, from its command line (relative to its working directory).
fn daemon_config(pid: i32) -> anyhow::Result<Option<PathBuf>> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .with_context(|| format!("reading the command line of pid {pid}"))?;
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let mut config = None;
    for (i, a) in args.iter().enumerate() {
        if a == "--config" {
            config = args.get(i + 1).cloned();
        } else if let Some(v) = a.strip_prefix("--config=") {
            config = Some(v.to_owned());
        }
    }
    Ok(config.map(|c| {
        let path = PathBuf::from(c);
        if path.is_absolute() {
            path
        } else {
            PathBuf::from(format!("/proc/{pid}/cwd")).join(path)
        }
    }))
}

fn reload_daemon(pin_path: &Path) -> anyhow::Result<()> {
    if !loader::is_root() {
        return Err(Error::NotRoot {
            what: "sipguard reload",
        }
        .into());
    }
    let pid = daemon_pid(pin_path)?;
    let config = daemon_config(pid)?;
    if let Some(path) = &config {
        Config::from_file(path)
            .map_err(|e| anyhow::anyhow!("{e}\nnothing sent: the running policy stays"))?;
    }
    let maps = Maps::open_pinned(pin_path)?;
    let before = maps.generation()?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .with_context(|| format!("signalling the daemon (pid {pid})"))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if maps.generation()? != before {
            println!(
                "reloaded {} (daemon pid {pid})",
                config
                    .as_deref()
                    .map_or("the built-in default".into(), |p| p.display().to_string())
            );
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    anyhow::bail!(
        "the daemon (pid {pid}) did not apply a new policy within 10 s; its log says why \
         (the running policy stays)"
    )
}

fn install(root: &Path, iface: Option<&str>, layout: Option<InstallLayout>) -> anyhow::Result<()> {
    use sipguard::install::{self as inst, DEBIAN, LOCAL};
    if root == Path::new("/") && !loader::is_root() {
        return Err(Error::NotRoot {
            what: "sipguard install",
        }
        .into());
    }
    let layout = match layout {
        Some(InstallLayout::Debian) => &DEBIAN,
        Some(InstallLayout::Local) | None => &LOCAL,
    };
    anyhow::ensure!(
        iface.is_some() || layout == &DEBIAN,
        "--iface: a local install needs the interface to protect"
    );
    let exe = std::env::current_exe().context("finding this binary")?;
    for line in inst::install(root, layout, iface, &exe)? {
        println!("{line}");
    }
    println!(
        "next: edit {} (and SIPGUARD_IFACE in {}), then `systemctl daemon-reload && systemctl \
         enable --now sipguard`",
        inst::CONFIG,
        inst::DEFAULTS
    );
    Ok(())
}

fn detach(pin_path: &Path, iface: &str) -> anyhow::Result<()> {
    if !loader::is_root() {
        return Err(Error::NotRoot {
            what: "sipguard detach",
        }
        .into());
    }
    for removed in loader::detach(pin_path, iface)? {
        println!("removed {removed}");
    }
    println!("sipguard detached from {iface}");
    Ok(())
}

fn list_bans(pin_path: &Path, json: bool) -> anyhow::Result<()> {
    let maps = Maps::open_pinned(pin_path)?;
    let rows = bans::list(&maps)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", bans::to_text(&rows));
    }
    Ok(())
}

/// Compiles `config` for this host, makes it the active policy, and records it as the
/// running policy (for `sipguard check --diff`).
fn apply(loaded: &mut Loaded, pin_path: &Path, config: &Config) -> Result<u32, Error> {
    let policy = CompiledPolicy::compile(config, &HostFacts::read());
    for note in &policy.notes {
        tracing::warn!("{note}");
    }
    let epoch = loaded.maps.apply(&policy)?;
    if let Err(e) = sipguard::diff::record(pin_path, config) {
        tracing::warn!("recording the running policy for `check --diff`: {e}");
    }
    Ok(epoch)
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    if !loader::is_root() {
        return Err(Error::NotRoot {
            what: "sipguard run",
        }
        .into());
    }
    // Under systemd the name comes from /etc/default/sipguard, which a fresh package leaves
    // empty: say where to set it.
    anyhow::ensure!(
        !args.iface.is_empty(),
        "--iface is empty: name the interface to protect (for the service: SIPGUARD_IFACE in {})",
        sipguard::install::DEFAULTS
    );
    let config = load_config(args.config.as_deref(), args.monitor)?;
    loader::check_interface(&args.iface)?;
    let mut loaded = loader::load(&args.pin_path, config.global.tracked_sources)?;
    let metrics_listener = args.metrics.map(metrics::bind).transpose()?;
    // Attach before writing the policy: if the interface is taken, nothing was written. Until
    // the policy lands the program enforces what the pinned maps hold (the previous policy on
    // a restart; on a first start, nothing: it passes, as the host did before).
    // After a layout change the new maps start empty while the old program still filters:
    // write the policy and the carried bans first, then swap the program in.
    let migrated = loaded.migration.is_some();
    if let Some(m) = &loaded.migration {
        let bans = m.bans.clone();
        for (net, ban, note) in bans {
            loaded.maps.ban_with_note(net, ban, &note)?;
        }
        apply(&mut loaded, &args.pin_path, &config)?;
    }
    // A pinned link from a daemon before this one (killed, or upgraded) gets the new program
    // swapped in atomically; on the same layout, the maps are the same pinned maps.
    let mode = loader::attach(&mut loaded, &args.pin_path, &args.iface, args.xdp_mode)?;
    let egress_adopted = loader::attach_egress(&mut loaded, &args.pin_path, &args.iface)?;
    if let Some(m) = loaded.migration.take() {
        let (from, bans) = (m.from, m.bans.len());
        m.finish()?;
        match from {
            loader::Mismatch::Layout(from) => tracing::warn!(
                from_layout = from,
                to_layout = sipguard_common::LAYOUT_VERSION,
                bans_carried = bans,
                "the pinned maps had another layout: replaced them and the program, carried the bans over"
            ),
            loader::Mismatch::TrackedSources(from) => tracing::warn!(
                from_tracked_sources = from,
                tracked_sources = config.global.tracked_sources,
                bans_carried = bans,
                "the pinned per-source table had another size: replaced the maps and the program, carried the bans over (rate buckets start afresh)"
            ),
        }
    }
    let events = loaded
        .ebpf
        .take_map(sipguard::ebpf::map::EVENTS)
        .context("the object has no EVENTS map")?;
    let events = aya::maps::RingBuf::try_from(events).context("EVENTS is not a ring buffer")?;
    if !migrated {
        apply(&mut loaded, &args.pin_path, &config)?;
    }
    for note in loaded.features.differences() {
        tracing::info!(kernel = %sipguard::kernel::release(), "on this kernel: {note}");
    }
    tracing::info!(
        iface = %args.iface,
        xdp_mode = mode,
        egress = if egress_adopted { "adopted" } else { "attached" },
        config = %config.source,
        services = config.services.len(),
        policy_mode = ?config.global.mode,
        default = ?config.global.default_action,
        kernel = %sipguard::kernel::release(),
        "sipguard attached"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        if let Some(listener) = metrics_listener {
            let pin_path = args.pin_path.clone();
            let iface = args.iface.clone();
            tokio::spawn(async move {
                if let Err(e) = metrics::serve(listener, pin_path, iface).await {
                    tracing::error!("metrics server stopped: {e}");
                }
            });
        }
        // Safety: the ring buffer owns its map fd for as long as the AsyncFd owns the ring
        // buffer, and always answers that same fd.
        let events = unsafe { tokio::io::unix::AsyncFd::register(events) }
            .map_err(|e| anyhow::anyhow!("watching EVENTS: {e}"))?;
        // Drop samples name their service: the names of the policy active when logged.
        let names = Maps::open_pinned(&args.pin_path)?;
        tokio::spawn(events::log(events, move |slot| {
            names
                .service_names()
                .ok()
                .and_then(|n| n.get(usize::from(slot)).cloned())
                .unwrap_or_else(|| "unknown".into())
        }));
        // Log files named in the config at start (a reload doesn't change them).
        tokio::spawn(sipguard::logwatch::run(
            config.logwatch.clone(),
            args.pin_path.clone(),
        ));
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sighup = signal(SignalKind::hangup())?;
        // The kernel ignores expired bans by itself; this frees their slots now and then.
        let mut reap = tokio::time::interval(std::time::Duration::from_secs(10));
        let mut watch = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut seen = args.config.as_deref().and_then(file_fingerprint);
        loop {
            tokio::select! {
                _ = sigint.recv() => break,
                _ = sigterm.recv() => break,
                _ = sighup.recv() => reload(&mut loaded, &args),
                _ = reap.tick() => reap_bans(&mut loaded),
                _ = watch.tick(), if args.watch => {
                    let now = args.config.as_deref().and_then(file_fingerprint);
                    if now.is_some() && now != seen {
                        seen = now;
                        tracing::info!("the config file changed");
                        reload(&mut loaded, &args);
                    }
                }
            }
        }
        anyhow::Ok(())
    })?;
    drop(loaded);
    tracing::info!(
        iface = %args.iface,
        "exiting; the filter stays attached with the last policy (`sipguard detach --iface {}` \
         removes it)",
        args.iface
    );
    Ok(())
}

fn reap_bans(loaded: &mut Loaded) {
    match loaded
        .maps
        .reap_expired_bans(sipguard::maps::ban_clock_ns())
    {
        Ok(expired) => {
            for net in expired {
                tracing::info!(%net, "ban expired");
            }
        }
        Err(e) => tracing::warn!("removing expired bans: {e}"),
    }
}

/// What tells a config file's versions apart: an editor's save (a new inode by rename, or the
/// same file rewritten) changes one of these.
fn file_fingerprint(path: &Path) -> Option<(u64, u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.modified().ok()?))
}

/// SIGHUP: re-read the config; a config that fails validation leaves the running policy.
fn reload(loaded: &mut Loaded, args: &RunArgs) {
    let result = load_config(args.config.as_deref(), args.monitor)
        .and_then(|config| apply(loaded, &args.pin_path, &config).map(|epoch| (config, epoch)));
    match result {
        Ok((config, epoch)) => {
            tracing::info!(
                config = %config.source,
                services = config.services.len(),
                epoch,
                "policy reloaded"
            );
            if config.global.tracked_sources != loaded.maps.tracked_sources() {
                tracing::warn!(
                    tracked_sources = config.global.tracked_sources,
                    running = loaded.maps.tracked_sources(),
                    "[global] tracked_sources takes effect at the next start (the table's size is fixed while it is in use)"
                );
            }
        }
        Err(e) => tracing::error!("reload rejected, the running policy stays: {e}"),
    }
}

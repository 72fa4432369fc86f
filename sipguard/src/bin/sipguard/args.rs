//! The command line: clap's types for every subcommand and its options.
//!
//! The doc comments are the `--help` texts; a change here is a change of the CLI.
use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};
use sipguard::{control::bans, dataplane::AttachMode, DEFAULT_PIN_PATH};

#[derive(Parser)]
#[command(
    name = "sipguard",
    version,
    about = "XDP firewall for VoIP phone systems"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Attach the filter to an interface and enforce a policy (SIGHUP reloads the config
    /// file). The filter stays attached when the daemon exits, even by kill -9; the next
    /// daemon adopts it without a gap, `sipguard detach` removes it.
    Run(RunArgs),
    /// Make the running daemon reload its config file: the file is validated here first (an
    /// error names file, line, field and value, and nothing is sent), then the daemon is
    /// signalled (SIGHUP) and this waits until it has applied the new policy.
    Reload(ReloadArgs),
    /// Install for systemd: the binary in /usr/local/sbin, a config to start from in
    /// /etc/sipguard (an existing one is validated and kept), the unit, IFACE in
    /// /etc/default/sipguard, and the Grafana dashboard in /usr/local/share/sipguard. Then:
    /// systemctl daemon-reload && systemctl enable --now sipguard.
    Install(InstallArgs),
    /// Remove the filter from an interface, with its pinned maps and bans when no other
    /// interface uses them. Refused while a daemon runs: stop it first.
    Detach(DetachArgs),
    /// Validate a config file: exit 0 when valid, else print what is wrong and exit 1.
    Check(CheckArgs),
    /// Show where the filter is attached, the daemon, the policy, counters with their current
    /// rates, bans and map fill levels.
    Status(StatusArgs),
    /// Print the built-in default policy (a starting point for a config file).
    DefaultConfig,
    /// Ban an address or prefix (IPv4 or IPv6). The kernel expires it; it survives restarts.
    Ban(BanArgs),
    /// Remove the ban on exactly this address or prefix.
    Unban(UnbanArgs),
    /// Audit the PBX's configuration (Asterisk/FreePBX, FreeSWITCH, sshd) and the host's
    /// listening sockets against the sipguard policy. Exit 0 with no high finding, 1 with
    /// any; secrets are masked.
    Audit(AuditArgs),
    /// List bans: address, reason, time left, packets dropped.
    Bans(BansArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum InstallLayout {
    /// /usr/local and /etc/systemd/system (the default without --layout).
    Local,
    /// The Debian package's paths.
    Debian,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Interface to protect (the PBX's NIC, or the perimeter box's outside NIC). Repeat it,
    /// or separate names by commas, to guard several with one policy: the same programs and
    /// maps on each, so a ban earned on one drops the source on all.
    #[arg(long, required = true, value_delimiter = ',')]
    pub iface: Vec<String>,
    /// Policy file (TOML). Without it the built-in default protects a stock Asterisk/FreePBX.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9477.
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
    /// Count what would be dropped as would_drop and pass everything.
    #[arg(long)]
    pub monitor: bool,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub xdp_mode: AttachMode,
    /// Directory of the pinned maps (bans and counters survive restarts there).
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,
    /// Reload when the config file changes (checked every second; a config that fails
    /// validation is logged once and the running policy stays).
    #[arg(long, requires = "config")]
    pub watch: bool,
}

#[derive(clap::Args)]
pub struct ReloadArgs {
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// The interface to protect (required for a local install).
    #[arg(long, required_unless_present = "layout")]
    pub iface: Option<String>,
    /// Install under this directory instead of / (packaging, staging).
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// The Debian package's paths (/usr/sbin, /usr/lib/systemd/system, /usr/share), for
    /// staging a package under --root (`cargo xtask deb`).
    #[arg(long, value_enum)]
    pub layout: Option<InstallLayout>,
}

#[derive(clap::Args)]
pub struct DetachArgs {
    /// The interface to take the filter off; repeat it (or separate by commas) for several.
    #[arg(long, required = true, value_delimiter = ',')]
    pub iface: Vec<String>,
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    #[arg(long)]
    pub config: PathBuf,
    /// Also print what applying it would change against the running daemon's policy.
    #[arg(long)]
    pub diff: bool,
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Rates are measured over this long (0: counters only, no wait).
    #[arg(long, default_value = "1s")]
    pub interval: String,
    /// Directory of the pinned maps.
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,
}

#[derive(clap::Args)]
pub struct BanArgs {
    /// Address or CIDR, e.g. 203.0.113.7 or 2001:db8:bad::/48.
    pub net: String,
    /// How long, e.g. 30m, 12h, 7d (default: until `sipguard unban`).
    #[arg(long = "for")]
    pub duration: Option<String>,
    /// Why (shown by `sipguard bans`).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// All of the source's traffic, or only its packets to SIP services.
    #[arg(long, value_enum, default_value_t = bans::Scope::All)]
    pub scope: bans::Scope,
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,
}

#[derive(clap::Args)]
pub struct UnbanArgs {
    pub net: String,
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,
}

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Audit a copied tree (its etc/asterisk, etc/freeswitch, etc/ssh) instead of /.
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// Print the findings as a JSON array.
    #[arg(long)]
    pub json: bool,
    /// Judge sockets by this policy file (default: the running daemon's, else the
    /// built-in default).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Don't read the host's listening sockets (auditing a backup).
    #[arg(long)]
    pub no_sockets: bool,
    /// The daemon whose running policy judges the sockets.
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,
}

#[derive(clap::Args)]
pub struct BansArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,
}

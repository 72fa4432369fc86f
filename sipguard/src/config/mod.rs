//! The policy file: its validated types, and loading a file into them.
//!
//! A policy is a TOML file with an optional `[global]` table and any number of `[[service]]`
//! tables (see `examples/sipguard.toml` and the built-in [`DEFAULT_CONFIG`]). Parsing happens
//! in two steps: serde turns the text into the raw structs of `raw.rs`, which keep the byte
//! span of every value (`toml::Spanned`), then `validate/` checks them into the types below.
//! A config that fails validation never reaches the BPF maps, so everything the data plane
//! relies on is checked here, and every error ([`ConfigError`]) names the file, line, column,
//! field and offending value.
//!
//! This is the lowest layer of the crate above [`crate::parse`]: it depends on
//! `sipguard_common` (map capacities, the scanner table) and `parse`, never on the layers
//! that compile, load or run a policy.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the validated types, [`DEFAULT_CONFIG`], [`Config::from_file`]/[`Config::from_str`] |
//! | `raw.rs` | the serde structs, with spans |
//! | `validate/` | the rules, one file per section |
//! | `locate.rs` | naming the field of a TOML syntax or type error |
//! | `error.rs` | [`ConfigError`] |
//! | [`limits`] | capacities (from the map sizes) and numeric bounds |
//! | [`log_rules`] | what a `[[logwatch]]` pattern means; the built-in sets |
//! | [`diff`] | `sipguard check --diff` |
//! | `tests/` | the validation tests, one file per section |
//!
//! # Adding a config key
//!
//! 1. `raw.rs`: the field on its `Raw*` struct, as `Option<Spanned<_>>` (a new table also
//!    needs its struct name in `locate.rs`'s list, and a case in its `describe`).
//! 2. `mod.rs`: the field on the validated type, documented, and its default in that type's
//!    `Default` impl (the only place defaults are written).
//! 3. `validate/<section>.rs`: the check, starting from the default, with an error naming
//!    the field and saying what is expected.
//! 4. If the data plane reads it: a field of `sipguard_common::Policy` (global settings; bump
//!    `LAYOUT_VERSION`) or `ServicePolicy`, set in `policy/settings.rs` or
//!    `policy/service.rs`, and asserted in the `policy` tests. Nothing else copies it: the map
//!    writer stores the value `compile` built.
//! 5. `diff.rs`: an item, so that `sipguard check --diff` shows a change (for `[global]` the
//!    compiler insists).
//! 6. `tests/<section>.rs`: the value, the default and the error; then
//!    `examples/sipguard.toml` and the README's config reference.
use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

pub use error::ConfigError;
use ipnet::IpNet;

pub mod diff;
mod error;
pub mod limits;
mod locate;
pub mod log_rules;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

/// The built-in policy, used when the daemon runs without a config file.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");
/// The [`Config::source`] (and error file name) of the built-in policy.
pub const DEFAULT_CONFIG_NAME: &str = "<built-in default>";

// ---------------------------------------------------------------------------------------------
// Validated types
// ---------------------------------------------------------------------------------------------

/// Whether verdicts are applied (`enforce`) or only counted (`monitor`: would-be drops are
/// counted as `would_drop` and the packet passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Monitor,
}

/// What happens to traffic that matches no service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Pass,
    Drop,
}

/// UDP ports treated as return traffic of the host's own sockets under `default = "drop"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyPorts {
    /// The daemon reads `net.ipv4.ip_local_port_range`.
    Auto,
    /// No UDP reply ports.
    None,
    /// An explicit range.
    Range(PortRange),
}

/// A service protocol. `Icmp` means ICMP and ICMPv6 echo requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Udp,
    Tcp,
    Icmp,
}

/// An inclusive port range; `1 <= lo <= hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

/// Dropped packets logged per second and CPU when `[global] drop_samples` is not set: enough
/// to see who is knocking, never enough to flood the journal.
pub const DEFAULT_DROP_SAMPLES: u32 = 1;

/// Capacity of the per-source table (`RATES`) when `[global] tracked_sources` is not set.
pub const DEFAULT_TRACKED_SOURCES: u32 = sipguard_common::RATE_MAX_ENTRIES;

/// A validated policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub global: Global,
    pub services: Vec<Service>,
    pub scanners: ScannerPolicy,
    pub autoban: AutobanPolicy,
    /// `[[logwatch]]`: log files to ban from.
    pub logwatch: Vec<LogWatch>,
    /// `[crowdsec]`: decisions from a CrowdSec Local API, and sipguard's own bans sent to it.
    pub crowdsec: Option<CrowdsecPolicy>,
    /// `[apiban]`: the APIBan feed of SIP attackers.
    pub apiban: Option<ApibanPolicy>,
    /// The file path, or [`DEFAULT_CONFIG_NAME`].
    pub source: String,
    /// The TOML text this was parsed from: what the daemon records as the running policy, for
    /// `sipguard check --diff`.
    pub text: String,
}

/// The `[global]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    pub mode: Mode,
    pub default_action: DefaultAction,
    pub reply_ports: ReplyPorts,
    /// Normalized, without duplicates, in file order.
    pub deny: Vec<IpNet>,
    /// SIP sources exempt from rate limits (trunks, the office), normalized.
    pub trusted: Vec<IpNet>,
    /// `protect`: the hosts sipguard guards (a perimeter box's PBXs, and the box itself);
    /// packets to any other destination pass untouched. Empty: every destination.
    pub protect: Vec<IpNet>,
    /// IPv6 sources share one rate bucket per prefix of this length.
    pub rate_ipv6_prefix: u8,
    /// Dropped packets logged as samples, per second and CPU at most (0: none).
    pub drop_samples: u32,
    /// Capacity of the per-source table (rate buckets, scanner verdicts): sources beyond it
    /// evict the least recently seen. Fixed when the maps are created: a change takes effect
    /// at the next start, not on reload.
    pub tracked_sources: u32,
}

/// IPv6 sources share one rate bucket per /64 when `[global] rate_ipv6_prefix` is not set: the
/// prefix a provider hands one customer.
pub const DEFAULT_RATE_IPV6_PREFIX: u8 = 64;

impl Default for Global {
    /// The `[global]` of a file that has none, and of each key left out: enforce, drop what
    /// matches no service, but let the host's own UDP replies back in.
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            default_action: DefaultAction::Drop,
            reply_ports: ReplyPorts::Auto,
            deny: Vec::new(),
            trusted: Vec::new(),
            protect: Vec::new(),
            rate_ipv6_prefix: DEFAULT_RATE_IPV6_PREFIX,
            drop_samples: DEFAULT_DROP_SAMPLES,
            tracked_sources: DEFAULT_TRACKED_SOURCES,
        }
    }
}

/// The `[scanners]` table: User-Agent fingerprints of SIP scanners and what to do on a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannerPolicy {
    /// `enabled = false` turns the check off.
    pub enabled: bool,
    /// Substrings matched case-insensitively in the first 64 bytes of the User-Agent value;
    /// deduplicated (ignoring case), in file order.
    pub user_agents: Vec<String>,
    /// `None`: drop only. `Some(d)`: also ban the source for `d` (IPv6: its rate prefix).
    pub ban: Option<Duration>,
    /// How long a source's verdict is remembered before its next request is read again.
    pub recheck: Duration,
}

/// The `[autoban]` table: bans from the PBX's own answers (the egress program).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutobanPolicy {
    pub enabled: bool,
    /// A client answered this many authentication failures (401, 403, 407 to a REGISTER or
    /// INVITE that carried credentials; a challenge to one without them is no failure) for
    /// one SIP user, with no login of that user between them ...
    pub failures: u32,
    /// ... or whose failures name this many SIP users (each with no login since: a guesser
    /// rotating extensions; 0: off) ...
    pub users: u32,
    /// ... within this window ...
    pub window: Duration,
    /// ... is banned this long ...
    pub ban: Duration,
    /// ... for all its traffic, or for SIP only.
    pub sip_only: bool,
    /// The second signal (the XDP program): a source with more than this many REGISTER or
    /// INVITE requests carrying credentials and no 2xx (INVITE: or 18x) back within `window`
    /// is banned the same way (0: off).
    pub attempts: u32,
    /// A source the PBX accepted (a 2xx, or an 18x to an INVITE, answering credentials) is
    /// remembered this long, and only proven evidence (failures answered over TCP) bans it
    /// meanwhile (zero: nobody is remembered).
    pub learned_trust: Duration,
}

impl Default for AutobanPolicy {
    /// fail2ban's asterisk jail in spirit (a handful of failures, an hour's ban), counted from
    /// the PBX's answers instead of its log: an honest phone's one challenge per registration
    /// never adds up, because its 200 clears the count.
    fn default() -> Self {
        Self {
            enabled: true,
            failures: 5,
            users: 10,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(3600),
            sip_only: false,
            attempts: 10,
            learned_trust: Duration::from_secs(2 * 3600),
        }
    }
}

/// One `[[logwatch]]`: a log file to ban from (followed by the control layer's log watcher).
#[derive(Clone, Debug)]
pub struct LogWatch {
    pub path: PathBuf,
    /// The patterns: built-in sets expanded ([`log_rules::builtin`]), regexes compiled with
    /// [`log_rules::compile`]. [`log_rules::blame`] reads a line with them.
    pub rules: Vec<log_rules::Rule>,
    /// An address blamed by more than this many lines ...
    pub failures: u32,
    /// ... within this window ...
    pub window: Duration,
    /// ... is banned this long ...
    pub ban: Duration,
    /// ... for all its traffic, or for SIP only.
    pub sip_only: bool,
}

impl PartialEq for LogWatch {
    /// Rules have no equality: two rules are equal when their patterns are.
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && self.failures == other.failures
            && self.window == other.window
            && self.ban == other.ban
            && self.sip_only == other.sip_only
            && self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.as_str() == b.as_str())
    }
}

impl Eq for LogWatch {}

impl LogWatch {
    /// What `sipguard check` and the daemon warn about: user patterns that are not anchored to
    /// the whole line (see [`log_rules::Rule::warning`]).
    pub fn warnings(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter_map(log_rules::Rule::warning)
            .map(|w| format!("[[logwatch]] {}: {w}", self.path.display()))
            .collect()
    }
}

/// A credential from the config: written in the file, or the path of a file holding it (read
/// by the daemon when it starts, so the policy text can be shown without it). `Debug` never
/// shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("<inline secret>"),
            Secret::File(p) => write!(f, "<secret in {}>", p.display()),
        }
    }
}

impl Secret {
    /// The secret: the inline text, or the file's first line (trimmed). An empty secret is
    /// an error, so a wrong path or an empty file is caught at the start.
    pub fn read(&self) -> Result<String, ConfigError> {
        let text = match self {
            Secret::Inline(s) => s.clone(),
            Secret::File(p) => {
                let path = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Io {
                    path: path.clone(),
                    source,
                })?;
                text.lines().next().unwrap_or("").trim().to_owned()
            }
        };
        if text.is_empty() {
            return Err(ConfigError::Io {
                path: format!("{self:?}"),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the secret is empty"),
            });
        }
        Ok(text)
    }
}

/// The poll interval of the CrowdSec decision stream when `[crowdsec] poll_interval` is not
/// set (cs-firewall-bouncer's `update_frequency`).
pub const DEFAULT_CROWDSEC_POLL: Duration = Duration::from_secs(10);

/// How often usage metrics are pushed to the LAPI when `[crowdsec] metrics_interval` is not
/// set (go-cs-bouncer's, so cs-firewall-bouncer's).
pub const DEFAULT_CROWDSEC_METRICS: Duration = Duration::from_secs(15 * 60);

/// `[crowdsec]`: sipguard as a CrowdSec remediation component (decisions in, with the bouncer
/// key) and as a signal source (its own bans out as alerts, with a machine's login).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrowdsecPolicy {
    /// The Local API's base URL, `http(s)://host:port`, without a trailing slash.
    pub lapi_url: String,
    /// The bouncer key (`cscli bouncers add`); `None`: no decisions are pulled.
    pub api_key: Option<Secret>,
    /// How often the decision stream is polled.
    pub poll_interval: Duration,
    /// How often usage metrics are pushed (`POST /v1/usage-metrics`, with the bouncer key);
    /// `None`: never (`metrics_interval = "0"` or `"off"`).
    pub metrics_interval: Option<Duration>,
    /// Decision origins applied (lowercase: `crowdsec`, `cscli`, `capi`, `lists`, ...);
    /// empty: all.
    pub origins: Vec<String>,
    /// Only decisions whose scenario contains one of these (lowercase); empty: all.
    pub scenarios_containing: Vec<String>,
    /// Never decisions whose scenario contains one of these (lowercase).
    pub scenarios_not_containing: Vec<String>,
    /// Bans cover SIP services only (`scope = "sip"`) or every packet (`"all"`, the default).
    pub sip_only: bool,
    /// The machine login (`cscli machines add`) that sends sipguard's own bans as alerts;
    /// `None`: no alerts are sent.
    pub machine: Option<(String, Secret)>,
}

/// APIBan's base URL when `[apiban] url` is not set.
pub const DEFAULT_APIBAN_URL: &str = "https://apiban.org/api";
/// Where the APIBan feed keeps the last ID it read when `[apiban] state` is not set.
pub const DEFAULT_APIBAN_STATE: &str = "/var/lib/sipguard/apiban.id";

/// `[apiban]`: the APIBan feed (`GET {url}/{key}/banned/{ID}`, batches of 250).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApibanPolicy {
    pub key: Secret,
    /// The API's base URL, without a trailing slash.
    pub url: String,
    /// How often the feed is read (bounded below by APIBan's rate limit).
    pub interval: Duration,
    /// How long an address of the feed stays banned (APIBan's own: 7 days).
    pub ban: Duration,
    pub sip_only: bool,
    /// The file holding the last ID read, kept across restarts.
    pub state: PathBuf,
}

/// The scanner User-Agents matched when the config names none: the tools that show up in
/// PBX logs and honeypots. Left out on purpose, because honest products carry them too:
/// PortSIP and Ozeki (SDKs inside real softphones), Zoiper, Asterisk and FPBX (names that
/// scanners forge but that real phones and PBXs send), and SIPp (the load tester).
/// `sipcli/` keeps its slash so that a "...SIPClient..." product doesn't match.
pub const DEFAULT_SCANNER_USER_AGENTS: [&str; 20] = [
    "friendly-scanner",
    "sipvicious",
    "sipcli/",
    "sip-scan",
    "sipscan",
    "VaxSIPUserAgent",
    "VaxUserAgent",
    "sundayddr",
    "iWar",
    "sipsak",
    "pplsip",
    "sipptk",
    "sivus",
    "Nsauditor",
    "SipReg",
    "Custom SIP",
    "Nmap NSE",
    "smap",
    "siparmyknife",
    "fdgddfg546df4g8d5f",
];

impl Default for ScannerPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            user_agents: DEFAULT_SCANNER_USER_AGENTS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ban: None,
            recheck: Duration::from_secs(1),
        }
    }
}

/// One rate limit: `rate` requests per second sustained (0: unlimited), `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub rate: u32,
    pub burst: u32,
}

/// Per-source rate limits of a SIP service, per request class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipLimits {
    pub register: Limit,
    pub invite: Limit,
    /// OPTIONS, other requests and garbage.
    pub other: Limit,
    /// New TCP connections per source (any TCP service; SIP over TCP or TLS too).
    pub syn: Limit,
    /// ICMP/ICMPv6 echo requests per source (the icmp service).
    pub echo: Limit,
    /// New TCP connections to the service from all sources together.
    pub syn_budget: Limit,
}

impl SipLimits {
    /// Defaults of a service that is not `sip = true`: no SIP classes, a per-source SYN limit
    /// and budget (TCP), an echo limit (ICMP). A browser opens six connections at once, an
    /// office behind one NAT a few dozen; a SYN flood from one source thousands.
    pub fn non_sip() -> Self {
        let off = Limit { rate: 0, burst: 1 };
        Self {
            register: off,
            invite: off,
            other: off,
            syn: Limit {
                rate: 10,
                burst: 50,
            },
            echo: Limit { rate: 5, burst: 10 },
            syn_budget: Limit {
                rate: 1000,
                burst: 2000,
            },
        }
    }
}

impl Default for SipLimits {
    /// Limits an honest PBX never reaches: 100 phones behind one NAT re-registering every
    /// minute (with their 401 round) stay under 4 REGISTER/s; a boot storm fits the burst;
    /// BLF SUBSCRIBE/NOTIFY and OPTIONS qualify traffic fit `other`; a TCP/TLS phone opens
    /// one connection and keeps it.
    fn default() -> Self {
        Self {
            register: Limit {
                rate: 10,
                burst: 100,
            },
            invite: Limit {
                rate: 10,
                burst: 50,
            },
            other: Limit {
                rate: 100,
                burst: 500,
            },
            syn: Limit { rate: 5, burst: 20 },
            echo: Limit { rate: 5, burst: 10 },
            syn_budget: Limit {
                rate: 1000,
                burst: 2000,
            },
        }
    }
}

/// One `[[service]]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// Sorted, without duplicates.
    pub protocols: Vec<Protocol>,
    /// As written (validated); empty for icmp.
    pub ports: Vec<PortRange>,
    /// `any`, `any4` or `0.0.0.0/0` was listed.
    pub allow_any_v4: bool,
    /// `any`, `any6` or `::/0` was listed.
    pub allow_any_v6: bool,
    /// Explicit prefixes (normalized, without duplicates, in file order), not including the
    /// `any` keywords.
    pub allow: Vec<IpNet>,
    /// `to`: the destinations the service protects (normalized, an IPv6 form of an IPv4
    /// address as that address, without duplicates, in file order); empty: every destination.
    pub to: Vec<IpNet>,
    /// `None`: follow the global mode.
    pub mode: Option<Mode>,
    /// `sip = true`: the service speaks SIP; its UDP datagrams are classified (keep-alive,
    /// response, REGISTER, INVITE, OPTIONS, other request, garbage) and counted by class, and
    /// requests and new TCP connections are rate-limited per source.
    pub sip: bool,
    /// Rate limits per source and request class (SIP services only; defaults when absent).
    pub limits: Option<SipLimits>,
}

impl Service {
    /// The mode that applies to this service under the global `global` mode.
    pub fn effective_mode(&self, global: Mode) -> Mode {
        self.mode.unwrap_or(global)
    }
}

impl PortRange {
    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }

    fn overlaps(&self, other: &PortRange) -> bool {
        self.lo <= other.hi && other.lo <= self.hi
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Icmp => "icmp",
        })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        })
    }
}

impl fmt::Display for DefaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefaultAction::Pass => "pass",
            DefaultAction::Drop => "drop",
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

impl Config {
    /// Reads and validates the policy file at `path`.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: name.clone(),
            source,
        })?;
        Config::from_str(&text, &name)
    }

    /// Parses and validates policy `text`; `source_name` names it in errors and becomes
    /// [`Config::source`].
    pub fn from_str(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let validator = validate::Validator::new(text, source_name);
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| validator.toml_error(&e))?;
        validator.config(&raw)
    }

    /// The built-in policy ([`DEFAULT_CONFIG`]).
    pub fn builtin_default() -> Config {
        match Config::from_str(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME) {
            Ok(c) => c,
            Err(e) => panic!("the built-in default config is invalid: {e}"),
        }
    }
}

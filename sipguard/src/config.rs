//! The policy file: parsing and validation.
//!
//! A policy is a TOML file with an optional `[global]` table and any number of `[[service]]`
//! tables (see `examples/sipguard.toml` and the built-in [`DEFAULT_CONFIG`]). Parsing happens
//! in two steps: serde turns the text into raw structs that keep the byte span of every value
//! (`toml::Spanned`), then [`Config::from_str`] validates them into the types below. A config
//! that fails validation never reaches the BPF maps, so everything the data plane relies on is
//! checked here, and every error names the file, line, column, field and offending value.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The built-in policy, used when the daemon runs without a config file.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");
/// The [`Config::source`] (and error file name) of the built-in policy.
pub const DEFAULT_CONFIG_NAME: &str = "<built-in default>";

/// Services a config may define: `sipguard_common::MAX_SERVICES` (32) map slots minus slot 0,
/// which means "no service matched". Kept local so this module depends on nothing else.
const MAX_CONFIG_SERVICES: usize = 31;
/// Allow entries of all services together: half of `ALLOW_MAX_ENTRIES` (65536), because the
/// maps hold the entries of two policy epochs while a new policy replaces the old one.
const MAX_ALLOW_ENTRIES: usize = 65536 / 2;
/// Deny entries: half of `DENY_MAX_ENTRIES` (262144), for the same double-buffering reason.
const MAX_DENY_ENTRIES: usize = 262144 / 2;
/// Trusted entries: half of `TRUSTED_MAX_ENTRIES` (8192), double-buffered like the others.
const MAX_TRUSTED_ENTRIES: usize = 8192 / 2;
/// Highest rate or burst accepted (requests per second per source).
const MAX_RATE: u32 = 1_000_000;

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
/// `tracked_sources` bounds: below a few thousand a busy PBX's phones evict each other; each
/// entry costs about 100 bytes of kernel memory, allocated up front.
pub const TRACKED_SOURCES_RANGE: std::ops::RangeInclusive<u32> = 1024..=8_388_608;

/// A validated policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub global: Global,
    pub services: Vec<Service>,
    pub scanners: ScannerPolicy,
    pub autoban: AutobanPolicy,
    /// `[[logwatch]]`: log files to ban from.
    pub logwatch: Vec<crate::logwatch::Watch>,
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
    /// IPv6 sources share one rate bucket per prefix of this length (default 64).
    pub rate_ipv6_prefix: u8,
    /// Dropped packets logged as samples, per second and CPU at most (default 1; 0: none).
    pub drop_samples: u32,
    /// Capacity of the per-source table (rate buckets, scanner verdicts): sources beyond it
    /// evict the least recently seen. Fixed when the maps are created: a change takes effect
    /// at the next start, not on reload.
    pub tracked_sources: u32,
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
    /// A client with more than this many authentication failures (401, 403, 407 to REGISTER
    /// or INVITE) and no 2xx between them ...
    pub failures: u32,
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
}

impl Default for AutobanPolicy {
    /// fail2ban's asterisk jail in spirit (a handful of failures, an hour's ban), counted from
    /// the PBX's answers instead of its log: an honest phone's one challenge per registration
    /// never adds up, because its 200 clears the count.
    fn default() -> Self {
        Self {
            enabled: true,
            failures: 5,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(3600),
            sip_only: false,
            attempts: 10,
        }
    }
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
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid policy. `line` and `column` are 1-based and point at `value`
    /// (or at the key or table header when there is no value to show). `value` is the text as
    /// written in the file.
    #[error("{file}:{line}:{column}: {field}{}: {message}", value_suffix(value))]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        value: Option<String>,
        message: String,
    },
}

fn value_suffix(value: &Option<String>) -> String {
    match value {
        Some(v) => format!(" value {v}"),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Raw (deserialized, spanned) types
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    global: Option<RawGlobal>,
    scanners: Option<RawScanners>,
    autoban: Option<RawAutoban>,
    #[serde(default)]
    logwatch: Vec<Spanned<RawLogwatch>>,
    #[serde(default)]
    service: Vec<Spanned<RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    mode: Option<Spanned<String>>,
    default: Option<Spanned<String>>,
    reply_ports: Option<Spanned<String>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
    #[serde(default)]
    trusted: Vec<Spanned<String>>,
    rate_ipv6_prefix: Option<Spanned<i64>>,
    drop_samples: Option<Spanned<i64>>,
    tracked_sources: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogwatch {
    path: Spanned<String>,
    patterns: Spanned<Vec<Spanned<String>>>,
    failures: Option<Spanned<i64>>,
    window: Option<Spanned<String>>,
    ban: Option<Spanned<String>>,
    scope: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutoban {
    enabled: Option<Spanned<bool>>,
    failures: Option<Spanned<i64>>,
    attempts: Option<Spanned<i64>>,
    window: Option<Spanned<String>>,
    ban: Option<Spanned<String>>,
    scope: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScanners {
    enabled: Option<Spanned<bool>>,
    user_agents: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    extra_user_agents: Vec<Spanned<String>>,
    ban: Option<Spanned<String>>,
    recheck: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    register: Option<Spanned<RawLimit>>,
    invite: Option<Spanned<RawLimit>>,
    other: Option<Spanned<RawLimit>>,
    syn: Option<Spanned<RawLimit>>,
    echo: Option<Spanned<RawLimit>>,
    syn_budget: Option<Spanned<RawLimit>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    rate: Spanned<i64>,
    burst: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    protocol: Spanned<RawProtocols>,
    ports: Option<Spanned<RawPorts>>,
    allow: Spanned<Vec<Spanned<String>>>,
    mode: Option<Spanned<String>>,
    sip: Option<Spanned<bool>>,
    limits: Option<Spanned<RawLimits>>,
}

/// `protocol = "udp"` or `protocol = ["udp", "tcp"]`.
enum RawProtocols {
    One(String),
    Many(Vec<Spanned<String>>),
}

/// `ports = 5060`, `ports = "10000-20000"` or `ports = [5060, "10000-20000"]`.
enum RawPorts {
    One(RawPort),
    Many(Vec<Spanned<RawPort>>),
}

enum RawPort {
    Int(i64),
    Str(String),
}

// Hand-written visitors: serde's untagged enums buffer their input, which loses the spans.

impl<'de> Deserialize<'de> for RawProtocols {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawProtocols;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""udp", "tcp", "icmp" or an array such as ["udp", "tcp"]"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawProtocols::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element()? {
                    out.push(p);
                }
                Ok(RawProtocols::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPort;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a port number or a "LO-HI" range string"#)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawPort::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawPort::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawPort::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawPorts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPorts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a port, a "LO-HI" range, or an array of them"#)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawPorts::One(RawPort::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawPorts::One(RawPort::Int(
                    i64::try_from(v).unwrap_or(i64::MAX),
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawPorts::One(RawPort::Str(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element()? {
                    out.push(p);
                }
                Ok(RawPorts::Many(out))
            }
        }
        d.deserialize_any(V)
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
        let cx = Cx {
            text,
            file: source_name,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
        cx.validate(raw)
    }

    /// The built-in policy ([`DEFAULT_CONFIG`]).
    pub fn builtin_default() -> Config {
        match Config::from_str(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME) {
            Ok(c) => c,
            Err(e) => panic!("the built-in default config is invalid: {e}"),
        }
    }
}

/// The text being parsed, for positions and error construction.
struct Cx<'a> {
    text: &'a str,
    file: &'a str,
}

type Span = Range<usize>;

impl Cx<'_> {
    /// 1-based line and column (in characters) of byte `offset`.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    fn line(&self, span: &Span) -> usize {
        self.line_col(span.start).0
    }

    /// The text of `span` as written, on one line and shortened if long.
    fn snippet(&self, span: &Span) -> Option<String> {
        let s = self.text.get(span.clone())?;
        if s.is_empty() {
            return None;
        }
        let s = if s.contains('\n') {
            s.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            s.to_owned()
        };
        const MAX: usize = 60;
        if s.chars().count() > MAX {
            Some(format!("{}...", s.chars().take(MAX).collect::<String>()))
        } else {
            Some(s)
        }
    }

    fn error(
        &self,
        span: &Span,
        field: String,
        value: Option<String>,
        message: String,
    ) -> ConfigError {
        let (line, column) = self.line_col(span.start);
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line,
            column,
            field,
            value,
            message,
        }
    }

    /// An error about the value at `span`.
    fn at_value(&self, span: &Span, field: String, message: impl Into<String>) -> ConfigError {
        self.error(span, field, self.snippet(span), message.into())
    }

    /// An error located at `span` without a value (a missing field, a table).
    fn at(&self, span: &Span, field: String, message: impl Into<String>) -> ConfigError {
        self.error(span, field, None, message.into())
    }

    /// Converts a TOML syntax or deserialization error, naming the field it is about.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        // serde names our private structs; say what the user writes instead.
        let message = [
            "RawConfig",
            "RawGlobal",
            "RawService",
            "RawLimits",
            "RawLimit",
        ]
        .iter()
        .fold(e.message().trim().to_owned(), |m, s| {
            m.replace(&format!("struct {s}"), "a table")
        })
        .replace("a sequence", "an array");
        let table = match DeTable::parse(self.text) {
            Ok(t) => t,
            // The text does not even parse as TOML.
            Err(syntax) => {
                let span = syntax.span().unwrap_or(span);
                return self.at(&span, "TOML syntax".into(), syntax.message().trim());
            }
        };
        let mut path = locate(table.get_ref(), span.start);
        let mut value = self.snippet(&span);
        let mut message = message;
        if let Some(key) = backticked(&message, "missing field `") {
            // Located at the table (header) that lacks the field.
            path.push(Seg::Key(key));
            value = None;
            message = "required field is missing".into();
        } else if let Some(key) = backticked(&message, "unknown field `") {
            if !matches!(path.last(), Some(Seg::Key(k)) if *k == key) {
                path.push(Seg::Key(key));
            }
            value = None;
            message = match message.split_once(", ") {
                Some((_, expected)) => format!("unknown key; {expected}"),
                None => "unknown key".into(),
            };
        } else if let Some(Seg::Index(_)) = path.last() {
            // A table of an array of tables: the span is its header, not a value.
            if path.len() == 2 {
                value = None;
            }
        }
        self.error(&span, describe(&path, table.get_ref()), value, message)
    }

    // -----------------------------------------------------------------------------------------
    // Validation
    // -----------------------------------------------------------------------------------------

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let global = match raw.global {
            Some(g) => self.global(g)?,
            None => Global {
                mode: Mode::Enforce,
                default_action: DefaultAction::Drop,
                reply_ports: ReplyPorts::Auto,
                deny: Vec::new(),
                trusted: Vec::new(),
                rate_ipv6_prefix: 64,
                drop_samples: DEFAULT_DROP_SAMPLES,
                tracked_sources: DEFAULT_TRACKED_SOURCES,
            },
        };

        let mut services = Vec::with_capacity(raw.service.len());
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut allow_total = 0usize;
        for (index, raw_service) in raw.service.iter().enumerate() {
            let header = raw_service.span();
            let rs = raw_service.get_ref();
            if index >= MAX_CONFIG_SERVICES {
                return Err(self.at(
                    &header,
                    format!("service {:?}", rs.name.get_ref()),
                    format!(
                        "too many services: at most {MAX_CONFIG_SERVICES} \
                         (the data plane has {} service slots and slot 0 means \"none\")",
                        MAX_CONFIG_SERVICES + 1
                    ),
                ));
            }
            let service = self.service(raw_service)?;
            if let Some(first) = names.get(&service.name) {
                return Err(self.at_value(
                    &rs.name.span(),
                    format!("service {:?} field `name`", service.name),
                    format!("duplicate service name (first defined on line {first})"),
                ));
            }
            names.insert(service.name.clone(), self.line(&rs.name.span()));
            if allow_total + service.allow.len() > MAX_ALLOW_ENTRIES {
                let span = rs.allow.span();
                return Err(self.at(
                    &span,
                    svc_field(&service.name, "allow"),
                    format!(
                        "too many allow entries: more than {MAX_ALLOW_ENTRIES} in all services \
                         together"
                    ),
                ));
            }
            allow_total += service.allow.len();
            services.push(service);
        }
        self.check_overlaps(&raw.service, &services)?;
        let scanners = match raw.scanners {
            Some(s) => self.scanners(s)?,
            None => ScannerPolicy::default(),
        };
        let autoban = match raw.autoban {
            Some(a) => self.autoban(a, "[autoban]")?,
            None => AutobanPolicy::default(),
        };
        let logwatch = raw
            .logwatch
            .iter()
            .enumerate()
            .map(|(i, w)| self.logwatch(i, w.get_ref()))
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Config {
            global,
            services,
            scanners,
            autoban,
            logwatch,
            source: self.file.to_owned(),
            text: self.text.to_owned(),
        })
    }

    fn global(&self, g: RawGlobal) -> Result<Global, ConfigError> {
        let field = |name: &str| format!("[global] field `{name}`");
        let mode = match &g.mode {
            Some(m) => {
                parse_mode(m.get_ref()).map_err(|e| self.at_value(&m.span(), field("mode"), e))?
            }
            None => Mode::Enforce,
        };
        let default_action = match &g.default {
            Some(d) => match d.get_ref().as_str() {
                "pass" => DefaultAction::Pass,
                "drop" => DefaultAction::Drop,
                _ => {
                    return Err(self.at_value(
                        &d.span(),
                        field("default"),
                        r#"expected "pass" or "drop""#,
                    ))
                }
            },
            None => DefaultAction::Drop,
        };
        let reply_ports = match &g.reply_ports {
            Some(r) => match r.get_ref().as_str() {
                "auto" => ReplyPorts::Auto,
                "none" => ReplyPorts::None,
                s => ReplyPorts::Range(parse_port_str(s).map_err(|e| {
                    self.at_value(
                        &r.span(),
                        field("reply_ports"),
                        format!(r#"expected "auto", "none" or a "LO-HI" range: {e}"#),
                    )
                })?),
            },
            None => ReplyPorts::Auto,
        };
        let mut deny = Vec::new();
        let mut seen = HashSet::new();
        for entry in &g.deny {
            let net = match parse_net(entry.get_ref()) {
                Ok(Net::Prefix(n)) => n,
                Ok(Net::Any4 | Net::Any6 | Net::Any) => {
                    return Err(self.at_value(
                        &entry.span(),
                        field("deny"),
                        "the `any` keywords are only valid in `allow`; deny takes CIDRs and \
                         addresses",
                    ))
                }
                Err(e) => return Err(self.at_value(&entry.span(), field("deny"), e)),
            };
            if seen.insert(net) {
                if deny.len() == MAX_DENY_ENTRIES {
                    return Err(self.at_value(
                        &entry.span(),
                        field("deny"),
                        format!("too many deny entries: at most {MAX_DENY_ENTRIES}"),
                    ));
                }
                deny.push(net);
            }
        }
        let mut trusted = Vec::new();
        for entry in &g.trusted {
            match parse_net(entry.get_ref()) {
                Ok(Net::Prefix(n)) => {
                    if !trusted.contains(&n) {
                        trusted.push(n);
                    }
                }
                Ok(Net::Any4 | Net::Any6 | Net::Any) => {
                    return Err(self.at_value(
                        &entry.span(),
                        field("trusted"),
                        "trusting everyone turns rate limits off: list the trunks' and \
                         office's addresses instead",
                    ))
                }
                Err(e) => return Err(self.at_value(&entry.span(), field("trusted"), e)),
            }
        }
        if trusted.len() > MAX_TRUSTED_ENTRIES {
            return Err(self.at_value(
                &g.trusted[MAX_TRUSTED_ENTRIES].span(),
                field("trusted"),
                format!("too many trusted entries: at most {MAX_TRUSTED_ENTRIES}"),
            ));
        }
        let rate_ipv6_prefix = match &g.rate_ipv6_prefix {
            Some(p) => match u8::try_from(*p.get_ref()) {
                Ok(len @ 1..=128) => len,
                _ => {
                    return Err(self.at_value(
                        &p.span(),
                        field("rate_ipv6_prefix"),
                        "expected a prefix length from 1 to 128 (64: one bucket per /64)",
                    ))
                }
            },
            None => 64,
        };
        let drop_samples = match &g.drop_samples {
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(n @ 0..=1000) => n,
                _ => {
                    return Err(self.at_value(
                        &n.span(),
                        field("drop_samples"),
                        "expected 0 (none) to 1000 dropped packets logged per second and CPU",
                    ))
                }
            },
            None => DEFAULT_DROP_SAMPLES,
        };
        let tracked_sources = match &g.tracked_sources {
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(n) if TRACKED_SOURCES_RANGE.contains(&n) => n,
                _ => {
                    return Err(self.at_value(
                        &n.span(),
                        field("tracked_sources"),
                        format!(
                            "expected {} to {} sources (about 100 bytes of kernel memory each)",
                            TRACKED_SOURCES_RANGE.start(),
                            TRACKED_SOURCES_RANGE.end()
                        ),
                    ))
                }
            },
            None => DEFAULT_TRACKED_SOURCES,
        };
        Ok(Global {
            mode,
            default_action,
            reply_ports,
            deny,
            trusted,
            rate_ipv6_prefix,
            drop_samples,
            tracked_sources,
        })
    }

    fn logwatch(
        &self,
        index: usize,
        raw: &RawLogwatch,
    ) -> Result<crate::logwatch::Watch, ConfigError> {
        let field = |name: &str| format!("[[logwatch]] #{} field `{name}`", index + 1);
        let path = raw.path.get_ref();
        if !path.starts_with('/') {
            return Err(self.at_value(
                &raw.path.span(),
                field("path"),
                "expected an absolute path",
            ));
        }
        let mut rules = Vec::new();
        for p in raw.patterns.get_ref() {
            match crate::logwatch::builtin(p.get_ref()) {
                Some(set) => rules.extend(
                    set.iter()
                        .map(|r| crate::logwatch::compile(r).expect("built-in patterns compile")),
                ),
                None => rules.push(crate::logwatch::compile(p.get_ref()).map_err(|e| {
                    self.at_value(
                        &p.span(),
                        field("patterns"),
                        format!(
                            "neither a built-in set (\"asterisk\", \"kamailio\", \"sshd\") nor a \
                             usable regex: {e}"
                        ),
                    )
                })?),
            }
        }
        if rules.is_empty() {
            return Err(self.at(
                &raw.patterns.span(),
                field("patterns"),
                "must not be empty: name a built-in set or give regexes with <HOST>",
            ));
        }
        // The same fields and checks as [autoban], with fail2ban's usual window.
        let autoban = self.autoban(
            RawAutoban {
                enabled: None,
                failures: raw.failures.clone(),
                attempts: None,
                window: raw.window.clone(),
                ban: raw.ban.clone(),
                scope: raw.scope.clone(),
            },
            &format!("[[logwatch]] #{}", index + 1),
        )?;
        let window = if raw.window.is_some() {
            autoban.window
        } else {
            Duration::from_secs(600)
        };
        Ok(crate::logwatch::Watch {
            path: PathBuf::from(path),
            rules,
            failures: autoban.failures,
            window,
            ban: autoban.ban,
            sip_only: autoban.sip_only,
        })
    }

    /// `[autoban]`, or the same fields of a `[[logwatch]]` (`section` names which).
    fn autoban(&self, raw: RawAutoban, section: &str) -> Result<AutobanPolicy, ConfigError> {
        let field = |name: &str| format!("{section} field `{name}`");
        let mut policy = AutobanPolicy::default();
        if let Some(e) = &raw.enabled {
            policy.enabled = *e.get_ref();
        }
        if let Some(f) = &raw.failures {
            policy.failures = match u32::try_from(*f.get_ref()) {
                Ok(n @ 1..=1000) => n,
                _ => {
                    return Err(self.at_value(
                        &f.span(),
                        field("failures"),
                        "expected 1 to 1000 (failures tolerated before the ban)",
                    ))
                }
            };
        }
        if let Some(a) = &raw.attempts {
            policy.attempts = match u32::try_from(*a.get_ref()) {
                Ok(n @ 0..=1000) => n,
                _ => {
                    return Err(self.at_value(
                        &a.span(),
                        field("attempts"),
                        "expected 0 (off) to 1000 (requests with credentials tolerated without a 2xx back)",
                    ))
                }
            };
        }
        let duration = |raw: &Option<Spanned<String>>, name: &str, max: Duration| {
            let Some(v) = raw else {
                return Ok(None);
            };
            let d = parse_duration(v.get_ref())
                .map_err(|e| self.at_value(&v.span(), field(name), e))?;
            if d < Duration::from_secs(1) || d > max {
                return Err(self.at_value(
                    &v.span(),
                    field(name),
                    format!("expected from 1s to {}d", max.as_secs() / 86400),
                ));
            }
            Ok(Some(d))
        };
        if let Some(d) = duration(&raw.window, "window", Duration::from_secs(86400))? {
            policy.window = d;
        }
        if let Some(d) = duration(&raw.ban, "ban", Duration::from_secs(365 * 86400))? {
            policy.ban = d;
        }
        if let Some(s) = &raw.scope {
            policy.sip_only = match s.get_ref().as_str() {
                "all" => false,
                "sip" => true,
                _ => return Err(self.at_value(
                    &s.span(),
                    field("scope"),
                    r#"expected "all" (every packet of the source) or "sip" (SIP services only)"#,
                )),
            };
        }
        Ok(policy)
    }

    fn scanners(&self, raw: RawScanners) -> Result<ScannerPolicy, ConfigError> {
        let field = |name: &str| format!("[scanners] field `{name}`");
        let mut policy = ScannerPolicy::default();
        if let Some(e) = &raw.enabled {
            policy.enabled = *e.get_ref();
        }
        let mut listed: Vec<&Spanned<String>> = Vec::new();
        if let Some(list) = &raw.user_agents {
            policy.user_agents.clear();
            listed.extend(list);
        }
        listed.extend(&raw.extra_user_agents);
        let mut table = sipguard_common::ua::Scanners::default();
        for ua in &policy.user_agents {
            // The built-in list always fits.
            let _ = table.push(ua.as_bytes());
        }
        for entry in listed {
            let name = if raw
                .user_agents
                .as_ref()
                .is_some_and(|l| l.iter().any(|e| std::ptr::eq(e, entry)))
            {
                "user_agents"
            } else {
                "extra_user_agents"
            };
            let text = entry.get_ref();
            let lower = text.to_ascii_lowercase();
            if policy
                .user_agents
                .iter()
                .any(|u| u.to_ascii_lowercase() == lower)
            {
                continue;
            }
            if let Err(e) = table.push(text.as_bytes()) {
                use sipguard_common::ua::{
                    PatternError, MAX_PATTERNS, MAX_PER_SLOT, PATTERN_MAX, PATTERN_MIN,
                };
                let message = match e {
                    PatternError::TooShort => format!(
                        "too short: at least {PATTERN_MIN} characters (shorter substrings \
                         match honest phones)"
                    ),
                    PatternError::TooLong => format!("too long: at most {PATTERN_MAX} bytes"),
                    PatternError::NotPrintableAscii => {
                        "only printable ASCII characters can be matched".into()
                    }
                    PatternError::TooMany => {
                        format!("too many User-Agent patterns: at most {MAX_PATTERNS} in all")
                    }
                    PatternError::SlotFull => format!(
                        "more than {MAX_PER_SLOT} patterns start with the same 4 letters (or \
                         share their table slot): merge them into a shorter pattern"
                    ),
                };
                return Err(self.at_value(&entry.span(), field(name), message));
            }
            policy.user_agents.push(text.clone());
        }
        if let Some(b) = &raw.ban {
            let d = parse_duration(b.get_ref())
                .map_err(|e| self.at_value(&b.span(), field("ban"), e))?;
            if d.as_secs() > u32::MAX as u64 {
                return Err(self.at_value(&b.span(), field("ban"), "too long"));
            }
            policy.ban = (!d.is_zero()).then_some(d);
        }
        if let Some(r) = &raw.recheck {
            let d = parse_duration(r.get_ref())
                .map_err(|e| self.at_value(&r.span(), field("recheck"), e))?;
            if d > Duration::from_secs(3600) {
                return Err(self.at_value(
                    &r.span(),
                    field("recheck"),
                    "at most 1h: a source's remembered verdict must not outlive the policy",
                ));
            }
            policy.recheck = d;
        }
        Ok(policy)
    }

    fn service(&self, raw: &Spanned<RawService>) -> Result<Service, ConfigError> {
        let header = raw.span();
        let rs = raw.get_ref();
        let name = rs.name.get_ref().clone();
        if let Err(e) = check_name(&name) {
            return Err(self.at_value(&rs.name.span(), svc_field(&name, "name"), e));
        }
        let field = |f: &str| svc_field(&name, f);

        // protocol
        let mut protocols = Vec::new();
        match rs.protocol.get_ref() {
            RawProtocols::One(p) => protocols.push(
                parse_protocol(p)
                    .map_err(|e| self.at_value(&rs.protocol.span(), field("protocol"), e))?,
            ),
            RawProtocols::Many(list) => {
                if list.is_empty() {
                    return Err(self.at_value(
                        &rs.protocol.span(),
                        field("protocol"),
                        r#"must not be empty: use "udp", "tcp", ["udp", "tcp"] or "icmp""#,
                    ));
                }
                for p in list {
                    let proto = parse_protocol(p.get_ref())
                        .map_err(|e| self.at_value(&p.span(), field("protocol"), e))?;
                    if proto == Protocol::Icmp && list.len() > 1 {
                        return Err(self.at_value(
                            &p.span(),
                            field("protocol"),
                            r#""icmp" must be alone: put it in a service of its own with protocol = "icmp""#,
                        ));
                    }
                    if protocols.contains(&proto) {
                        return Err(self.at_value(
                            &p.span(),
                            field("protocol"),
                            format!("duplicate protocol \"{proto}\""),
                        ));
                    }
                    protocols.push(proto);
                }
            }
        }
        protocols.sort();
        let icmp = protocols == [Protocol::Icmp];

        // ports
        let mut ports = Vec::new();
        match &rs.ports {
            Some(p) if icmp => {
                return Err(self.at_value(
                    &p.span(),
                    field("ports"),
                    "icmp services take no ports: remove `ports`",
                ))
            }
            None if !icmp => {
                return Err(self.at(
                    &header,
                    field("ports"),
                    "required field is missing: udp and tcp services need ports",
                ))
            }
            None => {}
            Some(p) => match p.get_ref() {
                RawPorts::One(port) => ports.push(
                    parse_port(port).map_err(|e| self.at_value(&p.span(), field("ports"), e))?,
                ),
                RawPorts::Many(list) => {
                    if list.is_empty() {
                        return Err(self.at_value(
                            &p.span(),
                            field("ports"),
                            "must not be empty: udp and tcp services need ports",
                        ));
                    }
                    for port in list {
                        ports.push(
                            parse_port(port.get_ref())
                                .map_err(|e| self.at_value(&port.span(), field("ports"), e))?,
                        );
                    }
                }
            },
        }

        // allow
        let mut allow = Vec::new();
        let mut seen = HashSet::new();
        let (mut any4, mut any6) = (false, false);
        for entry in rs.allow.get_ref() {
            match parse_net(entry.get_ref())
                .map_err(|e| self.at_value(&entry.span(), field("allow"), e))?
            {
                Net::Any => (any4, any6) = (true, true),
                Net::Any4 => any4 = true,
                Net::Any6 => any6 = true,
                Net::Prefix(net) => {
                    if seen.insert(net) {
                        allow.push(net);
                    }
                }
            }
        }

        // mode
        let mode = match &rs.mode {
            Some(m) => Some(
                parse_mode(m.get_ref()).map_err(|e| self.at_value(&m.span(), field("mode"), e))?,
            ),
            None => None,
        };

        // sip
        let sip = match &rs.sip {
            Some(flag) if *flag.get_ref() && protocols == [Protocol::Icmp] => {
                return Err(self.at_value(
                    &flag.span(),
                    field("sip"),
                    "SIP runs over udp or tcp: an icmp service can't be a SIP service",
                ))
            }
            Some(flag) => *flag.get_ref(),
            None => false,
        };

        // limits
        let limits = match &rs.limits {
            None if sip => Some(SipLimits::default()),
            None => Some(SipLimits::non_sip()),
            Some(l) => {
                let defaults = if sip {
                    SipLimits::default()
                } else {
                    SipLimits::non_sip()
                };
                let raw = l.get_ref();
                if !sip {
                    if let Some(r) = raw
                        .register
                        .as_ref()
                        .or(raw.invite.as_ref())
                        .or(raw.other.as_ref())
                    {
                        return Err(self.at(
                            &r.span(),
                            field("limits"),
                            "register, invite and other limit SIP requests: add `sip = true` \
                             to the service",
                        ));
                    }
                }
                let one = |r: &Option<Spanned<RawLimit>>, default: Limit, what: &str| {
                    let Some(r) = r else { return Ok(default) };
                    let r = r.get_ref();
                    let field = field(&format!("limits.{what}"));
                    let rate = u32::try_from(*r.rate.get_ref())
                        .ok()
                        .filter(|&v| v <= MAX_RATE)
                        .ok_or_else(|| {
                            self.at_value(
                                &r.rate.span(),
                                field.clone(),
                                format!(
                                    "`rate` is requests per second per source, from 0 \
                                     (unlimited) to {MAX_RATE}"
                                ),
                            )
                        })?;
                    let burst = u32::try_from(*r.burst.get_ref())
                        .ok()
                        .filter(|&v| (1..=MAX_RATE).contains(&v))
                        .ok_or_else(|| {
                            self.at_value(
                                &r.burst.span(),
                                field.clone(),
                                format!("`burst` is requests at once, from 1 to {MAX_RATE}"),
                            )
                        })?;
                    Ok(Limit { rate, burst })
                };
                Some(SipLimits {
                    register: one(&raw.register, defaults.register, "register")?,
                    invite: one(&raw.invite, defaults.invite, "invite")?,
                    other: one(&raw.other, defaults.other, "other")?,
                    syn: one(&raw.syn, defaults.syn, "syn")?,
                    echo: one(&raw.echo, defaults.echo, "echo")?,
                    syn_budget: one(&raw.syn_budget, defaults.syn_budget, "syn_budget")?,
                })
            }
        };

        Ok(Service {
            name,
            protocols,
            ports,
            allow_any_v4: any4,
            allow_any_v6: any6,
            allow,
            mode,
            sip,
            limits,
        })
    }

    /// A (protocol, port) pair belongs to one service at most; so does icmp.
    fn check_overlaps(
        &self,
        raw: &[Spanned<RawService>],
        services: &[Service],
    ) -> Result<(), ConfigError> {
        let name_line = |i: usize| self.line(&raw[i].get_ref().name.span());

        let mut icmp_owner: Option<usize> = None;
        for (i, s) in services.iter().enumerate() {
            if s.protocols.contains(&Protocol::Icmp) {
                if let Some(first) = icmp_owner {
                    return Err(self.at_value(
                        &raw[i].get_ref().protocol.span(),
                        svc_field(&s.name, "protocol"),
                        format!(
                            "icmp is also served by service {:?} (line {}): a protocol and port \
                             can belong to one service only",
                            services[first].name,
                            name_line(first)
                        ),
                    ));
                }
                icmp_owner = Some(i);
            }
        }

        for proto in [Protocol::Udp, Protocol::Tcp] {
            // (range, service index, span of the entry as written)
            let mut entries: Vec<(PortRange, usize, Span)> = Vec::new();
            for (i, s) in services.iter().enumerate() {
                if !s.protocols.contains(&proto) {
                    continue;
                }
                let spans = port_spans(raw[i].get_ref());
                entries.extend(s.ports.iter().zip(spans).map(|(&r, sp)| (r, i, sp)));
            }
            entries.sort_by_key(|(r, i, _)| (r.lo, r.hi, *i));
            // Sweep in order of `lo`, remembering the entry reaching highest (`best`) and the
            // entry reaching highest among the other services (`other`): an entry overlaps a
            // different service exactly when the relevant one of them reaches its `lo`.
            let mut best: Option<usize> = None;
            let mut other: Option<usize> = None;
            for k in 0..entries.len() {
                let (r, svc, _) = &entries[k];
                let candidate = match best {
                    Some(b) if entries[b].1 != *svc => Some(b),
                    _ => other,
                };
                if let Some(c) = candidate {
                    if entries[c].0.hi >= r.lo {
                        debug_assert!(entries[c].0.overlaps(r));
                        let port = r.lo;
                        let (later, earlier) = if entries[c].1 > *svc { (c, k) } else { (k, c) };
                        let (_, later_svc, later_span) = &entries[later];
                        let earlier_svc = entries[earlier].1;
                        return Err(self.at_value(
                            later_span,
                            svc_field(&services[*later_svc].name, "ports"),
                            format!(
                                "{proto} port {port} is also served by service {:?} (line {}): \
                                 a protocol and port can belong to one service only",
                                services[earlier_svc].name,
                                name_line(earlier_svc)
                            ),
                        ));
                    }
                }
                match best {
                    Some(b) if entries[b].0.hi >= r.hi => {
                        if entries[b].1 != *svc && other.is_none_or(|o| entries[o].0.hi < r.hi) {
                            other = Some(k);
                        }
                    }
                    Some(b) => {
                        if entries[b].1 != *svc {
                            other = Some(b);
                        }
                        best = Some(k);
                    }
                    None => best = Some(k),
                }
            }
        }
        Ok(())
    }
}

/// The spans of a service's port entries, in the order of [`Service::ports`].
fn port_spans(rs: &RawService) -> Vec<Span> {
    match &rs.ports {
        None => Vec::new(),
        Some(p) => match p.get_ref() {
            RawPorts::One(_) => vec![p.span()],
            RawPorts::Many(list) => list.iter().map(|e| e.span()).collect(),
        },
    }
}

fn svc_field(name: &str, field: &str) -> String {
    format!("service {name:?} field `{field}`")
}

// ---------------------------------------------------------------------------------------------
// Value parsers (return the message of the error; the caller adds position and field)
// ---------------------------------------------------------------------------------------------

fn check_name(name: &str) -> Result<(), String> {
    let valid_first = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(valid_first)
        && chars.all(|c| valid_first(c) || c == '_' || c == '-')
        && name.len() <= 23;
    if ok {
        Ok(())
    } else {
        Err(
            "invalid service name: use 1 to 23 characters a-z, 0-9, '_' and '-', starting with \
             a letter or digit"
                .into(),
        )
    }
}

/// `"30s"`, `"15m"`, `"1h"`, `"1d"`, `"500ms"`, `"0"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const HINT: &str = r#"expected a duration such as "500ms", "30s", "15m", "1h" or "1d""#;
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or(HINT)?;
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| HINT)?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(HINT.into()),
    };
    n.checked_mul(ms)
        .map(Duration::from_millis)
        .ok_or_else(|| "too long".into())
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "enforce" => Ok(Mode::Enforce),
        "monitor" => Ok(Mode::Monitor),
        _ => Err(r#"expected "enforce" or "monitor""#.into()),
    }
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    match s {
        "udp" => Ok(Protocol::Udp),
        "tcp" => Ok(Protocol::Tcp),
        "icmp" => Ok(Protocol::Icmp),
        _ => Err(r#"unknown protocol: expected "udp", "tcp" or "icmp""#.into()),
    }
}

const PORT_HINT: &str = "ports are 1-65535";

fn port_from_int(n: i64) -> Result<u16, String> {
    match n {
        0 => Err(format!("port 0 is not a valid port ({PORT_HINT})")),
        1..=65535 => Ok(n as u16),
        _ => Err(format!("port {n} is out of range ({PORT_HINT})")),
    }
}

fn port_from_str(s: &str) -> Result<u16, String> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            r#"malformed port range: expected a port number or "LO-HI", e.g. "10000-20000""#.into(),
        );
    }
    // Longer digit strings than i64 holds are out of range anyway.
    port_from_int(s.parse::<i64>().unwrap_or(i64::MAX))
}

/// `"5060"` or `"10000-20000"`.
fn parse_port_str(s: &str) -> Result<PortRange, String> {
    match s.split_once('-') {
        None => {
            let p = port_from_str(s)?;
            Ok(PortRange { lo: p, hi: p })
        }
        Some((lo, hi)) => {
            let (lo, hi) = (port_from_str(lo)?, port_from_str(hi)?);
            if lo > hi {
                return Err(format!(
                    "reversed port range: {lo} is greater than {hi} (did you mean \"{hi}-{lo}\"?)"
                ));
            }
            Ok(PortRange { lo, hi })
        }
    }
}

fn parse_port(p: &RawPort) -> Result<PortRange, String> {
    match p {
        RawPort::Int(n) => {
            let p = port_from_int(*n)?;
            Ok(PortRange { lo: p, hi: p })
        }
        RawPort::Str(s) => parse_port_str(s),
    }
}

enum Net {
    Any,
    Any4,
    Any6,
    Prefix(IpNet),
}

/// An allow or deny entry: a keyword, a CIDR or a bare address (a /32 or /128).
fn parse_net(s: &str) -> Result<Net, String> {
    match s {
        "any" => return Ok(Net::Any),
        "any4" => return Ok(Net::Any4),
        "any6" => return Ok(Net::Any6),
        _ => {}
    }
    let net = match s.split_once('/') {
        None => match s.parse::<IpAddr>() {
            Ok(addr) => IpNet::from(addr),
            Err(_) => {
                return Err(
                    r#"not an IP address or CIDR (expected e.g. "192.0.2.0/24", "2001:db8::1", "any", "any4" or "any6")"#
                        .into(),
                )
            }
        },
        Some((addr_text, len_text)) => {
            let addr: IpAddr = addr_text
                .parse()
                .map_err(|_| format!("invalid CIDR: `{addr_text}` is not an IP address"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = len_text
                .parse::<u8>()
                .ok()
                .filter(|l| len_text.bytes().all(|b| b.is_ascii_digit()) && *l <= max)
                .ok_or_else(|| {
                    format!(
                        "invalid CIDR: prefix length `{len_text}` is not a number from 0 to {max}"
                    )
                })?;
            let net = IpNet::new(addr, len).map_err(|e| format!("invalid CIDR: {e}"))?;
            if net.trunc() != net {
                return Err(format!(
                    "invalid CIDR: host bits are set (did you mean {}?)",
                    net.trunc()
                ));
            }
            net
        }
    };
    // ::ffff:a.b.c.d is how dual-stack sockets show IPv4 peers; on the wire (and in XDP) those
    // packets are IPv4, so the entry means the IPv4 prefix.
    let net = match net {
        IpNet::V6(n) if n.prefix_len() >= 96 => match n.network().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), n.prefix_len() - 96)
                .expect("a mapped prefix of /96 or longer fits IPv4"),
            None => net,
        },
        other => other,
    };
    Ok(match net {
        IpNet::V4(n) if n.prefix_len() == 0 => Net::Any4,
        IpNet::V6(n) if n.prefix_len() == 0 => Net::Any6,
        n => Net::Prefix(n),
    })
}

// ---------------------------------------------------------------------------------------------
// Naming the field of a TOML error
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// The text between `prefix` and the next backtick, if `message` starts with `prefix`.
fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// The path of the smallest key or value whose span holds byte `pos` (the deepest on a tie).
fn locate(table: &DeTable<'_>, pos: usize) -> Vec<Seg> {
    fn holds(span: &Span, pos: usize) -> bool {
        span.start <= pos && (pos < span.end || span.start == span.end)
    }
    struct Best {
        len: usize,
        path: Vec<Seg>,
    }
    fn consider(best: &mut Option<Best>, span: Span, path: &[Seg], pos: usize) {
        if !holds(&span, pos) {
            return;
        }
        let len = span.end - span.start;
        if best
            .as_ref()
            .is_none_or(|b| len < b.len || (len == b.len && path.len() > b.path.len()))
        {
            *best = Some(Best {
                len,
                path: path.to_vec(),
            });
        }
    }
    fn walk_table(t: &DeTable<'_>, pos: usize, path: &mut Vec<Seg>, best: &mut Option<Best>) {
        for (k, v) in t.iter() {
            path.push(Seg::Key(k.get_ref().to_string()));
            consider(best, k.span(), path, pos);
            walk_value(v, pos, path, best);
            path.pop();
        }
    }
    fn walk_value(
        v: &Spanned<DeValue<'_>>,
        pos: usize,
        path: &mut Vec<Seg>,
        best: &mut Option<Best>,
    ) {
        consider(best, v.span(), path, pos);
        match v.get_ref() {
            DeValue::Table(t) => walk_table(t, pos, path, best),
            DeValue::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    walk_value(e, pos, path, best);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk_table(table, pos, &mut Vec::new(), &mut best);
    best.map(|b| b.path).unwrap_or_default()
}

/// Names a path the way validation errors do: `[global] field `mode``,
/// `service "sip" field `ports``.
fn describe(path: &[Seg], root: &DeTable<'_>) -> String {
    fn key(s: Option<&Seg>) -> Option<&str> {
        match s {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }
    match (key(path.first()), path.get(1)) {
        (None, _) => "top level".into(),
        (Some("global"), Some(Seg::Key(f))) => format!("[global] field `{f}`"),
        (Some("service"), Some(Seg::Index(i))) => {
            let name = root
                .get("service")
                .and_then(|s| s.get_ref().get(*i))
                .and_then(|t| t.get_ref().get("name"))
                .and_then(|n| n.get_ref().as_str());
            let service = match name {
                Some(n) => format!("service {n:?}"),
                None => format!("service #{}", i + 1),
            };
            // Nested tables (`[service.limits]`) name the whole dotted path.
            let keys: Vec<&str> = path[2..].iter().map_while(|s| key(Some(s))).collect();
            if keys.is_empty() {
                service
            } else {
                format!("{service} field `{}`", keys.join("."))
            }
        }
        (Some("global"), None) => "[global]".into(),
        (Some("scanners"), Some(Seg::Key(f))) => format!("[scanners] field `{f}`"),
        (Some("scanners"), None) => "[scanners]".into(),
        (Some("autoban"), Some(Seg::Key(f))) => format!("[autoban] field `{f}`"),
        (Some("autoban"), None) => "[autoban]".into(),
        (Some("logwatch"), Some(Seg::Index(i))) => {
            let keys: Vec<&str> = path[2..].iter().map_while(|s| key(Some(s))).collect();
            match keys.first() {
                Some(k) => format!("[[logwatch]] #{} field `{k}`", i + 1),
                None => format!("[[logwatch]] #{}", i + 1),
            }
        }
        (Some(k), _) => format!("top-level key `{k}`"),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../examples/sipguard.toml");

    fn parse(text: &str) -> Config {
        match Config::from_str(text, "test.toml") {
            Ok(c) => c,
            Err(e) => panic!("expected a valid config, got: {e}"),
        }
    }

    /// The error for `text`: (line, column, field, value, message).
    fn fail(text: &str) -> (usize, usize, String, Option<String>, String) {
        match Config::from_str(text, "test.toml") {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(ConfigError::Invalid {
                file,
                line,
                column,
                field,
                value,
                message,
            }) => {
                assert_eq!(file, "test.toml");
                (line, column, field, value, message)
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn range(lo: u16, hi: u16) -> PortRange {
        PortRange { lo, hi }
    }

    const PRIVATE: [&str; 6] = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
        "fe80::/10",
    ];

    #[test]
    fn builtin_default_parses_with_expected_global() {
        let c = Config::builtin_default();
        assert_eq!(c.source, DEFAULT_CONFIG_NAME);
        assert_eq!(c.global.mode, Mode::Enforce);
        assert_eq!(c.global.default_action, DefaultAction::Drop);
        assert_eq!(c.global.reply_ports, ReplyPorts::Auto);
        assert!(c.global.deny.is_empty());
    }

    #[test]
    fn builtin_default_has_the_stock_pbx_services() {
        use Protocol::*;
        let c = Config::builtin_default();
        let names: Vec<&str> = c.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["sip", "sip-tls", "rtp", "iax", "ssh", "web", "ami", "dhcp", "icmp"]
        );
        let get = |n: &str| c.services.iter().find(|s| s.name == n).unwrap();
        let private: Vec<IpNet> = PRIVATE.iter().map(|s| net(s)).collect();
        let expect = [
            ("sip", vec![Udp, Tcp], vec![range(5060, 5060)], true),
            ("sip-tls", vec![Tcp], vec![range(5061, 5061)], true),
            ("rtp", vec![Udp], vec![range(10000, 20000)], true),
            ("iax", vec![Udp], vec![range(4569, 4569)], true),
            ("ssh", vec![Tcp], vec![range(22, 22)], false),
            (
                "web",
                vec![Tcp],
                vec![range(80, 80), range(443, 443)],
                false,
            ),
            ("ami", vec![Tcp], vec![range(5038, 5038)], false),
            (
                "dhcp",
                vec![Udp],
                vec![range(68, 68), range(546, 546)],
                true,
            ),
            ("icmp", vec![Icmp], vec![], true),
        ];
        for (name, protocols, ports, any) in expect {
            let s = get(name);
            assert_eq!(s.protocols, protocols, "{name}");
            assert_eq!(s.ports, ports, "{name}");
            assert_eq!((s.allow_any_v4, s.allow_any_v6), (any, any), "{name}");
            if any {
                assert!(s.allow.is_empty(), "{name}");
            } else {
                assert_eq!(s.allow, private, "{name}");
            }
            assert_eq!(s.mode, None, "{name}");
        }
    }

    #[test]
    fn example_file_parses() {
        let c = parse(EXAMPLE);
        assert!(!c.services.is_empty());
    }

    #[test]
    fn empty_file_is_all_defaults_and_no_services() {
        let c = parse("");
        assert_eq!(c.global.mode, Mode::Enforce);
        assert_eq!(c.global.default_action, DefaultAction::Drop);
        assert_eq!(c.global.reply_ports, ReplyPorts::Auto);
        assert!(c.global.deny.is_empty());
        assert!(c.services.is_empty());
        assert_eq!(c.source, "test.toml");
    }

    #[test]
    fn global_values_parse() {
        let c = parse(
            "[global]\nmode = \"monitor\"\ndefault = \"pass\"\nreply_ports = \"32768-60999\"\n\
             deny = [\"192.0.2.0/24\", \"2001:db8:bad::/48\", \"198.51.100.7\"]\n",
        );
        assert_eq!(c.global.mode, Mode::Monitor);
        assert_eq!(c.global.default_action, DefaultAction::Pass);
        assert_eq!(c.global.reply_ports, ReplyPorts::Range(range(32768, 60999)));
        assert_eq!(
            c.global.deny,
            [
                net("192.0.2.0/24"),
                net("2001:db8:bad::/48"),
                net("198.51.100.7/32")
            ]
        );
    }

    #[test]
    fn reply_ports_none() {
        let c = parse("[global]\nreply_ports = \"none\"\n");
        assert_eq!(c.global.reply_ports, ReplyPorts::None);
    }

    #[test]
    fn from_file_reads_and_names_the_file() {
        let path =
            std::env::temp_dir().join(format!("sipguard-config-{}.toml", std::process::id()));
        std::fs::write(&path, "[global]\nmode = \"bogus\"\n").unwrap();
        let err = Config::from_file(&path).unwrap_err().to_string();
        std::fs::write(&path, "[global]\nmode = \"monitor\"\n").unwrap();
        let ok = Config::from_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            err.starts_with(&format!("{}:2:8: ", path.display())),
            "{err}"
        );
        assert_eq!(ok.source, path.display().to_string());
    }

    #[test]
    fn from_file_missing_is_io_error() {
        let err = Config::from_file(Path::new("/nonexistent/sipguard.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
        assert!(err.to_string().starts_with("/nonexistent/sipguard.toml: "));
    }

    #[test]
    fn error_display_names_file_line_field_and_value() {
        let text = "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\n\
                    allow = [\"any\", \"10.0.0.300/8\"]\n";
        let err = Config::from_str(text, "/etc/sipguard.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/etc/sipguard.toml:5:17: service \"sip\" field `allow` value \"10.0.0.300/8\": \
             invalid CIDR: `10.0.0.300` is not an IP address"
        );
    }

    // --- TOML-level errors ---

    #[test]
    fn syntax_error() {
        let (line, column, field, _, message) =
            fail("[global]\nmode = \"enforce\"\ndeny = [\"192.0.2.0/24\"\n");
        assert_eq!((line, field.as_str()), (3, "TOML syntax"));
        assert!(column > 1);
        assert!(message.contains("unclosed array"), "{message}");
    }

    #[test]
    fn unknown_key_in_global() {
        let (line, column, field, value, message) =
            fail("[global]\nmode = \"enforce\"\nmodee = 1\n");
        assert_eq!((line, column), (3, 1));
        assert_eq!(field, "[global] field `modee`");
        assert_eq!(value, None);
        assert!(message.starts_with("unknown key"), "{message}");
    }

    #[test]
    fn unknown_key_in_service() {
        let (line, _, field, _, message) = fail(
            "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = []\n\
             alow = [\"any\"]\n",
        );
        assert_eq!(line, 6);
        assert_eq!(field, "service \"sip\" field `alow`");
        assert!(message.contains("unknown key"), "{message}");
    }

    #[test]
    fn unknown_top_level_table() {
        let (line, _, field, _, _) = fail("[global]\n\n[globl]\nmode = \"monitor\"\n");
        assert_eq!(line, 3);
        assert_eq!(field, "top-level key `globl`");
    }

    #[test]
    fn wrong_type() {
        let (line, column, field, value, message) = fail("[global]\n\nmode = 5\n");
        assert_eq!((line, column), (3, 8));
        assert_eq!(field, "[global] field `mode`");
        assert_eq!(value.as_deref(), Some("5"));
        assert!(message.starts_with("invalid type"), "{message}");
    }

    #[test]
    fn wrong_type_names_toml_types() {
        let (line, _, field, _, message) = fail("\nglobal = 5\n");
        assert_eq!((line, field.as_str()), (2, "[global]"));
        assert_eq!(message, "invalid type: integer `5`, expected a table");
        let (line, _, field, _, message) = fail("[global]\ndeny = \"192.0.2.1\"\n");
        assert_eq!((line, field.as_str()), (2, "[global] field `deny`"));
        assert!(message.ends_with("expected an array"), "{message}");
    }

    #[test]
    fn wrong_type_of_port_entry() {
        let (line, _, field, value, _) = fail(
            "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [\n  5060,\n  true,\n]\n\
             allow = []\n",
        );
        assert_eq!(line, 6);
        assert_eq!(field, "service \"sip\" field `ports`");
        assert_eq!(value.as_deref(), Some("true"));
    }

    #[test]
    fn missing_required_field() {
        let (line, _, field, value, message) =
            fail("[global]\n\n[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\n");
        assert_eq!(line, 3);
        assert_eq!(field, "service \"sip\" field `allow`");
        assert_eq!(value, None);
        assert_eq!(message, "required field is missing");
    }

    #[test]
    fn missing_name_counts_services() {
        let ok = "[[service]]\nname = \"a\"\nprotocol = \"icmp\"\nallow = []\n";
        let (line, _, field, _, _) = fail(&format!(
            "{ok}\n[[service]]\nprotocol = \"icmp\"\nallow = []\n"
        ));
        assert_eq!(line, 6);
        assert_eq!(field, "service #2 field `name`");
    }

    // --- addresses ---

    fn allow_error(entry: &str) -> (usize, String, Option<String>, String) {
        let (line, _, field, value, message) = fail(&format!(
            "[[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\n  \"10.0.0.0/8\",\n  \"{entry}\",\n]\n"
        ));
        (line, field, value, message)
    }

    #[test]
    fn bad_address_octet() {
        let (line, field, value, message) = allow_error("10.0.0.300/8");
        assert_eq!(line, 7);
        assert_eq!(field, "service \"ssh\" field `allow`");
        assert_eq!(value.as_deref(), Some("\"10.0.0.300/8\""));
        assert!(message.starts_with("invalid CIDR"), "{message}");
    }

    #[test]
    fn bad_prefix_length() {
        let (line, _, _, message) = allow_error("10.0.0.0/33");
        assert_eq!(line, 7);
        assert!(message.contains("prefix length `33`"), "{message}");
        let (_, _, _, message) = allow_error("2001:db8::/129");
        assert!(message.contains("0 to 128"), "{message}");
    }

    #[test]
    fn not_an_address() {
        let (line, _, value, message) = allow_error("banana");
        assert_eq!(line, 7);
        assert_eq!(value.as_deref(), Some("\"banana\""));
        assert!(message.contains("not an IP address"), "{message}");
    }

    #[test]
    fn host_bits_set_suggests_network() {
        let (line, _, _, message) = allow_error("10.0.0.1/8");
        assert_eq!(line, 7);
        assert!(message.contains("did you mean 10.0.0.0/8?"), "{message}");
        let (_, _, _, message) = allow_error("2001:db8::1/32");
        assert!(message.contains("did you mean 2001:db8::/32?"), "{message}");
    }

    #[test]
    fn bad_deny_entry() {
        let (line, _, field, value, _) =
            fail("[global]\ndeny = [\n  \"192.0.2.0/24\",\n  \"192.0.2.0/24x\",\n]\n");
        assert_eq!(line, 4);
        assert_eq!(field, "[global] field `deny`");
        assert_eq!(value.as_deref(), Some("\"192.0.2.0/24x\""));
    }

    #[test]
    fn any_keyword_in_deny_is_an_error() {
        let (line, _, _, _, message) = fail("[global]\n\ndeny = [\"any\"]\n");
        assert_eq!(line, 3);
        assert!(message.contains("only valid in `allow`"), "{message}");
    }

    #[test]
    fn deny_is_deduplicated_and_normalized() {
        let c = parse("[global]\ndeny = [\"192.0.2.1\", \"192.0.2.1/32\", \"::1\"]\n");
        assert_eq!(c.global.deny, [net("192.0.2.1/32"), net("::1/128")]);
    }

    // --- ports ---

    fn port_error(ports: &str) -> (usize, Option<String>, String) {
        let (line, _, field, value, message) = fail(&format!(
            "[[service]]\nname = \"x\"\nprotocol = \"udp\"\nports = [\n  5060,\n  {ports},\n]\nallow = []\n"
        ));
        assert_eq!(field, "service \"x\" field `ports`");
        (line, value, message)
    }

    #[test]
    fn port_zero() {
        let (line, value, message) = port_error("0");
        assert_eq!((line, value.as_deref()), (6, Some("0")));
        assert!(message.contains("port 0"), "{message}");
        let (line, _, _) = port_error("\"0-10\"");
        assert_eq!(line, 6);
    }

    #[test]
    fn port_above_65535() {
        let (line, value, message) = port_error("65536");
        assert_eq!((line, value.as_deref()), (6, Some("65536")));
        assert!(message.contains("out of range"), "{message}");
        let (line, _, message) = port_error("\"1-70000\"");
        assert_eq!(line, 6);
        assert!(message.contains("70000"), "{message}");
        let (_, _, message) = port_error("-1");
        assert!(message.contains("out of range"), "{message}");
    }

    #[test]
    fn malformed_range() {
        for bad in [
            "\"10000-\"",
            "\"abc\"",
            "\"1-2-3\"",
            "\"-5\"",
            "\"\"",
            "\"+5\"",
        ] {
            let (line, _, message) = port_error(bad);
            assert_eq!(line, 6, "{bad}");
            assert!(
                message.starts_with("malformed port range"),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn reversed_range() {
        let (line, value, message) = port_error("\"20000-10000\"");
        assert_eq!((line, value.as_deref()), (6, Some("\"20000-10000\"")));
        assert!(message.contains("reversed"), "{message}");
    }

    #[test]
    fn port_forms_and_ranges() {
        let c = parse(
            "[[service]]\nname = \"a\"\nprotocol = \"udp\"\nports = [5060, \"5061\", \"10000-20000\", \"7-7\"]\nallow = []\n\
             [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = 22\nallow = []\n\
             [[service]]\nname = \"c\"\nprotocol = \"tcp\"\nports = \"80-81\"\nallow = []\n",
        );
        assert_eq!(
            c.services[0].ports,
            [
                range(5060, 5060),
                range(5061, 5061),
                range(10000, 20000),
                range(7, 7)
            ]
        );
        assert_eq!(c.services[1].ports, [range(22, 22)]);
        assert_eq!(c.services[2].ports, [range(80, 81)]);
        assert!(range(10000, 20000).contains(15000));
        assert_eq!(range(10000, 20000).to_string(), "10000-20000");
        assert_eq!(range(22, 22).to_string(), "22");
    }

    #[test]
    fn ports_on_icmp_service() {
        let (line, _, field, value, message) = fail(
            "[[service]]\nname = \"ping\"\nprotocol = \"icmp\"\nports = [1]\nallow = [\"any\"]\n",
        );
        assert_eq!(line, 4);
        assert_eq!(field, "service \"ping\" field `ports`");
        assert_eq!(value.as_deref(), Some("[1]"));
        assert!(message.contains("no ports"), "{message}");
    }

    #[test]
    fn missing_ports_on_udp_service() {
        let (line, _, field, value, _) =
            fail("\n[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nallow = [\"any\"]\n");
        assert_eq!(line, 2);
        assert_eq!(field, "service \"sip\" field `ports`");
        assert_eq!(value, None);
    }

    #[test]
    fn empty_ports_on_tcp_service() {
        let (line, _, field, value, message) = fail(
            "[[service]]\nname = \"sip\"\nprotocol = \"tcp\"\nports = []\nallow = [\"any\"]\n",
        );
        assert_eq!(line, 4);
        assert_eq!(field, "service \"sip\" field `ports`");
        assert_eq!(value.as_deref(), Some("[]"));
        assert!(message.contains("must not be empty"), "{message}");
    }

    // --- protocols ---

    fn protocol_error(protocol: &str) -> (usize, usize, Option<String>, String) {
        let (line, column, field, value, message) = fail(&format!(
            "[[service]]\nname = \"x\"\nprotocol = {protocol}\nports = [1]\nallow = []\n"
        ));
        assert_eq!(field, "service \"x\" field `protocol`");
        (line, column, value, message)
    }

    #[test]
    fn icmp_mixed_with_udp() {
        let (line, column, value, message) = protocol_error("[\"udp\", \"icmp\"]");
        assert_eq!((line, column), (3, 20));
        assert_eq!(value.as_deref(), Some("\"icmp\""));
        assert!(message.contains("must be alone"), "{message}");
    }

    #[test]
    fn duplicate_protocol() {
        let (line, column, _, message) = protocol_error("[\"tcp\", \"udp\", \"tcp\"]");
        assert_eq!((line, column), (3, 27));
        assert!(message.contains("duplicate protocol \"tcp\""), "{message}");
    }

    #[test]
    fn unknown_protocol() {
        let (line, _, value, message) = protocol_error("\"sctp\"");
        assert_eq!((line, value.as_deref()), (3, Some("\"sctp\"")));
        assert!(message.contains("unknown protocol"), "{message}");
    }

    #[test]
    fn empty_protocol_list() {
        let (line, _, _, message) = protocol_error("[]");
        assert_eq!(line, 3);
        assert!(message.contains("must not be empty"), "{message}");
    }

    #[test]
    fn protocols_are_sorted() {
        let c = parse(
            "[[service]]\nname = \"x\"\nprotocol = [\"tcp\", \"udp\"]\nports = [1]\nallow = []\n",
        );
        assert_eq!(c.services[0].protocols, [Protocol::Udp, Protocol::Tcp]);
        let c = parse("[[service]]\nname = \"x\"\nprotocol = [\"icmp\"]\nallow = []\n");
        assert_eq!(c.services[0].protocols, [Protocol::Icmp]);
    }

    // --- names ---

    #[test]
    fn duplicate_service_name() {
        let (line, _, field, _, message) = fail(
            "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = []\n\n\
             [[service]]\nname = \"sip\"\nprotocol = \"tcp\"\nports = [5060]\nallow = []\n",
        );
        assert_eq!(line, 8);
        assert_eq!(field, "service \"sip\" field `name`");
        assert!(message.contains("first defined on line 2"), "{message}");
    }

    #[test]
    fn invalid_service_name() {
        for bad in [
            "",
            "Sip",
            "-sip",
            "sip.tls",
            "a23456789012345678901234",
            "sïp",
        ] {
            let (line, _, field, _, message) = fail(&format!(
                "[[service]]\n\nname = \"{bad}\"\nprotocol = \"icmp\"\nallow = []\n"
            ));
            assert_eq!(line, 3, "{bad}");
            assert_eq!(field, format!("service {bad:?} field `name`"));
            assert!(message.contains("invalid service name"), "{message}");
        }
        parse("[[service]]\nname = \"0a_b-c23456789012345678\"\nprotocol = \"icmp\"\nallow = []\n");
    }

    // --- overlaps ---

    #[test]
    fn overlapping_port_and_range() {
        let (line, _, field, value, message) = fail(
            "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\nports = [5060]\nallow = []\n\n\
             [[service]]\nname = \"other\"\nprotocol = \"udp\"\nports = [\n  80,\n  \"5000-5100\",\n]\nallow = []\n",
        );
        assert_eq!(line, 12);
        assert_eq!(field, "service \"other\" field `ports`");
        assert_eq!(value.as_deref(), Some("\"5000-5100\""));
        assert!(
            message.starts_with("udp port 5060 is also served by service \"sip\" (line 2)"),
            "{message}"
        );
    }

    #[test]
    fn overlap_reported_at_later_service_when_earlier_range_starts_later() {
        let (line, _, field, _, message) = fail(
            "[[service]]\nname = \"a\"\nprotocol = \"tcp\"\nports = [\"100-200\"]\nallow = []\n\
             [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = [\"50-150\"]\nallow = []\n",
        );
        assert_eq!(line, 9);
        assert_eq!(field, "service \"b\" field `ports`");
        assert!(
            message.starts_with("tcp port 100 is also served by service \"a\""),
            "{message}"
        );
    }

    #[test]
    fn overlap_hidden_behind_same_service_range() {
        // "a" reaches furthest, but "b" still overlaps "c".
        let (_, _, field, _, message) = fail(
            "[[service]]\nname = \"a\"\nprotocol = \"udp\"\nports = [\"1-10\", \"5-100\"]\nallow = []\n\
             [[service]]\nname = \"b\"\nprotocol = \"udp\"\nports = [\"200-300\"]\nallow = []\n\
             [[service]]\nname = \"c\"\nprotocol = \"udp\"\nports = [300]\nallow = []\n",
        );
        assert_eq!(field, "service \"c\" field `ports`");
        assert!(
            message.starts_with("udp port 300 is also served by service \"b\""),
            "{message}"
        );
    }

    #[test]
    fn same_port_different_protocols_is_fine() {
        let c = parse(
            "[[service]]\nname = \"a\"\nprotocol = \"udp\"\nports = [5060, \"5060-5061\"]\nallow = []\n\
             [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = [5060]\nallow = []\n\
             [[service]]\nname = \"c\"\nprotocol = \"udp\"\nports = [\"5062-6000\", 1]\nallow = []\n",
        );
        assert_eq!(c.services.len(), 3);
    }

    #[test]
    fn two_icmp_services_overlap() {
        let (line, _, field, _, message) = fail(
            "[[service]]\nname = \"ping\"\nprotocol = \"icmp\"\nallow = []\n\
             [[service]]\nname = \"ping2\"\nprotocol = \"icmp\"\nallow = []\n",
        );
        assert_eq!(line, 7);
        assert_eq!(field, "service \"ping2\" field `protocol`");
        assert!(message.contains("service \"ping\" (line 2)"), "{message}");
    }

    // --- limits ---

    #[test]
    fn too_many_services() {
        let svc = |i: usize| {
            format!(
                "[[service]]\nname = \"s{i}\"\nprotocol = \"tcp\"\nports = [{}]\nallow = []\n",
                i + 1
            )
        };
        let ok: String = (0..31).map(svc).collect();
        assert_eq!(parse(&ok).services.len(), 31);
        let (line, _, field, _, message) = fail(&format!("{ok}{}", svc(31)));
        assert_eq!(line, 31 * 5 + 1);
        assert_eq!(field, "service \"s31\"");
        assert!(message.contains("too many services"), "{message}");
    }

    #[test]
    fn too_many_allow_entries() {
        let list = |n: usize, base: u32| {
            (0..n)
                .map(|i| format!("\"{}\"", std::net::Ipv4Addr::from(base + i as u32)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = |a: usize, b: usize| {
            format!(
                "[[service]]\nname = \"a\"\nprotocol = \"tcp\"\nports = [1]\nallow = [{}]\n\
                 [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = [2]\n\nallow = [{}]\n",
                list(a, 0x0a00_0000),
                list(b, 0x0b00_0000)
            )
        };
        parse(&text(20000, 12768));
        let (line, _, field, _, message) = fail(&text(20000, 12769));
        assert_eq!(line, 11);
        assert_eq!(field, "service \"b\" field `allow`");
        assert!(message.contains("too many allow entries"), "{message}");
    }

    #[test]
    fn too_many_deny_entries() {
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("\"{}\"", std::net::Ipv4Addr::from(0x0a00_0000 + i as u32)))
                .collect::<Vec<_>>()
                .join(",\n")
        };
        parse(&format!("[global]\ndeny = [\n{}\n]\n", list(131072)));
        let (line, _, _, value, message) =
            fail(&format!("[global]\ndeny = [\n{}\n]\n", list(131073)));
        assert_eq!(line, 3 + 131072);
        assert_eq!(value.as_deref(), Some("\"10.2.0.0\""));
        assert!(message.contains("too many deny entries"), "{message}");
    }

    // --- enumerated values ---

    #[test]
    fn bad_global_mode() {
        let (line, column, field, value, _) = fail("[global]\nmode = \"Monitor\"\n");
        assert_eq!((line, column), (2, 8));
        assert_eq!(field, "[global] field `mode`");
        assert_eq!(value.as_deref(), Some("\"Monitor\""));
    }

    #[test]
    fn bad_default() {
        let (line, _, field, _, message) =
            fail("[global]\nmode = \"enforce\"\ndefault = \"reject\"\n");
        assert_eq!(line, 3);
        assert_eq!(field, "[global] field `default`");
        assert!(message.contains("\"pass\" or \"drop\""), "{message}");
    }

    #[test]
    fn bad_reply_ports() {
        for bad in ["\"automatic\"", "\"60999-32768\"", "\"0-100\""] {
            let (line, _, field, _, _) = fail(&format!("\n[global]\nreply_ports = {bad}\n"));
            assert_eq!(line, 3, "{bad}");
            assert_eq!(field, "[global] field `reply_ports`");
        }
    }

    #[test]
    fn bad_service_mode() {
        let (line, _, field, _, _) =
            fail("[[service]]\nname = \"x\"\nprotocol = \"icmp\"\nallow = []\nmode = \"off\"\n");
        assert_eq!(line, 5);
        assert_eq!(field, "service \"x\" field `mode`");
    }

    // --- allow semantics ---

    fn allow(entries: &str) -> Service {
        parse(&format!(
            "[[service]]\nname = \"x\"\nprotocol = \"tcp\"\nports = [1]\nallow = [{entries}]\n"
        ))
        .services
        .remove(0)
    }

    #[test]
    fn any_allows_both_families() {
        let s = allow("\"any\"");
        assert!(s.allow_any_v4 && s.allow_any_v6 && s.allow.is_empty());
    }

    #[test]
    fn any4_and_any6_are_separate() {
        let s = allow("\"any4\"");
        assert!(s.allow_any_v4 && !s.allow_any_v6);
        let s = allow("\"any6\"");
        assert!(!s.allow_any_v4 && s.allow_any_v6);
    }

    #[test]
    fn zero_prefixes_mean_any() {
        let s = allow("\"0.0.0.0/0\"");
        assert!(s.allow_any_v4 && !s.allow_any_v6 && s.allow.is_empty());
        let s = allow("\"::/0\"");
        assert!(!s.allow_any_v4 && s.allow_any_v6 && s.allow.is_empty());
    }

    #[test]
    fn empty_allow_is_nobody() {
        let s = allow("");
        assert!(!s.allow_any_v4 && !s.allow_any_v6 && s.allow.is_empty());
    }

    #[test]
    fn bare_addresses_become_host_prefixes() {
        let s = allow("\"192.0.2.7\", \"2001:db8::7\"");
        assert_eq!(s.allow, [net("192.0.2.7/32"), net("2001:db8::7/128")]);
    }

    #[test]
    fn allow_is_deduplicated_in_order() {
        let s = allow("\"10.0.0.0/8\", \"192.0.2.7\", \"10.0.0.0/8\", \"192.0.2.7/32\"");
        assert_eq!(s.allow, [net("10.0.0.0/8"), net("192.0.2.7/32")]);
    }

    #[test]
    fn effective_mode_follows_global_unless_overridden() {
        let c = parse(
            "[[service]]\nname = \"a\"\nprotocol = \"icmp\"\nallow = []\n\
             [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = [1]\nallow = []\nmode = \"monitor\"\n\
             [[service]]\nname = \"c\"\nprotocol = \"tcp\"\nports = [2]\nallow = []\nmode = \"enforce\"\n",
        );
        let [a, b, c] = &c.services[..] else { panic!() };
        assert_eq!(a.mode, None);
        assert_eq!(a.effective_mode(Mode::Enforce), Mode::Enforce);
        assert_eq!(a.effective_mode(Mode::Monitor), Mode::Monitor);
        assert_eq!(b.effective_mode(Mode::Enforce), Mode::Monitor);
        assert_eq!(c.effective_mode(Mode::Monitor), Mode::Enforce);
    }

    #[test]
    fn ipv4_mapped_ipv6_entries_mean_their_ipv4_prefix() {
        let c = Config::from_str(
            "[[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\"::ffff:192.0.2.7\", \"::ffff:198.51.100.0/120\"]\n",
            "t.toml",
        )
        .unwrap();
        let want: Vec<IpNet> = vec![
            "192.0.2.7/32".parse().unwrap(),
            "198.51.100.0/24".parse().unwrap(),
        ];
        assert_eq!(c.services[0].allow, want);
    }

    #[test]
    fn sip_flag_marks_a_sip_service() {
        let c = Config::from_str(
            "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\nports = [5060]\nallow = [\"any\"]\nsip = true\n",
            "t.toml",
        )
        .unwrap();
        assert!(c.services[0].sip);
        assert!(Config::builtin_default()
            .services
            .iter()
            .any(|s| s.name == "sip" && s.sip));
    }

    #[test]
    fn sip_flag_on_a_tcp_only_service_is_allowed() {
        let c = Config::from_str(
            "[[service]]\nname = \"tls\"\nprotocol = \"tcp\"\nports = [5061]\nallow = [\"any\"]\nsip = true\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            c.services[0].limits.map(|l| l.syn),
            Some(SipLimits::default().syn)
        );
    }

    #[test]
    fn sip_flag_on_an_icmp_service_is_an_error_at_its_line() {
        let e = Config::from_str(
            "[[service]]\nname = \"ping\"\nprotocol = \"icmp\"\nallow = [\"any\"]\nsip = true\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("t.toml:5:"), "{e}");
        assert!(e.contains("sip"), "{e}");
    }

    const SIP_SERVICE: &str =
        "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\n";

    fn err(text: &str) -> String {
        Config::from_str(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn sip_service_gets_default_limits_and_partial_limits_keep_the_rest() {
        let c = Config::from_str(
            &format!(
                "{SIP_SERVICE}sip = true\n[service.limits]\ninvite = {{ rate = 2, burst = 4 }}\n"
            ),
            "t.toml",
        )
        .unwrap();
        let l = c.services[0].limits.expect("limits");
        assert_eq!(l.invite, Limit { rate: 2, burst: 4 });
        assert_eq!(l.register, SipLimits::default().register);
    }

    #[test]
    fn limits_without_sip_are_an_error() {
        let e = err(&format!(
            "{SIP_SERVICE}[service.limits]\nregister = {{ rate = 1, burst = 1 }}\n"
        ));
        assert!(e.contains("sip = true"), "{e}");
    }

    #[test]
    fn zero_burst_is_an_error_at_its_line() {
        let e = err(&format!(
            "{SIP_SERVICE}sip = true\n[service.limits]\nregister = {{ rate = 5, burst = 0 }}\n"
        ));
        assert!(e.starts_with("t.toml:8:"), "{e}");
        assert!(e.contains("limits.register") && e.contains("burst"), "{e}");
    }

    #[test]
    fn negative_rate_is_an_error() {
        let e = err(&format!(
            "{SIP_SERVICE}sip = true\n[service.limits]\nother = {{ rate = -1, burst = 5 }}\n"
        ));
        assert!(e.contains("limits.other") && e.contains("rate"), "{e}");
    }

    #[test]
    fn unknown_limit_class_is_an_error() {
        let e = err(&format!(
            "{SIP_SERVICE}sip = true\n[service.limits]\nbye = {{ rate = 1, burst = 1 }}\n"
        ));
        assert!(e.contains("bye"), "{e}");
    }

    #[test]
    fn ipv6_rate_prefix_out_of_range_is_an_error() {
        for bad in ["0", "129"] {
            let e = err(&format!("[global]\nrate_ipv6_prefix = {bad}\n"));
            assert!(
                e.starts_with("t.toml:2:") && e.contains("rate_ipv6_prefix"),
                "{e}"
            );
        }
    }

    #[test]
    fn trusting_any_is_an_error() {
        let e = err("[global]\ntrusted = [\"any\"]\n");
        assert!(e.contains("trusted"), "{e}");
    }

    #[test]
    fn trusted_entries_parse_as_prefixes() {
        let c = Config::from_str(
            "[global]\ntrusted = [\"192.0.2.7\", \"2001:db8::/32\"]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.global.trusted.len(), 2);
        assert_eq!(c.global.rate_ipv6_prefix, 64);
    }

    #[test]
    fn scanners_default_to_the_built_in_list_drop_only() {
        let c = parse("");
        assert!(c.scanners.enabled);
        assert_eq!(
            c.scanners.user_agents.len(),
            DEFAULT_SCANNER_USER_AGENTS.len()
        );
        assert_eq!(c.scanners.ban, None);
        assert_eq!(c.scanners.recheck, Duration::from_secs(1));
    }

    #[test]
    fn the_built_in_default_lists_the_same_scanners() {
        let c = Config::builtin_default();
        let listed: Vec<&str> = c.scanners.user_agents.iter().map(String::as_str).collect();
        assert_eq!(listed, DEFAULT_SCANNER_USER_AGENTS);
    }

    #[test]
    fn user_agents_replace_and_extra_user_agents_extend() {
        let c = parse("[scanners]\nuser_agents = [\"EvilScan\"]\n");
        assert_eq!(c.scanners.user_agents, ["EvilScan"]);
        let c = parse("[scanners]\nextra_user_agents = [\"EvilScan\", \"FRIENDLY-SCANNER\"]\n");
        assert_eq!(
            c.scanners.user_agents.len(),
            DEFAULT_SCANNER_USER_AGENTS.len() + 1,
            "a pattern already listed (in any case) is not added twice"
        );
    }

    #[test]
    fn scanner_ban_and_recheck_take_durations() {
        let c = parse("[scanners]\nban = \"1h\"\nrecheck = \"500ms\"\n");
        assert_eq!(c.scanners.ban, Some(Duration::from_secs(3600)));
        assert_eq!(c.scanners.recheck, Duration::from_millis(500));
        let c = parse("[scanners]\nban = \"0\"\n");
        assert_eq!(c.scanners.ban, None);
    }

    #[test]
    fn a_short_scanner_pattern_is_refused_with_its_line() {
        let (line, _, field, value, message) =
            fail("[scanners]\nuser_agents = [\n  \"friendly-scanner\",\n  \"sip\",\n]\n");
        assert_eq!(line, 4);
        assert_eq!(field, "[scanners] field `user_agents`");
        assert_eq!(value.as_deref(), Some("\"sip\""));
        assert!(message.contains("at least 4"), "{message}");
    }

    #[test]
    fn a_bad_ban_duration_is_refused() {
        let (line, _, field, value, message) = fail("[scanners]\nban = \"forever\"\n");
        assert_eq!(line, 2);
        assert_eq!(field, "[scanners] field `ban`");
        assert_eq!(value.as_deref(), Some("\"forever\""));
        assert!(message.contains("duration"), "{message}");
    }

    #[test]
    fn an_unknown_scanners_key_is_named() {
        let (line, _, field, _, message) = fail("[scanners]\nbanned = \"1h\"\n");
        assert_eq!(line, 2);
        assert!(field.contains("banned"), "{field}");
        assert!(message.contains("unknown key"), "{message}");
    }

    #[test]
    fn autoban_defaults_to_five_failures_a_minute_for_an_hour() {
        let c = parse("");
        assert_eq!(c.autoban, AutobanPolicy::default());
        assert!(c.autoban.enabled);
        assert_eq!(c.autoban.failures, 5);
    }

    #[test]
    fn autoban_takes_its_fields() {
        let c = parse("[autoban]\nfailures = 3\nwindow = \"10m\"\nban = \"1d\"\nscope = \"sip\"\n");
        assert_eq!(c.autoban.failures, 3);
        assert_eq!(c.autoban.window, Duration::from_secs(600));
        assert_eq!(c.autoban.ban, Duration::from_secs(86400));
        assert!(c.autoban.sip_only);
    }

    #[test]
    fn a_bad_autoban_scope_is_refused_with_its_line() {
        let (line, _, field, value, message) = fail("[autoban]\nfailures = 3\nscope = \"world\"\n");
        assert_eq!(line, 3);
        assert_eq!(field, "[autoban] field `scope`");
        assert_eq!(value.as_deref(), Some("\"world\""));
        assert!(message.contains("\"sip\""), "{message}");
    }

    #[test]
    fn autoban_attempts_default_to_ten_and_zero_turns_them_off() {
        assert_eq!(parse("").autoban.attempts, 10);
        assert_eq!(parse("[autoban]\nattempts = 0\n").autoban.attempts, 0);
        let (line, _, field, value, _) = fail("[autoban]\nattempts = -1\n");
        assert_eq!(line, 2);
        assert_eq!(field, "[autoban] field `attempts`");
        assert_eq!(value.as_deref(), Some("-1"));
    }

    #[test]
    fn tracked_sources_default_to_the_built_in_table_and_are_bounded() {
        assert_eq!(parse("").global.tracked_sources, 131072);
        assert_eq!(
            parse("[global]\ntracked_sources = 1048576\n")
                .global
                .tracked_sources,
            1 << 20
        );
        let (line, _, field, value, message) = fail("[global]\ntracked_sources = 100\n");
        assert_eq!(line, 2);
        assert_eq!(field, "[global] field `tracked_sources`");
        assert_eq!(value.as_deref(), Some("100"));
        assert!(message.contains("1024 to 8388608"), "{message}");
    }

    #[test]
    fn drop_samples_default_to_one_a_second_and_are_bounded() {
        assert_eq!(parse("").global.drop_samples, 1);
        assert_eq!(parse("[global]\ndrop_samples = 0\n").global.drop_samples, 0);
        let (line, _, field, value, _) = fail("[global]\ndrop_samples = 5000\n");
        assert_eq!(line, 2);
        assert_eq!(field, "[global] field `drop_samples`");
        assert_eq!(value.as_deref(), Some("5000"));
    }

    #[test]
    fn zero_autoban_failures_are_refused() {
        let (line, _, field, _, _) = fail("[autoban]\nfailures = 0\n");
        assert_eq!(line, 2);
        assert_eq!(field, "[autoban] field `failures`");
    }

    #[test]
    fn logwatch_takes_built_in_sets_and_regexes() {
        let c = parse(
            "[[logwatch]]\npath = \"/var/log/asterisk/security\"\npatterns = [\"asterisk\", \"bad guy <HOST>\"]\nfailures = 2\n",
        );
        let w = &c.logwatch[0];
        assert_eq!(w.path, PathBuf::from("/var/log/asterisk/security"));
        assert_eq!(
            w.rules.len(),
            crate::logwatch::builtin("asterisk").unwrap().len() + 1
        );
        assert_eq!(w.failures, 2);
        assert_eq!(w.window, Duration::from_secs(600));
    }

    #[test]
    fn a_logwatch_regex_without_host_is_refused_with_its_line() {
        let (line, _, field, value, message) = fail(
            "[[logwatch]]\npath = \"/var/log/auth.log\"\npatterns = [\n  \"sshd\",\n  \"Failed password\",\n]\n",
        );
        assert_eq!(line, 5);
        assert_eq!(field, "[[logwatch]] #1 field `patterns`");
        assert_eq!(value.as_deref(), Some("\"Failed password\""));
        assert!(message.contains("<HOST>"), "{message}");
    }

    #[test]
    fn a_bad_logwatch_threshold_names_the_logwatch() {
        let (line, _, field, _, _) = fail(
            "[[logwatch]]\npath = \"/var/log/auth.log\"\npatterns = [\"sshd\"]\nfailures = 0\n",
        );
        assert_eq!(line, 4);
        assert_eq!(field, "[[logwatch]] #1 field `failures`");
    }
}

//! The daemon's log watch: follows each `[[logwatch]]` file across rotation, matches its new
//! lines (the patterns are [`crate::config::log_rules`]'s), and bans through the pinned maps an
//! address that matches more than `failures` times within `window` — never the host's own
//! addresses, loopback, or a trusted one, whatever a log line says.
//!
//! A file that can't be read is reported once (and again after it was readable in between):
//! an unreadable log bans nobody, and the admin must hear of it.
//!
//! Every line read is counted by what it did ([`Outcome`], the metric
//! `sipguard_logwatch_lines_total{watch,outcome}`): a line that could be read two ways
//! (`ambiguous`: the remote side imitating the program's own words), an address that is no
//! address (`unparsable`) and one that may never be banned (`not_bannable`) blame nobody.
//! Ambiguous lines are also logged, at most once a minute per file with the number since.
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    fs::File,
    io::{self, Read as _, Seek as _, SeekFrom},
    net::IpAddr,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};

use ipnet::IpNet;
use sipguard_common::{Ban, BAN_REASON_LOG, BAN_SCOPE_ALL, BAN_SCOPE_SIP};

use crate::{
    config::{
        log_rules::{blame, Blame},
        LogWatch,
    },
    dataplane::{clock::ban_clock_ns, Maps},
};

/// Matches per address within the window.
#[derive(Default)]
pub(crate) struct Tally {
    seen: HashMap<IpAddr, VecDeque<Instant>>,
}

impl Tally {
    /// Records a match; returns the matches of `addr` within `window` of `now`.
    pub(crate) fn record(&mut self, addr: IpAddr, now: Instant, window: Duration) -> usize {
        let q = self.seen.entry(addr).or_default();
        q.push_back(now);
        while q.front().is_some_and(|&t| now.duration_since(t) > window) {
            q.pop_front();
        }
        q.len()
    }

    pub(crate) fn forget(&mut self, addr: &IpAddr) {
        self.seen.remove(addr);
    }
}

/// Follows a file: new bytes since the last read; starts at the end (old lines are history,
/// not evidence), and starts over at the beginning when the file was rotated (another inode)
/// or truncated.
pub(crate) struct Follower {
    path: PathBuf,
    file: Option<(File, u64)>,
    offset: u64,
    partial: String,
}

impl Follower {
    pub(crate) fn new(path: &Path) -> Self {
        let mut f = Self {
            path: path.to_owned(),
            file: None,
            offset: 0,
            partial: String::new(),
        };
        if let Ok(file) = File::open(path) {
            if let Ok(meta) = file.metadata() {
                f.offset = meta.len();
                f.file = Some((file, meta.ino()));
            }
        }
        f
    }

    /// Complete lines written since the last call; an error when the file can't be read
    /// now (gone, no permission, ...), after which the next call tries again.
    pub(crate) fn read_lines(&mut self) -> io::Result<Vec<String>> {
        let meta = std::fs::metadata(&self.path)?;
        let rotated = match &self.file {
            Some((_, ino)) => *ino != meta.ino() || meta.len() < self.offset,
            None => true,
        };
        if rotated {
            let file = File::open(&self.path)?;
            self.file = Some((file, meta.ino()));
            self.offset = 0;
            self.partial.clear();
        }
        let Some((file, _)) = self.file.as_mut() else {
            return Ok(Vec::new());
        };
        let mut buf = Vec::new();
        file.seek(SeekFrom::Start(self.offset))?;
        file.take(MAX_READ).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut lines: Vec<String> = self.partial.split('\n').map(str::to_owned).collect();
        self.partial = lines.pop().unwrap_or_default();
        Ok(lines)
    }
}

/// At most this much of a file is read per tick (a burst of lines waits for the next).
const MAX_READ: u64 = 16 << 20;

/// Whether a file's read errors were reported: the first error of a run of failures is
/// logged, the others are not (the loop retries four times a second), until a read succeeds.
#[derive(Debug, Default)]
struct Reported {
    failing: bool,
}

/// What a read changed in a file's [`Reported`] state.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Same,
    /// The first failure after reads that worked (or at the start): report it.
    Failing,
    /// The first read that worked after failures.
    Recovered,
}

impl Reported {
    fn note(&mut self, ok: bool) -> Change {
        let was_failing = std::mem::replace(&mut self.failing, !ok);
        match (was_failing, ok) {
            (false, false) => Change::Failing,
            (true, true) => Change::Recovered,
            _ => Change::Same,
        }
    }
}

/// What a log line did, the `outcome` label of `sipguard_logwatch_lines_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// It matched no pattern.
    NoMatch,
    /// It blamed an address, which was counted towards a ban.
    Blamed,
    /// It could be read two ways (a fixed text twice, a repeated security-log key): ignored.
    Ambiguous,
    /// Its address field is no address: ignored.
    Unparsable,
    /// It blamed loopback, the host's own address or a trusted one: ignored.
    NotBannable,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::NoMatch,
        Outcome::Blamed,
        Outcome::Ambiguous,
        Outcome::Unparsable,
        Outcome::NotBannable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::NoMatch => "no_match",
            Outcome::Blamed => "blamed",
            Outcome::Ambiguous => "ambiguous",
            Outcome::Unparsable => "unparsable",
            Outcome::NotBannable => "not_bannable",
        }
    }
}

/// The lines of every watch by outcome, since the start (the metrics exporter reads them).
static LINES: Mutex<BTreeMap<(String, Outcome), u64>> = Mutex::new(BTreeMap::new());

/// Adds a watch's counts of one read.
fn add_lines(watch: &Path, counts: &BTreeMap<Outcome, u64>) {
    let mut lines = LINES.lock().unwrap_or_else(|p| p.into_inner());
    for (&o, &n) in counts {
        *lines.entry((watch.display().to_string(), o)).or_default() += n;
    }
}

/// Every watch's lines by outcome: (file, outcome, lines).
pub fn line_counts() -> Vec<(String, &'static str, u64)> {
    let lines = LINES.lock().unwrap_or_else(|p| p.into_inner());
    lines
        .iter()
        .map(|((w, o), n)| (w.clone(), o.name(), *n))
        .collect()
}

/// What happens to a line that blamed `blame`: its outcome, and the address to count.
pub(crate) fn judge(blame: Blame, own: &[IpAddr], trusted: &[IpNet]) -> (Outcome, Option<IpAddr>) {
    match blame {
        Blame::NoMatch => (Outcome::NoMatch, None),
        Blame::Ambiguous => (Outcome::Ambiguous, None),
        Blame::Unparsable => (Outcome::Unparsable, None),
        Blame::Source(a) if !bannable(a, own, trusted) => (Outcome::NotBannable, None),
        Blame::Source(a) => (Outcome::Blamed, Some(a)),
    }
}

/// Whether an address may be banned: not loopback, unspecified, multicast or broadcast, not
/// one of the host's own, not inside a trusted prefix (IPv4-mapped forms are their IPv4
/// address).
pub(crate) fn bannable(addr: IpAddr, own: &[IpAddr], trusted: &[IpNet]) -> bool {
    // The feeds' rule, for the one address a line blames.
    super::fleet::guard::refuse(&IpNet::from(crate::parse::fold_addr(addr)), own, trusted).is_none()
}

/// At most one warning about ambiguous lines per file and this long.
const AMBIGUOUS_EVERY: Duration = Duration::from_secs(60);

/// Ambiguous lines of one file not yet reported, and when they last were.
#[derive(Default)]
struct AmbiguousLog {
    last: Option<Instant>,
    unreported: u64,
    example: String,
}

impl AmbiguousLog {
    /// Notes an ambiguous line; returns (lines, an example) when it is time to report.
    fn note(&mut self, line: &str, now: Instant) -> Option<(u64, String)> {
        self.unreported += 1;
        if self.example.is_empty() {
            // At most 200 characters of it, escaped when logged.
            self.example = line.chars().take(200).collect();
        }
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < AMBIGUOUS_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        let n = std::mem::take(&mut self.unreported);
        Some((n, std::mem::take(&mut self.example)))
    }
}

/// The host's own addresses in this network namespace.
pub(crate) fn own_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| a.address)
        .filter_map(|s| {
            if let Some(v4) = s.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect()
}

/// Follows every watch until the process ends, banning through the pinned maps.
/// Each ban is also handed to `reporter` (sent to CrowdSec as an alert when configured).
pub async fn run(watches: Vec<LogWatch>, pin_path: PathBuf, reporter: super::fleet::Reporter) {
    if watches.is_empty() {
        return;
    }
    let own = own_addresses();
    for w in &watches {
        for warning in w.warnings() {
            tracing::warn!("log bans: {warning}");
        }
        add_lines(&w.path, &Outcome::ALL.iter().map(|&o| (o, 0)).collect());
    }
    let mut followers: Vec<(LogWatch, Follower, Tally, Reported, AmbiguousLog)> = watches
        .into_iter()
        .map(|w| {
            let f = Follower::new(&w.path);
            (
                w,
                f,
                Tally::default(),
                Reported::default(),
                AmbiguousLog::default(),
            )
        })
        .collect();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        for (watch, follower, tally, reported, ambiguous) in &mut followers {
            let read = follower.read_lines();
            match (reported.note(read.is_ok()), &read) {
                (Change::Failing, Err(e)) => tracing::warn!(
                    file = %watch.path.display(),
                    "log bans: can't read the file, nothing in it is matched until it can: {e}"
                ),
                (Change::Recovered, _) => {
                    tracing::info!(file = %watch.path.display(), "log bans: reading the file again")
                }
                _ => {}
            }
            let lines = read.unwrap_or_default();
            if lines.is_empty() {
                continue;
            }
            let mut maps = match Maps::open_pinned(&pin_path) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("log bans: opening the maps: {e}");
                    continue;
                }
            };
            let trusted = maps.trusted().unwrap_or_default();
            let now = Instant::now();
            let mut counts = BTreeMap::new();
            for line in lines {
                let (outcome, addr) = judge(blame(&line, &watch.rules), &own, &trusted);
                *counts.entry(outcome).or_insert(0u64) += 1;
                if outcome == Outcome::Ambiguous {
                    if let Some((n, example)) = ambiguous.note(&line, now) {
                        tracing::warn!(
                            file = %watch.path.display(),
                            lines = n,
                            "log bans: ignored lines that could be read two ways (the program's \
                             fixed text twice, or a repeated key: text from the remote side \
                             imitating the program's own words); one of them: {example:?}"
                        );
                    }
                }
                let Some(addr) = addr else {
                    continue;
                };
                let count = tally.record(addr, now, watch.window);
                if count as u32 <= watch.failures {
                    continue;
                }
                tally.forget(&addr);
                let clock = ban_clock_ns();
                let ban = Ban {
                    expires_ns: clock + watch.ban.as_nanos() as u64,
                    created_ns: clock,
                    hits: 0,
                    reason: BAN_REASON_LOG,
                    scope: if watch.sip_only {
                        BAN_SCOPE_SIP
                    } else {
                        BAN_SCOPE_ALL
                    },
                };
                let net = IpNet::from(addr);
                let note = format!("{} matches in {}", count, watch.path.display());
                match maps.ban_with_note(net, ban, &note) {
                    Ok(()) => {
                        tracing::warn!(
                            %net,
                            reason = "log",
                            failures = count,
                            seconds = watch.ban.as_secs(),
                            file = %watch.path.display(),
                            "banned"
                        );
                        reporter.report(super::fleet::Signal {
                            net,
                            reason: BAN_REASON_LOG,
                            seconds: watch.ban.as_secs().min(u64::from(u32::MAX)) as u32,
                            count: count as u32,
                            why: format!("log {}", watch.path.display()),
                        });
                    }
                    Err(e) => tracing::warn!(%net, "log ban failed: {e}"),
                }
            }
            add_lines(&watch.path, &counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_loopback_and_trusted_addresses_are_never_bannable() {
        let own: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        let trusted: Vec<IpNet> = vec!["198.51.100.0/24".parse().unwrap()];
        for a in [
            "192.0.2.1",
            "127.0.0.1",
            "127.0.0.2",
            "::1",
            "198.51.100.9",
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "224.0.0.1",
            "ff02::1",
        ] {
            assert!(!bannable(a.parse().unwrap(), &own, &trusted), "{a}");
        }
        assert!(bannable("203.0.113.9".parse().unwrap(), &own, &trusted));
    }

    #[test]
    fn ipv4_mapped_forms_of_own_loopback_and_trusted_addresses_are_never_bannable() {
        let own: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        let trusted: Vec<IpNet> = vec!["198.51.100.0/24".parse().unwrap()];
        for a in [
            "::ffff:192.0.2.1",
            "::ffff:127.0.0.1",
            "::ffff:198.51.100.7",
        ] {
            assert!(!bannable(a.parse().unwrap(), &own, &trusted), "{a}");
        }
    }

    #[test]
    fn each_blame_has_its_outcome() {
        let own: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        let trusted: Vec<IpNet> = vec!["198.51.100.0/24".parse().unwrap()];
        let a: IpAddr = "203.0.113.9".parse().unwrap();
        let judged = |b| judge(b, &own, &trusted);
        assert_eq!(judged(Blame::Source(a)), (Outcome::Blamed, Some(a)));
        assert_eq!(judged(Blame::NoMatch), (Outcome::NoMatch, None));
        assert_eq!(judged(Blame::Ambiguous), (Outcome::Ambiguous, None));
        assert_eq!(judged(Blame::Unparsable), (Outcome::Unparsable, None));
        for victim in ["192.0.2.1", "127.0.0.1", "198.51.100.7"] {
            let v = victim.parse().unwrap();
            assert_eq!(
                judged(Blame::Source(v)),
                (Outcome::NotBannable, None),
                "{victim}"
            );
        }
    }

    #[test]
    fn ambiguous_lines_are_reported_at_most_once_a_minute() {
        let mut log = AmbiguousLog::default();
        let t0 = Instant::now();
        assert_eq!(log.note("first", t0), Some((1, "first".into())));
        for i in 1..100u64 {
            assert_eq!(log.note("again", t0 + Duration::from_millis(i * 100)), None);
        }
        let (n, example) = log.note("later", t0 + Duration::from_secs(61)).unwrap();
        assert_eq!((n, example.as_str()), (100, "again"));
        let long = "x".repeat(1000);
        let (_, example) = log.note(&long, t0 + Duration::from_secs(200)).unwrap();
        assert_eq!(example.len(), 200);
    }

    #[test]
    fn the_tally_counts_within_the_window() {
        let mut t = Tally::default();
        let a: IpAddr = "203.0.113.9".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(t.record(a, t0, Duration::from_secs(10)), 1);
        assert_eq!(
            t.record(a, t0 + Duration::from_secs(5), Duration::from_secs(10)),
            2
        );
        assert_eq!(
            t.record(a, t0 + Duration::from_secs(16), Duration::from_secs(10)),
            1
        );
    }

    #[test]
    fn the_follower_reads_new_lines_and_survives_rotation() {
        let dir = std::env::temp_dir().join(format!("sipguard-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        std::fs::write(&path, "old line\n").unwrap();
        let mut f = Follower::new(&path);
        assert!(
            f.read_lines().unwrap().is_empty(),
            "history is not evidence"
        );
        use std::io::Write as _;
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(w, "one\ntw").unwrap();
        assert_eq!(f.read_lines().unwrap(), ["one"]);
        writeln!(w, "o").unwrap();
        assert_eq!(f.read_lines().unwrap(), ["two"]);
        std::fs::rename(&path, dir.join("log.1")).unwrap();
        std::fs::write(&path, "after rotation\n").unwrap();
        assert_eq!(f.read_lines().unwrap(), ["after rotation"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_file_is_an_error_until_it_appears() {
        let dir = std::env::temp_dir().join(format!("sipguard-unreadable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let mut f = Follower::new(&path);
        let e = f.read_lines().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        std::fs::write(&path, "written after the start\n").unwrap();
        assert_eq!(f.read_lines().unwrap(), ["written after the start"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_run_of_read_failures_is_reported_once() {
        let mut r = Reported::default();
        assert_eq!(r.note(true), Change::Same);
        assert_eq!(r.note(false), Change::Failing);
        assert_eq!(r.note(false), Change::Same);
        assert_eq!(r.note(false), Change::Same);
        assert_eq!(r.note(true), Change::Recovered);
        assert_eq!(r.note(true), Change::Same);
        assert_eq!(
            r.note(false),
            Change::Failing,
            "a new outage is reported again"
        );
        let mut at_start = Reported::default();
        assert_eq!(at_start.note(false), Change::Failing);
    }
}

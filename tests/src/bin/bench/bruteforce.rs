//! Brute force, sipguard against iptables + fail2ban: svcrack guessing 1001's password
//! against Kamailio in the lab, once per trial and defence. Measured from Kamailio's own log,
//! tailed while the attack runs (each new line stamped as it appears, polled every 5 ms):
//! the wrong passwords that reached Kamailio before the attacker was cut off, and the cut-off
//! time, from the first of the attacker's requests to reach Kamailio to the last one.
//! Then the forged trunk ([`forged_trunk`]): the same two defences, and a forger writing the
//! trunk's address instead of guessing from its own.
use std::{
    collections::BTreeMap,
    io::{Read as _, Seek as _},
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context as _;
use serde::Serialize;
use sipguard_tests::{
    daemon::Daemon,
    fail2ban::{self, Fail2ban, Thresholds},
    forgery,
    policies::{bench_file, load_bench_iptables},
    voip::{VoipLab, ATTACKER, PBX_IF, PHONE},
    Deadline,
};

/// svcrack's arguments: far more passwords than any defence lets it try (1001's password
/// is guess 151), and an honest phone's User-Agent, so that what stops it is its failed
/// authentications, not a scanner fingerprint (the policy has fingerprints off anyway).
const SVCRACK: &[&str] = &["-u1001", "-r1-20000"];
const USER_AGENT: &str = "Zoiper rv2.10.20.3";
/// svcrack's time limit per trial.
const ATTACK_SECS: u64 = 40;
pub const DEFINITION: &str = "cut_off_s: seconds from the first request of the attacker \
    (192.0.2.66) to reach Kamailio to the last one (Kamailio's RX log lines, each stamped \
    when it appeared in the log, polled every 5 ms); wrong_passwords: Kamailio's AUTHFAIL \
    lines for the attacker; sent: the attacker namespace's Udp OutDatagrams during svcrack";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Defence {
    Sipguard,
    Fail2ban,
}

impl Defence {
    fn name(self) -> &'static str {
        match self {
            Defence::Sipguard => "sipguard",
            Defence::Fail2ban => "iptables+fail2ban",
        }
    }
}

/// One line of Kamailio's log and when the tail saw it.
struct Line {
    at: Instant,
    text: String,
}

/// Kamailio's log from its current end, until `stop` (or 10 minutes at most).
fn tail(path: &Path, stop: &AtomicBool) -> anyhow::Result<Vec<Line>> {
    let mut file = std::fs::File::open(path).context("opening kamailio.log")?;
    file.seek(std::io::SeekFrom::End(0))?;
    let deadline = Deadline::after(Duration::from_secs(600));
    let (mut lines, mut partial) = (Vec::new(), Vec::new());
    let mut chunk = Vec::new();
    loop {
        let last_round = stop.load(Ordering::Relaxed) || !deadline.pending();
        chunk.clear();
        file.read_to_end(&mut chunk)?;
        let at = Instant::now();
        partial.extend_from_slice(&chunk);
        while let Some(i) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=i).collect();
            lines.push(Line {
                at,
                text: String::from_utf8_lossy(&line).trim_end().to_owned(),
            });
        }
        if last_round {
            return Ok(lines);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn is_attackers(line: &str, tag: &str) -> bool {
    line.contains(&format!(": {tag} "))
        && (line.contains(&format!(" src={ATTACKER}:"))
            || line.contains(&format!(" src={ATTACKER} ")))
}

struct Trial {
    sent: u64,
    reached: usize,
    wrong: usize,
    cracked: bool,
    cut_off_s: Option<f64>,
    /// fail2ban: its Ban line, seconds after the first request reached Kamailio.
    ban_decided_s: Option<f64>,
    banned: bool,
    ban: String,
    attack_s: f64,
}

/// `bruteforce.json`.
#[derive(Serialize)]
pub struct Bruteforce {
    benchmark: &'static str,
    attack: String,
    definitions: &'static str,
    sipguard_policy: &'static str,
    iptables_rules: &'static str,
    fail2ban: Fail2banSetup,
    /// By defence name.
    results: BTreeMap<&'static str, DefenceResults>,
    forged_trunk: ForgedTrunk,
}

/// Forgeries of each kind ([`forgery::against`]) sent "from" the trunk.
const FORGED_EACH: usize = 20;
/// Longest wait for a defence to act on the forgeries (fail2ban polls its log each second).
const FORGED_WAIT: Duration = Duration::from_secs(5);
/// The trunk's own traffic after the forgeries.
const TRUNK_REGISTRATIONS: u32 = 10;
const TRUNK_CALLS: u32 = 5;
pub const FORGED_DEFINITION: &str = "trunk: 192.0.2.10 (the lab's phone namespace: it \
    registers and calls first, as a SIP trunk does); forged: raw frames from the attacker \
    namespace with the trunk's source address; authfail_logged: Kamailio's AUTHFAIL lines \
    \"from\" the trunk, what fail2ban's jail reads; banned: the trunk's ban after 5 s; \
    registrations, calls: the trunk's own, after the forgeries";

/// The forged-trunk scenario (`bruteforce.json`'s `forged_trunk`).
#[derive(Serialize)]
struct ForgedTrunk {
    attack: String,
    definitions: &'static str,
    /// By defence name.
    results: BTreeMap<&'static str, ForgedRow>,
}

#[derive(Serialize)]
struct ForgedRow {
    forged_sent: usize,
    authfail_logged: usize,
    trunk_banned: bool,
    ban: String,
    registrations_ok: u64,
    registrations: u32,
    calls_ok: u64,
    calls: u32,
}

/// How fail2ban was set up.
#[derive(Serialize)]
struct Fail2banSetup {
    version: String,
    backend: Option<String>,
    jail: &'static str,
    maxretry: u32,
    findtime_s: u64,
    bantime_s: u64,
    action: &'static str,
    ban_logged_s: &'static str,
}

/// One defence's trials and their medians.
#[derive(Serialize)]
struct DefenceResults {
    trials: Vec<TrialRow>,
    median: Medians,
}

#[derive(Serialize)]
struct TrialRow {
    trial: usize,
    sent: u64,
    reached_kamailio: usize,
    wrong_passwords: usize,
    password_found: bool,
    cut_off_s: Option<f64>,
    ban_logged_s: Option<f64>,
    banned: bool,
    ban: String,
    attack_s: f64,
}

/// Medians over a defence's trials (`None`: no trial had the value).
#[derive(Serialize)]
struct Medians {
    sent: Option<f64>,
    reached_kamailio: Option<f64>,
    wrong_passwords: Option<f64>,
    cut_off_s: Option<f64>,
    ban_logged_s: Option<f64>,
}

impl Medians {
    fn of(rows: &[Trial]) -> Self {
        let median = |f: &dyn Fn(&Trial) -> Option<f64>| -> Option<f64> {
            let mut v: Vec<f64> = rows.iter().filter_map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        Self {
            sent: median(&|t| Some(t.sent as f64)),
            reached_kamailio: median(&|t| Some(t.reached as f64)),
            wrong_passwords: median(&|t| Some(t.wrong as f64)),
            cut_off_s: median(&|t| t.cut_off_s),
            ban_logged_s: median(&|t| t.ban_decided_s),
        }
    }
}

impl TrialRow {
    fn new(i: usize, t: &Trial) -> Self {
        Self {
            trial: i + 1,
            sent: t.sent,
            reached_kamailio: t.reached,
            wrong_passwords: t.wrong,
            password_found: t.cracked,
            cut_off_s: t.cut_off_s,
            ban_logged_s: t.ban_decided_s,
            banned: t.banned,
            ban: t.ban.clone(),
            attack_s: t.attack_s,
        }
    }
}

pub fn run(trials: usize) -> anyhow::Result<Bruteforce> {
    let version = Fail2ban::version();
    println!(
        "\nbrute force in the lab: svcrack {} (User-Agent \"{USER_AGENT}\", at most \
         {ATTACK_SECS} s) against Kamailio with digest auth; sipguard with \
         tests/bench/policy.toml (auto-ban: 5 failures in 60 s, 1 h) against \
         tests/bench/iptables.rules + fail2ban {version} (maxretry 5, findtime 60 s, \
         bantime 1 h, iptables-allports DROP)",
        SVCRACK.join(" ")
    );
    println!("{DEFINITION}");
    println!(
        "{:<18} {:>5} {:>7} {:>8} {:>15} {:>10} {:>14} {:>8}  ban",
        "defence",
        "trial",
        "sent",
        "reached",
        "wrong_passwords",
        "cut_off_s",
        "ban_logged_s",
        "attack_s",
    );
    let mut results = BTreeMap::new();
    let mut backend = None;
    for defence in [Defence::Sipguard, Defence::Fail2ban] {
        let (rows, used) = defend(defence, trials)?;
        if used.is_some() {
            backend = used;
        }
        let medians = Medians::of(&rows);
        let fmt = |v: Option<f64>, p: usize| v.map_or("-".to_owned(), |v| format!("{v:.p$}"));
        println!(
            "{:<18} {:>5} {:>7} {:>8} {:>15} {:>10} {:>14} {:>8}",
            defence.name(),
            "med",
            fmt(medians.sent, 0),
            fmt(medians.reached_kamailio, 0),
            fmt(medians.wrong_passwords, 0),
            fmt(medians.cut_off_s, 3),
            fmt(medians.ban_logged_s, 3),
            "",
        );
        let trials = rows
            .iter()
            .enumerate()
            .map(|(i, t)| TrialRow::new(i, t))
            .collect();
        results.insert(
            defence.name(),
            DefenceResults {
                trials,
                median: medians,
            },
        );
    }
    let forged_trunk = forged_trunk()?;
    Ok(Bruteforce {
        benchmark: "bruteforce",
        attack: format!(
            "svcrack {} -x {ATTACKER} with User-Agent {USER_AGENT:?}, at most {ATTACK_SECS} s",
            SVCRACK.join(" ")
        ),
        definitions: DEFINITION,
        sipguard_policy: "tests/bench/policy.toml (autoban failures = 5, window 60s, ban 1h)",
        iptables_rules: "tests/bench/iptables.rules (iptables-legacy-restore)",
        fail2ban: Fail2banSetup {
            version,
            backend,
            jail: fail2ban::JAIL,
            maxretry: Thresholds::BENCH.maxretry,
            findtime_s: Thresholds::BENCH.findtime_secs,
            bantime_s: Thresholds::BENCH.bantime_secs,
            action: "iptables-allports[protocol=all, blocktype=DROP, iptables=iptables-legacy -w]",
            ban_logged_s: "seconds from the first request to reach Kamailio to fail2ban's `Ban 192.0.2.66` log line",
        },
        results,
        forged_trunk,
    })
}

/// Starts `defence` on a fresh lab with Kamailio: sipguard with the bench policy, or the
/// bench's iptables rules and fail2ban on Kamailio's log. The lab is returned first: it must
/// outlive the defence (dropped after it).
fn defended(defence: Defence) -> anyhow::Result<(VoipLab, Option<Daemon>, Option<Fail2ban>)> {
    let mut lab = VoipLab::new().context("building the lab")?;
    lab.start_kamailio()?;
    let policy = bench_file("policy.toml");
    let policy = policy.to_str().context("policy path")?;
    let (daemon, f2b) = match defence {
        Defence::Sipguard => (
            Some(Daemon::start(
                &lab.pbx,
                PBX_IF,
                9691,
                &["--config", policy],
            )?),
            None,
        ),
        Defence::Fail2ban => {
            load_bench_iptables(&lab.pbx)?;
            let log = lab.dir.join("kamailio.log");
            (
                None,
                Some(Fail2ban::start(&lab.pbx, &log, Thresholds::BENCH)?),
            )
        }
    };
    Ok((lab, daemon, f2b))
}

/// A forger writes the trunk's address on credential-less REGISTERs, REGISTERs with made-up
/// credentials and scanner OPTIONS ([`forgery::against`], 20 of each); Kamailio believes
/// them, challenges the trunk and logs wrong passwords "from" it. Per defence: whether the
/// trunk ends up banned, and whether its own registrations and calls still work.
fn forged_trunk() -> anyhow::Result<ForgedTrunk> {
    println!(
        "\nforged trunk: {FORGED_EACH} each of credential-less REGISTERs, REGISTERs with \
         made-up credentials and scanner OPTIONS, with the trunk's source {PHONE}"
    );
    println!("{FORGED_DEFINITION}");
    println!(
        "{:<18} {:>6} {:>15} {:>14} {:>10}  ban",
        "defence", "forged", "authfail_logged", "registrations", "calls"
    );
    let mut results = BTreeMap::new();
    for defence in [Defence::Sipguard, Defence::Fail2ban] {
        let row =
            forge_against(defence).with_context(|| format!("{} forged trunk", defence.name()))?;
        println!(
            "{:<18} {:>6} {:>15} {:>14} {:>10}  {}",
            defence.name(),
            row.forged_sent,
            row.authfail_logged,
            format!("{}/{}", row.registrations_ok, row.registrations),
            format!("{}/{}", row.calls_ok, row.calls),
            row.ban
        );
        results.insert(defence.name(), row);
    }
    Ok(ForgedTrunk {
        attack: format!(
            "{FORGED_EACH} each of credential-less REGISTERs, REGISTERs with made-up \
             credentials (a nonce Kamailio never issued) and OPTIONS with a scanner User-Agent, \
             raw frames from the attacker namespace with source {PHONE}, after the trunk \
             registered 5 times and placed 2 calls"
        ),
        definitions: FORGED_DEFINITION,
        results,
    })
}

fn forge_against(defence: Defence) -> anyhow::Result<ForgedRow> {
    let (lab, daemon, f2b) = defended(defence)?;
    // The trunk at work: it registers and calls (sipguard learns that the PBX accepts it).
    let regs = lab.honest_registrations(5, 5)?;
    let (calls, _) = lab.honest_calls(2)?;
    anyhow::ensure!(
        regs.all_ok(5) && calls.all_ok(2),
        "the trunk's traffic before the forgeries: {regs:?} {calls:?}"
    );
    let authfail_before = lab.kamailio_count("AUTHFAIL", PHONE);
    let forged_sent = forgery::send(&lab, PHONE, &forgery::against(PHONE, FORGED_EACH))?;
    // Each defence gets the same time to act (fail2ban reads Kamailio's log every second).
    let deadline = Deadline::after(FORGED_WAIT);
    let ban = loop {
        let ban = trunk_ban(daemon.as_ref(), f2b.as_ref())?;
        if ban.is_some() || !deadline.pending() {
            break ban;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let authfail_logged = lab.kamailio_count("AUTHFAIL", PHONE) - authfail_before;
    let regs = lab.honest_registrations(TRUNK_REGISTRATIONS, 5)?;
    // A banned trunk can't even register the callee: no call is placed, none succeeds.
    let calls_ok = match lab.honest_calls(TRUNK_CALLS) {
        Ok((calls, _)) => calls.successful,
        Err(e) => {
            println!("  {}: the trunk's calls: {e:#}", defence.name());
            0
        }
    };
    let row = ForgedRow {
        forged_sent,
        authfail_logged,
        trunk_banned: ban.is_some(),
        ban: ban.unwrap_or_else(|| "none".to_owned()),
        registrations_ok: regs.successful,
        registrations: TRUNK_REGISTRATIONS,
        calls_ok,
        calls: TRUNK_CALLS,
    };
    drop((daemon, f2b));
    drop(lab);
    Ok(row)
}

/// The trunk's ban, as the defence shows it: sipguard's `bans --json` row (prefix, scope,
/// reason), or its address in fail2ban's jail (iptables-allports: every port).
fn trunk_ban(daemon: Option<&Daemon>, f2b: Option<&Fail2ban>) -> anyhow::Result<Option<String>> {
    if let Some(d) = daemon {
        let out = d.cli(&["bans", "--json"])?;
        let bans: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("sipguard bans --json")?;
        let row = bans.as_array().and_then(|a| {
            a.iter()
                .find(|b| b["net"].as_str().is_some_and(|n| n.starts_with(PHONE)))
        });
        return Ok(row.map(|b| {
            format!(
                "{} scope {} ({})",
                b["net"].as_str().unwrap_or("?"),
                b["scope"].as_str().unwrap_or("?"),
                b["reason"].as_str().unwrap_or("?")
            )
        }));
    }
    if let Some(f) = f2b {
        if f.banned()?.iter().any(|ip| ip == PHONE) {
            return Ok(Some(format!("{PHONE} in [{}], every port", fail2ban::JAIL)));
        }
    }
    Ok(None)
}

/// One defence's trials, each with the attacker unbanned and the defence's count of
/// failures reset; returns fail2ban's backend too.
fn defend(defence: Defence, trials: usize) -> anyhow::Result<(Vec<Trial>, Option<String>)> {
    // The lab first: dropped (its namespaces gone) after the defence is stopped.
    let (lab, daemon, f2b) = defended(defence)?;
    let mut rows = Vec::new();
    for trial in 1..=trials {
        let t = attack(&lab, daemon.as_ref(), f2b.as_ref())
            .with_context(|| format!("{} trial {trial}", defence.name()))?;
        println!(
            "{:<18} {:>5} {:>7} {:>8} {:>15} {:>10} {:>14} {:>8.1}  {}",
            defence.name(),
            trial,
            t.sent,
            t.reached,
            t.wrong,
            t.cut_off_s.map_or("-".into(), |s| format!("{s:.3}")),
            t.ban_decided_s.map_or("-".into(), |s| format!("{s:.3}")),
            t.attack_s,
            t.ban
        );
        if !t.banned || t.cracked {
            eprintln!(
                "warning: {} trial {trial}: {}",
                defence.name(),
                if t.cracked {
                    "svcrack found the password before it was cut off"
                } else {
                    "the attacker was not banned"
                }
            );
        }
        rows.push(t);
        // The next trial starts unbanned and with no failures counted.
        if let Some(d) = &daemon {
            let out = d.cli(&["unban", ATTACKER])?;
            anyhow::ensure!(
                out.status.success(),
                "sipguard unban: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if let Some(f) = &f2b {
            f.reset(ATTACKER)?;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let backend = f2b.as_ref().and_then(Fail2ban::backend);
    drop((daemon, f2b));
    drop(lab);
    Ok((rows, backend))
}

fn attack(lab: &VoipLab, daemon: Option<&Daemon>, f2b: Option<&Fail2ban>) -> anyhow::Result<Trial> {
    let log = lab.dir.join("kamailio.log");
    let sent_before = lab.udp_sent(&lab.attacker)?;
    let stop = AtomicBool::new(false);
    let anchor = (Instant::now(), SystemTime::now());
    let (svcrack, lines) = std::thread::scope(|s| {
        let tailer = s.spawn(|| tail(&log, &stop));
        // The tail starts at the log's end before the first request.
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        let svcrack = lab.sipvicious("svcrack", SVCRACK, Some(USER_AGENT), ATTACK_SECS);
        let elapsed = started.elapsed();
        // Kamailio writes its log as it goes; what is in flight lands within this.
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let lines = tailer
            .join()
            .map_err(|_| anyhow::anyhow!("the log tail panicked"));
        (svcrack.map(|o| (o, elapsed)), lines)
    });
    let (_, attack) = svcrack?;
    let lines = lines??;
    let sent = lab.udp_sent(&lab.attacker)? - sent_before;
    let rx: Vec<&Line> = lines
        .iter()
        .filter(|l| is_attackers(&l.text, "RX"))
        .collect();
    let wrong = lines
        .iter()
        .filter(|l| is_attackers(&l.text, "AUTHFAIL"))
        .count();
    let cracked = lines.iter().any(|l| is_attackers(&l.text, "AUTHOK"));
    let cut_off_s = match (rx.first(), rx.last()) {
        (Some(a), Some(b)) => Some((b.at - a.at).as_secs_f64()),
        _ => None,
    };
    let first_wall = rx.first().map(|l| anchor.1 + (l.at - anchor.0));
    let (banned, ban, ban_decided_s) = if let Some(d) = daemon {
        let out = d.cli(&["bans", "--json"])?;
        let bans: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("sipguard bans --json")?;
        let ours = bans.as_array().and_then(|a| {
            a.iter()
                .find(|b| b["net"].as_str().is_some_and(|n| n.starts_with(ATTACKER)))
        });
        match ours {
            Some(b) => (
                true,
                format!(
                    "{} {} (dropped {})",
                    b["net"].as_str().unwrap_or("?"),
                    b["reason"].as_str().unwrap_or("?"),
                    b["hits"]
                ),
                None,
            ),
            None => (false, "none".to_owned(), None),
        }
    } else if let Some(f) = f2b {
        let banned = f.banned()?.iter().any(|ip| ip == ATTACKER);
        // This trial's Ban line (fail2ban logs in milliseconds, after the trial began).
        let logged = first_wall.and_then(|first| {
            let since_start = first.duration_since(anchor.1).ok()?.as_secs_f64();
            f.ban_times(ATTACKER)
                .into_iter()
                .filter_map(|t| t.duration_since(anchor.1).ok())
                .map(|d| d.as_secs_f64() - since_start)
                .next()
        });
        let ban = if banned {
            format!("{ATTACKER} in [{}]", fail2ban::JAIL)
        } else {
            "none".to_owned()
        };
        (banned, ban, logged)
    } else {
        (false, "none".to_owned(), None)
    };
    Ok(Trial {
        sent,
        reached: rx.len(),
        wrong,
        cracked,
        cut_off_s,
        ban_decided_s,
        banned,
        ban,
        attack_s: attack.as_secs_f64(),
    })
}

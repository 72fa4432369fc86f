//! The fuzz step: `cargo xtask fuzz [TARGET] [--secs N]`, and a bounded run of every target
//! inside `cargo xtask test`.
//!
//! One `cargo +nightly fuzz build` builds every target (libFuzzer, AddressSanitizer, debug
//! assertions; `sipguard` without its `ebpf` feature, so no eBPF object), then each target's
//! binary runs for a fixed time with a fixed seed, so a run is repeatable and its cost known.
//! It starts from a scratch corpus in `fuzz/target/corpus-run/<target>/` with the committed
//! seeds (`fuzz/corpus/<target>/`) and kept crashes (`fuzz/regressions/<target>/`) as further
//! corpus folders: libFuzzer runs every one of those inputs first and writes what it finds
//! only into the first folder, so the committed corpus never grows by a run.
//!
//! The targets are the `[[bin]]`s of `fuzz/Cargo.toml`: a new target needs no change here.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};

use crate::{describe, run, setup::rustup, Totals};

/// Seconds per target inside `cargo xtask test` (CI's budget: see `test_secs`).
pub const TEST_SECS: u64 = 10;
/// Seconds per target for `cargo xtask fuzz` without `--secs`.
pub const DEFAULT_SECS: u64 = 60;
/// libFuzzer's seed: the same inputs are tried on every run of the same corpus and binary.
const SEED: u64 = 13;
/// Memory one target may use before libFuzzer calls it a crash.
const RSS_LIMIT_MB: u64 = 2048;
/// Seconds one input may take before libFuzzer calls it a hang.
const INPUT_TIMEOUT_SECS: u64 = 10;

/// The longest input worth trying per target: what the code under test reads of it.
fn max_len(target: &str) -> usize {
    match target {
        // 3 bytes of length and flags, then the payload: the classifier reads 16 bytes.
        "sip" => 64,
        // Fixed fields only.
        "keys" | "packed" => 32,
        "lengths" => 11,
        "addr" => 34,
        // A TCP segment: the 2048 bytes the count scans, and some past them.
        "tcp_requests" => 2048 + 128,
        // A header value of 64 bytes and up to 36 patterns of up to 32.
        "ua" => 1024,
        // A log line; patterns are compiled only up to 256 bytes.
        "log_rules" => 1024,
        // A policy file: the committed ones are under 2 KiB.
        "config" => 4096,
        _ => 4096,
    }
}

/// How one target's run ended.
#[derive(Debug)]
pub struct Outcome {
    pub target: String,
    pub passed: bool,
    /// The input that crashed it, as libFuzzer wrote it.
    pub artifact: Option<PathBuf>,
    pub execs: Option<u64>,
    pub execs_per_sec: Option<u64>,
    /// Coverage counters hit (libFuzzer's `cov:`).
    pub cov: Option<u64>,
    /// The full libFuzzer output.
    pub log: PathBuf,
    pub secs: u64,
    /// Why it could not run at all.
    pub error: Option<String>,
}

impl Outcome {
    /// A step that failed before any target ran (the build, the toolchain).
    pub fn not_run(what: &str, why: String) -> Self {
        Self {
            target: what.to_owned(),
            passed: false,
            artifact: None,
            execs: None,
            execs_per_sec: None,
            cov: None,
            log: PathBuf::new(),
            secs: 0,
            error: Some(why),
        }
    }
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`, in its order.
pub fn targets(root: &Path) -> Result<Vec<String>> {
    let manifest = root.join("fuzz/Cargo.toml");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    Ok(bin_names(&text))
}

fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            let value = line
                .strip_prefix("name")
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"'));
            if let Some(name) = value {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// Builds every target (`cargo +nightly fuzz build`) and runs those in `only` (all when
/// empty) for `secs` each, printing one line per target.
pub fn run_all(root: &Path, only: &[String], secs: u64) -> Result<Vec<Outcome>> {
    let all = targets(root)?;
    for t in only {
        if !all.contains(t) {
            bail!(
                "fuzz: unknown target `{t}`; the targets ([[bin]]s of fuzz/Cargo.toml) are {}",
                all.join(", ")
            );
        }
    }
    let chosen: Vec<&String> = if only.is_empty() {
        all.iter().collect()
    } else {
        all.iter().filter(|t| only.contains(t)).collect()
    };
    let start = Instant::now();
    println!("xtask fuzz: building {} target(s)", all.len());
    run(rustup()
        .args(["run", "nightly", "cargo", "fuzz", "build"])
        .current_dir(root.join("fuzz")))?;
    println!(
        "xtask fuzz: built in {} s; {secs} s per target",
        start.elapsed().as_secs()
    );
    let mut outcomes = Vec::new();
    for target in chosen {
        let outcome = run_one(root, target, secs)?;
        println!("{}", summary(&outcome));
        if !outcome.passed {
            print_tail(&outcome.log, 12);
        }
        outcomes.push(outcome);
    }
    println!(
        "xtask fuzz: {} target(s) in {} s",
        outcomes.len(),
        start.elapsed().as_secs()
    );
    Ok(outcomes)
}

/// One target's bounded run.
fn run_one(root: &Path, target: &str, secs: u64) -> Result<Outcome> {
    let fuzz = root.join("fuzz");
    let binary = fuzz
        .join("target")
        .join(host_triple())
        .join("release")
        .join(target);
    let scratch = fuzz.join("target/corpus-run").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    let logs = fuzz.join("target/fuzz-logs");
    for dir in [&artifacts, &logs] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if scratch.exists() {
        fs::remove_dir_all(&scratch).with_context(|| format!("clearing {}", scratch.display()))?;
    }
    fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let log = logs.join(format!("{target}.log"));
    let log_file = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = Command::new(&binary);
    cmd.arg(&scratch);
    for kept in [
        fuzz.join("corpus").join(target),
        fuzz.join("regressions").join(target),
    ] {
        if kept.is_dir() {
            cmd.arg(kept);
        }
    }
    cmd.arg(format!("-max_total_time={secs}"))
        .arg(format!("-seed={SEED}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .arg(format!("-max_len={}", max_len(target)))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .current_dir(&fuzz)
        .stdout(log_file.try_clone().context("duplicating the log file")?)
        .stderr(log_file)
        .stdin(Stdio::null());
    let started = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}` (built?)", describe(&cmd)))?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    let stats = Stats::parse(&text);
    Ok(Outcome {
        target: target.to_owned(),
        passed: status.success() && stats.artifact.is_none(),
        artifact: stats.artifact,
        execs: stats.execs,
        execs_per_sec: stats.execs_per_sec,
        cov: stats.cov,
        log,
        secs: started.elapsed().as_secs(),
        error: None,
    })
}

fn host_triple() -> &'static str {
    // cargo fuzz builds for its default `--target`, the host's.
    if cfg!(target_arch = "aarch64") {
        "aarch64-unknown-linux-gnu"
    } else {
        "x86_64-unknown-linux-gnu"
    }
}

/// What libFuzzer's output says of a run.
#[derive(Debug, Default, PartialEq, Eq)]
struct Stats {
    execs: Option<u64>,
    execs_per_sec: Option<u64>,
    cov: Option<u64>,
    artifact: Option<PathBuf>,
}

impl Stats {
    fn parse(text: &str) -> Self {
        let mut s = Stats::default();
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
                s.execs = n.trim().parse().ok();
            } else if let Some(n) = line.strip_prefix("stat::average_exec_per_sec:") {
                s.execs_per_sec = n.trim().parse().ok();
            } else if let Some((_, path)) = line.split_once("Test unit written to ") {
                s.artifact = Some(PathBuf::from(path.trim()));
            }
            if let Some(n) = word_after(line, "cov:") {
                s.cov = Some(n);
            }
        }
        s
    }
}

/// The number after `key` in a libFuzzer status line (`#1234 NEW cov: 56 ft: ...`).
fn word_after(line: &str, key: &str) -> Option<u64> {
    let (_, rest) = line.split_once(&format!(" {key} "))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// `fuzz TARGET: ok, N execs (N/s), cov N, S s`, or the `FAILED [fuzz] TARGET: ...` line.
pub fn summary(o: &Outcome) -> String {
    let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    if o.passed {
        format!(
            "fuzz {}: ok, {} execs ({}/s), cov {}, {} s",
            o.target,
            n(o.execs),
            n(o.execs_per_sec),
            n(o.cov),
            o.secs
        )
    } else {
        if let Some(why) = &o.error {
            return format!("FAILED [fuzz] {}: {why}", o.target);
        }
        let what = match &o.artifact {
            Some(a) => format!(
                "crash input {} (keep it: copy to fuzz/regressions/{}/)",
                a.display(),
                o.target
            ),
            None => "libFuzzer failed without an input".to_owned(),
        };
        format!(
            "FAILED [fuzz] {}: {what}; log {}",
            o.target,
            o.log.display()
        )
    }
}

/// What a failed run's log says: the panic and its message when there is one (the target's
/// assertions say what was wrong of which input), then libFuzzer's last `lines`.
fn print_tail(log: &Path, lines: usize) {
    let text = fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    if let Some(at) = all.iter().position(|l| l.contains("panicked at")) {
        for line in all.iter().skip(at).take(6) {
            println!("    {line}");
        }
        println!("    ...");
    }
    for line in &all[all.len().saturating_sub(lines)..] {
        println!("    {line}");
    }
}

/// Each target as one test.
pub fn totals(outcomes: &[Outcome]) -> Totals {
    let failed = outcomes.iter().filter(|o| !o.passed).count() as u64;
    Totals {
        passed: outcomes.len() as u64 - failed,
        failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_the_bin_names_of_the_manifest() {
        let manifest = "[package]\nname = \"sipguard-fuzz\"\n\n[[bin]]\nname = \"config\"\n\
                        path = \"fuzz_targets/config.rs\"\n\n[[bin]]\nname=\"sip\"\n";
        assert_eq!(bin_names(manifest), ["config", "sip"]);
    }

    #[test]
    fn every_committed_target_is_found() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let t = targets(root).unwrap();
        assert!(t.iter().any(|t| t == "config"), "{t:?}");
        assert!(!t.iter().any(|t| t == "sipguard-fuzz"), "{t:?}");
    }

    #[test]
    fn a_failed_target_is_a_failed_line_naming_its_crash_input() {
        let mut o = Outcome::not_run("sip", "unused".into());
        o.error = None;
        o.artifact = Some(PathBuf::from("/w/fuzz/artifacts/sip/crash-abc"));
        o.log = PathBuf::from("/w/fuzz/target/fuzz-logs/sip.log");
        assert_eq!(
            summary(&o),
            "FAILED [fuzz] sip: crash input /w/fuzz/artifacts/sip/crash-abc (keep it: copy to \
             fuzz/regressions/sip/); log /w/fuzz/target/fuzz-logs/sip.log"
        );
        let build = Outcome::not_run(
            "build",
            "`cargo fuzz build` failed: exit status: 101".into(),
        );
        assert_eq!(
            summary(&build),
            "FAILED [fuzz] build: `cargo fuzz build` failed: exit status: 101"
        );
        assert_eq!(
            totals(&[o, build]),
            Totals {
                passed: 0,
                failed: 2
            }
        );
    }

    #[test]
    fn stats_read_libfuzzers_lines() {
        let text = "#2\tINITED cov: 40 ft: 41 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                    #9101\tNEW    cov: 57 ft: 90 corp: 7/99b lim: 4 exec/s: 0 rss: 31Mb L: 3/4\n\
                    Done 123456 runs in 11 second(s)\n\
                    stat::number_of_executed_units: 123456\n\
                    stat::average_exec_per_sec:     11223\n";
        assert_eq!(
            Stats::parse(text),
            Stats {
                execs: Some(123456),
                execs_per_sec: Some(11223),
                cov: Some(57),
                artifact: None,
            }
        );
        let crash = "==1== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='/w/fuzz/artifacts/sip/'; Test unit written to /w/fuzz/artifacts/sip/crash-abc\n";
        assert_eq!(
            Stats::parse(crash).artifact,
            Some(PathBuf::from("/w/fuzz/artifacts/sip/crash-abc"))
        );
    }
}

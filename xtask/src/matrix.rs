//! The kernel matrix of `cargo xtask test`: the already-built integration-test executable
//! (its whole BPF_PROG_TEST_RUN tier and a subset of the end-to-end tests) runs inside
//! Debian's 5.10, 6.1 and 6.12 kernels, each booted under qemu (software emulation) with virtme-ng on the
//! host's own root filesystem. Each guest writes its test output into a results directory
//! (`target/kernel-matrix/LABEL/`, the guest's only writable host directory), which is
//! followed while the guest runs and parsed afterwards.

use std::{
    collections::BTreeMap,
    fs,
    io::{Read as _, Seek as _, SeekFrom},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    cargo,
    kernels::{self, Kernel, Series, SERIES},
    setup, Totals,
};

/// The integration-test binary (`tests/tests/main.rs`): one module per area.
const TEST_BINARY: &str = "integration";

/// Its modules of the BPF_PROG_TEST_RUN tier: all their tests run in every guest, one
/// module per run of the binary (as when each was a binary of its own: its own process, its
/// own shared programs, cleaned up after). A module with no tests stops the run.
const BPF_MODULES: &[&str] = &[
    "xdp_verdicts",
    "sip_classes",
    "sip_rates",
    "sip_scanners",
    "autoban",
    "ban_room",
    "learned_trust",
    "nonces",
    "user_tallies",
    "floods",
    "no_bypass",
    "destinations",
];

/// The end-to-end tests (module `e2e`, `tests/tests/e2e.rs`) every guest runs, by exact name
/// within the module: allowed and
/// denied traffic, a ban by hand, `kill -9` and a restart that adopts the pinned links, and
/// `sipguard status`. A name missing from the binary stops the run (so that a rename can't
/// shrink the matrix unnoticed).
const E2E_TESTS: &[&str] = &[
    "denied_sources_are_dropped_and_counted_while_allowed_traffic_flows",
    "a_manual_ban_drops_a_source_until_unbanned",
    "kill_9_leaves_filtering_and_bans_in_force_and_a_restart_adopts_them",
    "status_shows_the_interface_the_daemon_and_current_rates",
    "a_client_answered_401_past_the_threshold_is_banned_by_the_egress_program",
    "without_tcx_the_egress_filter_outlives_the_daemon_and_a_restart_swaps_its_program_in_place",
    "a_variant_the_kernel_lacks_is_refused_by_its_verifier_in_one_sentence_naming_the_kernel",
];

/// The perimeter tests (module `perimeter`, `tests/tests/perimeter.rs`) every guest runs with
/// the e2e subset: a start on several interfaces that fails on one undoes the others (on the
/// guests' kernels without TCX, their clsact egress filters too). The routed lab's tests need
/// Kamailio and SIPVicious for minutes under emulation and run on the host only.
const PERIMETER_TESTS: &[&str] =
    &["an_interface_that_fails_names_itself_and_leaves_the_others_unattached"];

/// The Debian package's test (module `deb`, `tests/tests/deb.rs`, ignored on the host: it
/// runs `dpkg -i`),
/// run in the guest of [`DEB_KERNEL`], the Debian 12 kernel, on the guest's throwaway overlays.
const DEB_TEST: &str =
    "the_package_installs_filters_with_its_config_survives_an_upgrade_and_purges_to_nothing";
const DEB_KERNEL: &str = "6.1";

/// The longest one run of the test binary may take inside a guest.
const RUN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The guest script's `cleanup`, run after each run of the binary: what a crashed or failed
/// test left behind goes, as on the host before a run (a failed load's pinned maps would otherwise
/// stay in the guest's memory and add up to an out-of-memory kill).
const CLEANUP_SH: &str = r#"cleanup() {
  rm -rf /sys/fs/bpf/sipguard-test-*
  for ns in $(ip netns list | awk '/^sgt-/ {print $1}'); do
    ip netns pids "$ns" | xargs -r kill -KILL
    ip netns delete "$ns"
  done
}
"#;

/// Marks the guest script's own lines in the test log.
const MARK: &str = "::sipguard-matrix::";

/// Which kernels a test run covers.
#[derive(Debug, PartialEq)]
pub struct Selection {
    /// The machine's own kernel: the plain `cargo test` run.
    pub host: bool,
    /// Debian kernels booted under qemu.
    pub guests: Vec<&'static Series>,
}

impl Selection {
    /// From `--kernels` (`host,5.10,6.1,6.12` or `all`); without it, everything.
    pub fn parse(list: Option<&str>) -> Result<Self> {
        let mut sel = Self {
            host: list.is_none(),
            guests: if list.is_none() {
                SERIES.iter().collect()
            } else {
                Vec::new()
            },
        };
        for item in list.into_iter().flat_map(|l| l.split(',')).map(str::trim) {
            match item {
                "host" => sel.host = true,
                "all" => return Self::parse(None),
                _ => match SERIES.iter().find(|s| s.label == item) {
                    Some(s) if !sel.guests.iter().any(|g| g.label == s.label) => sel.guests.push(s),
                    Some(_) => {}
                    None => bail!(
                        "--kernels: unknown kernel `{item}`; choose from host, {}, all",
                        SERIES
                            .iter()
                            .map(|s| s.label)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            }
        }
        if !sel.host && sel.guests.is_empty() {
            bail!("--kernels: no kernel selected");
        }
        Ok(sel)
    }
}

/// What one kernel's tests gave.
pub struct Outcome {
    /// `uname -r` of the kernel.
    pub kernel: String,
    pub totals: Totals,
    /// `module::test` names, or what went wrong with the guest.
    pub failures: Vec<String>,
}

impl Outcome {
    /// A kernel whose tests could not run at all: one failure saying why.
    fn failed(kernel: &str, why: String) -> Self {
        Self {
            kernel: kernel.to_owned(),
            totals: Totals {
                passed: 0,
                failed: 1,
            },
            failures: vec![why],
        }
    }

    /// `kernel VERSION: N passed, M failed`, then one `FAILED [VERSION] name` line each.
    fn print(&self) {
        println!(
            "kernel {}: {} passed, {} failed",
            self.kernel, self.totals.passed, self.totals.failed
        );
        for f in &self.failures {
            println!("FAILED [{}] {f}", self.kernel);
        }
    }
}

/// Runs the matrix part of the tests in each of `series` (in order, one guest at a time),
/// each guest bounded by `timeout`. Without root it is skipped with a note, except under
/// CI, where each kernel then counts as failed.
pub fn run(root: &Path, series: &[&'static Series], timeout: Duration) -> Result<Vec<Outcome>> {
    if series.is_empty() {
        return Ok(Vec::new());
    }
    if !setup::is_root() {
        return Ok(without_root(series));
    }
    let vng = setup::matrix_deps()?;
    let kernels = match kernels::fetch(series) {
        Ok(k) => k,
        Err(e) => {
            let why = format!("could not fetch the kernel: {e:#}");
            return Ok(series
                .iter()
                .map(|s| Outcome::failed(s.label, why.clone()))
                .collect());
        }
    };
    let runs = guest_runs(root, series)?;
    let mut outcomes = Vec::new();
    for kernel in &kernels {
        let start = Instant::now();
        let outcome = Guest {
            root,
            vng: &vng,
            kernel,
            timeout,
        }
        .run(&runs)?;
        println!(
            "xtask: kernel {} took {} s: {} passed, {} failed",
            kernel.version,
            start.elapsed().as_secs(),
            outcome.totals.passed,
            outcome.totals.failed
        );
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Without root the guests can't run: skipped with a note, or under CI one failure each.
fn without_root(series: &[&'static Series]) -> Vec<Outcome> {
    if std::env::var_os("CI").is_none() {
        println!(
            "xtask: skipping the kernel matrix ({}): it needs root",
            labels(series)
        );
        return Vec::new();
    }
    let why = "the kernel matrix needs root and CI must run it";
    series
        .iter()
        .map(|s| Outcome::failed(s.label, why.into()))
        .collect()
}

/// Prints the host's count (when it ran) and each guest's [`Outcome`]; returns whether
/// every guest passed.
pub fn print_summary(host: Option<&Totals>, guests: &[Outcome]) -> bool {
    if guests.is_empty() {
        return true;
    }
    println!();
    if let Some(host) = host {
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        println!(
            "kernel {} (host): {} passed, {} failed",
            release.trim(),
            host.passed,
            host.failed
        );
    }
    for g in guests {
        g.print();
    }
    guests.iter().all(|g| g.totals.failed == 0)
}

/// The series' labels, for messages.
fn labels(series: &[&Series]) -> String {
    series
        .iter()
        .map(|s| s.label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One run of the test binary in the guests: its name in the log (the module), executable,
/// `libtest` filter args, extra environment, and the one kernel it runs on (`None`: every
/// kernel).
struct GuestRun {
    name: String,
    exe: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    kernel: Option<&'static str>,
}

/// The matrix's runs of the test binary (built if needed): each BPF module's tests, and the
/// e2e subset, checked against the binary's `--list`; with [`DEB_KERNEL`] among `series`,
/// the Debian package (built here) and its test.
fn guest_runs(root: &Path, series: &[&'static Series]) -> Result<Vec<GuestRun>> {
    let exes = test_executables(root)?;
    let exe = exes
        .get(TEST_BINARY)
        .cloned()
        .with_context(|| format!("cargo built no test binary `{TEST_BINARY}`"))?;
    let listed = listed_tests(&exe)?;
    let mut runs = Vec::new();
    for module in BPF_MODULES {
        let tests = module_tests(&listed, module);
        if tests.is_empty() {
            bail!(
                "the kernel matrix runs module `{module}` (BPF_MODULES in xtask/src/matrix.rs), \
                 but {} has no test in it",
                exe.display()
            );
        }
        runs.push(GuestRun {
            name: module.to_string(),
            exe: exe.clone(),
            args: exact(tests),
            env: Vec::new(),
            kernel: None,
        });
    }
    let mut e2e = in_module("e2e", E2E_TESTS);
    e2e.extend(in_module("perimeter", PERIMETER_TESTS));
    check_listed(&exe, &listed, &e2e)?;
    runs.push(GuestRun {
        name: "e2e".into(),
        exe: exe.clone(),
        args: exact(e2e),
        env: Vec::new(),
        kernel: None,
    });
    if series.iter().any(|s| s.label == DEB_KERNEL) {
        let deb = in_module("deb", &[DEB_TEST]);
        check_listed(&exe, &listed, &deb)?;
        let package = crate::deb::build(root)?;
        let mut args = vec!["--ignored".to_owned()];
        args.extend(exact(deb));
        runs.push(GuestRun {
            name: "deb".into(),
            exe,
            args,
            env: vec![
                ("SIPGUARD_GUEST".into(), "1".into()),
                (
                    "SIPGUARD_DEB".into(),
                    package.to_string_lossy().into_owned(),
                ),
            ],
            kernel: Some(DEB_KERNEL),
        });
    }
    Ok(runs)
}

/// `module::test` for each of `tests`.
fn in_module(module: &str, tests: &[&str]) -> Vec<String> {
    tests.iter().map(|t| format!("{module}::{t}")).collect()
}

/// The listed tests of `module` (directly or in a submodule).
fn module_tests(listed: &[String], module: &str) -> Vec<String> {
    let prefix = format!("{module}::");
    listed
        .iter()
        .filter(|t| t.starts_with(&prefix))
        .cloned()
        .collect()
}

/// `libtest` arguments that run exactly `tests`.
fn exact(tests: Vec<String>) -> Vec<String> {
    std::iter::once("--exact".to_owned()).chain(tests).collect()
}

/// Test executables by target name, from `cargo test --release --no-run`'s JSON messages.
fn test_executables(root: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let json = setup::output(cargo(root).args([
        "test",
        "--release",
        "--no-run",
        "--message-format=json",
    ]))?;
    Ok(parse_executables(&json))
}

/// The `executable` of each `compiler-artifact` message with `profile.test == true`.
fn parse_executables(json: &str) -> BTreeMap<String, PathBuf> {
    json.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["profile"]["test"] == true)
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_owned();
            Some((name, PathBuf::from(m["executable"].as_str()?)))
        })
        .collect()
}

/// The tests in `exe --list` (ignored ones included).
fn listed_tests(exe: &Path) -> Result<Vec<String>> {
    let list = setup::output(Command::new(exe).args(["--list", "--format", "terse"]))?;
    Ok(parse_list(&list))
}

/// The names of `--list --format terse` output (`NAME: test` lines).
fn parse_list(list: &str) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

/// Fails unless every one of `tests` is in `listed` (`exe --list`).
fn check_listed(exe: &Path, listed: &[String], tests: &[String]) -> Result<()> {
    let missing: Vec<&str> = tests
        .iter()
        .filter(|t| !listed.contains(t))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        bail!(
            "tests the kernel matrix runs (E2E_TESTS, PERIMETER_TESTS, DEB_TEST in xtask/src/matrix.rs) are not in {}: {}",
            exe.display(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// One kernel's guest run.
struct Guest<'a> {
    root: &'a Path,
    vng: &'a Path,
    kernel: &'a Kernel,
    timeout: Duration,
}

impl Guest<'_> {
    /// Boots the kernel, does `runs` in it, and parses what they printed.
    fn run(&self, runs: &[GuestRun]) -> Result<Outcome> {
        let results = self
            .root
            .join("target/kernel-matrix")
            .join(self.kernel.label);
        if results.exists() {
            fs::remove_dir_all(&results)
                .with_context(|| format!("removing {}", results.display()))?;
        }
        fs::create_dir_all(&results).with_context(|| format!("creating {}", results.display()))?;
        let script = results.join("run.sh");
        fs::write(&script, self.script(&results, runs))
            .with_context(|| format!("writing {}", script.display()))?;
        println!("xtask: booting {} under qemu (TCG)", self.kernel.version);
        let timed_out = self.boot(&results, &script)?;
        let log = fs::read_to_string(results.join("tests.log")).unwrap_or_default();
        let mut outcome = parse_log(&self.kernel.version, &log);
        if !log.lines().any(|l| l == format!("{MARK} done")) {
            let why = match timed_out {
                true => format!("timed out after {} s", self.timeout.as_secs()),
                false => "stopped before its tests finished (boot failure?)".to_owned(),
            };
            let console = results.join("console.log");
            print_tail(&console, 20);
            outcome
                .failures
                .push(format!("guest {why}; console: {}", console.display()));
            outcome.totals.failed += 1;
        }
        Ok(outcome)
    }

    /// The shell script the guest runs: prepare bpffs and loopback, then each run with its
    /// output and exit status appended to `tests.log`, cleaning up after each.
    fn script(&self, results: &Path, runs: &[GuestRun]) -> String {
        let limit = RUN_TIMEOUT.min(self.timeout).as_secs();
        let mut s = self.prelude(results);
        for b in runs {
            if b.kernel.is_some_and(|k| k != self.kernel.label) {
                continue;
            }
            let args: Vec<String> = b.args.iter().map(|a| sh_quote(a)).collect();
            let env: Vec<String> = b
                .env
                .iter()
                .map(|(k, v)| format!("{k}={}", sh_quote(v)))
                .collect();
            s += &format!(
                "echo \"{MARK} start {name}\"\n\
                 timeout -k 10 {limit} env {} {} {} --test-threads=1\n\
                 echo \"{MARK} end {name} $?\"\n\
                 cleanup\n",
                env.join(" "),
                sh_quote(&b.exe.to_string_lossy()),
                args.join(" "),
                name = b.name,
            );
        }
        s + &format!("echo \"{MARK} done\"\n")
    }

    /// The script's start: output into `tests.log`, bpffs, loopback, the tests' environment,
    /// the tests package's directory (where cargo test runs them) and [`CLEANUP_SH`].
    fn prelude(&self, results: &Path) -> String {
        let q = |p: &Path| sh_quote(&p.to_string_lossy());
        let path = std::env::var("PATH").unwrap_or_default();
        let mut s = format!(
            "#!/bin/sh\n# Written by `cargo xtask test`: runs inside the {} guest.\n\
             exec >>{} 2>&1\n\
             echo \"{MARK} kernel $(uname -r)\"\n\
             mount -t bpf bpf /sys/fs/bpf || echo \"{MARK} could not mount bpffs\"\n\
             ip link set lo up\n\
             export PATH={}\n\
             export SIPGUARD_TEST_BIN={} SIPGUARD_KERNEL={}\n",
            self.kernel.version,
            q(&results.join("tests.log")),
            sh_quote(&format!("{path}:/usr/sbin:/sbin")),
            q(&self.root.join("target/release/sipguard")),
            sh_quote(self.kernel.label),
        );
        if let Some(ci) = std::env::var_os("CI") {
            s += &format!("export CI={}\n", sh_quote(&ci.to_string_lossy()));
        }
        s + &format!("cd {}\n{CLEANUP_SH}", q(&self.root.join("tests")))
    }

    /// Runs vng until the guest powers off or `timeout` passes (then kills it); prints the
    /// test log as it grows. Returns whether it timed out.
    fn boot(&self, results: &Path, script: &Path) -> Result<bool> {
        let mut cmd = Command::new(self.vng);
        // 9p is what boots here (virtiofsd fails and vng falls back after ~3 s).
        cmd.args([
            "--disable-kvm",
            "--disable-microvm",
            "--force-9p",
            "-v",
            "-r",
        ])
        .arg(&self.kernel.vmlinuz)
        .args(["--memory", "3G", "--cpus", "2", "--rwdir"])
        .arg(results)
        .args(["--", "sh"])
        .arg(script)
        .current_dir(self.root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills qemu too.
        .process_group(0);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("could not start {}", self.vng.display()))?;
        let console = drain_to_file(&mut child, &results.join("console.log"))?;
        let mut follow = Follow::new(results.join("tests.log"), self.kernel.label);
        let deadline = Instant::now() + self.timeout;
        let timed_out = loop {
            follow.print_new();
            if child.try_wait()?.is_some() {
                break false;
            }
            if Instant::now() > deadline {
                kill_group(&mut child)?;
                break true;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        follow.print_new();
        let _ = console.join();
        Ok(timed_out)
    }
}

/// Copies the child's stderr (with `-v`: the guest's console) into `path`, in a thread.
/// qemu writes there through `/proc/self/fd/2` from several chardevs: a pipe keeps them whole
/// where a regular file would be truncated and overwritten.
fn drain_to_file(child: &mut Child, path: &Path) -> Result<std::thread::JoinHandle<()>> {
    let mut stderr = child.stderr.take().context("vng's stderr is not piped")?;
    let mut file =
        fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(std::thread::spawn(move || {
        let _ = std::io::copy(&mut stderr, &mut file);
    }))
}

/// SIGKILL to the child's process group (vng and its qemu), then reaps the child.
fn kill_group(child: &mut Child) -> Result<()> {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    child.wait().context("waiting for the killed guest")?;
    Ok(())
}

/// Prints the lines a growing file gains, prefixed with the kernel's label.
struct Follow {
    path: PathBuf,
    prefix: String,
    offset: u64,
    partial: String,
}

impl Follow {
    fn new(path: PathBuf, label: &str) -> Self {
        Self {
            path,
            prefix: format!("[{label}] "),
            offset: 0,
            partial: String::new(),
        }
    }

    /// Prints the complete lines added since the last call.
    fn print_new(&mut self) {
        let Ok(mut f) = fs::File::open(&self.path) else {
            return;
        };
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut buf).is_err() {
            return;
        }
        self.offset += buf.len() as u64;
        self.partial += &String::from_utf8_lossy(&buf);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            println!("{}{}", self.prefix, line.trim_end());
        }
    }
}

/// Prints the last `n` lines of `path` (the guest's console after a failure).
fn print_tail(path: &Path, n: usize) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    println!("xtask: last lines of {}:", path.display());
    for l in &lines[lines.len().saturating_sub(n)..] {
        println!("  {l}");
    }
}

/// Counts and failing tests from the guest's test log: libtest's `test result:` and
/// `test NAME ... FAILED` lines within each run's start/end marks; a run that ended
/// without a result line (crash, timeout) or never ended counts as one failure.
fn parse_log(kernel: &str, log: &str) -> Outcome {
    let mut out = Outcome {
        kernel: kernel.to_owned(),
        totals: Totals::default(),
        failures: Vec::new(),
    };
    let mut current: Option<(String, bool)> = None;
    let binary_failed = |out: &mut Outcome, why: String| {
        out.failures.push(why);
        out.totals.failed += 1;
    };
    for line in log.lines() {
        if let Some(name) = line.strip_prefix(&format!("{MARK} start ")) {
            current = Some((name.to_owned(), false));
        } else if let Some(rest) = line.strip_prefix(&format!("{MARK} end ")) {
            let (name, code) = rest.rsplit_once(' ').unwrap_or((rest, ""));
            if let Some((_, false)) = current.take() {
                let why = match code {
                    "124" => "timed out".to_owned(),
                    "137" => "killed: out of memory or timed out, see console.log".to_owned(),
                    _ => format!("exit status {code}"),
                };
                binary_failed(&mut out, format!("{name}: no test result ({why})"));
            }
        } else if line.trim_start().starts_with("test result: ") {
            out.totals.add_line(line);
            if let Some((_, seen)) = current.as_mut() {
                *seen = true;
            }
        } else if let Some(test) = line
            .strip_prefix("test ")
            .and_then(|l| l.strip_suffix(" ... FAILED"))
        {
            let binary = current.as_ref().map_or("?", |(n, _)| n.as_str());
            // A module's tests are listed with its name: not twice in the failure.
            let test = test.strip_prefix(&format!("{binary}::")).unwrap_or(test);
            out.failures.push(format!("{binary}::{test}"));
        }
    }
    if let Some((name, _)) = current {
        binary_failed(&mut out, format!("{name}: the guest stopped while it ran"));
    }
    out
}

/// `s` in single quotes for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_defaults_to_everything_and_parses_lists() {
        let all = Selection::parse(None).unwrap();
        assert!(all.host);
        assert_eq!(all.guests.len(), SERIES.len());
        let some = Selection::parse(Some("host,6.1")).unwrap();
        assert!(some.host);
        assert_eq!(
            some.guests.iter().map(|s| s.label).collect::<Vec<_>>(),
            ["6.1"]
        );
        let one = Selection::parse(Some("5.10")).unwrap();
        assert!(!one.host);
        assert_eq!(one.guests.len(), 1);
        assert_eq!(Selection::parse(Some("all")).unwrap(), all);
        assert!(Selection::parse(Some("4.19")).is_err());
    }

    #[test]
    fn the_log_gives_counts_and_failing_tests_per_binary() {
        let log = format!(
            "{MARK} kernel 6.1.0-57-amd64\n{MARK} start xdp_verdicts\nrunning 2 tests\n\
             test banned_source_drops ... FAILED\ntest allowed_passes ... ok\n\nfailures:\n\n\
             ---- banned_source_drops stdout ----\npanicked\n\nfailures:\n    banned_source_drops\n\n\
             test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n\
             {MARK} end xdp_verdicts 101\n{MARK} start floods\n{MARK} end floods 124\n{MARK} start sip_rates\n{MARK} end sip_rates 137\n\
             {MARK} start e2e\ntest result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 24 filtered out\n\
             {MARK} end e2e 0\n{MARK} start autoban\nrunning 19 tests\n"
        );
        let out = parse_log("6.1.0-57-amd64", &log);
        assert_eq!(
            out.totals,
            Totals {
                passed: 5,
                failed: 4
            }
        );
        assert_eq!(
            out.failures,
            [
                "xdp_verdicts::banned_source_drops",
                "floods: no test result (timed out)",
                "sip_rates: no test result (killed: out of memory or timed out, see console.log)",
                "autoban: the guest stopped while it ran"
            ]
        );
    }

    #[test]
    fn executables_come_from_test_profile_artifacts() {
        let json = r#"{"reason":"compiler-artifact","target":{"name":"e2e","kind":["test"]},"profile":{"test":true},"executable":"/w/target/release/deps/e2e-1"}
{"reason":"compiler-artifact","target":{"name":"sipguard","kind":["bin"]},"profile":{"test":false},"executable":"/w/target/release/sipguard"}
{"reason":"build-finished","success":true}"#;
        let exes = parse_executables(json);
        assert_eq!(exes.len(), 1);
        assert_eq!(exes["e2e"], Path::new("/w/target/release/deps/e2e-1"));
    }

    #[test]
    fn a_modules_tests_are_those_under_its_path_and_no_other() {
        let listed = parse_list(
            "xdp_verdicts::allowed_passes: test\nxdp_verdicts_extra::b: test\n\
             floods::nested::c: test\ne2e::d: test\ndeb::e: test\n\n5 tests, 0 benchmarks\n",
        );
        assert_eq!(listed.len(), 5);
        assert_eq!(
            module_tests(&listed, "xdp_verdicts"),
            ["xdp_verdicts::allowed_passes"]
        );
        assert_eq!(module_tests(&listed, "floods"), ["floods::nested::c"]);
        assert!(module_tests(&listed, "autoban").is_empty());
        assert_eq!(exact(in_module("e2e", &["d"])), ["--exact", "e2e::d"]);
    }

    #[test]
    fn a_named_test_missing_from_the_list_stops_the_run() {
        let listed = parse_list("e2e::d: test\ndeb::e: test\n");
        let exe = Path::new("/w/integration");
        assert!(check_listed(exe, &listed, &in_module("e2e", &["d"])).is_ok());
        let e = check_listed(exe, &listed, &in_module("e2e", &["d", "renamed"])).unwrap_err();
        assert!(e.to_string().ends_with(": e2e::renamed"), "{e}");
    }

    #[test]
    fn a_failing_test_is_named_once_with_its_module() {
        let log = format!(
            "{MARK} start floods\ntest floods::syn_limit ... FAILED\n\
             test result: FAILED. 5 passed; 1 failed; 0 ignored; 0 measured; 167 filtered out\n\
             {MARK} end floods 101\n"
        );
        let out = parse_log("6.1.0-57-amd64", &log);
        assert_eq!(out.failures, ["floods::syn_limit"]);
        assert_eq!(
            out.totals,
            Totals {
                passed: 5,
                failed: 1
            }
        );
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(sh_quote("a'b c"), r"'a'\''b c'");
    }
}

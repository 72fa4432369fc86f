//! `cargo xtask`: sipguard's developer tasks. It only orchestrates: it makes the eBPF
//! toolchain and test packages present (see `../shared/TOOLCHAIN.md`), then runs cargo and
//! the built binaries with inherited stdio.

mod deb;
mod fuzz;
mod kernels;
mod lint;
mod matrix;
mod setup;

use std::{
    ffi::OsStr,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "sipguard developer tasks", disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what building (and with --test-deps, testing) needs: nightly + rust-src,
    /// bpf-linker, Debian and PyPI test packages, bpffs. Quiet when all is present.
    Setup {
        /// Also install the packages the tests and the demo use, and mount bpffs.
        #[arg(long)]
        test_deps: bool,
    },
    /// Setup, then `cargo build` of the default members.
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Build release, then run `target/release/sipguard ARGS` as root, or the demo without ARGS.
    Run {
        /// Arguments for the sipguard binary, e.g. `-- run --iface eth0`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Setup with test deps, remove stale test leftovers, then `cargo test --release ARGS` on
    /// the host and the BPF and e2e test binaries in Debian's 5.10, 6.1 and 6.12 under qemu.
    Test {
        /// Kernels to test on, comma-separated: host (the machine's own: `cargo test`), 5.10,
        /// 6.1, 6.12, or all (the default).
        #[arg(long, value_name = "LIST")]
        kernels: Option<String>,
        /// Seconds one qemu guest may take before it is killed and its kernel failed.
        #[arg(long, value_name = "SECS", default_value_t = 3600)]
        guest_timeout: u64,
        /// Seconds each fuzz target runs in the fuzz step (with the host's tests); 0 skips it.
        #[arg(long, value_name = "SECS", default_value_t = fuzz::TEST_SECS)]
        fuzz_secs: u64,
        /// Only the fuzz step: no root, no kernel, no `cargo test`.
        #[arg(long)]
        fuzz_only: bool,
        /// Extra `cargo test` arguments, e.g. `-- -p sipguard-tests -- --nocapture`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the benchmarks (per-packet cost, the auto-ban lab, flood capacity and brute force
    /// against iptables + fail2ban and nftables, scale): a table on stdout, JSON and one PNG
    /// chart per comparison in target/bench/ (BENCHMARKS.md explains them).
    Bench {
        /// Extra arguments for sipguard-bench.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the cargo-fuzz targets (nightly, libFuzzer) and run each for --secs, starting from
    /// the committed corpus and regressions (fuzz/corpus/, fuzz/regressions/); a crash's input
    /// is written to fuzz/artifacts/TARGET/.
    Fuzz {
        /// Targets to run (the [[bin]]s of fuzz/Cargo.toml); all when none is named.
        targets: Vec<String>,
        /// Seconds per target.
        #[arg(long, value_name = "SECS", default_value_t = fuzz::DEFAULT_SECS)]
        secs: u64,
    },
    /// rustfmt --check, clippy with warnings denied (user-space crates, then the eBPF crate on
    /// its target) and the layer check of the sipguard crate; CI runs it before the tests.
    Lint,
    /// Build release, then a Debian package: target/debian/sipguard_<version>_<arch>.deb.
    Deb,
    /// Build a throwaway VoIP lab in network namespaces, run sipguard in it, play a scripted
    /// attack timeline and print what happened (`-- --short` for the quick version,
    /// `-- --perimeter` for sipguard on a router in front of the PBX, `--dnat` with DNAT).
    Lab {
        /// Arguments for sipguard-lab: --short, --perimeter, --dnat, --json FILE.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    setup::put_cargo_bin_on_path()?;
    let root = workspace_root();
    match cli.task {
        Task::Setup { test_deps } => {
            setup::toolchain()?;
            if test_deps {
                setup::test_deps()?;
                setup::cargo_fuzz()?;
            }
            println!("xtask: toolchain ok");
        }
        Task::Build { release } => {
            setup::toolchain()?;
            run(cargo(&root)
                .arg("build")
                .args(release.then_some("--release")))?;
        }
        Task::Run { args } => {
            setup::toolchain()?;
            setup::test_deps()?;
            run(cargo(&root).args(["build", "--release"]))?;
            let daemon = root.join("target/release/sipguard");
            let err = if args.is_empty() {
                as_root(root.join("target/release/sipguard-demo"))?
                    .env("SIPGUARD_TEST_BIN", &daemon)
                    .exec()
            } else {
                as_root(&daemon)?.args(&args).exec()
            };
            return Err(err).context("starting sipguard");
        }
        Task::Test {
            kernels,
            guest_timeout,
            fuzz_secs,
            fuzz_only,
            args,
        } => {
            let selection = matrix::Selection::parse(kernels.as_deref())?;
            setup::toolchain()?;
            if fuzz_only {
                let outcomes = fuzz_step(&root, fuzz_secs)?;
                let totals = fuzz::totals(&outcomes);
                print_fuzz_summary(&outcomes);
                println!(
                    "\ntests: {} passed, {} failed",
                    totals.passed, totals.failed
                );
                if totals.passed + totals.failed == 0 {
                    bail!("no test ran (--fuzz-secs 0 with --fuzz-only)");
                }
                std::process::exit(if totals.failed == 0 { 0 } else { 1 });
            }
            setup::test_deps()?;
            if setup::is_root() {
                setup::remove_stale_test_leftovers()?;
            }
            run(cargo(&root).args(["build", "--release", "-p", "sipguard"]))?;
            let mut totals = Totals::default();
            let mut ok = true;
            if selection.host {
                let (status, host) = cargo_test(
                    cargo(&root)
                        .args(["test", "--release"])
                        .args(&args)
                        .env("SIPGUARD_TEST_BIN", root.join("target/release/sipguard")),
                )?;
                ok &= status.success();
                totals.add(&host);
            }
            // With the host's tests: no root or kernel needed, about 2 minutes for the build
            // and TEST_SECS per target.
            let fuzzed = if selection.host {
                fuzz_step(&root, fuzz_secs)?
            } else {
                Vec::new()
            };
            let timeout = std::time::Duration::from_secs(guest_timeout);
            let guests = matrix::run(&root, &selection.guests, timeout)?;
            ok &= matrix::print_summary(selection.host.then_some(&totals), &guests);
            print_fuzz_summary(&fuzzed);
            totals.add(&fuzz::totals(&fuzzed));
            for g in &guests {
                totals.add(&g.totals);
            }
            // One closing line over the host's test binaries (cargo prints one per binary,
            // the last ones being empty doc-test runs) and every guest.
            println!(
                "\ntests: {} passed, {} failed",
                totals.passed, totals.failed
            );
            if ok && totals.passed == 0 {
                bail!("no test ran");
            }
            std::process::exit(if ok && totals.failed == 0 { 0 } else { 1 });
        }
        Task::Bench { args } => {
            setup::toolchain()?;
            setup::test_deps()?;
            setup::bench_deps()?;
            let out = root.join("target/bench");
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            // The lab part runs the real daemon.
            run(cargo(&root).args(["build", "--release", "-p", "sipguard"]))?;
            run(cargo(&root)
                .env("SIPGUARD_TEST_BIN", root.join("target/release/sipguard"))
                .args([
                    "run",
                    "--release",
                    "-p",
                    "sipguard-tests",
                    "--bin",
                    "sipguard-bench",
                    "--",
                ])
                .arg("--json")
                .arg(out.join("prog_test_run.json"))
                .args(&args))?;
            // One PNG chart per comparison, from the JSON just written.
            run(Command::new("/usr/bin/python3")
                .arg(root.join("tests/bench/report.py"))
                .arg(&out))?;
        }
        Task::Fuzz { targets, secs } => {
            setup::toolchain()?;
            setup::cargo_fuzz()?;
            let outcomes = fuzz::run_all(&root, &targets, secs)?;
            print_fuzz_summary(&outcomes);
            let totals = fuzz::totals(&outcomes);
            println!("\nfuzz: {} passed, {} failed", totals.passed, totals.failed);
            std::process::exit(if totals.failed == 0 { 0 } else { 1 });
        }
        Task::Lint => {
            setup::toolchain()?;
            setup::lint_components()?;
            lint::all(&root)?;
        }
        Task::Deb => {
            setup::toolchain()?;
            run(cargo(&root).args(["build", "--release", "-p", "sipguard"]))?;
            let deb = deb::build(&root)?;
            println!("xtask: wrote {}", deb.display());
        }
        Task::Lab { args } => {
            setup::toolchain()?;
            setup::test_deps()?;
            run(cargo(&root).args(["build", "--release", "-p", "sipguard"]))?;
            run(cargo(&root).args([
                "build",
                "--release",
                "-p",
                "sipguard-tests",
                "--bin",
                "sipguard-lab",
            ]))?;
            let err = as_root(root.join("target/release/sipguard-lab"))?
                .args(&args)
                .env("SIPGUARD_TEST_BIN", root.join("target/release/sipguard"))
                .exec();
            return Err(err).context("starting the lab");
        }
    }
    Ok(())
}

/// The fuzz step of `cargo xtask test`: every target for `secs` (none when 0).
fn fuzz_step(root: &Path, secs: u64) -> Result<Vec<fuzz::Outcome>> {
    if secs == 0 {
        println!("xtask: skipping the fuzz step (--fuzz-secs 0)");
        return Ok(Vec::new());
    }
    // A broken fuzz build or toolchain fails the step, not the whole run.
    match setup::cargo_fuzz().and_then(|()| fuzz::run_all(root, &[], secs)) {
        Ok(outcomes) => Ok(outcomes),
        Err(e) => {
            let failed = fuzz::Outcome::not_run("build", format!("{e:#}"));
            println!("{}", fuzz::summary(&failed));
            Ok(vec![failed])
        }
    }
}

/// `fuzz: N passed, M failed`, then one `FAILED [fuzz] ...` line per failed target.
fn print_fuzz_summary(outcomes: &[fuzz::Outcome]) {
    if outcomes.is_empty() {
        return;
    }
    let totals = fuzz::totals(outcomes);
    println!(
        "fuzz ({} targets): {} passed, {} failed",
        outcomes.len(),
        totals.passed,
        totals.failed
    );
    for o in outcomes.iter().filter(|o| !o.passed) {
        println!("{}", fuzz::summary(o));
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// `cargo` (the one running us, if any) in the workspace root. Without `--workspace`, cargo
/// builds the default members, which leave out `sipguard-ebpf` (aya-build builds that one).
fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// `program`, through `sudo -E` when we are not root.
fn as_root(program: impl AsRef<OsStr>) -> Result<Command> {
    if setup::is_root() {
        return Ok(Command::new(program));
    }
    if setup::find_on_path("sudo").is_none() {
        bail!(
            "{} needs root (BPF, XDP, network namespaces) and sudo is not installed: run as root",
            program.as_ref().to_string_lossy()
        );
    }
    let mut cmd = Command::new("sudo");
    cmd.arg("-E").arg(program);
    Ok(cmd)
}

/// The command line of `cmd`, for messages.
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` with inherited stdio and returns its exit status.
fn status(cmd: &mut Command) -> Result<ExitStatus> {
    cmd.status()
        .with_context(|| format!("could not start `{}`", describe(cmd)))
}

/// Test counts summed over cargo's `test result:` lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    passed: u64,
    failed: u64,
}

impl Totals {
    /// Adds another run's counts.
    fn add(&mut self, other: &Totals) {
        self.passed += other.passed;
        self.failed += other.failed;
    }

    /// Adds the counts of one `test result: ok. 3 passed; 1 failed; ...` line.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                _ => {}
            }
        }
    }
}

/// Runs `cargo test`, passing its output through line by line and counting the results.
fn cargo_test(cmd: &mut Command) -> Result<(ExitStatus, Totals)> {
    use std::io::{BufRead as _, Write as _};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{}`", describe(cmd)))?;
    let mut totals = Totals::default();
    let stdout = child.stdout.take().expect("piped stdout");
    let mut out = std::io::stdout().lock();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test's output")?;
        totals.add_line(&line);
        let _ = writeln!(out, "{line}");
    }
    Ok((child.wait()?, totals))
}

/// Every file and directory under `dir` (not `dir` itself), depth first.
pub(crate) fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        out.push(path.clone());
        if path.is_dir() {
            walk(&path, out)?;
        }
    }
    Ok(())
}

/// Runs `cmd` with inherited stdio; an error names the command and its exit status.
fn run(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        bail!("`{}` failed: {status}", describe(cmd));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_cargo_result_lines() {
        let mut t = Totals::default();
        t.add_line("test result: ok. 34 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 3.39s");
        t.add_line(
            "test result: FAILED. 6 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        t.add_line("running 7 tests");
        assert_eq!(
            t,
            Totals {
                passed: 40,
                failed: 1
            }
        );
    }

    fn args(line: &str) -> Vec<String> {
        match Cli::parse_from(line.split_whitespace()).task {
            Task::Run { args }
            | Task::Test { args, .. }
            | Task::Bench { args }
            | Task::Lab { args } => args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn passes_trailing_arguments_through() {
        assert_eq!(
            args("xtask run -- run --iface eth0"),
            ["run", "--iface", "eth0"]
        );
        assert_eq!(
            args("xtask test -- -p x -- --nocapture"),
            ["-p", "x", "--", "--nocapture"]
        );
        assert_eq!(args("xtask test verdicts"), ["verdicts"]);
        assert!(args("xtask bench").is_empty());
        assert_eq!(args("xtask test --kernels host,6.1 -- -p x"), ["-p", "x"]);
    }

    #[test]
    fn test_takes_a_kernel_list() {
        let Task::Test { kernels, args, .. } =
            Cli::parse_from("xtask test --kernels 5.10 verdicts".split_whitespace()).task
        else {
            unreachable!()
        };
        assert_eq!(kernels.as_deref(), Some("5.10"));
        assert_eq!(args, ["verdicts"]);
    }
}

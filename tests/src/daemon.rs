//! The real `sipguard` binary run as a daemon inside a test namespace.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use anyhow::{anyhow, bail, Context as _};

use crate::{
    netns::{http_get, Lab},
    wait_every, wait_until,
};

/// The `sipguard` binary under test: `$SIPGUARD_TEST_BIN` (set by `cargo xtask test`), else
/// the one built next to this test executable (`target/<profile>/sipguard`).
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SIPGUARD_TEST_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .ancestors()
        .find(|p| p.join("sipguard").is_file() && p.file_name() != Some("deps".as_ref()))
        .map(Path::to_path_buf);
    profile_dir
        .map(|d| d.join("sipguard"))
        .expect("sipguard binary not built: run `cargo build --release -p sipguard` (cargo xtask test does)")
}

/// A running `sipguard run` in a namespace; stopped (SIGTERM, then SIGKILL) and its pins
/// removed on drop.
pub struct Daemon {
    child: Option<Child>,
    pub ns: String,
    pub pin_dir: PathBuf,
    pub metrics: SocketAddr,
    log: PathBuf,
    /// `run` arguments after `--pin-path`, for [`Daemon::restart`].
    iface: String,
    extra: Vec<String>,
    /// Environment of every start (e.g. `SIPGUARD_KERNEL_FEATURES`).
    env: Vec<(String, String)>,
}

impl Daemon {
    /// Starts `sipguard run --iface IFACE` in `ns` with `extra` arguments and waits until its
    /// metrics endpoint answers (at most 20 s).
    pub fn start(ns: &str, iface: &str, metrics_port: u16, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_env(ns, iface, metrics_port, extra, &[])
    }

    /// [`Daemon::start`] with `env` set for this and every later start.
    pub fn start_with_env(
        ns: &str,
        iface: &str,
        metrics_port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let pin_dir = PathBuf::from("/sys/fs/bpf").join(crate::unique("sipguard-test-"));
        let metrics: SocketAddr = ([127, 0, 0, 1], metrics_port).into();
        let log = std::env::temp_dir().join(format!("{}.log", crate::unique("sipguard-daemon-")));
        let mut d = Self {
            child: None,
            ns: ns.to_owned(),
            pin_dir,
            metrics,
            log,
            iface: iface.to_owned(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        d.spawn()?;
        Ok(d)
    }

    /// Stops the daemon (SIGTERM: the filter and the pinned maps stay) and starts a new one
    /// on the same pins, as an admin's restart or upgrade would.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// `kill -9`: the daemon gets no chance to clean up anything.
    pub fn kill9(&mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        child.kill()?;
        Ok(child.wait()?)
    }

    /// Starts the daemon again with the same arguments and pins (after [`Daemon::kill9`] or
    /// [`Daemon::stop`]).
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Lab::netns_command(&self.ns, binary())?
            .args([
                "run",
                "--iface",
                &self.iface,
                "--metrics",
                &self.metrics.to_string(),
            ])
            .arg("--pin-path")
            .arg(&self.pin_dir)
            .args(&self.extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawning sipguard")?;
        self.child = Some(child);
        let d = self;
        // The load's verifier time under software emulation (the kernel matrix's guests) is
        // seconds, and more on a machine that is busy with something else.
        let ready = wait_every(
            Duration::from_secs(60),
            Duration::from_millis(100),
            "sipguard's metrics answering",
            || {
                if let Some(status) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    return Some(Err(anyhow!("sipguard exited early ({status})")));
                }
                d.scrape().map(|_| Ok(()))
            },
        );
        ready
            .and_then(|r| r)
            .map_err(|e| anyhow!("{e}:\n{}", d.log_text()))
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /metrics`, or `None` (three tries: a loaded CI machine may miss a connect).
    pub fn scrape(&self) -> Option<String> {
        for _ in 0..3 {
            if let Some(text) = http_get(&self.ns, self.metrics, "/metrics") {
                return Some(text);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }

    /// A counter or gauge from /metrics, as a whole number (0 when the series is absent).
    pub fn sample(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let text = self.scrape().expect("scraping /metrics");
        crate::netns::metric(&text, name, labels).unwrap_or(0.0) as u64
    }

    /// `sipguard_packets_total{service, reason, verdict}` from /metrics.
    pub fn packets(&self, service: &str, reason: &str, verdict: &str) -> u64 {
        self.sample(
            "sipguard_packets_total",
            &[
                ("service", service),
                ("reason", reason),
                ("verdict", verdict),
            ],
        )
    }

    /// `sipguard bans --json`, polled (at most 5 s) until `net` is listed; its row.
    pub fn wait_for_ban(&self, net: &str) -> Option<serde_json::Value> {
        let listed = || {
            let out = self.cli(&["bans", "--json"]).ok()?;
            let rows: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            rows.as_array()?.iter().find(|r| r["net"] == net).cloned()
        };
        let what = format!("{net} in `sipguard bans`");
        wait_every(
            Duration::from_secs(5),
            Duration::from_millis(100),
            &what,
            listed,
        )
        .ok()
    }

    /// `sipguard ARGS --pin-path <this daemon's pins>` run from another shell.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Command::new(binary())
            .args(args)
            .arg("--pin-path")
            .arg(&self.pin_dir)
            .output()
            .context("running the sipguard CLI")
    }

    /// `sipguard ARGS --pin-path <this daemon's pins>` run inside the daemon's namespace
    /// (for commands that name its interface, like `detach`).
    pub fn cli_in_ns(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Lab::netns_command(&self.ns, binary())?
            .args(args)
            .arg("--pin-path")
            .arg(&self.pin_dir)
            .output()
            .context("running the sipguard CLI in the daemon's namespace")
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> anyhow::Result<()> {
        let child = self.child.as_ref().context("already stopped")?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal)?;
        Ok(())
    }

    /// Waits until the daemon's log contains `text` (at most `timeout`).
    pub fn wait_for_log(&self, text: &str, timeout: Duration) -> bool {
        let what = format!("{text:?} in sipguard's log");
        wait_until(timeout, &what, || {
            self.log_text().contains(text).then_some(())
        })
        .is_ok()
    }

    /// SIGTERM and wait (10 s, then SIGKILL).
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let exited = wait_until(
            Duration::from_secs(10),
            "sipguard exiting on SIGTERM",
            || child.try_wait().transpose(),
        );
        match exited {
            Ok(status) => Ok(status?),
            Err(_) => {
                let _ = child.kill();
                bail!("sipguard ignored SIGTERM for 10 s:\n{}", self.log_text())
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.pin_dir);
        let _ = std::fs::remove_file(sipguard::control::applied::record_path(&self.pin_dir));
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Runs `cmd` (a `sipguard` command), which must fail with a sentence, not a panic; returns
/// its stderr.
pub fn refused(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running sipguard");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected a failure: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

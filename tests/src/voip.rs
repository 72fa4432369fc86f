//! A VoIP lab of real peers on veth, for the end-to-end tests with real tools: a PBX namespace
//! running Kamailio as registrar with digest authentication (`tests/lab/kamailio.cfg`), an
//! honest phone namespace running sipp (`tests/lab/sipp/`), and an attacker namespace running
//! SIPVicious and sipp floods, all on one bridge in a fourth namespace. Everything the PBX
//! receives enters through its one interface, `pbx0`, where sipguard attaches.
//!
//! Addresses are the documentation ranges only; processes started in the namespaces are
//! killed and the namespaces deleted on drop, also when a test fails. Every tool runs under
//! `timeout`.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use anyhow::{bail, Context as _};

use crate::{netns::ip, wait_every};

pub const PBX: &str = "192.0.2.1";
pub const PHONE: &str = "192.0.2.10";
pub const ATTACKER: &str = "192.0.2.66";
pub const PBX_IF: &str = "pbx0";

/// The lab's files in the source tree.
pub fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lab")
}

/// Outcome counts of one sipp run, from its `-trace_stat` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SippResult {
    pub successful: u64,
    pub failed: u64,
    pub exit_code: i32,
}

pub struct VoipLab {
    pub switch: String,
    pub pbx: String,
    pub phone: String,
    pub attacker: String,
    /// Scratch directory: Kamailio's runtime files and log, sipp's statistics.
    pub dir: PathBuf,
    kamailio: Option<Child>,
}

impl VoipLab {
    /// Builds the namespaces and the bridge.
    pub fn new() -> anyhow::Result<Self> {
        let id = crate::unique("sgt-");
        let dir = std::env::temp_dir().join(format!("{id}-voip"));
        std::fs::create_dir_all(&dir)?;
        let lab = Self {
            switch: format!("{id}-sw"),
            pbx: format!("{id}-pbx"),
            phone: format!("{id}-ph"),
            attacker: format!("{id}-atk"),
            dir,
            kamailio: None,
        };
        for ns in lab.namespaces() {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let sw = lab.switch.as_str();
        ip(&[
            "-n",
            sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        ip(&["-n", sw, "link", "set", "br0", "up"])?;
        for (ns, ifname, v4, v6) in [
            (&lab.pbx, PBX_IF, PBX, "2001:db8:1::1"),
            (&lab.phone, "ph0", PHONE, "2001:db8:1::10"),
            (&lab.attacker, "atk0", ATTACKER, "2001:db8:1::66"),
        ] {
            let port = format!("sw-{ifname}");
            ip(&[
                "-n", sw, "link", "add", &port, "type", "veth", "peer", "name", ifname,
            ])?;
            ip(&["-n", sw, "link", "set", ifname, "netns", ns])?;
            ip(&["-n", sw, "link", "set", &port, "master", "br0", "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", ifname])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                ifname,
                "nodad",
            ])?;
            // veth leaves UDP checksums to "hardware" otherwise: the PBX should see what a
            // real NIC delivers.
            let _ = Self::command(ns, "ethtool")
                .args(["-K", ifname, "tx", "off"])
                .output();
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
        }
        Ok(lab)
    }

    fn namespaces(&self) -> [&str; 4] {
        [&self.switch, &self.pbx, &self.phone, &self.attacker]
    }

    /// `timeout SECS PROGRAM` inside `ns`, with the lab directory as working directory.
    pub fn command_for(&self, ns: &str, secs: u64, program: &str) -> Command {
        let mut c = Self::command(ns, "timeout");
        c.args(["-k", "5", &secs.to_string(), program]);
        c.current_dir(&self.dir);
        c
    }

    fn command(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// Starts Kamailio in the PBX namespace and waits (at most 10 s) until it listens.
    pub fn start_kamailio(&mut self) -> anyhow::Result<()> {
        let run = self.dir.join("kamailio-run");
        std::fs::create_dir_all(&run)?;
        let log = std::fs::File::create(self.kamailio_log_path())?;
        let child = self
            .command_for(&self.pbx, 600, "kamailio")
            .arg("-f")
            .arg(lab_dir().join("kamailio.cfg"))
            .args(["-DD", "-E", "-n", "1", "-Y"])
            .arg(&run)
            .arg("-P")
            .arg(run.join("kamailio.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting kamailio (apt package kamailio)")?;
        self.kamailio = Some(child);
        if !self.wait_udp(&self.pbx, &format!("{PBX}:5060"), Duration::from_secs(10)) {
            bail!(
                "kamailio did not listen on {PBX}:5060:\n{}",
                self.kamailio_log()
            );
        }
        Ok(())
    }

    fn kamailio_log_path(&self) -> PathBuf {
        self.dir.join("kamailio.log")
    }

    pub fn kamailio_log(&self) -> String {
        std::fs::read_to_string(self.kamailio_log_path()).unwrap_or_default()
    }

    /// Kamailio log lines tagged `tag` (RX, AUTHFAIL, AUTHOK, REGOK, ...) about requests
    /// from `src`.
    pub fn kamailio_count(&self, tag: &str, src: &str) -> usize {
        let tag = format!(": {tag} ");
        let (with_port, alone) = (format!(" src={src}:"), format!(" src={src} "));
        self.kamailio_log()
            .lines()
            .filter(|l| l.contains(&tag) && (l.contains(&with_port) || l.contains(&alone)))
            .count()
    }

    /// Whether something in `ns` listens on UDP `addr` (ip:port), polled until `timeout`.
    pub fn wait_udp(&self, ns: &str, addr: &str, timeout: Duration) -> bool {
        let listening = || {
            let out = Self::command(ns, "ss").args(["-Hlun"]).output().ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains(&format!(" {addr} "))
                .then_some(())
        };
        let what = format!("a UDP listener on {addr} in {ns}");
        wait_every(timeout, Duration::from_millis(100), &what, listening).is_ok()
    }

    /// UDP datagrams sent from `ns` so far (its /proc/net/snmp `Udp: OutDatagrams`).
    pub fn udp_sent(&self, ns: &str) -> anyhow::Result<u64> {
        self.snmp(ns, "Udp", "OutDatagrams")
    }

    /// One counter of `ns`'s /proc/net/snmp, e.g. ("Tcp", "OutRsts"), ("Icmp", "InEchos").
    pub fn snmp(&self, ns: &str, group: &str, name: &str) -> anyhow::Result<u64> {
        let out = Self::command(ns, "cat").arg("/proc/net/snmp").output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let prefix = format!("{group}:");
        let mut rows = text.lines().filter(|l| l.starts_with(&prefix));
        let (Some(names), Some(values)) = (rows.next(), rows.next()) else {
            bail!("no {group} lines in /proc/net/snmp of {ns}");
        };
        let i = names
            .split_whitespace()
            .position(|n| n == name)
            .with_context(|| format!("{group} {name} column"))?;
        values
            .split_whitespace()
            .nth(i)
            .with_context(|| format!("{group} {name} value"))?
            .parse()
            .with_context(|| format!("{group} {name} number"))
    }

    /// Runs sipp from the phone namespace against the PBX with `scenario` and `args`;
    /// returns its counts from the statistics file `<name>.csv`.
    pub fn sipp(
        &self,
        ns: &str,
        name: &str,
        args: &[&str],
        secs: u64,
    ) -> anyhow::Result<SippResult> {
        let stats = format!("{name}.csv");
        let out = self
            .command_for(ns, secs, "sipp")
            .args(args)
            .args(["-nostdin", "-trace_stat", "-stf", &stats])
            .stdin(Stdio::null())
            .output()
            .context("running sipp (apt package sip-tester)")?;
        let text = std::fs::read_to_string(self.dir.join(&stats)).with_context(|| {
            format!(
                "sipp wrote no {stats}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .context("empty sipp stats")?
            .split(';')
            .collect();
        let last: Vec<&str> = lines
            .last()
            .context("no sipp stats rows")?
            .split(';')
            .collect();
        let field = |name: &str| -> anyhow::Result<u64> {
            let i = header
                .iter()
                .position(|h| *h == name)
                .context(name.to_owned())?;
            last.get(i)
                .context(name.to_owned())?
                .trim()
                .parse()
                .context(name.to_owned())
        };
        Ok(SippResult {
            successful: field("SuccessfulCall(C)")?,
            failed: field("FailedCall(C)")?,
            exit_code: out.status.code().unwrap_or(-1),
        })
    }

    fn scenario(name: &str) -> String {
        lab_dir().join("sipp").join(name).display().to_string()
    }

    /// `n` honest registrations with digest authentication from the phone namespace (users
    /// 1003.. from `users_reg.csv`), at `rate` per second.
    pub fn honest_registrations(&self, n: u32, rate: u32) -> anyhow::Result<SippResult> {
        self.sipp(
            &self.phone,
            "honest_reg",
            &[
                &format!("{PBX}:5060"),
                "-sf",
                &Self::scenario("reg.xml"),
                "-inf",
                &Self::scenario("users_reg.csv"),
                "-i",
                PHONE,
                "-p",
                "5070",
                "-mp",
                "6070",
                "-m",
                &n.to_string(),
                "-r",
                &rate.to_string(),
                "-timeout",
                "25s",
                "-recv_timeout",
                "5000",
                "-timeout_error",
            ],
            30,
        )
    }

    /// `n` honest calls 1003 -> 1002 through the PBX (proxy authentication, 200, ACK, BYE):
    /// registers the callee 1002, starts its sipp UAS, places the calls. Returns the caller's
    /// and the callee's counts.
    pub fn honest_calls(&self, n: u32) -> anyhow::Result<(SippResult, SippResult)> {
        self.honest_calls_with(n, "uac_call.xml")
    }

    /// [`VoipLab::honest_calls`] with another caller scenario from `tests/lab/sipp/`.
    pub fn honest_calls_with(
        &self,
        n: u32,
        scenario: &str,
    ) -> anyhow::Result<(SippResult, SippResult)> {
        let callee = self.sipp(
            &self.phone,
            "callee_reg",
            &[
                &format!("{PBX}:5060"),
                "-sf",
                &Self::scenario("reg.xml"),
                "-inf",
                &Self::scenario("callee_reg.csv"),
                "-i",
                PHONE,
                "-p",
                "5071",
                "-mp",
                "6071",
                "-m",
                "1",
                "-timeout",
                "8s",
                "-recv_timeout",
                "5000",
                "-timeout_error",
            ],
            10,
        )?;
        if callee.successful != 1 {
            bail!("the callee 1002 could not register: {callee:?}");
        }
        let mut uas = self
            .command_for(&self.phone, 60, "sipp")
            .args(["-sf", &Self::scenario("uas.xml"), "-i", PHONE, "-p", "5080"])
            .args(["-mp", "6080", "-m", &n.to_string(), "-timeout", "50s"])
            .args(["-nostdin", "-trace_stat", "-stf", "uas.csv"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the sipp UAS")?;
        if !self.wait_udp(
            &self.phone,
            &format!("{PHONE}:5080"),
            Duration::from_secs(10),
        ) {
            let _ = uas.kill();
            bail!("the sipp UAS did not listen");
        }
        let caller = self.sipp(
            &self.phone,
            "caller",
            &[
                &format!("{PBX}:5060"),
                "-sf",
                &Self::scenario(scenario),
                "-inf",
                &Self::scenario("caller.csv"),
                "-i",
                PHONE,
                "-p",
                "5072",
                "-mp",
                "6072",
                "-m",
                &n.to_string(),
                "-r",
                "5",
                "-l",
                "10",
                "-timeout",
                "40s",
                "-recv_timeout",
                "5000",
                "-timeout_error",
            ],
            45,
        )?;
        // Its calls done, the UAS exits on its own; past 15 s it is killed.
        let exited = wait_every(
            Duration::from_secs(15),
            Duration::from_millis(100),
            "the sipp UAS exiting",
            || uas.try_wait().transpose(),
        );
        if let Ok(status) = exited {
            status?;
        }
        let _ = uas.kill();
        let _ = uas.wait();
        let text = std::fs::read_to_string(self.dir.join("uas.csv")).unwrap_or_default();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(';').collect();
        let last: Vec<&str> = lines.last().unwrap_or_default().split(';').collect();
        let field = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .and_then(|i| last.get(i))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let answered = SippResult {
            successful: field("SuccessfulCall(C)"),
            failed: field("FailedCall(C)"),
            exit_code: 0,
        };
        Ok((caller, answered))
    }

    /// A REGISTER flood from the attacker namespace (`tests/lab/sipp/flood_register.xml`,
    /// User-Agent `sipguard-lab-flood`): `n` requests at `rate` per second.
    pub fn register_flood(&self, n: u64, rate: u64) -> anyhow::Result<SippResult> {
        self.sipp(
            &self.attacker,
            "flood",
            &[
                &format!("{PBX}:5060"),
                "-sf",
                &Self::scenario("flood_register.xml"),
                "-i",
                ATTACKER,
                "-p",
                "5090",
                "-mp",
                "6090",
                "-r",
                &rate.to_string(),
                "-m",
                &n.to_string(),
                "-timeout",
                "20s",
            ],
            30,
        )
    }

    /// Runs a SIPVicious tool (`svmap`, `svwar`, `svcrack`) from the attacker namespace
    /// against the PBX, with its own User-Agent or `user_agent` instead.
    pub fn sipvicious(
        &self,
        tool: &str,
        args: &[&str],
        user_agent: Option<&str>,
        secs: u64,
    ) -> anyhow::Result<Output> {
        let mut c = self.command_for(&self.attacker, secs, "python3");
        c.arg(lab_dir().join("sv_ua.py"))
            .args([user_agent.unwrap_or("-"), tool]);
        c.args(["-x", ATTACKER]).args(args).arg(PBX);
        c.stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {tool} (PyPI package sipvicious)"))
    }
}

impl Drop for VoipLab {
    fn drop(&mut self) {
        if let Some(mut k) = self.kamailio.take() {
            let _ = k.kill();
            let _ = k.wait();
        }
        for ns in self.namespaces() {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
        }
        for ns in self.namespaces() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

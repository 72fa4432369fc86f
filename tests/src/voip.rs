//! A VoIP lab of real peers on veth, for the end-to-end tests with real tools: a PBX namespace
//! running Kamailio as registrar with digest authentication (`tests/lab/kamailio.cfg`), an
//! honest phone namespace running sipp (`tests/lab/sipp/`), and an attacker namespace running
//! SIPVicious and sipp floods, all on one bridge in a fourth namespace. Everything the PBX
//! receives enters through its one interface, `pbx0`, where sipguard attaches.
//!
//! [`VoipLab::perimeter`] builds the routed variant: sipguard on a Linux router in front of the
//! PBX instead of on the PBX's NIC (see [`Perimeter`]).
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

impl SippResult {
    /// Whether all `n` succeeded and sipp exited cleanly.
    pub fn all_ok(&self, n: u64) -> bool {
        self.successful == n && self.failed == 0 && self.exit_code == 0
    }
}

/// What a REGISTER flood got through ([`VoipLab::register_flood_during`]).
#[derive(Clone, Copy, Debug)]
pub struct Flood {
    /// The flood's REGISTERs that reached Kamailio.
    pub reached: u64,
    /// How long the flood (and what ran meanwhile) took.
    pub secs: f64,
}

impl Flood {
    /// The most a per-source limit of `rate`/s with `burst` lets through in that time.
    pub fn cap(&self, burst: u64, rate: u64) -> u64 {
        burst + (rate as f64 * self.secs).ceil() as u64 + 1
    }
}

pub struct VoipLab {
    pub switch: String,
    pub pbx: String,
    pub phone: String,
    pub attacker: String,
    /// Where the phones and the attacker send: the PBX, or the perimeter box's public
    /// address that it forwards to the PBX by DNAT.
    pub target: &'static str,
    /// The honest phones' address and the attacker's.
    pub phone_ip: &'static str,
    pub attacker_ip: &'static str,
    /// The routed variant's router and its other hosts.
    pub perimeter: Option<Perimeter>,
    /// Scratch directory: Kamailio's runtime files and log, sipp's statistics.
    pub dir: PathBuf,
    /// sipp's `-t` for the honest phones' registrations and calls: `u1` (UDP, the default)
    /// or `t1` (one TCP connection per sipp run). The callee's sipp UAS takes UDP either way.
    pub honest_transport: &'static str,
    kamailio: Option<Child>,
}

/// The routed lab ([`VoipLab::perimeter`]): the phones and the attacker on the outside
/// segment (the bridge), a router between them and the PBX with sipguard on its outside
/// interface, a LAN behind the router, and a second uplink.
///
/// ```text
///  phone 198.51.100.10 ─┐                 ┌ dmz0 192.0.2.254 ── pbx0 192.0.2.1 (Kamailio)
///  attacker .66 ────────┼─ out0 .1 [gw] ──┼ lan0 10.20.0.1 ──── lan1 10.20.0.10 (LAN client)
///  (bridge 198.51.100/24)   (.2 public)   └ out1 203.0.113.1 ── isp0 203.0.113.20 (2nd uplink)
/// ```
///
/// The router forwards (ip_forward=1) and routes everything; with [`Nat::Dnat`] the outside
/// reaches the PBX only at [`PUBLIC`], DNAT'd to [`PBX`], and the LAN leaves masqueraded.
pub struct Perimeter {
    /// The router's namespace: sipguard runs here, on [`OUTSIDE_IF`] (and [`UPLINK2_IF`]).
    pub gw: String,
    /// The LAN client's namespace.
    pub lan: String,
    /// The second uplink's namespace (another ISP: a host of its own, [`UPLINK2_HOST`]).
    pub uplink2: String,
    pub nat: Nat,
}

/// How the perimeter box reaches the PBX.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nat {
    /// Routed: the outside addresses the PBX directly.
    None,
    /// The outside addresses [`PUBLIC`], which the box DNATs to [`PBX`] (SIP, UDP and TCP,
    /// and SSH).
    Dnat,
}

/// The perimeter box's outside interface and its second uplink.
pub const OUTSIDE_IF: &str = "out0";
pub const UPLINK2_IF: &str = "out1";
/// The routed lab's outside addresses: the box, its public address (DNAT), a phone, the
/// attacker.
pub const OUTSIDE_GW: &str = "198.51.100.1";
pub const PUBLIC: &str = "198.51.100.2";
pub const OUTSIDE_PHONE: &str = "198.51.100.10";
pub const OUTSIDE_ATTACKER: &str = "198.51.100.66";
/// The LAN client behind the box, and the host on the second uplink.
pub const LAN_CLIENT: &str = "10.20.0.10";
pub const UPLINK2_HOST: &str = "203.0.113.20";

impl VoipLab {
    /// Builds the namespaces and the bridge: the PBX, the phones and the attacker on one
    /// segment, sipguard's place the PBX's own interface.
    pub fn new() -> anyhow::Result<Self> {
        let lab = Self::namespaces_for(PBX, PHONE, ATTACKER, None)?;
        lab.bridge()?;
        for (ns, ifname, v4, v6) in [
            (&lab.pbx, PBX_IF, PBX, "2001:db8:1::1"),
            (&lab.phone, "ph0", PHONE, "2001:db8:1::10"),
            (&lab.attacker, "atk0", ATTACKER, "2001:db8:1::66"),
        ] {
            lab.bridge_port(ns, ifname)?;
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
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
        }
        Ok(lab)
    }

    /// Builds the routed lab of [`Perimeter`]: sipguard's place is the box's [`OUTSIDE_IF`]
    /// in namespace `perimeter.gw`.
    pub fn perimeter(nat: Nat) -> anyhow::Result<Self> {
        let id = crate::unique("sgt-");
        let target = match nat {
            Nat::None => PBX,
            Nat::Dnat => PUBLIC,
        };
        let perimeter = Perimeter {
            gw: format!("{id}-gw"),
            lan: format!("{id}-lan"),
            uplink2: format!("{id}-up2"),
            nat,
        };
        let lab = Self::namespaces_for(target, OUTSIDE_PHONE, OUTSIDE_ATTACKER, Some(perimeter))?;
        let p = lab.perimeter.as_ref().context("the perimeter")?;
        let gw = p.gw.as_str();
        // The outside segment: the phones, the attacker and the box's outside interface.
        lab.bridge()?;
        for (ns, ifname, addrs) in [
            (&lab.phone, "ph0", vec![OUTSIDE_PHONE]),
            (&lab.attacker, "atk0", vec![OUTSIDE_ATTACKER]),
            (&p.gw, OUTSIDE_IF, vec![OUTSIDE_GW, PUBLIC]),
        ] {
            lab.bridge_port(ns, ifname)?;
            for a in addrs {
                ip(&["-n", ns, "addr", "add", &format!("{a}/24"), "dev", ifname])?;
            }
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
        }
        // Point-to-point segments from the box: the PBX, the LAN, the second uplink.
        for (ns, far_if, far, near_if, near, prefix) in [
            (&lab.pbx, PBX_IF, PBX, "dmz0", "192.0.2.254", 24),
            (&p.lan, "lan1", LAN_CLIENT, "lan0", "10.20.0.1", 24),
            (
                &p.uplink2,
                "isp0",
                UPLINK2_HOST,
                UPLINK2_IF,
                "203.0.113.1",
                24,
            ),
        ] {
            veth(gw, near_if, ns, far_if)?;
            ip(&[
                "-n",
                gw,
                "addr",
                "add",
                &format!("{near}/{prefix}"),
                "dev",
                near_if,
            ])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{far}/{prefix}"),
                "dev",
                far_if,
            ])?;
            for (n, i) in [(gw, near_if), (ns.as_str(), far_if)] {
                ip(&["-n", n, "link", "set", i, "up"])?;
            }
            ip(&["-n", ns, "route", "add", "default", "via", near])?;
        }
        // Kamailio also listens on the PBX's IPv6 address (not routed here).
        ip(&[
            "-n",
            &lab.pbx,
            "addr",
            "add",
            "2001:db8:1::1/64",
            "dev",
            PBX_IF,
            "nodad",
        ])?;
        for ns in [&lab.phone, &lab.attacker] {
            ip(&["-n", ns, "route", "add", "default", "via", OUTSIDE_GW])?;
        }
        crate::netns::run_in(gw, "sysctl", &["-qw", "net.ipv4.ip_forward=1"], None)?;
        if nat == Nat::Dnat {
            let rules = [
                "table ip sgtnat {".to_owned(),
                "chain pre { type nat hook prerouting priority dstnat;".to_owned(),
                format!("ip daddr {PUBLIC} udp dport 5060 dnat to {PBX};"),
                format!("ip daddr {PUBLIC} tcp dport 5060 dnat to {PBX};"),
                format!("ip daddr {PUBLIC} tcp dport 22 dnat to {PBX}; }}"),
                "chain post { type nat hook postrouting priority srcnat;".to_owned(),
                // Into the reply range: every answer to the LAN lands where sipguard's
                // `reply_ports` passes it (the README's recipe).
                format!(
                    "oifname \"{OUTSIDE_IF}\" ip saddr 10.20.0.0/24 meta l4proto {{ tcp, udp }} \
                     masquerade to :32768-60999;"
                ),
                format!("oifname \"{OUTSIDE_IF}\" ip saddr 10.20.0.0/24 masquerade; }}"),
                "}".to_owned(),
            ]
            .join("\n");
            crate::netns::run_in(gw, "nft", &["-f", "-"], Some(rules.as_bytes()))
                .context("nftables (apt package nftables) for the DNAT")?;
        }
        Ok(lab)
    }

    /// Where sipguard runs: the namespace and the interface that sees the attacks come in
    /// (the PBX's own, or the perimeter box's outside one).
    pub fn guard(&self) -> (&str, &str) {
        match &self.perimeter {
            Some(p) => (&p.gw, OUTSIDE_IF),
            None => (&self.pbx, PBX_IF),
        }
    }

    /// The lab's namespaces, created, with loopback up, and its scratch directory.
    fn namespaces_for(
        target: &'static str,
        phone_ip: &'static str,
        attacker_ip: &'static str,
        perimeter: Option<Perimeter>,
    ) -> anyhow::Result<Self> {
        let id = match &perimeter {
            Some(p) => p.gw.trim_end_matches("-gw").to_owned(),
            None => crate::unique("sgt-"),
        };
        let dir = std::env::temp_dir().join(format!("{id}-voip"));
        std::fs::create_dir_all(&dir)?;
        let lab = Self {
            switch: format!("{id}-sw"),
            pbx: format!("{id}-pbx"),
            phone: format!("{id}-ph"),
            attacker: format!("{id}-atk"),
            target,
            phone_ip,
            attacker_ip,
            perimeter,
            dir,
            honest_transport: "u1",
            kamailio: None,
        };
        // Created one by one, so that a failure part-way leaves `lab` to delete what was.
        for ns in lab.namespaces() {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(lab)
    }

    /// The bridge of the lab's one segment (in the switch namespace).
    fn bridge(&self) -> anyhow::Result<()> {
        let sw = self.switch.as_str();
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
        ip(&["-n", sw, "link", "set", "br0", "up"]).map(drop)
    }

    /// A port of the bridge: veth `sw-IFNAME` on it, its peer `ifname` in `ns` (down, no
    /// address yet).
    fn bridge_port(&self, ns: &str, ifname: &str) -> anyhow::Result<()> {
        let sw = self.switch.as_str();
        let port = format!("sw-{ifname}");
        veth(sw, &port, ns, ifname)?;
        ip(&["-n", sw, "link", "set", &port, "master", "br0", "up"]).map(drop)
    }

    fn namespaces(&self) -> Vec<&str> {
        let mut all = vec![
            self.switch.as_str(),
            self.pbx.as_str(),
            self.phone.as_str(),
            self.attacker.as_str(),
        ];
        if let Some(p) = &self.perimeter {
            all.extend([p.gw.as_str(), p.lan.as_str(), p.uplink2.as_str()]);
        }
        all
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
}

/// A veth pair: `near` in namespace `near_ns`, its peer `far` in `far_ns`; with transmit
/// checksum offload off on both ends (veth leaves UDP checksums to "hardware" otherwise: the
/// PBX should see what a real NIC delivers, and a router forwards what it got).
fn veth(near_ns: &str, near: &str, far_ns: &str, far: &str) -> anyhow::Result<()> {
    ip(&[
        "-n", near_ns, "link", "add", near, "type", "veth", "peer", "name", far, "netns", far_ns,
    ])?;
    for (ns, dev) in [(near_ns, near), (far_ns, far)] {
        let _ = VoipLab::command(ns, "ethtool")
            .args(["-K", dev, "tx", "off"])
            .output();
    }
    Ok(())
}

impl VoipLab {
    /// Starts Kamailio in the PBX namespace and waits (at most 10 s) until it listens.
    pub fn start_kamailio(&mut self) -> anyhow::Result<()> {
        self.start_kamailio_with(&[])
    }

    /// [`VoipLab::start_kamailio`] with `defines` (`-A NAME`: the config's `#!ifdef`
    /// variants).
    pub fn start_kamailio_with(&mut self, defines: &[&str]) -> anyhow::Result<()> {
        let run = self.dir.join("kamailio-run");
        std::fs::create_dir_all(&run)?;
        let log = std::fs::File::create(self.kamailio_log_path())?;
        let child = self
            .command_for(&self.pbx, 600, "kamailio")
            .arg("-f")
            .arg(lab_dir().join("kamailio.cfg"))
            .args(["-DD", "-E", "-n", "1", "-Y"])
            .arg(&run)
            .args(defines.iter().flat_map(|d| ["-A", *d]))
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

    /// Requests Kamailio logged receiving from `src` over `proto` (`udp`, `tcp`).
    pub fn kamailio_rx_over(&self, src: &str, proto: &str) -> usize {
        let (with_port, over) = (format!(" src={src}:"), format!(" proto={proto} "));
        self.kamailio_log()
            .lines()
            .filter(|l| l.contains(": RX ") && l.contains(&with_port) && l.contains(&over))
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

    /// Honest traffic from the phone namespace: `regs` registrations and `calls` calls, each
    /// of which must succeed. Panics with Kamailio's log otherwise.
    pub fn honest_traffic_succeeds(&self, regs: u32, calls: u32) {
        let r = self
            .honest_registrations(regs, 5)
            .expect("sipp registrations");
        assert!(
            r.all_ok(u64::from(regs)),
            "honest registrations: {r:?}\n{}",
            self.kamailio_log()
        );
        if calls == 0 {
            return;
        }
        let (caller, callee) = self.honest_calls(calls).expect("sipp calls");
        assert!(
            caller.all_ok(u64::from(calls)),
            "honest calls: {caller:?}\n{}",
            self.kamailio_log()
        );
        assert_eq!(
            callee.successful,
            u64::from(calls),
            "calls answered: {callee:?}"
        );
    }

    fn scenario(name: &str) -> String {
        lab_dir().join("sipp").join(name).display().to_string()
    }

    /// `n` honest registrations with digest authentication from the phone namespace (users
    /// 1003.. from `users_reg.csv`), at `rate` per second.
    pub fn honest_registrations(&self, n: u32, rate: u32) -> anyhow::Result<SippResult> {
        self.registrations_from(&self.phone, self.phone_ip, self.target, n, rate)
    }

    /// [`VoipLab::honest_registrations`] from phones at `ip` in namespace `ns`, sent to
    /// `target` (an office phone on the routed lab's LAN registers with the PBX's own address).
    pub fn registrations_from(
        &self,
        ns: &str,
        ip: &str,
        target: &str,
        n: u32,
        rate: u32,
    ) -> anyhow::Result<SippResult> {
        self.registrations_of("users_reg.csv", ns, ip, target, n, rate)
    }

    /// Six office phones behind the phone namespace's one address (users 1003 to 1008 of
    /// `office_reg.csv`; 1008 still has an old password), each registering once, all `rate`
    /// per second.
    pub fn office_registrations(&self, rate: u32) -> anyhow::Result<SippResult> {
        self.registrations_of(
            "office_reg.csv",
            &self.phone,
            self.phone_ip,
            self.target,
            6,
            rate,
        )
    }

    /// `n` registrations of the users of `users` (a sipp injection file of `lab/sipp`).
    fn registrations_of(
        &self,
        users: &str,
        ns: &str,
        ip: &str,
        target: &str,
        n: u32,
        rate: u32,
    ) -> anyhow::Result<SippResult> {
        self.sipp(
            ns,
            "honest_reg",
            &[
                &format!("{target}:5060"),
                "-sf",
                &Self::scenario("reg.xml"),
                "-inf",
                &Self::scenario(users),
                "-t",
                self.honest_transport,
                "-i",
                ip,
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
        self.calls(n, scenario, (&self.phone, self.phone_ip, self.target))
    }

    /// `n` honest calls from a caller at `ip` in namespace `ns`, through the PBX at `target`,
    /// to the outside callee (as [`VoipLab::honest_calls`]): an office phone on the routed
    /// lab's LAN calling a phone outside.
    pub fn calls_from(
        &self,
        ns: &str,
        ip: &str,
        target: &str,
        n: u32,
    ) -> anyhow::Result<(SippResult, SippResult)> {
        self.calls(n, "uac_call.xml", (ns, ip, target))
    }

    fn calls(
        &self,
        n: u32,
        scenario: &str,
        (caller_ns, caller_ip, caller_target): (&str, &str, &str),
    ) -> anyhow::Result<(SippResult, SippResult)> {
        let callee = self.sipp(
            &self.phone,
            "callee_reg",
            &[
                &format!("{}:5060", self.target),
                "-sf",
                &Self::scenario("reg.xml"),
                "-inf",
                &Self::scenario("callee_reg.csv"),
                "-t",
                self.honest_transport,
                "-i",
                self.phone_ip,
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
            .args([
                "-sf",
                &Self::scenario("uas.xml"),
                "-i",
                self.phone_ip,
                "-p",
                "5080",
            ])
            .args(["-mp", "6080", "-m", &n.to_string(), "-timeout", "50s"])
            .args(["-nostdin", "-trace_stat", "-stf", "uas.csv"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the sipp UAS")?;
        if !self.wait_udp(
            &self.phone,
            &format!("{}:5080", self.phone_ip),
            Duration::from_secs(10),
        ) {
            let _ = uas.kill();
            bail!("the sipp UAS did not listen");
        }
        let caller = self.sipp(
            caller_ns,
            "caller",
            &[
                &format!("{caller_target}:5060"),
                "-sf",
                &Self::scenario(scenario),
                "-inf",
                &Self::scenario("caller.csv"),
                "-t",
                self.honest_transport,
                "-i",
                caller_ip,
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
                &format!("{}:5060", self.target),
                "-sf",
                &Self::scenario("flood_register.xml"),
                "-i",
                self.attacker_ip,
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

    /// [`VoipLab::register_flood`] of `n` at `rate`/s, with `meanwhile` run from half a second
    /// in (honest traffic, say). Fails unless sipp sent all `n`.
    pub fn register_flood_during(
        &self,
        n: u64,
        rate: u64,
        meanwhile: impl FnOnce(),
    ) -> anyhow::Result<Flood> {
        let before = self.kamailio_count("RX", self.attacker_ip);
        let started = std::time::Instant::now();
        let flood = std::thread::scope(|s| {
            let flood = s.spawn(|| self.register_flood(n, rate));
            std::thread::sleep(Duration::from_millis(500));
            meanwhile();
            flood
                .join()
                .map_err(|_| anyhow::anyhow!("the flood thread panicked"))
        })??;
        let secs = started.elapsed().as_secs_f64();
        if flood.successful != n {
            bail!(
                "sipp sent {} of the flood's {n}: {flood:?}",
                flood.successful
            );
        }
        Ok(Flood {
            reached: (self.kamailio_count("RX", self.attacker_ip) - before) as u64,
            secs,
        })
    }

    /// svcrack from the attacker guessing 1001's password (1 to 200, a phone's User-Agent, at
    /// most 15 s) while `meanwhile` runs (honest traffic, say). Fails when svcrack found the
    /// password; returns how many wrong passwords reached Kamailio.
    pub fn svcrack_during(&self, meanwhile: impl FnOnce()) -> anyhow::Result<usize> {
        let before = self.kamailio_count("AUTHFAIL", self.attacker_ip);
        let crack = std::thread::scope(|s| {
            let crack = s.spawn(|| {
                self.sipvicious(
                    "svcrack",
                    &["-u1001", "-r1-200"],
                    Some("Zoiper rv2.10.20.3"),
                    15,
                )
            });
            meanwhile();
            crack
                .join()
                .map_err(|_| anyhow::anyhow!("the svcrack thread panicked"))
        })??;
        let out = String::from_utf8_lossy(&crack.stdout);
        if out.contains(" 150 ") {
            bail!("svcrack found the password:\n{out}");
        }
        Ok(self.kamailio_count("AUTHFAIL", self.attacker_ip) - before)
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
        c.args(["-x", self.attacker_ip]).args(args).arg(self.target);
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

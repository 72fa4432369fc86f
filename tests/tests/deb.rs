//! The Debian package from `cargo xtask deb`, installed for real: `dpkg -i`, the files where
//! they belong, the installed daemon filtering with the installed config on a veth pair, an
//! upgrade in place that keeps the filter, and `dpkg --purge` leaving no binary, no config,
//! no XDP program and no pins.
//!
//! `dpkg -i` changes the machine it runs on, so this test is `#[ignore]`d and refuses to run
//! without `SIPGUARD_GUEST=1`: only a throwaway guest (virtme-ng with overlays on /usr, /etc
//! and /var/lib/dpkg) may run it. The guest needs bpffs on /sys/fs/bpf and no sipguard of its
//! own at /sys/fs/bpf/sipguard (the package's scripts manage that directory).
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use sipguard_tests::{
    netns::{self, addr, clients::DENIED4, packets_total, Lab, PBX_IF, PBX_V4},
    traffic::{send_udp, tcp_connects, TcpAcceptor, UdpCounter, DATAGRAMS},
    wait_every,
};

const BIN: &str = "/usr/sbin/sipguard";
const CONFIG: &str = "/etc/sipguard/sipguard.toml";
const PIN_DIR: &str = "/sys/fs/bpf/sipguard";
/// Not a private address: the built-in default lets it reach SIP, not SSH.
const OUTSIDER4: &str = "192.0.2.10";
const METRICS: &str = "127.0.0.1:9477";

/// The package: `$SIPGUARD_DEB`, else the one `cargo xtask deb` wrote for this version.
fn deb_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SIPGUARD_DEB") {
        return p.into();
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian");
    let prefix = format!("sipguard_{}_", env!("CARGO_PKG_VERSION"));
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no {prefix}*.deb in {}: run `cargo xtask deb`",
                dir.display()
            )
        })
}

/// Runs `program args`, which must succeed; returns its output.
fn must(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "failed: {}",
        shown(program, args, &out)
    );
    out
}

/// `must`, with the output shown (dpkg's and the maintainer scripts' messages).
fn must_shown(program: &str, args: &[&str]) -> Output {
    let out = must(program, args);
    eprint!("{}", shown(program, args, &out));
    out
}

fn shown(program: &str, args: &[&str], out: &Output) -> String {
    format!(
        "$ {program} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The installed daemon, started by hand as on a host without systemd as PID 1; killed on
/// drop if the package's prerm has not stopped it.
struct Installed {
    child: Child,
    log: PathBuf,
}

impl Installed {
    /// `/usr/sbin/sipguard run --iface pbx0 --config /etc/sipguard/sipguard.toml` in `ns`,
    /// with the default pin directory; waits for its metrics.
    fn start(ns: &str) -> Self {
        let log = std::env::temp_dir().join("sipguard-deb-daemon.log");
        let file = std::fs::File::create(&log).expect("creating the daemon log");
        let child = Lab::netns_command(ns, BIN)
            .expect("netns")
            .args(["run", "--iface", PBX_IF, "--config", CONFIG])
            .args(["--metrics", METRICS])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log fd"))
            .stderr(file)
            .spawn()
            .expect("spawning the installed sipguard");
        let mut d = Self { child, log };
        d.wait_for_metrics(ns);
        d
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for_metrics(&mut self, ns: &str) {
        let ready = wait_every(
            Duration::from_secs(60),
            Duration::from_millis(200),
            "sipguard's metrics answering",
            || {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("sipguard exited early ({status}):\n{}", self.log_text());
                }
                self.scrape(ns)
            },
        );
        if let Err(e) = ready {
            panic!("{e}:\n{}", self.log_text());
        }
    }

    fn scrape(&self, ns: &str) -> Option<String> {
        let addr: SocketAddr = METRICS.parse().ok()?;
        netns::http_get(ns, addr, "/metrics")
    }

    /// Whether the daemon has exited within `timeout`.
    fn exited_within(&mut self, timeout: Duration) -> bool {
        let exited = || self.child.try_wait().ok().flatten();
        wait_every(
            timeout,
            Duration::from_millis(100),
            "sipguard exiting",
            exited,
        )
        .is_ok()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `iface` in namespace `ns` has an XDP program, per `ip -j link show`.
fn xdp_on(ns: &str, iface: &str) -> bool {
    let out = must("ip", &["-n", ns, "-j", "link", "show", "dev", iface]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j prints JSON");
    !doc[0]["xdp"].is_null()
}

/// Datagrams per source that reached the PBX's UDP 5060, from each of `srcs`.
fn sip_reaching(lab: &Lab, srcs: &[&str]) -> Vec<u64> {
    let udp = UdpCounter::start(&lab.pbx, 5060).expect("udp receiver");
    let dst = SocketAddr::new(addr(PBX_V4), 5060);
    for src in srcs {
        send_udp(
            &lab.client,
            addr(src),
            dst,
            DATAGRAMS,
            b"OPTIONS sip:100@pbx SIP/2.0\r\n\r\n",
        )
        .expect("sending SIP");
    }
    let counts = udp.finish().expect("udp counts");
    srcs.iter()
        .map(|s| counts.get(&addr(s)).copied().unwrap_or(0))
        .collect()
}

fn ssh_connects(lab: &Lab, src: &str) -> bool {
    let dst = SocketAddr::new(addr(PBX_V4), 22);
    tcp_connects(&lab.client, addr(src), dst, Duration::from_secs(2)).expect("tcp connect")
}

/// The files of the package are where the README says, the config is the built-in default
/// and the interface is left to the admin.
fn assert_installed_files() {
    for path in [
        BIN,
        CONFIG,
        "/etc/default/sipguard",
        "/usr/lib/systemd/system/sipguard.service",
        "/usr/share/sipguard/grafana-sipguard.json",
        "/usr/share/doc/sipguard/examples/sipguard.toml",
        "/usr/share/doc/sipguard/copyright",
        "/usr/share/doc/sipguard/changelog.gz",
    ] {
        assert!(Path::new(path).is_file(), "{path} not installed");
    }
    let default = must(BIN, &["default-config"]).stdout;
    assert_eq!(std::fs::read(CONFIG).expect("config"), default, "{CONFIG}");
    let defaults = std::fs::read_to_string("/etc/default/sipguard").expect("defaults");
    assert!(defaults.contains("\nSIPGUARD_IFACE=\n"), "{defaults}");
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/sipguard.service").expect("unit");
    assert!(
        unit.contains("ExecStart=/usr/sbin/sipguard run --iface ${SIPGUARD_IFACE}"),
        "{unit}"
    );
    let status = must("dpkg-query", &["-W", "-f=${Status}", "sipguard"]).stdout;
    assert_eq!(String::from_utf8_lossy(&status), "install ok installed");
}

/// The daemon drops what the installed config says: SSH from an outside address, SIP from
/// the deny entry; SIP from the outsider passes.
fn assert_filtering(lab: &Lab, daemon: &Installed) {
    assert_eq!(
        sip_reaching(lab, &[OUTSIDER4, DENIED4]),
        [DATAGRAMS as u64, 0]
    );
    assert!(!ssh_connects(lab, OUTSIDER4), "SSH from outside passed");
    let m = daemon.scrape(&lab.pbx).expect("metrics");
    assert!(
        packets_total(&m, "sip", "denied", "drop") >= DATAGRAMS as f64,
        "{m}"
    );
    assert!(
        packets_total(&m, "ssh", "not_allowed", "drop") >= 1.0,
        "{m}"
    );
    assert!(xdp_on(&lab.pbx, PBX_IF), "no XDP program on {PBX_IF}");
    assert!(Path::new(PIN_DIR)
        .join(format!("link_xdp_{PBX_IF}"))
        .exists());
}

/// After the purge: no binary, no config, no package, no filter on the interface (SIP from
/// the denied source reaches the PBX again), no pins.
fn assert_purged(lab: &Lab) {
    for path in [
        BIN,
        "/etc/sipguard",
        "/etc/default/sipguard",
        "/usr/share/sipguard",
    ] {
        assert!(!Path::new(path).exists(), "{path} left after the purge");
    }
    let status = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "sipguard"])
        .output()
        .expect("dpkg-query");
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        !status.contains("installed"),
        "dpkg still lists sipguard: {status}"
    );
    assert!(
        !xdp_on(&lab.pbx, PBX_IF),
        "an XDP program is left on {PBX_IF}"
    );
    assert!(
        !Path::new(PIN_DIR).exists(),
        "{PIN_DIR} left after the purge"
    );
    assert!(!Path::new("/run/sipguard").exists(), "/run/sipguard left");
    assert_eq!(sip_reaching(lab, &[DENIED4]), [DATAGRAMS as u64]);
}

#[test]
#[ignore = "dpkg -i changes the machine: only in a throwaway guest, with SIPGUARD_GUEST=1"]
fn the_package_installs_filters_with_its_config_survives_an_upgrade_and_purges_to_nothing() {
    assert_eq!(
        std::env::var("SIPGUARD_GUEST").as_deref(),
        Ok("1"),
        "refusing: this test installs and purges a Debian package on the machine it runs on; \
         run it in a throwaway guest with SIPGUARD_GUEST=1 (README, Tests)"
    );
    assert!(
        sipguard::host::is_root(),
        "needs root (dpkg, XDP, namespaces)"
    );
    assert!(
        !Path::new(PIN_DIR).exists(),
        "{PIN_DIR} exists before the install"
    );
    let deb = deb_path();
    let deb = deb.to_str().expect("a UTF-8 path");
    must_shown("dpkg", &["-i", deb]);
    assert_installed_files();

    let config = std::fs::read_to_string(CONFIG).expect("config");
    let denied = config.replacen("deny = []", &format!("deny = [\"{DENIED4}\"]"), 1);
    assert_ne!(config, denied, "the default config has a `deny = []` line");
    std::fs::write(CONFIG, denied).expect("editing the installed config");
    must_shown(BIN, &["check", "--config", CONFIG]);

    let lab = Lab::new(&[OUTSIDER4, DENIED4]).expect("namespaces");
    let _ssh = TcpAcceptor::start(&lab.pbx, 22).expect("ssh listener");
    let mut daemon = Installed::start(&lab.pbx);
    assert_filtering(&lab, &daemon);

    // An upgrade in place (the same version again): the filter and the daemon stay, and the
    // admin's edited config is kept (dpkg asks nothing: the package's copy did not change).
    must_shown("dpkg", &["--force-confold", "-i", deb]);
    assert!(
        !daemon.exited_within(Duration::from_millis(500)),
        "the upgrade stopped the daemon"
    );
    assert!(std::fs::read_to_string(CONFIG)
        .expect("config")
        .contains(DENIED4));
    assert_filtering(&lab, &daemon);

    // The purge with the daemon running: prerm stops it and detaches the filter.
    must_shown("dpkg", &["--purge", "sipguard"]);
    assert!(
        daemon.exited_within(Duration::from_secs(5)),
        "the purge left the daemon running"
    );
    eprintln!("daemon log:\n{}", daemon.log_text());
    assert_purged(&lab);
}

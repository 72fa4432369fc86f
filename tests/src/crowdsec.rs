//! A real CrowdSec Local API for the fleet tests: Debian's `crowdsec` binary run as a LAPI
//! alone (`-no-cs`) from a config of its own (SQLite database, an empty hub, no Central
//! API), inside a test namespace, with `cscli` to add bouncers, machines and decisions.
//! Never `/etc/crowdsec`. Killed on drop; its directory removed.
//!
//! The binaries come from `$SIPGUARD_CROWDSEC_DIR/usr/bin`, else `/usr/bin` when the package
//! is installed, else the cache `cargo xtask setup --test-deps` unpacks the package into
//! ([`CACHE`]). None of them: the test fails, it never skips.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Duration,
};

use anyhow::{bail, Context as _};

use crate::{netns::Lab, wait_every};

/// Where `cargo xtask setup --test-deps` unpacks Debian's crowdsec when it is not installed
/// (its post-install script needs the Central API, which a test machine can't reach).
pub const CACHE: &str = "/var/cache/sipguard-test-deps/crowdsec";

/// The directory holding `crowdsec` and `cscli`.
pub fn bin_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("SIPGUARD_CROWDSEC_DIR").map(|d| PathBuf::from(d).join("usr/bin")),
        Some(PathBuf::from("/usr/bin")),
        Some(PathBuf::from(CACHE).join("usr/bin")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("crowdsec").is_file() && d.join("cscli").is_file())
        .unwrap_or_else(|| {
            panic!(
                "crowdsec and cscli not found (in $SIPGUARD_CROWDSEC_DIR/usr/bin, /usr/bin or \
                 {CACHE}/usr/bin): run `cargo xtask setup --test-deps`"
            )
        })
}

/// A LAPI listening on `listen` inside namespace `ns`.
pub struct Lapi {
    pub ns: String,
    pub listen: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
}

/// The profile every alert with a decision of its own keeps (sipguard's alerts carry theirs),
/// and the stock one for alerts without.
const PROFILES: &str = "name: default_ip_remediation\nfilters:\n - Alert.Remediation == true && Alert.GetScope() == \"Ip\"\ndecisions:\n - type: ban\n   duration: 4h\non_success: break\n";

impl Lapi {
    /// Writes the config and starts the LAPI, waiting (20 s at most) until it answers; adds
    /// the local machine `cscli` uses.
    pub fn start(ns: &str, listen: SocketAddr) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(crate::unique("sipguard-lapi-"));
        for sub in ["data", "hub", "config", "plugins"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        std::fs::write(dir.join("hub/.index.json"), "{}")?;
        std::fs::write(dir.join("config/profiles.yaml"), PROFILES)?;
        std::fs::write(dir.join("config/simulation.yaml"), "simulation: off\n")?;
        let d = dir.display().to_string();
        let config = format!(
            "common:\n  daemonize: false\n  log_media: stdout\n  log_level: info\n\
             config_paths:\n  config_dir: {d}/config\n  data_dir: {d}/data\n  hub_dir: {d}/hub\n  \
             index_path: {d}/hub/.index.json\n  simulation_path: {d}/config/simulation.yaml\n  \
             notification_dir: {d}/config/notifications\n  plugin_dir: {d}/plugins\n\
             db_config:\n  type: sqlite\n  db_path: {d}/data/crowdsec.db\n  use_wal: true\n\
             api:\n  client:\n    credentials_path: {d}/local_api_credentials.yaml\n  \
             server:\n    listen_uri: {listen}\n    profiles_path: {d}/config/profiles.yaml\n    \
             trusted_ips:\n      - 127.0.0.1\n      - \"::1\"\n\
             prometheus:\n  enabled: false\n"
        );
        std::fs::write(dir.join("config.yaml"), config)?;
        let mut lapi = Self {
            ns: ns.to_owned(),
            listen,
            dir,
            child: None,
        };
        lapi.spawn()?;
        lapi.cscli(&[
            "machines",
            "add",
            "-a",
            "-f",
            &format!("{d}/local_api_credentials.yaml"),
            "--force",
        ])?;
        Ok(lapi)
    }

    /// Starts the LAPI process (again, on the same database after [`Lapi::stop`]).
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("lapi.log"))?;
        let child = Lab::netns_command(&self.ns, bin_dir().join("crowdsec"))?
            .arg("-c")
            .arg(self.dir.join("config.yaml"))
            .arg("-no-cs")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting crowdsec")?;
        self.child = Some(child);
        let (ns, listen) = (self.ns.clone(), self.listen);
        wait_every(
            Duration::from_secs(20),
            Duration::from_millis(200),
            "the LAPI listening",
            || {
                crate::netns::in_ns(&ns, || {
                    std::net::TcpStream::connect_timeout(&listen, Duration::from_millis(500))
                        .is_ok()
                })
                .ok()
                .filter(|up| *up)
            },
        )
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("{e}:\n{}", self.log_text()))
    }

    /// Stops the LAPI (SIGTERM, then SIGKILL after 10 s); the database stays.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("the LAPI is not running")?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let exited = crate::wait_until(Duration::from_secs(10), "crowdsec exiting", || {
            child.try_wait().ok().flatten()
        });
        if exited.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// `cscli -c <config> ARGS` in the LAPI's namespace; its stdout.
    pub fn cscli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out: std::process::Output = Lab::netns_command(&self.ns, bin_dir().join("cscli"))?
            .arg("-c")
            .arg(self.dir.join("config.yaml"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running cscli")?;
        if !out.status.success() {
            bail!(
                "cscli {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Adds bouncer `name`; returns its key.
    pub fn bouncer_key(&self, name: &str) -> anyhow::Result<String> {
        let key = self.cscli(&["bouncers", "add", name, "-o", "raw"])?;
        let key = key.trim().to_owned();
        anyhow::ensure!(!key.is_empty(), "cscli printed no bouncer key");
        Ok(key)
    }

    /// Adds machine `name` with `password` (validated).
    pub fn add_machine(&self, name: &str, password: &str) -> anyhow::Result<()> {
        self.cscli(&[
            "machines",
            "add",
            name,
            "-p",
            password,
            "-f",
            "/dev/null",
            "--force",
        ])?;
        Ok(())
    }

    /// The LAPI's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// A file holding `secret`, in the LAPI's directory (removed with it).
    pub fn secret_file(&self, name: &str, secret: &str) -> anyhow::Result<PathBuf> {
        let p = self.dir.join(name);
        std::fs::write(&p, format!("{secret}\n"))?;
        Ok(p)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("lapi.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Lapi {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

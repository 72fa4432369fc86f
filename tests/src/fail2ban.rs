//! A real fail2ban (Debian package `fail2ban`) guarding the lab's PBX, for the side-by-side
//! brute-force benchmark: `fail2ban-server` runs in the PBX namespace from a configuration
//! generated in a temporary directory (its own socket, pidfile, log and an in-memory
//! database; nothing of the host's `/etc/fail2ban` is changed or used as is), with one jail
//! written the way the seeds' guides write the Asterisk one: a filter on the PBX's log of
//! failed authentications, `iptables-allports` with `protocol=all`, here with `DROP` and the
//! x_tables `iptables-legacy` the guides' iptables rules are loaded with.
//!
//! The server is stopped (SIGTERM, then SIGKILL) and the directory removed on drop, also when
//! a benchmark fails.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, SystemTime},
};

use anyhow::{anyhow, bail, Context as _};

use crate::{wait_every, wait_until};

/// The jail's name.
pub const JAIL: &str = "asterisk-style";

/// The filter: Kamailio's `AUTHFAIL` lines (`tests/lab/kamailio.cfg`), which carry no
/// timestamp of their own, so fail2ban stamps each line with the time it reads it.
const FILTER: &str = "[INCLUDES]\nbefore = common.conf\n\n[Definition]\n\
failregex = \\bAUTHFAIL (?:REGISTER|INVITE) src=<HOST>(?::\\d+)?\\s\n\
ignoreregex =\n\
datepattern = {NONE}\n";

/// The jail's thresholds (those of sipguard's `tests/bench/policy.toml` auto-ban).
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    pub maxretry: u32,
    pub findtime_secs: u64,
    pub bantime_secs: u64,
}

impl Thresholds {
    /// failures = 5 in 60 s, banned for an hour.
    pub const BENCH: Thresholds = Thresholds {
        maxretry: 5,
        findtime_secs: 60,
        bantime_secs: 3600,
    };
}

/// A running `fail2ban-server` in a namespace.
pub struct Fail2ban {
    child: Option<Child>,
    pub ns: String,
    /// The generated configuration, socket, pidfile and log.
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Fail2ban {
    /// Generates the configuration for `logpath` (the PBX's log), starts the server in `ns`
    /// and waits (at most 20 s) until the jail answers `status`.
    pub fn start(ns: &str, logpath: &Path, t: Thresholds) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("{}-f2b", crate::unique("sgt-")));
        let mut f = Self {
            child: None,
            ns: ns.to_owned(),
            socket: dir.join("fail2ban.sock"),
            log: dir.join("fail2ban.log"),
            dir,
        };
        f.write_config(logpath, t)?;
        let log = std::fs::File::create(f.dir.join("server.out"))?;
        // TZ=UTC: the log's timestamps are then UTC, see `ban_times`.
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "env", "TZ=UTC", "fail2ban-server"])
            .args(["-x", "-f", "-c"])
            .arg(&f.dir)
            .arg("-s")
            .arg(&f.socket)
            .arg("-p")
            .arg(f.dir.join("fail2ban.pid"))
            .arg("--logtarget")
            .arg(&f.log)
            .args(["--loglevel", "INFO", "start"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting fail2ban-server (apt package fail2ban)")?;
        f.child = Some(child);
        let up = wait_every(
            Duration::from_secs(20),
            Duration::from_millis(200),
            "fail2ban's jail coming up",
            || {
                if let Some(status) = f.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    return Some(Err(anyhow!("fail2ban-server exited early ({status})")));
                }
                f.jail_up().then_some(Ok(()))
            },
        );
        match up.and_then(|r| r) {
            Ok(()) => Ok(f),
            Err(e) => bail!("{e}:\n{}", f.diagnostics()),
        }
    }

    /// Whether `fail2ban-client status JAIL` answers.
    fn jail_up(&self) -> bool {
        self.client(&["status", JAIL])
            .is_ok_and(|o| o.status.success())
    }

    fn write_config(&self, logpath: &Path, t: Thresholds) -> anyhow::Result<()> {
        let etc = Path::new("/etc/fail2ban");
        for sub in ["action.d", "filter.d", "jail.d", "fail2ban.d"] {
            std::fs::create_dir_all(self.dir.join(sub))?;
        }
        // The actions as packaged; of the filters only the shared definitions; not jail.d
        // (Debian's defaults-debian.conf sets backend = systemd and enables sshd).
        for entry in std::fs::read_dir(etc.join("action.d"))
            .context("reading /etc/fail2ban/action.d (apt package fail2ban)")?
        {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(
                    entry.path(),
                    self.dir.join("action.d").join(entry.file_name()),
                )?;
            }
        }
        std::fs::copy(
            etc.join("filter.d/common.conf"),
            self.dir.join("filter.d/common.conf"),
        )?;
        for paths in ["paths-common.conf", "paths-debian.conf"] {
            std::fs::copy(etc.join(paths), self.dir.join(paths))?;
        }
        std::fs::write(self.dir.join("filter.d/kamailio-auth.conf"), FILTER)?;
        std::fs::write(
            self.dir.join("fail2ban.conf"),
            format!(
                "[DEFAULT]\nloglevel = INFO\nlogtarget = {log}\nsyslogsocket = auto\n\
                 socket = {sock}\npidfile = {pid}\ndbfile = :memory:\ndbpurgeage = 1d\n\
                 dbmaxmatches = 10\nallowipv6 = auto\n\n[Definition]\n\n[Thread]\n",
                log = self.log.display(),
                sock = self.socket.display(),
                pid = self.dir.join("fail2ban.pid").display(),
            ),
        )?;
        // `tail`: a jail (re)started reads only what is written from then on.
        std::fs::write(
            self.dir.join("jail.conf"),
            format!(
                "[INCLUDES]\nbefore = paths-debian.conf\n\n[DEFAULT]\nignoreip = 127.0.0.1/8 ::1\n\
                 backend = auto\nusedns = no\n\n[{JAIL}]\nenabled = true\nfilter = kamailio-auth\n\
                 logpath = {logpath} tail\nmaxretry = {maxretry}\nfindtime = {findtime}\n\
                 bantime = {bantime}\n\
                 action = iptables-allports[name=ASTERISK, protocol=all, blocktype=DROP, \
                 iptables=\"iptables-legacy -w\"]\n",
                logpath = logpath.display(),
                maxretry = t.maxretry,
                findtime = t.findtime_secs,
                bantime = t.bantime_secs,
            ),
        )?;
        Ok(())
    }

    /// `fail2ban-client -c DIR -s SOCKET ARGS` (at most 15 s; `restart` reads the jail's
    /// configuration from DIR).
    pub fn client(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new("timeout")
            .args(["-k", "2", "15", "fail2ban-client", "-c"])
            .arg(&self.dir)
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running fail2ban-client")
    }

    /// The jail's banned addresses (`status JAIL`, "Banned IP list:").
    pub fn banned(&self) -> anyhow::Result<Vec<String>> {
        let out = self.client(&["status", JAIL])?;
        if !out.status.success() {
            bail!(
                "fail2ban-client status {JAIL}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(parse_banned(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Lifts the jail's ban of `ip`, then restarts the jail (its count of failures per
    /// address is not reset by an unban: leftovers would shorten the next attacker's run).
    pub fn reset(&self, ip: &str) -> anyhow::Result<()> {
        let _ = self.client(&["set", JAIL, "unbanip", ip])?;
        let out = self.client(&["restart", "--unban", JAIL])?;
        if !out.status.success() {
            bail!(
                "fail2ban-client restart {JAIL}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let back = wait_every(
            Duration::from_secs(20),
            Duration::from_millis(200),
            "the jail coming back",
            || self.jail_up().then_some(()),
        );
        back.map_err(|e| anyhow!("{e}:\n{}", self.diagnostics()))
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The backend `backend = auto` picked (the log's "Jail '...' uses pyinotify" line).
    pub fn backend(&self) -> Option<String> {
        let text = self.log_text();
        let needle = format!("Jail '{JAIL}' uses ");
        text.lines().rev().find_map(|l| {
            let rest = &l[l.find(&needle)? + needle.len()..];
            Some(rest.split_whitespace().next()?.to_owned())
        })
    }

    /// When fail2ban decided each ban of `ip` (its log's `[JAIL] Ban IP` lines; the action,
    /// here the iptables rule, runs right after the line is written).
    pub fn ban_times(&self, ip: &str) -> Vec<SystemTime> {
        let needle = format!("[{JAIL}] Ban {ip}");
        self.log_text()
            .lines()
            .filter(|l| l.trim_end().ends_with(&needle))
            .filter_map(parse_log_time)
            .collect()
    }

    /// The installed fail2ban's version (`fail2ban-server -V`).
    pub fn version() -> String {
        Command::new("fail2ban-server")
            .arg("-V")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    fn diagnostics(&self) -> String {
        format!(
            "{}\n{}",
            std::fs::read_to_string(self.dir.join("server.out")).unwrap_or_default(),
            self.log_text()
        )
    }
}

impl Drop for Fail2ban {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = wait_until(Duration::from_secs(5), "fail2ban-server exiting", || {
                c.try_wait().ok().flatten()
            });
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The addresses of `status JAIL`'s "Banned IP list:" line.
pub fn parse_banned(status: &str) -> Vec<String> {
    status
        .lines()
        .find_map(|l| l.split_once("Banned IP list:"))
        .map(|(_, ips)| ips.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The timestamp fail2ban starts its log lines with, `2024-05-06 07:08:09,123`, read as UTC.
pub fn parse_log_time(line: &str) -> Option<SystemTime> {
    let stamp = line.get(..23)?;
    let num = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if &stamp[4..5] != "-" || &stamp[10..11] != " " || &stamp[19..20] != "," {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = (((days * 24 + h) * 60 + mi) * 60 + s) * 1000 + ms;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_time_is_utc_milliseconds() {
        let t = parse_log_time(
            "2024-02-29 13:14:15,678 fail2ban.actions        [123]: NOTICE  [asterisk-style] Ban 192.0.2.66",
        )
        .unwrap();
        let ms = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert_eq!(ms, 1_709_212_455_678);
        assert!(parse_log_time("not a log line at all, no timestamp").is_none());
    }

    #[test]
    fn banned_list_is_read_from_status() {
        let status = "Status for the jail: asterisk-style\n|- Filter\n|  |- Currently failed:\t0\n\
                      `- Actions\n   |- Currently banned:\t1\n   |- Total banned:\t1\n   \
                      `- Banned IP list:\t192.0.2.66\n";
        assert_eq!(parse_banned(status), vec!["192.0.2.66".to_owned()]);
        assert!(parse_banned("`- Banned IP list:\t\n").is_empty());
    }
}

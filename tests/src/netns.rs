//! Throwaway test hosts: two network namespaces joined by a veth pair. Traffic stays between
//! them; the namespaces are deleted on drop, also when a test fails.
use std::{
    fs::File,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    process::{Command, Output},
    time::Duration,
};

use anyhow::{bail, Context as _};

/// The protected host's end of the veth pair.
pub const PBX_IF: &str = "pbx0";
pub const CLIENT_IF: &str = "cli0";
pub const PBX_V4: &str = "192.0.2.1";
pub const PBX_V6: &str = "2001:db8:1::1";

/// The end-to-end tests' client addresses, by their role under [`crate::policies::LAB`]: the
/// office half of the veth's /24 and the first /112, the rest, and the one address of each
/// family the policy denies outright.
pub mod clients {
    pub const ALLOWED4: &str = "192.0.2.10";
    pub const OUTSIDER4: &str = "192.0.2.200";
    pub const DENIED4: &str = "192.0.2.250";
    pub const ALLOWED6: &str = "2001:db8:1::10";
    pub const OUTSIDER6: &str = "2001:db8:1::1:10";
    pub const DENIED6: &str = "2001:db8:1::bad";
}

/// A test's literal address.
pub fn addr(s: &str) -> std::net::IpAddr {
    s.parse()
        .unwrap_or_else(|_| panic!("{s:?} is not an address"))
}

/// A PBX namespace and a client namespace, joined by veth `pbx0` <-> `cli0`.
pub struct Lab {
    pub pbx: String,
    pub client: String,
}

impl Lab {
    /// Creates the namespaces; `client_addrs` (IPv4 and IPv6, on-link) go on `cli0`.
    pub fn new(client_addrs: &[&str]) -> anyhow::Result<Self> {
        let id = crate::unique("sgt-");
        let lab = Self {
            pbx: format!("{id}-pbx"),
            client: format!("{id}-cli"),
        };
        ip(&["netns", "add", &lab.pbx])?;
        ip(&["netns", "add", &lab.client])?;
        ip(&[
            "-n",
            &lab.pbx,
            "link",
            "add",
            PBX_IF,
            "type",
            "veth",
            "peer",
            "name",
            CLIENT_IF,
            "netns",
            &lab.client,
        ])?;
        ip(&[
            "-n",
            &lab.pbx,
            "addr",
            "add",
            &format!("{PBX_V4}/24"),
            "dev",
            PBX_IF,
        ])?;
        ip(&[
            "-n",
            &lab.pbx,
            "addr",
            "add",
            &format!("{PBX_V6}/64"),
            "dev",
            PBX_IF,
            "nodad",
        ])?;
        for addr in client_addrs {
            let (prefix, extra) = if addr.contains(':') {
                (64, Some("nodad"))
            } else {
                (24, None)
            };
            let cidr = format!("{addr}/{prefix}");
            let mut args = vec!["-n", &lab.client, "addr", "add", &cidr, "dev", CLIENT_IF];
            args.extend(extra);
            ip(&args)?;
        }
        for (ns, dev) in [(&lab.pbx, PBX_IF), (&lab.client, CLIENT_IF)] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(lab)
    }

    /// A command run inside network namespace `ns` (`ip netns exec`, which also gives it a
    /// private mount namespace: fine for tools, not for sipguard, see [`Lab::netns_command`]).
    pub fn command(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// A command whose process joins network namespace `ns` and nothing else: it keeps the
    /// host's mount namespace, so the maps it pins under /sys/fs/bpf are visible to
    /// `sipguard status` run from any shell, as on a real host.
    pub fn netns_command(
        ns: &str,
        program: impl AsRef<std::ffi::OsStr>,
    ) -> anyhow::Result<Command> {
        use std::os::{fd::AsRawFd as _, unix::process::CommandExt as _};
        let fd = File::open(format!("/run/netns/{ns}")).with_context(|| format!("netns {ns}"))?;
        let mut c = Command::new(program);
        // SAFETY: only async-signal-safe calls (setns) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if libc_setns(fd.as_raw_fd()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(c)
    }

    /// `ping` from the client namespace: true when every echo was answered.
    pub fn ping(&self, src: &str, dst: &str, count: u32) -> bool {
        Self::command(&self.client, "ping")
            .args([
                "-n",
                "-q",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "1",
                "-I",
                src,
                dst,
            ])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.pbx, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn libc_setns(fd: i32) -> i32 {
    // SAFETY: plain syscall wrapper.
    unsafe { libc::setns(fd, libc::CLONE_NEWNET) }
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> anyhow::Result<Output> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Moves the calling thread into namespace `ns`.
pub fn enter(ns: &str) -> anyhow::Result<()> {
    let f = File::open(format!("/run/netns/{ns}")).with_context(|| format!("netns {ns}"))?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("setns into {ns}"))?;
    Ok(())
}

/// Runs `f` on a thread inside namespace `ns` and waits for it.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(ns)?;
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread in {ns} panicked"))?
    })
}

/// Runs `f` on a thread inside namespace `ns` without waiting.
pub fn spawn_in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> std::thread::JoinHandle<anyhow::Result<T>> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        enter(&ns)?;
        f()
    })
}

/// A bounded HTTP GET inside namespace `ns`; `None` when nothing answers.
pub fn http_get(ns: &str, addr: SocketAddr, path: &str) -> Option<String> {
    in_ns(ns, || -> Option<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        let (head, body) = body.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
    })
    .ok()
    .flatten()
}

/// `sipguard_packets_total{service, reason, verdict}` in a /metrics text (0 when absent).
pub fn packets_total(text: &str, service: &str, reason: &str, verdict: &str) -> f64 {
    let labels = [
        ("service", service),
        ("reason", reason),
        ("verdict", verdict),
    ];
    metric(text, "sipguard_packets_total", &labels).unwrap_or(0.0)
}

/// The value of a sample in Prometheus text, matching the metric name and every given label.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric_name, label_block) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric_name != name {
                return None;
            }
            let all = labels.iter().all(|(k, v)| {
                label_block
                    .split(',')
                    .any(|kv| kv == format!("{k}=\"{v}\""))
            });
            if all {
                value.parse().ok()
            } else {
                None
            }
        })
}

/// Runs `program args` in namespace `ns` (stdin from `input` when given), failing with its
/// stderr; returns its stdout.
pub fn run_in(
    ns: &str,
    program: &str,
    args: &[&str],
    input: Option<&[u8]>,
) -> anyhow::Result<String> {
    use std::process::Stdio;
    let mut c = Command::new("timeout");
    c.args(["-k", "5", "30", "ip", "netns", "exec", ns, program])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = c.spawn().with_context(|| format!("running {program}"))?;
    if let Some(input) = input {
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(input)
            .with_context(|| format!("writing to {program}"))?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

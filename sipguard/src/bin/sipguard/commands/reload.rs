//! `sipguard reload`: validates the running daemon's config file here, then signals the
//! daemon (SIGHUP) and waits until it has applied the new policy.
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use sipguard::{
    config::Config,
    dataplane::{pin_dir, Maps},
};

use super::require_root;
use crate::args::ReloadArgs;

/// How long the daemon has to apply the new policy.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: &ReloadArgs) -> anyhow::Result<()> {
    require_root("sipguard reload")?;
    let pin_path = &args.pin_path;
    let pid = daemon_pid(pin_path)?;
    let config = daemon_config(pid)?;
    if let Some(path) = &config {
        Config::from_file(path)
            .map_err(|e| anyhow::anyhow!("{e}\nnothing sent: the running policy stays"))?;
    }
    let maps = Maps::open_pinned(pin_path)?;
    let before = maps.generation()?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .with_context(|| format!("signalling the daemon (pid {pid})"))?;
    let deadline = Instant::now() + APPLY_TIMEOUT;
    while Instant::now() < deadline {
        if maps.generation()? != before {
            println!(
                "reloaded {} (daemon pid {pid})",
                config
                    .as_deref()
                    .map_or("the built-in default".into(), |p| p.display().to_string())
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    anyhow::bail!(
        "the daemon (pid {pid}) did not apply a new policy within 10 s; its log says why \
         (the running policy stays)"
    )
}

/// The pid of the daemon holding `pin_path`.
fn daemon_pid(pin_path: &Path) -> anyhow::Result<i32> {
    anyhow::ensure!(
        pin_path.exists(),
        "{}: no sipguard maps there",
        pin_path.display()
    );
    pin_dir::daemon_pid(pin_path)
        .with_context(|| format!("no sipguard daemon is running with {}", pin_path.display()))
}

/// The daemon's `--config` file, from its command line (relative to its working directory).
fn daemon_config(pid: i32) -> anyhow::Result<Option<PathBuf>> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .with_context(|| format!("reading the command line of pid {pid}"))?;
    Ok(config_arg(&cmdline, pid))
}

/// The `--config` of a NUL-separated command line, resolved against `/proc/{pid}/cwd`.
fn config_arg(cmdline: &[u8], pid: i32) -> Option<PathBuf> {
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let mut config = None;
    for (i, a) in args.iter().enumerate() {
        if a == "--config" {
            config = args.get(i + 1).cloned();
        } else if let Some(v) = a.strip_prefix("--config=") {
            config = Some(v.to_owned());
        }
    }
    config.map(|c| {
        let path = PathBuf::from(c);
        if path.is_absolute() {
            path
        } else {
            PathBuf::from(format!("/proc/{pid}/cwd")).join(path)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_config_is_read_from_its_command_line() {
        let cmdline = b"sipguard\0run\0--iface\0eth0\0--config\0/etc/sipguard/sipguard.toml\0";
        assert_eq!(
            config_arg(cmdline, 7),
            Some(PathBuf::from("/etc/sipguard/sipguard.toml"))
        );
        assert_eq!(
            config_arg(b"sipguard\0run\0--config=local.toml\0", 7),
            Some(PathBuf::from("/proc/7/cwd/local.toml"))
        );
        assert_eq!(config_arg(b"sipguard\0run\0--iface\0eth0\0", 7), None);
    }
}

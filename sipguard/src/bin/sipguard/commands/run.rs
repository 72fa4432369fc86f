//! `sipguard run`: the daemon (see [`sipguard::control::daemon`]).
use sipguard::{
    control::{Daemon, Options},
    host::install::DEFAULTS,
};

use super::require_root;
use crate::args::RunArgs;

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    require_root("sipguard run")?;
    // Under systemd the name comes from /etc/default/sipguard, which a fresh package leaves
    // empty: say where to set it.
    anyhow::ensure!(
        !args.iface.iter().any(String::is_empty),
        "--iface is empty: name the interface to protect (for the service: SIPGUARD_IFACE in {DEFAULTS})",
    );
    let daemon = Daemon::start(Options {
        ifaces: args.iface,
        config: args.config,
        metrics: args.metrics,
        monitor: args.monitor,
        xdp_mode: args.xdp_mode,
        pin_path: args.pin_path,
        watch: args.watch,
    })?;
    daemon.run_until_signal()?;
    Ok(())
}

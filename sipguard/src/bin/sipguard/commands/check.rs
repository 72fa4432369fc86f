//! `sipguard check`: validates a config file, and with `--diff` shows what applying it would
//! change against the running daemon's policy.
use sipguard::{config::Config, control::applied};

use crate::args::CheckArgs;

pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let path = &args.config;
    let config = Config::from_file(path)?;
    println!(
        "{}: OK ({} services, {} deny entries)",
        path.display(),
        config.services.len(),
        config.global.deny.len()
    );
    for w in &config.logwatch {
        for warning in w.warnings() {
            println!("warning: {warning}");
        }
    }
    if args.diff {
        let running = applied::running(&args.pin_path)?;
        let changes = sipguard::config::diff::diff(&running, &config);
        if changes.is_empty() {
            println!("no change against the running policy");
        } else {
            println!("against the running policy ({}):", running.source);
            for line in changes {
                println!("{line}");
            }
        }
    }
    Ok(())
}

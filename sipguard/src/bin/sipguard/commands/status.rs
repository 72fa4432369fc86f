//! `sipguard status`: the running filter, read from the pinned maps.
use sipguard::{control::status::Status, dataplane::Maps};

use crate::args::StatusArgs;

pub fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let interval = &args.interval;
    let interval = sipguard::parse::duration(interval)
        .map_err(|e| anyhow::anyhow!("--interval {interval:?}: {e}"))?;
    let maps = Maps::open_pinned(&args.pin_path)?;
    let status = Status::read(&maps, &args.pin_path, interval)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status.to_text());
    }
    Ok(())
}

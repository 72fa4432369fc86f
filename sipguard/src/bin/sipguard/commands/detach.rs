//! `sipguard detach`: the filter off an interface (see [`sipguard::control::detach`]).
use super::require_root;
use crate::args::DetachArgs;

pub fn run(args: &DetachArgs) -> anyhow::Result<()> {
    require_root("sipguard detach")?;
    for iface in &args.iface {
        for removed in sipguard::control::detach::detach(&args.pin_path, iface)? {
            println!("removed {removed}");
        }
        println!("sipguard detached from {iface}");
    }
    Ok(())
}

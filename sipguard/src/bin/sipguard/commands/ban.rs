//! `sipguard ban`, `unban` and `bans`: the admin's bans on the pinned maps (the trusted
//! refusal is [`sipguard::control::bans::ban`]'s).
use sipguard::{control::bans, dataplane::Maps};

use super::require_root;
use crate::args::{BanArgs, BansArgs, UnbanArgs};

pub fn ban(args: &BanArgs) -> anyhow::Result<()> {
    require_root("sipguard ban")?;
    let net = sipguard::parse::exact_net(&args.net)?;
    let duration = args
        .duration
        .as_deref()
        .map(|d| {
            sipguard::parse::duration(d)
                .map_err(|e| anyhow::anyhow!("--for {d:?}: {e}"))
                .and_then(|d| {
                    if d.is_zero() {
                        anyhow::bail!("--for 0: leave --for out for a ban until unbanned")
                    }
                    Ok(d)
                })
        })
        .transpose()?;
    let mut maps = Maps::open_pinned(&args.pin_path)?;
    bans::ban(&mut maps, net, duration, &args.reason, args.scope)?;
    match duration {
        Some(d) => println!("banned {net} for {}s", d.as_secs()),
        None => println!("banned {net} until `sipguard unban {net}`"),
    }
    Ok(())
}

pub fn unban(args: &UnbanArgs) -> anyhow::Result<()> {
    require_root("sipguard unban")?;
    let net = sipguard::parse::exact_net(&args.net)?;
    let mut maps = Maps::open_pinned(&args.pin_path)?;
    if !maps.unban(net)? {
        let listed: Vec<String> = maps
            .bans()?
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        anyhow::bail!(
            "no ban on {net} (bans: {})",
            if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            }
        );
    }
    println!("unbanned {net}");
    Ok(())
}

pub fn list(args: &BansArgs) -> anyhow::Result<()> {
    let maps = Maps::open_pinned(&args.pin_path)?;
    let rows = bans::list(&maps)?;
    let pressure = bans::pressure(&rows, maps.ban_insert_failures()?, maps.ban_evictions()?);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        // Beside the JSON, never in it.
        if let Some(line) = pressure {
            eprint!("{line}");
        }
    } else {
        print!("{}", bans::to_text(&rows));
        if let Some(line) = pressure {
            print!("{line}");
        }
    }
    Ok(())
}

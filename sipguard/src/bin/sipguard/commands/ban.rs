//! `sipguard ban`, `unban` and `bans`: the admin's bans on the pinned maps (the trusted
//! refusal is [`sipguard::control::bans::ban`]'s).
use std::net::IpAddr;

use anyhow::Context as _;
use ipnet::IpNet;
use sipguard::{control::bans, dataplane::Maps};

use super::require_root;
use crate::args::{BanArgs, BansArgs, UnbanArgs};

pub fn ban(args: &BanArgs) -> anyhow::Result<()> {
    require_root("sipguard ban")?;
    let net = parse_net(&args.net)?;
    let duration = args
        .duration
        .as_deref()
        .map(|d| {
            sipguard::config::parse_duration(d)
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
    let net = parse_net(&args.net)?;
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
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", bans::to_text(&rows));
    }
    Ok(())
}

/// An address or CIDR from the command line; a prefix with host bits set is refused (the
/// admin may have meant another prefix).
fn parse_net(text: &str) -> anyhow::Result<IpNet> {
    let net = match text.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => IpNet::from(
            text.parse::<IpAddr>()
                .with_context(|| format!("{text:?} is not an address or CIDR"))?,
        ),
    };
    if net.trunc() != net {
        anyhow::bail!("{text}: host bits set (did you mean {}?)", net.trunc());
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_a_host_prefix_and_host_bits_are_refused() {
        assert_eq!(
            parse_net("203.0.113.7").unwrap().to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(
            parse_net("2001:db8::/48").unwrap().to_string(),
            "2001:db8::/48"
        );
        assert_eq!(
            parse_net("10.1.2.3/8").unwrap_err().to_string(),
            "10.1.2.3/8: host bits set (did you mean 10.0.0.0/8?)"
        );
        assert!(parse_net("nonsense").is_err());
    }
}

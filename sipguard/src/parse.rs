//! Value parsers shared by the policy file and the command line: durations, ports, prefixes.
//!
//! They sit below [`crate::config`] and the CLI so that `"1h"` or `"192.0.2.0/24"` means the
//! same thing in `sipguard.toml` and after `sipguard ban --for`. Where the two surfaces accept
//! different forms on purpose, the parser says which rule it applies in its name:
//! [`list_entry`] is the policy file's rule for allow, deny and trusted entries (keywords,
//! IPv6 forms of IPv4 folded to IPv4), [`exact_net`] the CLI's (a prefix as typed, host bits
//! refused). Both fold with [`fold_net`], the kernel's rule ([`sipguard_common::addr`]).
//!
//! The parsers for the config return the message of the error only; the validator adds the
//! file, line, column and field.
use std::{
    net::{AddrParseError, IpAddr},
    time::Duration,
};

use ipnet::IpNet;

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

/// `"30s"`, `"15m"`, `"1h"`, `"1d"`, `"500ms"`, `"0"`.
pub fn duration(s: &str) -> Result<Duration, String> {
    const HINT: &str = r#"expected a duration such as "500ms", "30s", "15m", "1h" or "1d""#;
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or(HINT)?;
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| HINT)?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(HINT.into()),
    };
    n.checked_mul(ms)
        .map(Duration::from_millis)
        .ok_or_else(|| "too long".into())
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

const PORT_HINT: &str = "ports are 1-65535";

/// A port written as a TOML integer.
pub fn port_number(n: i64) -> Result<u16, String> {
    match n {
        0 => Err(format!("port 0 is not a valid port ({PORT_HINT})")),
        // The arm's range makes the cast lossless.
        1..=65535 => Ok(n as u16),
        _ => Err(format!("port {n} is out of range ({PORT_HINT})")),
    }
}

/// A port written as digits inside a string.
fn port_digits(s: &str) -> Result<u16, String> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            r#"malformed port range: expected a port number or "LO-HI", e.g. "10000-20000""#.into(),
        );
    }
    // Longer digit strings than i64 holds are out of range anyway.
    port_number(s.parse::<i64>().unwrap_or(i64::MAX))
}

/// `"5060"` or `"10000-20000"`: the inclusive range `(lo, hi)`, `1 <= lo <= hi`.
pub fn port_range(s: &str) -> Result<(u16, u16), String> {
    match s.split_once('-') {
        None => {
            let p = port_digits(s)?;
            Ok((p, p))
        }
        Some((lo, hi)) => {
            let (lo, hi) = (port_digits(lo)?, port_digits(hi)?);
            if lo > hi {
                return Err(format!(
                    "reversed port range: {lo} is greater than {hi} (did you mean \"{hi}-{lo}\"?)"
                ));
            }
            Ok((lo, hi))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prefixes
// ---------------------------------------------------------------------------------------------

/// An allow, deny or trusted entry of the policy file, as [`list_entry`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListEntry {
    /// `any`: every IPv4 and IPv6 source.
    Any,
    /// `any4` or `0.0.0.0/0`.
    Any4,
    /// `any6` or `::/0`.
    Any6,
    /// A normalized prefix (a bare address is a /32 or /128).
    Prefix(IpNet),
}

/// The policy file's rule for a list entry: a keyword (`any`, `any4`, `any6`), a CIDR or a
/// bare address. The prefix length must be plain digits, host bits must be clear, and an
/// IPv4-mapped IPv6 prefix (`::ffff:a.b.c.d/96+n`) means the IPv4 prefix `/n`.
pub fn list_entry(s: &str) -> Result<ListEntry, String> {
    match s {
        "any" => return Ok(ListEntry::Any),
        "any4" => return Ok(ListEntry::Any4),
        "any6" => return Ok(ListEntry::Any6),
        _ => {}
    }
    let net = match s.split_once('/') {
        None => match s.parse::<IpAddr>() {
            Ok(addr) => IpNet::from(addr),
            Err(_) => {
                return Err(
                    r#"not an IP address or CIDR (expected e.g. "192.0.2.0/24", "2001:db8::1", "any", "any4" or "any6")"#
                        .into(),
                )
            }
        },
        Some((addr_text, len_text)) => {
            let addr: IpAddr = addr_text
                .parse()
                .map_err(|_| format!("invalid CIDR: `{addr_text}` is not an IP address"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = len_text
                .parse::<u8>()
                .ok()
                .filter(|l| len_text.bytes().all(|b| b.is_ascii_digit()) && *l <= max)
                .ok_or_else(|| {
                    format!(
                        "invalid CIDR: prefix length `{len_text}` is not a number from 0 to {max}"
                    )
                })?;
            let net = IpNet::new(addr, len).map_err(|e| format!("invalid CIDR: {e}"))?;
            if net.trunc() != net {
                return Err(format!(
                    "invalid CIDR: host bits are set (did you mean {}?)",
                    net.trunc()
                ));
            }
            net
        }
    };
    // ::ffff:a.b.c.d is how dual-stack sockets show IPv4 peers; the programs judge those
    // packets (and the other IPv6 forms of IPv4) as IPv4, so the entry means the IPv4 prefix.
    let net = fold_net(net);
    Ok(match net {
        IpNet::V4(n) if n.prefix_len() == 0 => ListEntry::Any4,
        IpNet::V6(n) if n.prefix_len() == 0 => ListEntry::Any6,
        n => ListEntry::Prefix(n),
    })
}

/// An IPv6 form of an IPv4 address (`::ffff:a.b.c.d`, `::a.b.c.d`, `64:ff9b::a.b.c.d`) as that
/// IPv4 address, as both programs judge a packet's source; any other address unchanged.
pub fn fold_addr(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => match sipguard_common::addr::ipv4_in_ipv6(&a.octets()) {
            Some(v4) => IpAddr::from(v4),
            None => addr,
        },
        v4 => v4,
    }
}

/// A prefix wholly inside one of [`fold_addr`]'s forms (e.g. `::ffff:192.0.2.0/120`) as the
/// IPv4 prefix it stands for (`192.0.2.0/24`); any other prefix unchanged.
pub fn fold_net(net: IpNet) -> IpNet {
    let IpNet::V6(n) = net else {
        return net;
    };
    match sipguard_common::addr::ipv4_net_in_ipv6(&n.network().octets(), n.prefix_len()) {
        // A /96 or longer leaves at most 32 bits for IPv4: `new` cannot fail.
        Some((v4, len)) => IpNet::new(IpAddr::from(v4), len).unwrap_or(net),
        None => net,
    }
}

/// Why [`exact_net`] refused its argument.
#[derive(Debug, thiserror::Error)]
pub enum ExactNetError {
    /// Neither a CIDR nor an address.
    #[error("{text:?} is not an address or CIDR")]
    NotAnAddress {
        text: String,
        #[source]
        source: AddrParseError,
    },
    /// A CIDR whose host bits are set: the admin probably meant the network.
    #[error("{text}: host bits set (did you mean {network}?)")]
    HostBits { text: String, network: IpNet },
}

/// The CLI's rule for a prefix (`sipguard ban`/`unban`): a CIDR or a bare address exactly as
/// typed (no keywords), with its host bits clear, and an IPv6 form of IPv4 folded
/// ([`fold_net`]): `ban ::ffff:192.0.2.7` bans 192.0.2.7, and `unban` of either form removes it.
pub fn exact_net(text: &str) -> Result<IpNet, ExactNetError> {
    let net =
        match text.parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => IpNet::from(text.parse::<IpAddr>().map_err(|source| {
                ExactNetError::NotAnAddress {
                    text: text.to_owned(),
                    source,
                }
            })?),
        };
    if net.trunc() != net {
        return Err(ExactNetError::HostBits {
            text: text.to_owned(),
            network: net.trunc(),
        });
    }
    Ok(fold_net(net))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn durations_take_one_unit_and_zero_alone() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration(" 30s "), Ok(Duration::from_secs(30)));
        assert_eq!(duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("2d"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "1w", "h", "1h30m", "-1s", "0s5"] {
            assert!(
                duration(bad)
                    .unwrap_err()
                    .starts_with("expected a duration"),
                "{bad}"
            );
        }
        assert_eq!(duration("99999999999999999d"), Err("too long".to_owned()));
    }

    #[test]
    fn port_ranges_are_one_port_or_lo_to_hi() {
        assert_eq!(port_range("5060"), Ok((5060, 5060)));
        assert_eq!(port_range("10000-20000"), Ok((10000, 20000)));
        assert_eq!(port_range(" 7 - 7 "), Ok((7, 7)));
        assert!(port_range("0").unwrap_err().contains("port 0"));
        assert!(port_range("1-70000").unwrap_err().contains("70000"));
        assert!(port_range("20-10").unwrap_err().starts_with("reversed"));
        assert!(port_range("+5")
            .unwrap_err()
            .starts_with("malformed port range"));
        assert_eq!(port_number(65535), Ok(65535));
        assert!(port_number(-1).unwrap_err().contains("out of range"));
    }

    #[test]
    fn list_entries_take_keywords_addresses_and_fold_mapped_ipv4() {
        assert_eq!(list_entry("any"), Ok(ListEntry::Any));
        assert_eq!(list_entry("0.0.0.0/0"), Ok(ListEntry::Any4));
        assert_eq!(list_entry("::/0"), Ok(ListEntry::Any6));
        assert_eq!(
            list_entry("192.0.2.7"),
            Ok(ListEntry::Prefix(net("192.0.2.7/32")))
        );
        assert_eq!(
            list_entry("::ffff:198.51.100.0/120"),
            Ok(ListEntry::Prefix(net("198.51.100.0/24")))
        );
        assert_eq!(
            list_entry("64:ff9b::198.51.100.7"),
            Ok(ListEntry::Prefix(net("198.51.100.7/32")))
        );
        assert_eq!(
            list_entry("::198.51.100.0/120"),
            Ok(ListEntry::Prefix(net("198.51.100.0/24")))
        );
        // The whole mapped range is all of IPv4.
        assert_eq!(list_entry("::ffff:0.0.0.0/96"), Ok(ListEntry::Any4));
        assert_eq!(list_entry("::1"), Ok(ListEntry::Prefix(net("::1/128"))));
        assert!(list_entry("10.0.0.1/8")
            .unwrap_err()
            .contains("did you mean 10.0.0.0/8?"));
        assert!(list_entry("10.0.0.0/+8")
            .unwrap_err()
            .contains("prefix length `+8`"));
    }

    #[test]
    fn exact_nets_are_taken_as_typed_and_refuse_host_bits() {
        assert_eq!(exact_net("192.0.2.7").unwrap(), net("192.0.2.7/32"));
        assert_eq!(exact_net("2001:db8::/32").unwrap(), net("2001:db8::/32"));
        assert_eq!(exact_net("::ffff:192.0.2.7").unwrap(), net("192.0.2.7/32"));
        assert_eq!(
            exact_net("64:ff9b::192.0.2.0/120").unwrap(),
            net("192.0.2.0/24")
        );
        assert_eq!(exact_net("::1").unwrap(), net("::1/128"));
        assert!(exact_net("any").is_err());
        let e = exact_net("10.0.0.1/8").unwrap_err();
        assert_eq!(
            e.to_string(),
            "10.0.0.1/8: host bits set (did you mean 10.0.0.0/8?)"
        );
        let e = anyhow::Error::from(exact_net("banana").unwrap_err());
        assert_eq!(
            format!("{e:#}"),
            "\"banana\" is not an address or CIDR: invalid IP address syntax"
        );
    }
}

//! The per-packet rows' policies, built as values: [`CRAFTED`] with its limits turned off is
//! an edit of the parsed policy (not a text patch that a reformatted file would silently
//! defeat), the others are written out whole.
use sipguard_tests::policies::{edit, limit, service, table, CRAFTED};

/// The tests' policy (allow lists, a deny list in both families, default drop) with its rate
/// limits off (rate 0): these rows measure classification and lists; the `rate_*` rows
/// measure the limiter. SSH and ICMP without their flood limits either:
/// `tcp_syn_ssh_pass_v4` and `icmp_echo_pass_v4` measure the pass paths (a million packets
/// from one source would otherwise be a flood).
pub fn crafted_unlimited() -> anyhow::Result<String> {
    let mut missing = Ok(());
    let policy = edit(CRAFTED, |p| {
        let limits = [
            (
                "sip",
                table([
                    ("register", limit(0, 1)),
                    ("invite", limit(0, 1)),
                    ("other", limit(0, 1)),
                ]),
            ),
            (
                "ssh",
                table([("syn", limit(0, 1)), ("syn_budget", limit(0, 1))]),
            ),
            ("icmp", table([("echo", limit(0, 1))])),
        ];
        for (name, off) in limits {
            match service(p, name) {
                Ok(s) => {
                    s.insert("limits".into(), off);
                }
                Err(e) => missing = Err(e),
            }
        }
    })?;
    missing.map(|()| policy)
}

/// SIP with a REGISTER limit no run of a million repeats can reach (the bucket is read and
/// moved on every packet, but never empty), and SSH with the default SYN limits.
pub const RATE: &str = "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\nports = [5060]\n\
    allow = [\"any\"]\nsip = true\n[service.limits]\nregister = { rate = 1000000, burst = 1000000 }\n\
    [[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\"any\"]\n";

/// SIP open to all, unlimited, with scanner fingerprints read every `recheck` (`"0"`: on
/// every packet, the cost of one read; `"1s"`, the default: what a source's further packets
/// cost).
pub fn scanners(recheck: &str) -> anyhow::Result<String> {
    const BASE: &str = "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\n\
        allow = [\"any\"]\nsip = true\n[service.limits]\nregister = { rate = 0, burst = 1 }\n\
        other = { rate = 0, burst = 1 }\n[scanners]\n";
    edit(BASE, |p| {
        if let Some(s) = p.get_mut("scanners").and_then(toml::Value::as_table_mut) {
            s.insert("recheck".into(), recheck.into());
        }
    })
}

/// Auto-ban's second signal: a REGISTER with credentials is searched for its Authorization
/// line and counted on every packet. The source is trusted so that a million repeats measure
/// the search and the count, not a ban (its count starts over past 1000).
pub const CREDENTIALS: &str =
    "[global]\ntrusted = [\"198.51.100.20\"]\n[[service]]\nname = \"sip\"\n\
    protocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\nsip = true\n\
    [service.limits]\nregister = { rate = 0, burst = 1 }\n[scanners]\nenabled = false\n\
    [autoban]\nattempts = 1000\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    /// The text patch the bench applied before policies were values: the edit must give
    /// the same policy.
    fn crafted_as_patched() -> String {
        let unlimited = "sip = true\nlimits = { register = { rate = 0, burst = 1 }, \
                         invite = { rate = 0, burst = 1 }, other = { rate = 0, burst = 1 } }\n";
        CRAFTED.replacen("sip = true\n", unlimited, 1).replacen(
            "allow = [\"192.0.2.0/25\"]\n\n[[service]]\nname = \"icmp\"",
            "allow = [\"192.0.2.0/25\"]\nlimits = { syn = { rate = 0, burst = 1 }, syn_budget = { rate = 0, burst = 1 } }\n\n[[service]]\nname = \"icmp\"",
            1,
        ) + "limits = { echo = { rate = 0, burst = 1 } }\n"
    }

    #[test]
    fn the_unlimited_crafted_policy_is_the_one_the_text_patch_gave() {
        assert_eq!(
            parsed(&crafted_unlimited().unwrap()),
            parsed(&crafted_as_patched())
        );
    }

    #[test]
    fn the_scanner_policies_are_the_ones_the_format_string_gave() {
        for recheck in ["0", "1s"] {
            let formatted = format!(
                "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\n\
                 sip = true\n[service.limits]\nregister = {{ rate = 0, burst = 1 }}\n\
                 other = {{ rate = 0, burst = 1 }}\n[scanners]\nrecheck = \"{recheck}\"\n"
            );
            assert_eq!(parsed(&scanners(recheck).unwrap()), parsed(&formatted));
        }
    }

    #[test]
    fn every_bench_policy_is_a_valid_config() {
        for policy in [
            crafted_unlimited().unwrap(),
            RATE.to_owned(),
            scanners("0").unwrap(),
            scanners("1s").unwrap(),
            CREDENTIALS.to_owned(),
        ] {
            let config = sipguard::config::Config::from_str(&policy, "bench.toml");
            assert!(
                config.is_ok(),
                "{policy}: {:?}",
                config.err().map(|e| e.to_string())
            );
        }
    }
}

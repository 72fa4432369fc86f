//! `[global]`: its values, defaults and bounds, and the deny and trusted lists.
use super::*;

#[test]
fn global_values_parse() {
    let c = parse(
        "[global]\nmode = \"monitor\"\ndefault = \"pass\"\nreply_ports = \"32768-60999\"\n\
         deny = [\"192.0.2.0/24\", \"2001:db8:bad::/48\", \"198.51.100.7\"]\n",
    );
    assert_eq!(c.global.mode, Mode::Monitor);
    assert_eq!(c.global.default_action, DefaultAction::Pass);
    assert_eq!(c.global.reply_ports, ReplyPorts::Range(range(32768, 60999)));
    assert_eq!(
        c.global.deny,
        [
            net("192.0.2.0/24"),
            net("2001:db8:bad::/48"),
            net("198.51.100.7/32")
        ]
    );
}

#[test]
fn reply_ports_none() {
    let c = parse("[global]\nreply_ports = \"none\"\n");
    assert_eq!(c.global.reply_ports, ReplyPorts::None);
}

#[test]
fn bad_deny_entry() {
    let (line, _, field, value, _) =
        fail("[global]\ndeny = [\n  \"192.0.2.0/24\",\n  \"192.0.2.0/24x\",\n]\n");
    assert_eq!(line, 4);
    assert_eq!(field, "[global] field `deny`");
    assert_eq!(value.as_deref(), Some("\"192.0.2.0/24x\""));
}

#[test]
fn any_keyword_in_deny_is_an_error() {
    let (line, _, _, _, message) = fail("[global]\n\ndeny = [\"any\"]\n");
    assert_eq!(line, 3);
    assert!(message.contains("only valid in `allow`"), "{message}");
}

#[test]
fn deny_is_deduplicated_and_normalized() {
    let c = parse("[global]\ndeny = [\"192.0.2.1\", \"192.0.2.1/32\", \"::1\"]\n");
    assert_eq!(c.global.deny, [net("192.0.2.1/32"), net("::1/128")]);
}

#[test]
fn bad_global_mode() {
    let (line, column, field, value, _) = fail("[global]\nmode = \"Monitor\"\n");
    assert_eq!((line, column), (2, 8));
    assert_eq!(field, "[global] field `mode`");
    assert_eq!(value.as_deref(), Some("\"Monitor\""));
}

#[test]
fn bad_default() {
    let (line, _, field, _, message) = fail("[global]\nmode = \"enforce\"\ndefault = \"reject\"\n");
    assert_eq!(line, 3);
    assert_eq!(field, "[global] field `default`");
    assert!(message.contains("\"pass\" or \"drop\""), "{message}");
}

#[test]
fn bad_reply_ports() {
    for bad in ["\"automatic\"", "\"60999-32768\"", "\"0-100\""] {
        let (line, _, field, _, _) = fail(&format!("\n[global]\nreply_ports = {bad}\n"));
        assert_eq!(line, 3, "{bad}");
        assert_eq!(field, "[global] field `reply_ports`");
    }
}

#[test]
fn ipv6_rate_prefix_out_of_range_is_an_error() {
    for bad in ["0", "129"] {
        let e = err(&format!("[global]\nrate_ipv6_prefix = {bad}\n"));
        assert!(
            e.starts_with("t.toml:2:") && e.contains("rate_ipv6_prefix"),
            "{e}"
        );
    }
}

#[test]
fn trusting_any_is_an_error() {
    let e = err("[global]\ntrusted = [\"any\"]\n");
    assert!(e.contains("trusted"), "{e}");
}

#[test]
fn trusted_entries_parse_as_prefixes() {
    let c = Config::from_str(
        "[global]\ntrusted = [\"192.0.2.7\", \"2001:db8::/32\"]\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.global.trusted.len(), 2);
    assert_eq!(c.global.rate_ipv6_prefix, 64);
}

#[test]
fn tracked_sources_default_to_the_built_in_table_and_are_bounded() {
    assert_eq!(parse("").global.tracked_sources, 131072);
    assert_eq!(
        parse("[global]\ntracked_sources = 1048576\n")
            .global
            .tracked_sources,
        1 << 20
    );
    let (line, _, field, value, message) = fail("[global]\ntracked_sources = 100\n");
    assert_eq!(line, 2);
    assert_eq!(field, "[global] field `tracked_sources`");
    assert_eq!(value.as_deref(), Some("100"));
    assert!(message.contains("1024 to 8388608"), "{message}");
}

#[test]
fn drop_samples_default_to_one_a_second_and_are_bounded() {
    assert_eq!(parse("").global.drop_samples, 1);
    assert_eq!(parse("[global]\ndrop_samples = 0\n").global.drop_samples, 0);
    let (line, _, field, value, _) = fail("[global]\ndrop_samples = 5000\n");
    assert_eq!(line, 2);
    assert_eq!(field, "[global] field `drop_samples`");
    assert_eq!(value.as_deref(), Some("5000"));
}

#[test]
fn a_missing_or_empty_global_table_is_the_global_default() {
    let default = Global::default();
    assert_eq!(parse("").global, default);
    assert_eq!(parse("[global]\n").global, default);
    assert_eq!(default.rate_ipv6_prefix, 64);
    assert_eq!(default.drop_samples, DEFAULT_DROP_SAMPLES);
    assert_eq!(default.tracked_sources, DEFAULT_TRACKED_SOURCES);
}

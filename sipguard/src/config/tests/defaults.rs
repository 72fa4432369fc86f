//! The built-in default policy, the example file and an empty file.
use super::*;

const EXAMPLE: &str = include_str!("../../../examples/sipguard.toml");

const PRIVATE: [&str; 6] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
    "fe80::/10",
];

#[test]
fn builtin_default_parses_with_expected_global() {
    let c = Config::builtin_default();
    assert_eq!(c.source, DEFAULT_CONFIG_NAME);
    assert_eq!(c.global.mode, Mode::Enforce);
    assert_eq!(c.global.default_action, DefaultAction::Drop);
    assert_eq!(c.global.reply_ports, ReplyPorts::Auto);
    assert!(c.global.deny.is_empty());
}

#[test]
fn builtin_default_has_the_stock_pbx_services() {
    use Protocol::*;
    let c = Config::builtin_default();
    let names: Vec<&str> = c.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["sip", "sip-tls", "rtp", "iax", "ssh", "web", "ami", "dhcp", "icmp"]
    );
    let get = |n: &str| c.services.iter().find(|s| s.name == n).unwrap();
    let private: Vec<IpNet> = PRIVATE.iter().map(|s| net(s)).collect();
    let expect = [
        ("sip", vec![Udp, Tcp], vec![range(5060, 5060)], true),
        ("sip-tls", vec![Tcp], vec![range(5061, 5061)], true),
        ("rtp", vec![Udp], vec![range(10000, 20000)], true),
        ("iax", vec![Udp], vec![range(4569, 4569)], true),
        ("ssh", vec![Tcp], vec![range(22, 22)], false),
        (
            "web",
            vec![Tcp],
            vec![range(80, 80), range(443, 443)],
            false,
        ),
        ("ami", vec![Tcp], vec![range(5038, 5038)], false),
        (
            "dhcp",
            vec![Udp],
            vec![range(68, 68), range(546, 546)],
            true,
        ),
        ("icmp", vec![Icmp], vec![], true),
    ];
    for (name, protocols, ports, any) in expect {
        let s = get(name);
        assert_eq!(s.protocols, protocols, "{name}");
        assert_eq!(s.ports, ports, "{name}");
        assert_eq!((s.allow_any_v4, s.allow_any_v6), (any, any), "{name}");
        if any {
            assert!(s.allow.is_empty(), "{name}");
        } else {
            assert_eq!(s.allow, private, "{name}");
        }
        assert_eq!(s.mode, None, "{name}");
    }
}

#[test]
fn example_file_parses() {
    let c = parse(EXAMPLE);
    assert!(!c.services.is_empty());
}

#[test]
fn empty_file_is_all_defaults_and_no_services() {
    let c = parse("");
    assert_eq!(c.global.mode, Mode::Enforce);
    assert_eq!(c.global.default_action, DefaultAction::Drop);
    assert_eq!(c.global.reply_ports, ReplyPorts::Auto);
    assert!(c.global.deny.is_empty());
    assert!(c.services.is_empty());
    assert_eq!(c.source, "test.toml");
}

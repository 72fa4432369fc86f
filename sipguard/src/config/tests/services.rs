//! `[[service]]` on its own: protocols, names, mode and the SIP flag.
use super::*;

fn protocol_error(protocol: &str) -> (usize, usize, Option<String>, String) {
    let (line, column, field, value, message) = fail(&format!(
        "[[service]]\nname = \"x\"\nprotocol = {protocol}\nports = [1]\nallow = []\n"
    ));
    assert_eq!(field, "service \"x\" field `protocol`");
    (line, column, value, message)
}

#[test]
fn icmp_mixed_with_udp() {
    let (line, column, value, message) = protocol_error("[\"udp\", \"icmp\"]");
    assert_eq!((line, column), (3, 20));
    assert_eq!(value.as_deref(), Some("\"icmp\""));
    assert!(message.contains("must be alone"), "{message}");
}

#[test]
fn duplicate_protocol() {
    let (line, column, _, message) = protocol_error("[\"tcp\", \"udp\", \"tcp\"]");
    assert_eq!((line, column), (3, 27));
    assert!(message.contains("duplicate protocol \"tcp\""), "{message}");
}

#[test]
fn unknown_protocol() {
    let (line, _, value, message) = protocol_error("\"sctp\"");
    assert_eq!((line, value.as_deref()), (3, Some("\"sctp\"")));
    assert!(message.contains("unknown protocol"), "{message}");
}

#[test]
fn empty_protocol_list() {
    let (line, _, _, message) = protocol_error("[]");
    assert_eq!(line, 3);
    assert!(message.contains("must not be empty"), "{message}");
}

#[test]
fn protocols_are_sorted() {
    let c = parse(
        "[[service]]\nname = \"x\"\nprotocol = [\"tcp\", \"udp\"]\nports = [1]\nallow = []\n",
    );
    assert_eq!(c.services[0].protocols, [Protocol::Udp, Protocol::Tcp]);
    let c = parse("[[service]]\nname = \"x\"\nprotocol = [\"icmp\"]\nallow = []\n");
    assert_eq!(c.services[0].protocols, [Protocol::Icmp]);
}

#[test]
fn duplicate_service_name() {
    let (line, _, field, _, message) = fail(
        "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = []\n\n\
         [[service]]\nname = \"sip\"\nprotocol = \"tcp\"\nports = [5060]\nallow = []\n",
    );
    assert_eq!(line, 8);
    assert_eq!(field, "service \"sip\" field `name`");
    assert!(message.contains("first defined on line 2"), "{message}");
}

#[test]
fn invalid_service_name() {
    for bad in [
        "",
        "Sip",
        "-sip",
        "sip.tls",
        "a23456789012345678901234",
        "sïp",
    ] {
        let (line, _, field, _, message) = fail(&format!(
            "[[service]]\n\nname = \"{bad}\"\nprotocol = \"icmp\"\nallow = []\n"
        ));
        assert_eq!(line, 3, "{bad}");
        assert_eq!(field, format!("service {bad:?} field `name`"));
        assert!(message.contains("invalid service name"), "{message}");
    }
    parse("[[service]]\nname = \"0a_b-c23456789012345678\"\nprotocol = \"icmp\"\nallow = []\n");
}

#[test]
fn bad_service_mode() {
    let (line, _, field, _, _) =
        fail("[[service]]\nname = \"x\"\nprotocol = \"icmp\"\nallow = []\nmode = \"off\"\n");
    assert_eq!(line, 5);
    assert_eq!(field, "service \"x\" field `mode`");
}

#[test]
fn effective_mode_follows_global_unless_overridden() {
    let c = parse(
        "[[service]]\nname = \"a\"\nprotocol = \"icmp\"\nallow = []\n\
         [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = [1]\nallow = []\nmode = \"monitor\"\n\
         [[service]]\nname = \"c\"\nprotocol = \"tcp\"\nports = [2]\nallow = []\nmode = \"enforce\"\n",
    );
    let [a, b, c] = &c.services[..] else { panic!() };
    assert_eq!(a.mode, None);
    assert_eq!(a.effective_mode(Mode::Enforce), Mode::Enforce);
    assert_eq!(a.effective_mode(Mode::Monitor), Mode::Monitor);
    assert_eq!(b.effective_mode(Mode::Enforce), Mode::Monitor);
    assert_eq!(c.effective_mode(Mode::Monitor), Mode::Enforce);
}

#[test]
fn sip_flag_marks_a_sip_service() {
    let c = Config::from_str(
        "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\nports = [5060]\nallow = [\"any\"]\nsip = true\n",
        "t.toml",
    )
    .unwrap();
    assert!(c.services[0].sip);
    assert!(Config::builtin_default()
        .services
        .iter()
        .any(|s| s.name == "sip" && s.sip));
}

#[test]
fn sip_flag_on_a_tcp_only_service_is_allowed() {
    let c = Config::from_str(
        "[[service]]\nname = \"tls\"\nprotocol = \"tcp\"\nports = [5061]\nallow = [\"any\"]\nsip = true\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        c.services[0].limits.map(|l| l.syn),
        Some(SipLimits::default().syn)
    );
}

#[test]
fn sip_flag_on_an_icmp_service_is_an_error_at_its_line() {
    let e = Config::from_str(
        "[[service]]\nname = \"ping\"\nprotocol = \"icmp\"\nallow = [\"any\"]\nsip = true\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("t.toml:5:"), "{e}");
    assert!(e.contains("sip"), "{e}");
}

//! `ports`: the forms a port or range takes, and the errors for bad ones.
use super::*;

fn port_error(ports: &str) -> (usize, Option<String>, String) {
    let (line, _, field, value, message) = fail(&format!(
        "[[service]]\nname = \"x\"\nprotocol = \"udp\"\nports = [\n  5060,\n  {ports},\n]\nallow = []\n"
    ));
    assert_eq!(field, "service \"x\" field `ports`");
    (line, value, message)
}

#[test]
fn port_zero() {
    let (line, value, message) = port_error("0");
    assert_eq!((line, value.as_deref()), (6, Some("0")));
    assert!(message.contains("port 0"), "{message}");
    let (line, _, _) = port_error("\"0-10\"");
    assert_eq!(line, 6);
}

#[test]
fn port_above_65535() {
    let (line, value, message) = port_error("65536");
    assert_eq!((line, value.as_deref()), (6, Some("65536")));
    assert!(message.contains("out of range"), "{message}");
    let (line, _, message) = port_error("\"1-70000\"");
    assert_eq!(line, 6);
    assert!(message.contains("70000"), "{message}");
    let (_, _, message) = port_error("-1");
    assert!(message.contains("out of range"), "{message}");
}

#[test]
fn malformed_range() {
    for bad in [
        "\"10000-\"",
        "\"abc\"",
        "\"1-2-3\"",
        "\"-5\"",
        "\"\"",
        "\"+5\"",
    ] {
        let (line, _, message) = port_error(bad);
        assert_eq!(line, 6, "{bad}");
        assert!(
            message.starts_with("malformed port range"),
            "{bad}: {message}"
        );
    }
}

#[test]
fn reversed_range() {
    let (line, value, message) = port_error("\"20000-10000\"");
    assert_eq!((line, value.as_deref()), (6, Some("\"20000-10000\"")));
    assert!(message.contains("reversed"), "{message}");
}

#[test]
fn port_forms_and_ranges() {
    let c = parse(
        "[[service]]\nname = \"a\"\nprotocol = \"udp\"\nports = [5060, \"5061\", \"10000-20000\", \"7-7\"]\nallow = []\n\
         [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = 22\nallow = []\n\
         [[service]]\nname = \"c\"\nprotocol = \"tcp\"\nports = \"80-81\"\nallow = []\n",
    );
    assert_eq!(
        c.services[0].ports,
        [
            range(5060, 5060),
            range(5061, 5061),
            range(10000, 20000),
            range(7, 7)
        ]
    );
    assert_eq!(c.services[1].ports, [range(22, 22)]);
    assert_eq!(c.services[2].ports, [range(80, 81)]);
    assert!(range(10000, 20000).contains(15000));
    assert_eq!(range(10000, 20000).to_string(), "10000-20000");
    assert_eq!(range(22, 22).to_string(), "22");
}

#[test]
fn ports_on_icmp_service() {
    let (line, _, field, value, message) =
        fail("[[service]]\nname = \"ping\"\nprotocol = \"icmp\"\nports = [1]\nallow = [\"any\"]\n");
    assert_eq!(line, 4);
    assert_eq!(field, "service \"ping\" field `ports`");
    assert_eq!(value.as_deref(), Some("[1]"));
    assert!(message.contains("no ports"), "{message}");
}

#[test]
fn missing_ports_on_udp_service() {
    let (line, _, field, value, _) =
        fail("\n[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nallow = [\"any\"]\n");
    assert_eq!(line, 2);
    assert_eq!(field, "service \"sip\" field `ports`");
    assert_eq!(value, None);
}

#[test]
fn empty_ports_on_tcp_service() {
    let (line, _, field, value, message) =
        fail("[[service]]\nname = \"sip\"\nprotocol = \"tcp\"\nports = []\nallow = [\"any\"]\n");
    assert_eq!(line, 4);
    assert_eq!(field, "service \"sip\" field `ports`");
    assert_eq!(value.as_deref(), Some("[]"));
    assert!(message.contains("must not be empty"), "{message}");
}

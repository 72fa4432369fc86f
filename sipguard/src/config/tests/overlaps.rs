//! Ports and icmp shared by two services.
use super::*;

#[test]
fn overlapping_port_and_range() {
    let (line, _, field, value, message) = fail(
        "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\nports = [5060]\nallow = []\n\n\
         [[service]]\nname = \"other\"\nprotocol = \"udp\"\nports = [\n  80,\n  \"5000-5100\",\n]\nallow = []\n",
    );
    assert_eq!(line, 12);
    assert_eq!(field, "service \"other\" field `ports`");
    assert_eq!(value.as_deref(), Some("\"5000-5100\""));
    assert!(
        message.starts_with("udp port 5060 is also served by service \"sip\" (line 2)"),
        "{message}"
    );
}

#[test]
fn overlap_reported_at_later_service_when_earlier_range_starts_later() {
    let (line, _, field, _, message) = fail(
        "[[service]]\nname = \"a\"\nprotocol = \"tcp\"\nports = [\"100-200\"]\nallow = []\n\
         [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = [\"50-150\"]\nallow = []\n",
    );
    assert_eq!(line, 9);
    assert_eq!(field, "service \"b\" field `ports`");
    assert!(
        message.starts_with("tcp port 100 is also served by service \"a\""),
        "{message}"
    );
}

#[test]
fn overlap_hidden_behind_same_service_range() {
    // "a" reaches furthest, but "b" still overlaps "c".
    let (_, _, field, _, message) = fail(
        "[[service]]\nname = \"a\"\nprotocol = \"udp\"\nports = [\"1-10\", \"5-100\"]\nallow = []\n\
         [[service]]\nname = \"b\"\nprotocol = \"udp\"\nports = [\"200-300\"]\nallow = []\n\
         [[service]]\nname = \"c\"\nprotocol = \"udp\"\nports = [300]\nallow = []\n",
    );
    assert_eq!(field, "service \"c\" field `ports`");
    assert!(
        message.starts_with("udp port 300 is also served by service \"b\""),
        "{message}"
    );
}

#[test]
fn same_port_different_protocols_is_fine() {
    let c = parse(
        "[[service]]\nname = \"a\"\nprotocol = \"udp\"\nports = [5060, \"5060-5061\"]\nallow = []\n\
         [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = [5060]\nallow = []\n\
         [[service]]\nname = \"c\"\nprotocol = \"udp\"\nports = [\"5062-6000\", 1]\nallow = []\n",
    );
    assert_eq!(c.services.len(), 3);
}

#[test]
fn two_icmp_services_overlap() {
    let (line, _, field, _, message) = fail(
        "[[service]]\nname = \"ping\"\nprotocol = \"icmp\"\nallow = []\n\
         [[service]]\nname = \"ping2\"\nprotocol = \"icmp\"\nallow = []\n",
    );
    assert_eq!(line, 7);
    assert_eq!(field, "service \"ping2\" field `protocol`");
    assert!(message.contains("service \"ping\" (line 2)"), "{message}");
}

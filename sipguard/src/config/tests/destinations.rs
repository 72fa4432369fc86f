//! Destinations: `[global] protect` and a service's `to`, and services sharing a port by
//! destination.
use super::*;

const SSH_BOX: &str = "[[service]]\nname = \"ssh-box\"\nprotocol = \"tcp\"\nports = [22]\n\
                       allow = [\"10.1.0.0/16\"]\nto = [\"203.0.113.1\"]\n";

#[test]
fn protect_and_to_are_folded_and_deduplicated() {
    let c = parse(&format!(
        "[global]\nprotect = [\"203.0.113.0/24\", \"::ffff:198.51.100.2\", \"2001:db8:5::/64\", \
         \"203.0.113.0/24\"]\n\n{SSH_BOX}\n\
         [[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\n\
         to = [\"203.0.113.10\", \"::ffff:203.0.113.10\", \"2001:db8:5::10\"]\n"
    ));
    assert_eq!(
        c.global.protect,
        [
            net("203.0.113.0/24"),
            net("198.51.100.2/32"),
            net("2001:db8:5::/64")
        ]
    );
    assert_eq!(c.services[0].to, [net("203.0.113.1/32")]);
    assert_eq!(
        c.services[1].to,
        [net("203.0.113.10/32"), net("2001:db8:5::10/128")]
    );
}

#[test]
fn without_to_a_service_covers_every_destination_and_protect_defaults_to_none() {
    let c = parse("[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = []\n");
    assert!(c.services[0].to.is_empty());
    assert!(c.global.protect.is_empty());
}

#[test]
fn services_on_one_port_with_disjoint_destinations_are_fine() {
    let c = parse(&format!(
        "{SSH_BOX}\n[[service]]\nname = \"ssh-pbx\"\nprotocol = \"tcp\"\nports = [\"20-30\"]\n\
         allow = [\"10.2.0.0/16\"]\nto = [\"203.0.113.10\", \"2001:db8:5::/64\"]\n\n\
         [[service]]\nname = \"ping-box\"\nprotocol = \"icmp\"\nallow = []\nto = [\"203.0.113.1\"]\n\
         [[service]]\nname = \"ping-pbx\"\nprotocol = \"icmp\"\nallow = []\nto = [\"203.0.113.10\"]\n"
    ));
    assert_eq!(c.services.len(), 4);
}

#[test]
fn services_on_one_port_with_overlapping_destinations_are_an_error() {
    let (line, _, field, value, message) = fail(&format!(
        "{SSH_BOX}\n[[service]]\nname = \"ssh-pbx\"\nprotocol = \"tcp\"\nports = [22]\n\
         allow = [\"10.2.0.0/16\"]\nto = [\"203.0.113.0/24\"]\n"
    ));
    assert_eq!(line, 11);
    assert_eq!(field, "service \"ssh-pbx\" field `ports`");
    assert_eq!(value.as_deref(), Some("22"));
    assert_eq!(
        message,
        "tcp port 22 is also served by service \"ssh-box\" (line 2) (to 203.0.113.0/24, and \
         203.0.113.1/32 there): a protocol, port and destination can belong to one service only"
    );
}

#[test]
fn a_service_without_to_on_a_port_another_scopes_is_an_error() {
    let (_, _, field, _, message) = fail(&format!(
        "{SSH_BOX}\n[[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = []\n"
    ));
    assert_eq!(field, "service \"ssh\" field `ports`");
    assert!(
        message.starts_with("tcp port 22 is also served by service \"ssh-box\" (line 2): "),
        "{message}"
    );
}

#[test]
fn icmp_services_with_overlapping_destinations_are_an_error() {
    let (_, _, field, _, message) = fail(
        "[[service]]\nname = \"a\"\nprotocol = \"icmp\"\nallow = []\nto = [\"2001:db8::/32\"]\n\
         [[service]]\nname = \"b\"\nprotocol = \"icmp\"\nallow = []\nto = [\"2001:db8:5::1\"]\n",
    );
    assert_eq!(field, "service \"b\" field `protocol`");
    assert!(
        message.starts_with(
            "icmp is also served by service \"a\" (line 2) (to 2001:db8:5::1/128, and \
             2001:db8::/32 there)"
        ),
        "{message}"
    );
}

#[test]
fn any_in_to_or_protect_is_an_error() {
    let (line, _, field, value, message) = fail(
        "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = []\n\
         to = [\"203.0.113.10\", \"any\"]\n",
    );
    assert_eq!((line, field.as_str()), (6, "service \"sip\" field `to`"));
    assert_eq!(value.as_deref(), Some("\"any\""));
    assert!(
        message.contains("leave `to` out to cover every destination"),
        "{message}"
    );
    let (_, _, field, _, message) = fail("[global]\nprotect = [\"any6\"]\n");
    assert_eq!(field, "[global] field `protect`");
    assert!(message.contains("leave `protect` out"), "{message}");
}

#[test]
fn an_empty_to_or_a_bad_address_is_an_error() {
    let (_, _, field, _, message) = fail(
        "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = []\nto = []\n",
    );
    assert_eq!(field, "service \"sip\" field `to`");
    assert!(
        message.starts_with("an empty `to` would match no destination"),
        "{message}"
    );
    let (line, _, field, value, _) = fail("[global]\nprotect = [\n  \"203.0.113.300\",\n]\n");
    assert_eq!((line, field.as_str()), (3, "[global] field `protect`"));
    assert_eq!(value.as_deref(), Some("\"203.0.113.300\""));
}

#[test]
fn a_destination_outside_protect_is_an_error() {
    let (line, _, field, value, message) = fail(&format!(
        "[global]\nprotect = [\"203.0.113.10\"]\n\n{SSH_BOX}"
    ));
    assert_eq!(line, 9);
    assert_eq!(field, "service \"ssh-box\" field `to`");
    assert_eq!(value.as_deref(), Some("\"203.0.113.1\""));
    assert!(
        message.starts_with("203.0.113.1/32 is outside [global] protect"),
        "{message}"
    );
}

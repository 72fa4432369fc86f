//! `[service.limits]`: the defaults of SIP services and partial tables.
use super::*;

const SIP_SERVICE: &str =
    "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\n";

#[test]
fn sip_service_gets_default_limits_and_partial_limits_keep_the_rest() {
    let c = Config::from_str(
        &format!("{SIP_SERVICE}sip = true\n[service.limits]\ninvite = {{ rate = 2, burst = 4 }}\n"),
        "t.toml",
    )
    .unwrap();
    let l = c.services[0].limits.expect("limits");
    assert_eq!(l.invite, Limit { rate: 2, burst: 4 });
    assert_eq!(l.register, SipLimits::default().register);
}

#[test]
fn limits_without_sip_are_an_error() {
    let e = err(&format!(
        "{SIP_SERVICE}[service.limits]\nregister = {{ rate = 1, burst = 1 }}\n"
    ));
    assert!(e.contains("sip = true"), "{e}");
}

#[test]
fn zero_burst_is_an_error_at_its_line() {
    let e = err(&format!(
        "{SIP_SERVICE}sip = true\n[service.limits]\nregister = {{ rate = 5, burst = 0 }}\n"
    ));
    assert!(e.starts_with("t.toml:8:"), "{e}");
    assert!(e.contains("limits.register") && e.contains("burst"), "{e}");
}

#[test]
fn negative_rate_is_an_error() {
    let e = err(&format!(
        "{SIP_SERVICE}sip = true\n[service.limits]\nother = {{ rate = -1, burst = 5 }}\n"
    ));
    assert!(e.contains("limits.other") && e.contains("rate"), "{e}");
}

#[test]
fn unknown_limit_class_is_an_error() {
    let e = err(&format!(
        "{SIP_SERVICE}sip = true\n[service.limits]\nbye = {{ rate = 1, burst = 1 }}\n"
    ));
    assert!(e.contains("bye"), "{e}");
}

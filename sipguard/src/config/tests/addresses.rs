//! Allow entries: what a prefix, an address or an `any` keyword means, and the messages for bad ones.
use super::*;

fn allow_error(entry: &str) -> (usize, String, Option<String>, String) {
    let (line, _, field, value, message) = fail(&format!(
        "[[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\n  \"10.0.0.0/8\",\n  \"{entry}\",\n]\n"
    ));
    (line, field, value, message)
}

#[test]
fn bad_address_octet() {
    let (line, field, value, message) = allow_error("10.0.0.300/8");
    assert_eq!(line, 7);
    assert_eq!(field, "service \"ssh\" field `allow`");
    assert_eq!(value.as_deref(), Some("\"10.0.0.300/8\""));
    assert!(message.starts_with("invalid CIDR"), "{message}");
}

#[test]
fn bad_prefix_length() {
    let (line, _, _, message) = allow_error("10.0.0.0/33");
    assert_eq!(line, 7);
    assert!(message.contains("prefix length `33`"), "{message}");
    let (_, _, _, message) = allow_error("2001:db8::/129");
    assert!(message.contains("0 to 128"), "{message}");
}

#[test]
fn not_an_address() {
    let (line, _, value, message) = allow_error("banana");
    assert_eq!(line, 7);
    assert_eq!(value.as_deref(), Some("\"banana\""));
    assert!(message.contains("not an IP address"), "{message}");
}

#[test]
fn host_bits_set_suggests_network() {
    let (line, _, _, message) = allow_error("10.0.0.1/8");
    assert_eq!(line, 7);
    assert!(message.contains("did you mean 10.0.0.0/8?"), "{message}");
    let (_, _, _, message) = allow_error("2001:db8::1/32");
    assert!(message.contains("did you mean 2001:db8::/32?"), "{message}");
}

fn allow(entries: &str) -> Service {
    parse(&format!(
        "[[service]]\nname = \"x\"\nprotocol = \"tcp\"\nports = [1]\nallow = [{entries}]\n"
    ))
    .services
    .remove(0)
}

#[test]
fn any_allows_both_families() {
    let s = allow("\"any\"");
    assert!(s.allow_any_v4 && s.allow_any_v6 && s.allow.is_empty());
}

#[test]
fn any4_and_any6_are_separate() {
    let s = allow("\"any4\"");
    assert!(s.allow_any_v4 && !s.allow_any_v6);
    let s = allow("\"any6\"");
    assert!(!s.allow_any_v4 && s.allow_any_v6);
}

#[test]
fn zero_prefixes_mean_any() {
    let s = allow("\"0.0.0.0/0\"");
    assert!(s.allow_any_v4 && !s.allow_any_v6 && s.allow.is_empty());
    let s = allow("\"::/0\"");
    assert!(!s.allow_any_v4 && s.allow_any_v6 && s.allow.is_empty());
}

#[test]
fn empty_allow_is_nobody() {
    let s = allow("");
    assert!(!s.allow_any_v4 && !s.allow_any_v6 && s.allow.is_empty());
}

#[test]
fn bare_addresses_become_host_prefixes() {
    let s = allow("\"192.0.2.7\", \"2001:db8::7\"");
    assert_eq!(s.allow, [net("192.0.2.7/32"), net("2001:db8::7/128")]);
}

#[test]
fn allow_is_deduplicated_in_order() {
    let s = allow("\"10.0.0.0/8\", \"192.0.2.7\", \"10.0.0.0/8\", \"192.0.2.7/32\"");
    assert_eq!(s.allow, [net("10.0.0.0/8"), net("192.0.2.7/32")]);
}

#[test]
fn ipv4_mapped_ipv6_entries_mean_their_ipv4_prefix() {
    let c = Config::from_str(
        "[[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\"::ffff:192.0.2.7\", \"::ffff:198.51.100.0/120\"]\n",
        "t.toml",
    )
    .unwrap();
    let want: Vec<IpNet> = vec![
        "192.0.2.7/32".parse().unwrap(),
        "198.51.100.0/24".parse().unwrap(),
    ];
    assert_eq!(c.services[0].allow, want);
}

//! Policies that would not fit the maps: too many services, allow or deny entries.
use super::*;

#[test]
fn too_many_services() {
    let svc = |i: usize| {
        format!(
            "[[service]]\nname = \"s{i}\"\nprotocol = \"tcp\"\nports = [{}]\nallow = []\n",
            i + 1
        )
    };
    let ok: String = (0..31).map(svc).collect();
    assert_eq!(parse(&ok).services.len(), 31);
    let (line, _, field, _, message) = fail(&format!("{ok}{}", svc(31)));
    assert_eq!(line, 31 * 5 + 1);
    assert_eq!(field, "service \"s31\"");
    assert!(message.contains("too many services"), "{message}");
}

#[test]
fn too_many_allow_entries() {
    let list = |n: usize, base: u32| {
        (0..n)
            .map(|i| format!("\"{}\"", std::net::Ipv4Addr::from(base + i as u32)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = |a: usize, b: usize| {
        format!(
            "[[service]]\nname = \"a\"\nprotocol = \"tcp\"\nports = [1]\nallow = [{}]\n\
             [[service]]\nname = \"b\"\nprotocol = \"tcp\"\nports = [2]\n\nallow = [{}]\n",
            list(a, 0x0a00_0000),
            list(b, 0x0b00_0000)
        )
    };
    parse(&text(20000, 12768));
    let (line, _, field, _, message) = fail(&text(20000, 12769));
    assert_eq!(line, 11);
    assert_eq!(field, "service \"b\" field `allow`");
    assert!(message.contains("too many allow entries"), "{message}");
}

#[test]
fn too_many_deny_entries() {
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("\"{}\"", std::net::Ipv4Addr::from(0x0a00_0000 + i as u32)))
            .collect::<Vec<_>>()
            .join(",\n")
    };
    parse(&format!("[global]\ndeny = [\n{}\n]\n", list(131072)));
    let (line, _, _, value, message) = fail(&format!("[global]\ndeny = [\n{}\n]\n", list(131073)));
    assert_eq!(line, 3 + 131072);
    assert_eq!(value.as_deref(), Some("\"10.2.0.0\""));
    assert!(message.contains("too many deny entries"), "{message}");
}

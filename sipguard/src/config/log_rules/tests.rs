//! The rules apart from the sets: user patterns, the address parser, how rules combine.
use super::*;

fn source(a: &str) -> Blame {
    Blame::Source(a.parse::<IpAddr>().unwrap())
}

#[test]
fn builtin_sets_compile() {
    for set in SETS {
        assert!(!builtin(set).unwrap().is_empty(), "{set}");
    }
    assert!(builtin("postfix").is_none());
}

#[test]
fn a_pattern_without_host_is_refused() {
    assert!(compile("Failed password").is_err());
    assert!(compile("from <HOST>").is_ok());
}

#[test]
fn an_anchored_user_pattern_blames_its_host() {
    let r = vec![compile(r"^\S+ myapp\[\d+\]: bad login from <HOST>$").unwrap()];
    assert_eq!(
        blame("pbx myapp[12]: bad login from 203.0.113.9", &r),
        source("203.0.113.9")
    );
    assert_eq!(
        blame("pbx myapp[12]: bad login from 203.0.113.9 x", &r),
        Blame::NoMatch
    );
}

#[test]
fn an_unanchored_user_pattern_matching_twice_blames_nobody() {
    let r = vec![compile("bad login from <HOST>").unwrap()];
    assert_eq!(
        blame("bad login from 198.51.100.7 bad login from 203.0.113.9", &r),
        Blame::Ambiguous
    );
    assert_eq!(
        blame("x bad login from 203.0.113.9", &r),
        source("203.0.113.9")
    );
}

#[test]
fn a_user_pattern_with_an_impossible_address_is_unparsable() {
    let r = vec![compile("bad login from <HOST>").unwrap()];
    assert_eq!(blame("bad login from 999.1.1.1", &r), Blame::Unparsable);
}

#[test]
fn an_unanchored_user_pattern_gets_a_warning() {
    for p in ["bad <HOST>", "^bad <HOST>", "bad <HOST>$", r"^bad <HOST>\$"] {
        assert!(compile(p).unwrap().warning().is_some(), "{p}");
    }
    for p in ["^bad <HOST>$", "(?i)^bad <HOST>$", r"\Abad <HOST>\z"] {
        assert!(compile(p).unwrap().warning().is_none(), "{p}");
    }
    for rule in builtin("asterisk").unwrap() {
        assert!(rule.warning().is_none());
    }
}

#[test]
fn two_rules_naming_two_addresses_blame_nobody() {
    let r = vec![
        compile("^a <HOST> .*$").unwrap(),
        compile(r"^.* b <HOST>$").unwrap(),
    ];
    assert_eq!(blame("a 198.51.100.7 b 203.0.113.9", &r), Blame::Ambiguous);
}

#[test]
fn a_carriage_return_at_the_end_is_not_part_of_the_line() {
    let r = builtin("sshd").unwrap();
    assert_eq!(
        blame(
            "Nov 21 10:00:00 pbx sshd[1]: Invalid user x from 203.0.113.9 port 1\r",
            &r
        ),
        source("203.0.113.9")
    );
}

#[test]
fn addresses_parse_in_every_form_programs_write() {
    for (text, addr) in [
        ("203.0.113.9", "203.0.113.9"),
        ("203.0.113.9:5060", "203.0.113.9"),
        ("[203.0.113.9]:5060", "203.0.113.9"),
        ("2001:db8::9", "2001:db8::9"),
        ("[2001:db8::9]", "2001:db8::9"),
        ("[2001:db8::9]:5060", "2001:db8::9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("[::ffff:203.0.113.9]:5060", "203.0.113.9"),
    ] {
        assert_eq!(parse_addr(text), Some(addr.parse().unwrap()), "{text}");
    }
    for text in [
        "",
        "203.0.113",
        "203.0.113.9:",
        "203.0.113.9:99999",
        "[2001:db8::9",
        "[2001:db8::9]x",
        "[2001:db8::9]:",
        ":::",
    ] {
        assert_eq!(parse_addr(text), None, "{text}");
    }
}

#[test]
fn blame_is_total_on_odd_input() {
    let rules: Vec<Rule> = SETS.iter().flat_map(|s| builtin(s).unwrap()).collect();
    for line in [
        "",
        "\u{0}",
        "[",
        "SecurityEvent=\"",
        "[x] SECURITY[1] res_security_log.c: SecurityEvent=\"",
        "[x] SECURITY[1] res_security_log.c: SecurityEvent=\"InvalidPassword\",=\"\"",
        "[x] NOTICE[1] chan_sip.c: Registration from '' failed for '' - Wrong password",
        "\u{feff}\u{10ffff}",
    ] {
        let _ = blame(line, &rules);
    }
    let long = "a".repeat(1 << 16);
    assert_eq!(blame(&long, &rules), Blame::NoMatch);
}

//! The `[[logwatch]]` matchers: each built-in pattern set compiled once, asked which address
//! a fuzzed log line blames ([`blame`], what the log follower calls per line); and the line
//! itself compiled as an admin's pattern ([`compile`], what `sipguard check` calls) when it
//! names the address.
//!
//! Never a panic; an IPv4 address blamed is written in the line as it is printed (the parser
//! takes no other spelling); a pattern that compiles captures the address; a blamed address
//! is canonical (never an IPv4-mapped IPv6 address).
use std::{net::IpAddr, sync::OnceLock};

use crate::config::log_rules::{blame, builtin, compile, Blame, Rule, SETS};

/// Longest line compiled as a pattern: a policy's patterns are short.
const PATTERN_MAX: usize = 256;

fn sets() -> &'static [Vec<Rule>] {
    static SETS_COMPILED: OnceLock<Vec<Vec<Rule>>> = OnceLock::new();
    SETS_COMPILED.get_or_init(|| {
        SETS.iter()
            .map(|name| builtin(name).unwrap_or_else(|| panic!("no built-in set {name}")))
            .collect()
    })
}

pub fn run(data: &[u8]) {
    // The follower reads lines as text (lossily: a log may hold any bytes).
    let line = String::from_utf8_lossy(data);
    let line = line.as_ref();
    for rules in sets() {
        check_blamed(line, blame(line, rules));
    }
    // Compiling is the slow part: only lines that name the address are tried as patterns
    // (any other is refused after the same compile).
    let names_host = ["<HOST>", "(?P<host>", "(?<host>"]
        .iter()
        .any(|h| line.contains(h));
    if line.len() <= PATTERN_MAX && names_host {
        match compile(line) {
            Ok(rule) => check_blamed(line, blame(line, std::slice::from_ref(&rule))),
            Err(message) => assert!(!message.trim().is_empty(), "an error without a message"),
        }
    }
}

fn check_blamed(line: &str, blamed: Blame) {
    let Blame::Source(addr) = blamed else {
        return;
    };
    assert_eq!(
        addr,
        addr.to_canonical(),
        "{addr} blamed uncanonical by {line:?}"
    );
    if let IpAddr::V4(v4) = addr {
        assert!(line.contains(&v4.to_string()), "{v4} blamed by {line:?}");
    }
}

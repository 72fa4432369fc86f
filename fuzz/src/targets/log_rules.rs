//! The `[[logwatch]]` matchers: each built-in pattern set compiled once, asked which address
//! a fuzzed log line blames ([`host_of`], what the log follower calls per line); and the line
//! itself compiled as an admin's pattern ([`compile`], what `sipguard check` calls) when it
//! names the address.
//!
//! Never a panic; an IPv4 address blamed is written in the line as it is printed (the parser
//! takes no other spelling); a pattern that compiles captures the address.
use std::{net::IpAddr, sync::OnceLock};

use regex::Regex;

use crate::config::log_rules::{builtin, compile, host_of};

/// The built-in sets by name.
const SETS: &[&str] = &["asterisk", "kamailio", "sshd"];

/// Longest line compiled as a pattern: a policy's patterns are short.
const PATTERN_MAX: usize = 256;

fn sets() -> &'static [Vec<Regex>] {
    static SETS_COMPILED: OnceLock<Vec<Vec<Regex>>> = OnceLock::new();
    SETS_COMPILED.get_or_init(|| {
        SETS.iter()
            .map(|name| {
                builtin(name)
                    .unwrap_or_else(|| panic!("no built-in set {name}"))
                    .iter()
                    .map(|p| compile(p).unwrap_or_else(|e| panic!("{name}: {p}: {e}")))
                    .collect()
            })
            .collect()
    })
}

pub fn run(data: &[u8]) {
    // The follower reads lines as text (lossily: a log may hold any bytes).
    let line = String::from_utf8_lossy(data);
    let line = line.as_ref();
    for rules in sets() {
        check_blamed(line, host_of(line, rules));
    }
    // Compiling is the slow part: only lines that name the address are tried as patterns
    // (any other is refused after the same compile).
    let names_host = ["<HOST>", "(?P<host>", "(?<host>"]
        .iter()
        .any(|h| line.contains(h));
    if line.len() <= PATTERN_MAX && names_host {
        match compile(line) {
            Ok(re) => {
                assert!(re.capture_names().any(|n| n == Some("host")));
                check_blamed(line, host_of(line, std::slice::from_ref(&re)));
            }
            Err(message) => assert!(!message.trim().is_empty(), "an error without a message"),
        }
    }
}

fn check_blamed(line: &str, blamed: Option<IpAddr>) {
    if let Some(IpAddr::V4(v4)) = blamed {
        assert!(line.contains(&v4.to_string()), "{v4} blamed by {line:?}");
    }
}

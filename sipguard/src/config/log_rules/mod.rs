//! The log patterns of `[[logwatch]]`: what `patterns = ["asterisk", "... <HOST> ..."]` means,
//! and which address, if any, a log line blames ([`blame`]).
//!
//! A log line mixes the program's own words (its timestamp and prefix, its fixed text, the
//! source address it fills in) with text the remote side chose (a From display name, a user
//! name, a Request-URI user, a Call-ID). A pattern that finds "failed for '<addr>'" anywhere in
//! the line lets the remote side write that text itself and get anyone banned, the SIP trunk or
//! loopback included. So every built-in pattern is anchored to the whole line as the program
//! writes it (`^` prefix, fixed text, the address field, fixed tail `$`), the remote side's
//! fields are matched as "anything" only where the program puts them, and each pattern lists
//! the fixed texts that must appear exactly once ([`LinePattern::once`]): a line where one
//! appears twice could be read two ways, so it blames nobody and is counted as
//! [`Blame::Ambiguous`]. The Asterisk security log is parsed by key ([`security`]), not by one
//! regex over the line.
//!
//! The sets, one file each: [`asterisk`] (chan_sip, chan_pjsip, chan_iax2, AMI; the security
//! log in [`security`]), [`sshd`] (OpenSSH via syslog or journald), [`kamailio`] (the `xlog`
//! line the admin adds: Kamailio's auth modules log no source address). User regexes with
//! `<HOST>` keep working; one that is not anchored with `^...$` gets a warning from
//! `sipguard check` ([`Rule::warning`]), and a line it matches in two places is ambiguous.
//!
//! Pure code over `regex`, total on any input: the fuzz target calls [`blame`] directly. It
//! belongs to the config language, so it lives below everything that runs it; whether a blamed
//! address may be banned (loopback, the host's own, trusted) is the log watcher's question.
use std::{fmt, net::IpAddr};

use regex::Regex;

pub mod asterisk;
pub mod kamailio;
mod prefix;
pub mod security;
pub mod sshd;

/// `(?P<host>...)` for an IPv4 or IPv6 address, with an optional `[...]` around IPv6: what
/// `<HOST>` means in a user pattern (fail2ban's convention).
const HOST: &str = r"\[?(?P<host>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}|\d{1,3}(?:\.\d{1,3}){3})\]?";

/// What the built-in patterns write for the program's address field: the characters of an
/// address with its optional `[...]` and `:port` (split by [`parse_addr`], which says whether
/// it is one). It holds no quote, space or parenthesis, so it ends where the program's own
/// delimiter is.
pub(crate) const ADDR: &str = r"(?P<host>[0-9A-Fa-f:.\[\]]{2,64})";

/// The names of the built-in sets, for error messages.
pub const SETS: &[&str] = &["asterisk", "kamailio", "sshd"];

/// What a line says about who failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// No pattern matches: not a failure line.
    NoMatch,
    /// A pattern matches the whole line and its address field names this address
    /// (canonical: `::ffff:a.b.c.d` is `a.b.c.d`).
    Source(IpAddr),
    /// A pattern matches but the line can be read two ways (a fixed text twice, a repeated
    /// or unquoted security-log key, two matches of a user pattern, two patterns naming two
    /// addresses): nobody is blamed.
    Ambiguous,
    /// A pattern matches but its address field is not an address: nobody is blamed.
    Unparsable,
}

/// A built-in line pattern: anchored, with the fixed texts that must appear once.
#[derive(Clone)]
pub struct LinePattern {
    re: Regex,
    /// Texts of the program's own that must appear at most once in the line (the match
    /// itself has them once). A second copy can only come from the remote side's fields.
    once: &'static [&'static str],
}

impl LinePattern {
    /// Compiles a built-in pattern: `re` is the whole line (with `^` and `$`), its address
    /// written as [`ADDR`].
    pub(crate) fn new(re: &str, once: &'static [&'static str]) -> Self {
        // The built-in patterns are fixed text: `builtin_sets_compile` tests that they build.
        #[allow(clippy::expect_used, reason = "a constant pattern, tested to compile")]
        let re = Regex::new(re).expect("a built-in log pattern compiles");
        Self { re, once }
    }

    fn blame(&self, line: &str) -> Option<Blame> {
        let caps = self.re.captures(line)?;
        if self.once.iter().any(|t| line.matches(t).nth(1).is_some()) {
            return Some(Blame::Ambiguous);
        }
        Some(
            match caps.name("host").and_then(|h| parse_addr(h.as_str())) {
                Some(a) => Blame::Source(a),
                None => Blame::Unparsable,
            },
        )
    }
}

/// One compiled pattern of a `[[logwatch]]`.
#[derive(Clone)]
pub enum Rule {
    /// A built-in line pattern of the named set.
    Line {
        set: &'static str,
        pattern: LinePattern,
    },
    /// Asterisk's security-event log, parsed by key ([`security::blame`]).
    SecurityEvents,
    /// The admin's regex with `<HOST>`, as written in the config (`source`).
    User { source: String, re: Regex },
}

impl Rule {
    /// The rule's text: its regex, or `asterisk security events` (for equality and `Debug`).
    pub fn as_str(&self) -> &str {
        match self {
            Rule::Line { pattern, .. } => pattern.re.as_str(),
            Rule::SecurityEvents => "asterisk security events",
            Rule::User { re, .. } => re.as_str(),
        }
    }

    /// Why the rule could blame the wrong address, for `sipguard check` and the daemon's log:
    /// a user pattern not anchored to the whole line with `^...$`.
    pub fn warning(&self) -> Option<String> {
        let Rule::User { source, .. } = self else {
            return None;
        };
        if anchored(source) {
            return None;
        }
        Some(format!(
            "pattern {source:?} is not anchored to the whole line (^ ... $): text the remote \
             side writes into the line (a display name, a user name) can then make it blame \
             another address; anchor it and match the prefix the program writes"
        ))
    }

    fn blame(&self, line: &str) -> Option<Blame> {
        match self {
            Rule::Line { pattern, .. } => pattern.blame(line),
            Rule::SecurityEvents => security::blame(line),
            Rule::User { re, .. } => {
                let mut matches = re.captures_iter(line);
                let caps = matches.next()?;
                if matches.next().is_some() {
                    return Some(Blame::Ambiguous);
                }
                let text = caps.name("host")?.as_str();
                Some(match parse_addr(text) {
                    Some(a) => Blame::Source(a),
                    None => Blame::Unparsable,
                })
            }
        }
    }
}

impl fmt::Debug for Rule {
    /// As `regex::Regex` shows itself, so that `check --diff` shows rules as it always has.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Regex").field(&self.as_str()).finish()
    }
}

/// Whether a user regex is anchored at both ends: `^` (after inline flags such as `(?i)`) and
/// an unescaped `$` at the end.
fn anchored(source: &str) -> bool {
    let mut s = source.trim();
    while let Some(rest) = s.strip_prefix("(?") {
        match rest.find(')') {
            Some(end)
                if rest[..end]
                    .chars()
                    .all(|c| c.is_ascii_alphabetic() || c == '-') =>
            {
                s = &rest[end + 1..];
            }
            _ => break,
        }
    }
    let escaped_end = s
        .strip_suffix('$')
        .is_some_and(|body| body.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1);
    (s.starts_with('^') || s.starts_with(r"\A"))
        && ((s.ends_with('$') && !escaped_end) || s.ends_with(r"\z"))
}

/// The rules of a built-in set, by name.
pub fn builtin(name: &str) -> Option<Vec<Rule>> {
    let (set, patterns) = match name {
        "asterisk" => ("asterisk", asterisk::patterns()),
        "kamailio" => ("kamailio", kamailio::patterns()),
        "sshd" => ("sshd", sshd::patterns()),
        _ => return None,
    };
    let mut rules: Vec<Rule> = patterns
        .into_iter()
        .map(|pattern| Rule::Line { set, pattern })
        .collect();
    if set == "asterisk" {
        rules.push(Rule::SecurityEvents);
    }
    Some(rules)
}

/// Compiles a user pattern, `<HOST>` replaced by the address capture.
pub fn compile(pattern: &str) -> Result<Rule, String> {
    let re = Regex::new(&pattern.replace("<HOST>", HOST)).map_err(|e| e.to_string())?;
    if re.capture_names().any(|n| n == Some("host")) {
        Ok(Rule::User {
            source: pattern.to_owned(),
            re,
        })
    } else {
        Err("the pattern must capture the address: write <HOST> or (?P<host>...)".into())
    }
}

/// Which address `line` blames under `rules`: the one address every matching rule agrees on.
/// A trailing `\r` is not part of the line. Total on any input.
pub fn blame(line: &str, rules: &[Rule]) -> Blame {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut verdict = Blame::NoMatch;
    for rule in rules {
        let Some(b) = rule.blame(line) else { continue };
        verdict = match (verdict, b) {
            (Blame::Ambiguous, _) | (_, Blame::Ambiguous) => return Blame::Ambiguous,
            (Blame::Source(a), Blame::Source(b)) if a != b => return Blame::Ambiguous,
            (Blame::Source(a), _) | (_, Blame::Source(a)) => Blame::Source(a),
            (_, b) => b,
        };
    }
    verdict
}

/// An address as programs write it: `a.b.c.d`, `a.b.c.d:port`, an IPv6 address, or
/// `[v6]` / `[v6]:port`; canonical (an IPv4-mapped IPv6 address is its IPv4 address).
pub fn parse_addr(text: &str) -> Option<IpAddr> {
    let addr = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || port(after.strip_prefix(':')?)) {
            return None;
        }
        inside.parse::<IpAddr>().ok()?
    } else if let Ok(a) = text.parse::<IpAddr>() {
        a
    } else {
        let (host, p) = text.rsplit_once(':')?;
        if !port(p) {
            return None;
        }
        IpAddr::V4(host.parse().ok()?)
    };
    Some(crate::parse::fold_addr(addr))
}

fn port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests;

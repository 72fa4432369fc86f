//! Asterisk's security-event log (the `security` logger channel, `res_security_log.c`): a
//! prefix, then `Key="value"` pairs separated by commas, as in
//! `SecurityEvent="InvalidPassword",...,AccountID="1001",...,RemoteAddress="IPV4/UDP/a.b.c.d/port",...`.
//!
//! Asterisk writes the values without escaping, and several come from the remote side
//! (`AccountID`, `SessionID` which is the Call-ID, `Challenge`, `ReceivedChallenge`,
//! `ReceivedHash`, `Response`). One regex over the line can be made to take an address the
//! remote side wrote into one of them. So the line is split into pairs: a key is letters and
//! digits, a value is everything up to the next quote, and after the closing quote comes a
//! comma or the end of the line. A value carrying a quote breaks that structure, and a value
//! carrying `",RemoteAddress="` makes a second `RemoteAddress` key: either way the line could
//! be read two ways and blames nobody ([`Blame::Ambiguous`]). `RemoteAddress` is then taken
//! from its own key, and only for the failure events.
use std::sync::OnceLock;

use regex::Regex;

use super::{parse_addr, prefix, Blame};

/// The events that are an authentication failure (fail2ban's list).
const FAILURES: &[&str] = &[
    "FailedACL",
    "InvalidAccountID",
    "ChallengeResponseFailed",
    "InvalidPassword",
];

/// At most this many pairs (Asterisk writes about 15).
const MAX_PAIRS: usize = 64;

/// `^prefix(?P<event>SecurityEvent=".*)$`: the prefix Asterisk writes on the security channel.
fn line_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let p = prefix::asterisk("SECURITY|NOTICE");
        // A fixed pattern, tested to compile by every test of this file.
        #[allow(clippy::expect_used, reason = "a constant pattern, tested to compile")]
        Regex::new(&format!(r#"^{p}(?P<event>SecurityEvent=".*)$"#))
            .expect("the security-log pattern compiles")
    })
}

/// What a security-log line blames; `None` when it is no security event.
pub(super) fn blame(line: &str) -> Option<Blame> {
    let event = line_re().captures(line)?.name("event")?.as_str();
    let Some(pairs) = pairs(event) else {
        return Some(Blame::Ambiguous);
    };
    let get = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    if !get("SecurityEvent").is_some_and(|e| FAILURES.contains(&e)) {
        return None;
    }
    let Some(remote) = get("RemoteAddress") else {
        return Some(Blame::Unparsable);
    };
    Some(match remote_address(remote) {
        Some(a) => Blame::Source(a),
        None => Blame::Unparsable,
    })
}

/// The `Key="value"` pairs of `text`, in order; `None` when `text` is not exactly a
/// comma-separated list of them or a key repeats.
fn pairs(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    let mut rest = text;
    loop {
        let (key, after) = rest.split_once("=\"")?;
        if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let (value, after) = after.split_once('"')?;
        if out.iter().any(|(k, _)| *k == key) || out.len() == MAX_PAIRS {
            return None;
        }
        out.push((key, value));
        if after.is_empty() {
            return Some(out);
        }
        rest = after.strip_prefix(',')?;
    }
}

/// `IPV4/UDP/a.b.c.d/port` or `IPV6/TLS/v6/port` (Asterisk's `ast_sockaddr` in the log).
fn remote_address(value: &str) -> Option<std::net::IpAddr> {
    let mut parts = value.split('/');
    let (family, transport, addr, port) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || !matches!(family, "IPV4" | "IPV6")
        || !matches!(transport, "UDP" | "TCP" | "TLS" | "WS" | "WSS" | "SCTP")
        || port.parse::<u16>().is_err()
    {
        return None;
    }
    parse_addr(addr)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::config::log_rules::{blame, builtin, Blame, Rule};

    fn rules() -> Vec<Rule> {
        builtin("asterisk").unwrap()
    }

    fn source(a: &str) -> Blame {
        Blame::Source(a.parse::<IpAddr>().unwrap())
    }

    const PREFIX: &str = "[2026-11-21 10:00:00] SECURITY[1204] res_security_log.c: ";

    /// An InvalidPassword event with these remote-side fields.
    fn invalid_password(account: &str, session: &str, remote: &str, hash: &str) -> String {
        format!(
            r#"{PREFIX}SecurityEvent="InvalidPassword",EventTV="2026-11-21T10:00:00.000+0000",Severity="Error",Service="PJSIP",EventVersion="2",AccountID="{account}",SessionID="{session}",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="{remote}",Challenge="41d26de5",ReceivedChallenge="41d26de5",ReceivedHash="{hash}""#
        )
    }

    #[test]
    fn an_invalid_password_event_blames_its_remote_address() {
        let line = invalid_password("1001", "0x88aab6c", "IPV4/UDP/203.0.113.9/5084", "7a6a3a2e");
        assert_eq!(blame(&line, &rules()), source("203.0.113.9"));
    }

    #[test]
    fn every_failure_event_blames_its_remote_address() {
        for event in [
            "FailedACL",
            "InvalidAccountID",
            "ChallengeResponseFailed",
            "InvalidPassword",
        ] {
            let line = format!(
                r#"{PREFIX}SecurityEvent="{event}",EventTV="1368439853-500975",Severity="Error",Service="SIP",EventVersion="1",AccountID="00972599580679",SessionID="0x7f8ecc0421f8",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/TLS/203.0.113.9/5070""#
            );
            assert_eq!(blame(&line, &rules()), source("203.0.113.9"), "{event}");
        }
    }

    #[test]
    fn an_ipv6_event_blames_the_remote_not_the_local_address() {
        let line = format!(
            r#"{PREFIX}SecurityEvent="ChallengeResponseFailed",EventTV="x",Severity="Error",Service="SIP",EventVersion="1",AccountID="1",SessionID="s",LocalAddress="IPV6/UDP/2001:db8::1/5060",RemoteAddress="IPV6/UDP/2001:db8::66/5060""#
        );
        assert_eq!(blame(&line, &rules()), source("2001:db8::66"));
    }

    #[test]
    fn a_successful_event_blames_nobody() {
        let line = format!(
            r#"{PREFIX}SecurityEvent="SuccessfulAuth",EventTV="x",Severity="Informational",Service="PJSIP",EventVersion="1",AccountID="1001",SessionID="s",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/203.0.113.9/5060",UsingPassword="1""#
        );
        assert_eq!(blame(&line, &rules()), Blame::NoMatch);
    }

    #[test]
    fn an_account_id_injecting_a_second_remote_address_blames_nobody() {
        let account = r#"x",RemoteAddress="IPV4/UDP/198.51.100.7/5060"#;
        let line = invalid_password(account, "s", "IPV4/UDP/203.0.113.9/5060", "h");
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_hash_after_the_remote_address_injecting_another_blames_nobody() {
        let hash = r#"x",RemoteAddress="IPV4/UDP/198.51.100.7/5060"#;
        let line = invalid_password("1001", "s", "IPV4/UDP/203.0.113.9/5060", hash);
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_session_id_carrying_a_stray_quote_blames_nobody() {
        let line = invalid_password(
            "1001",
            r#"!@#$%^&   *(}((')[ -+"++"#,
            "IPV4/UDP/203.0.113.9/5060",
            "h",
        );
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_session_id_carrying_unquoted_address_text_still_blames_the_sender() {
        // Inside its quotes, the text is only a value.
        let line = invalid_password(
            "1001",
            "RemoteAddress=IPV4/UDP/198.51.100.7/5060",
            "IPV4/UDP/203.0.113.9/5060",
            "h",
        );
        assert_eq!(blame(&line, &rules()), source("203.0.113.9"));
    }

    #[test]
    fn trailing_text_after_the_last_pair_blames_nobody() {
        let line = invalid_password("1001", "s", "IPV4/UDP/203.0.113.9/5060", "h")
            + " RemoteAddress=198.51.100.7";
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_remote_address_that_is_no_address_is_unparsable() {
        for remote in [
            "IPV4/UDP/203.0.113/5060",
            "IPV4/UDP/203.0.113.9",
            "IPV4/FOO/203.0.113.9/5060",
            "IPV4/UDP/203.0.113.9/5060/x",
        ] {
            let line = invalid_password("1001", "s", remote, "h");
            assert_eq!(blame(&line, &rules()), Blame::Unparsable, "{remote}");
        }
    }

    #[test]
    fn an_event_without_the_security_prefix_matches_nothing() {
        let line = invalid_password("1", "s", "IPV4/UDP/203.0.113.9/5060", "h");
        let bare = line.strip_prefix(PREFIX).unwrap();
        assert_eq!(blame(bare, &rules()), Blame::NoMatch);
        let echoed = format!("[2026-11-21 10:00:00] VERBOSE[1] app_verbose.c: {bare}");
        assert_eq!(blame(&echoed, &rules()), Blame::NoMatch);
    }

    #[test]
    fn a_security_event_through_syslog_blames_its_remote_address() {
        let line = invalid_password("1", "s", "IPV4/UDP/203.0.113.9/5060", "h");
        let bare = line.strip_prefix(PREFIX).unwrap();
        let syslog = format!("Nov 21 10:00:00 pbx asterisk[2350]: SECURITY[1195]: res_security_log.c:186 in security_event_stasis_cb: {bare}");
        assert_eq!(blame(&syslog, &rules()), source("203.0.113.9"));
    }
}

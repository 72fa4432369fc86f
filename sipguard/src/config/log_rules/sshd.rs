//! The `sshd` set: OpenSSH's failed logins (7.5 and later, 8 and 9 included) as syslog or
//! journald writes them: `Nov 21 10:00:00 host sshd[123]: ...` (also `sshd-session`, the
//! per-connection process of OpenSSH 9.8, and ISO timestamps).
//!
//! sshd writes the user name the client sent, spaces included (its log escapes only
//! control characters), before the address: `Invalid user <name> from <addr> port <n>`. A
//! name such as `x from 198.51.100.7 port 22` would put a second address before the real one,
//! so the patterns take the address right before the fixed tail ` port N[ ssh2]$`, and a line
//! with ` from ` or ` port ` twice is ambiguous and blames nobody.
//!
//! Left out on purpose: "Connection closed by invalid user ... [preauth]" and "Disconnected
//! from invalid user ..." (written once more for a connection already counted by its
//! "Invalid user" line), and "Failed publickey" (clients try their keys in turn; it is no
//! guess).
use super::{prefix, LinePattern, ADDR};

const ONCE: &[&str] = &[" from ", " port "];

pub(super) fn patterns() -> Vec<LinePattern> {
    let p = prefix::syslog(r"sshd(?:-session)?");
    // "error: " and "error: PAM: " come before some messages.
    let level = r"(?:(?:error|fatal): (?:PAM: )?)?";
    vec![
        // Failed password for [invalid user ]<name> from <addr> port <n> ssh2
        LinePattern::new(
            &format!(
                r"^{p}{level}Failed (?:password|keyboard-interactive/pam) for .* from {ADDR} port \d{{1,5}}(?: ssh2)?$"
            ),
            ONCE,
        ),
        // Invalid user <name> from <addr> port <n>
        LinePattern::new(
            &format!(r"^{p}{level}Invalid user .* from {ADDR} port \d{{1,5}}$"),
            ONCE,
        ),
        // maximum authentication attempts exceeded for [invalid user ]<name> from <addr> port <n> ssh2 [preauth]
        LinePattern::new(
            &format!(
                r"^{p}{level}maximum authentication attempts exceeded for .* from {ADDR} port \d{{1,5}} ssh2 \[preauth\]$"
            ),
            ONCE,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::config::log_rules::{blame, builtin, Blame, Rule};

    fn rules() -> Vec<Rule> {
        builtin("sshd").unwrap()
    }

    fn source(a: &str) -> Blame {
        Blame::Source(a.parse::<IpAddr>().unwrap())
    }

    const SYSLOG: &str = "Nov 21 10:00:00 pbx sshd[4242]: ";

    #[test]
    fn a_failed_password_blames_the_address_sshd_wrote() {
        for line in [
            "Nov 21 10:00:00 pbx sshd[4242]: Failed password for root from 203.0.113.9 port 52144 ssh2",
            "Nov 21 10:00:00 pbx sshd[4242]: Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2",
            "Nov  1 10:00:00 pbx sshd-session[4242]: Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2",
            "2026-11-21T10:00:00.123456+00:00 pbx sshd[4242]: Failed password for root from 203.0.113.9 port 52144 ssh2",
            "2026-11-21T10:00:00+0000 pbx sshd[4242]: Failed keyboard-interactive/pam for root from 203.0.113.9 port 52144 ssh2",
        ] {
            assert_eq!(blame(line, &rules()), source("203.0.113.9"), "{line}");
        }
    }

    #[test]
    fn an_invalid_user_blames_the_address_sshd_wrote_over_ipv4_and_ipv6() {
        assert_eq!(
            blame(
                &format!("{SYSLOG}Invalid user oracle from 203.0.113.9 port 40000"),
                &rules()
            ),
            source("203.0.113.9")
        );
        assert_eq!(
            blame(
                &format!("{SYSLOG}Invalid user oracle from 2001:db8::5 port 22"),
                &rules()
            ),
            source("2001:db8::5")
        );
    }

    #[test]
    fn an_empty_user_name_still_blames_the_sender() {
        let line = format!("{SYSLOG}Invalid user  from 203.0.113.9 port 40000");
        assert_eq!(blame(&line, &rules()), source("203.0.113.9"));
    }

    #[test]
    fn a_user_name_with_spaces_and_an_address_blames_the_sender() {
        let line = format!("{SYSLOG}Invalid user x 198.51.100.7 y from 203.0.113.9 port 40000");
        assert_eq!(blame(&line, &rules()), source("203.0.113.9"));
    }

    #[test]
    fn a_user_name_carrying_from_and_port_blames_nobody() {
        let line =
            format!("{SYSLOG}Invalid user x from 198.51.100.7 port 22 from 203.0.113.9 port 4242");
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
        let failed = format!(
            "{SYSLOG}Failed password for invalid user x from 198.51.100.7 port 22 from 203.0.113.9 port 4242 ssh2"
        );
        assert_eq!(blame(&failed, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_user_name_carrying_only_from_blames_nobody() {
        let line = format!("{SYSLOG}Invalid user x from 198.51.100.7 from 203.0.113.9 port 4242");
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn trailing_text_after_the_port_matches_nothing() {
        let line = format!("{SYSLOG}Invalid user x from 203.0.113.9 port 4242 on 198.51.100.7");
        assert_eq!(blame(&line, &rules()), Blame::NoMatch);
    }

    #[test]
    fn a_line_without_the_syslog_prefix_matches_nothing() {
        for line in [
            "sshd[99]: Failed password for root from 203.0.113.9 port 1 ssh2",
            "Nov 21 10:00:00 pbx kernel: Failed password for root from 203.0.113.9 port 1 ssh2",
            "Nov 21 10:00:00 pbx asterisk[1]: Invalid user x from 203.0.113.9 port 1",
        ] {
            assert_eq!(blame(line, &rules()), Blame::NoMatch, "{line}");
        }
    }

    #[test]
    fn an_accepted_password_blames_nobody() {
        let line = format!("{SYSLOG}Accepted password for root from 203.0.113.9 port 1 ssh2");
        assert_eq!(blame(&line, &rules()), Blame::NoMatch);
    }

    #[test]
    fn the_maximum_attempts_line_blames_the_sender() {
        let line = format!(
            "{SYSLOG}error: maximum authentication attempts exceeded for invalid user admin from 203.0.113.9 port 4242 ssh2 [preauth]"
        );
        assert_eq!(blame(&line, &rules()), source("203.0.113.9"));
    }

    #[test]
    fn an_ipv4_mapped_sender_is_blamed_as_its_ipv4_address() {
        let line = format!("{SYSLOG}Failed password for root from ::ffff:203.0.113.9 port 1 ssh2");
        assert_eq!(blame(&line, &rules()), source("203.0.113.9"));
    }
}

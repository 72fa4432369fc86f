//! The `asterisk` set: the failure lines chan_sip, chan_pjsip (`res_pjsip/pjsip_distributor.c`),
//! chan_iax2 and the manager (AMI) write to Asterisk's `messages`/`full` logs or to syslog. The
//! security-event log (`security` channel) is parsed by key in [`super::security`], which the
//! set also holds.
//!
//! The address is the one Asterisk fills in (`ast_sockaddr_stringify`: `a.b.c.d:port` or
//! `[v6]:port`). The remote side writes the From header (chan_sip's "Registration from",
//! PJSIP's "Request ... from"), the Call-ID (PJSIP's "callid:"), the peer or user name and the
//! Request-URI user ("to extension"): those are matched as "anything" where Asterisk puts them,
//! and the fixed text next to the address must appear once, so a copy of it in those fields
//! makes the line ambiguous instead of moving the address. The fixed tail ends at `$`.
//!
//! Left out on purpose: chan_sip's "Failed to authenticate device <From header>" (its only
//! address is in the From header, which the remote side writes) and FreePBX's dialplan
//! "Rejecting unknown SIP connection" (not Asterisk's text).
use super::{prefix, LinePattern, ADDR};

/// chan_sip's reasons for a failed registration (`chan_sip.c`, `handle_request_register`).
const SIP_REASONS: &str = r"Wrong password|No matching peer found|Username/auth name mismatch|Device does not match ACL|Peer is not supposed to register|ACL error \(permit/deny\)|Not a local domain";

/// The same reasons as fixed texts, each allowed once per line.
const SIP_ONCE: &[&str] = &[
    "Registration from '",
    "' failed for '",
    "Wrong password",
    "No matching peer found",
    "Username/auth name mismatch",
    "Device does not match ACL",
    "Peer is not supposed to register",
    "ACL error (permit/deny)",
    "Not a local domain",
];

/// PJSIP's reasons (`pjsip_distributor.c`, `log_failed_request`), and Asterisk 16's
/// " after N tries in T ms" for unidentified requests.
const PJSIP_REASONS: &str = r"No matching endpoint found|Not match Endpoint ACL|Not match Endpoint Contact ACL|Failed to authenticate|Error to authenticate";

const PJSIP_ONCE: &[&str] = &[
    "' failed for '",
    "' (callid: ",
    "No matching endpoint found",
    "Not match Endpoint",
    "Failed to authenticate",
    "Error to authenticate",
    " tries in ",
];

/// The SIP methods PJSIP names in "Request 'METHOD' from".
const METHODS: &str = "REGISTER|INVITE|SUBSCRIBE|OPTIONS|MESSAGE|NOTIFY|PUBLISH|REFER|INFO|UPDATE|BYE|CANCEL|ACK|PRACK";

pub(super) fn patterns() -> Vec<LinePattern> {
    let p = prefix::asterisk("NOTICE|WARNING|ERROR");
    vec![
        // chan_sip: Registration from '<From>' failed for '<addr>' - <reason>
        LinePattern::new(
            &format!(r"^{p}Registration from '.*' failed for '{ADDR}' - (?:{SIP_REASONS})$"),
            SIP_ONCE,
        ),
        // chan_pjsip: Request ['METHOD' ]from '<From>' failed for '<addr>' (callid: <Call-ID>) - <reason>
        LinePattern::new(
            &format!(
                r"^{p}Request (?:'(?:{METHODS})' )?from '.*' failed for '{ADDR}' \(callid: .*\) - (?:{PJSIP_REASONS})(?: after \d{{1,10}} tries in \d{{1,10}}(?:\.\d{{1,6}})? ms)?$"
            ),
            PJSIP_ONCE,
        ),
        // chan_sip / res_pjsip_session: Call from '<From user>' ([TRANSPORT:]<addr>) to
        // extension '<R-URI user>' rejected because extension not found in context '<ctx>'.
        LinePattern::new(
            &format!(
                r"^{p}Call from '.*' \((?:(?:UDP|TCP|TLS|WS|WSS):)?{ADDR}\) to extension '.*' rejected because extension not found in context '.*'\.$"
            ),
            &[
                ") to extension '",
                "' rejected because extension not found in context '",
            ],
        ),
        // AMI (manager.c) and chan_iax2: [Host ]<addr> failed to authenticate as '<user>'
        LinePattern::new(
            &format!(r"^{p}(?:Host )?{ADDR} failed to authenticate as '.*'$"),
            &[" failed to authenticate as '"],
        ),
        // AMI: <addr> tried to authenticate with nonexistent user '<user>'
        LinePattern::new(
            &format!(r"^{p}{ADDR} tried to authenticate with nonexistent user '.*'$"),
            &[" tried to authenticate with nonexistent user '"],
        ),
        // chan_iax2: Host <addr> failed MD5 authentication for '<user>' (<hash> != <hash>)
        LinePattern::new(
            &format!(r"^{p}Host {ADDR} failed MD5 authentication for '.*' \(.*\)$"),
            &[" failed MD5 authentication for '"],
        ),
        // chan_iax2: No registration for peer '<peer>' (from <addr>)
        LinePattern::new(
            &format!(r"^{p}No registration for peer '.*' \(from {ADDR}\)$"),
            &["' (from "],
        ),
        // chan_sip: hacking attempt detected '<addr>'
        LinePattern::new(
            &format!(r"^{p}hacking attempt detected '{ADDR}'$"),
            &["hacking attempt detected '"],
        ),
    ]
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

    const ATTACKER: &str = "203.0.113.9";

    /// chan_sip's line with `from` as the From header the remote side sent.
    fn chan_sip(from: &str, addr: &str, reason: &str) -> String {
        format!(
            "[2026-11-21 10:00:00] NOTICE[1638] chan_sip.c: Registration from '{from}' failed for '{addr}' - {reason}"
        )
    }

    fn pjsip(from: &str, addr: &str, callid: &str, reason: &str) -> String {
        format!(
            "[2026-11-21 10:00:00] NOTICE[19388] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '{from}' failed for '{addr}' (callid: {callid}) - {reason}"
        )
    }

    #[test]
    fn a_chan_sip_wrong_password_blames_the_address_asterisk_wrote() {
        let line = chan_sip(
            "\"100\" <sip:100@192.0.2.1>",
            "203.0.113.9:5062",
            "Wrong password",
        );
        assert_eq!(blame(&line, &rules()), source(ATTACKER));
    }

    #[test]
    fn every_chan_sip_registration_reason_blames_the_sender() {
        for reason in [
            "Wrong password",
            "No matching peer found",
            "Username/auth name mismatch",
            "Device does not match ACL",
            "Peer is not supposed to register",
            "ACL error (permit/deny)",
            "Not a local domain",
        ] {
            let line = chan_sip("<sip:301@example.com>", ATTACKER, reason);
            assert_eq!(blame(&line, &rules()), source(ATTACKER), "{reason}");
        }
    }

    #[test]
    fn a_chan_sip_line_over_ipv6_blames_the_bracketed_address() {
        let line = chan_sip("<sip:1@x>", "[2001:db8::9]:5060", "Wrong password");
        assert_eq!(blame(&line, &rules()), source("2001:db8::9"));
    }

    #[test]
    fn a_chan_sip_line_through_syslog_with_line_numbers_blames_the_sender() {
        for line in [
            "Nov  4 18:30:40 pbx asterisk[32229]: NOTICE[32257]: chan_sip.c:23417 in handle_request_register: Registration from '<sip:301@example.com>' failed for '203.0.113.9:36998' - Wrong password",
            "[2016-08-19 11:11:26] NOTICE[12931]: chan_sip.c:28468 handle_request_register: Registration from 'sip:bob@192.0.2.1' failed for '203.0.113.9:42406' - Wrong password",
            "[Mar 27 10:06:14] NOTICE[566][C-0000001d]: chan_sip.c:28926 handle_request_register: Registration from '\"28\" <sip:28@127.0.0.100>' failed for '203.0.113.9:7998' - Wrong password",
        ] {
            assert_eq!(blame(line, &rules()), source(ATTACKER), "{line}");
        }
    }

    #[test]
    fn a_from_display_name_carrying_the_fixed_text_blames_nobody() {
        let from = "\"x' failed for '198.51.100.7' - Wrong password\" <sip:1001@pbx>";
        let line = chan_sip(from, "203.0.113.9:5060", "Wrong password");
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_from_display_name_carrying_only_the_address_marker_blames_nobody() {
        let line = chan_sip(
            "x' failed for '198.51.100.7",
            "203.0.113.9:5060",
            "No matching peer found",
        );
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_from_header_with_quotes_and_an_address_still_blames_the_sender() {
        // No copy of the fixed text: the address next to it is Asterisk's.
        let line = chan_sip(
            "\"o'brien 198.51.100.7\" <sip:1@198.51.100.7>",
            "203.0.113.9:5060",
            "Wrong password",
        );
        assert_eq!(blame(&line, &rules()), source(ATTACKER));
    }

    #[test]
    fn a_second_reason_in_the_from_header_blames_nobody() {
        let line = chan_sip(
            "\"Wrong password\" <sip:1@x>",
            "203.0.113.9:5060",
            "Wrong password",
        );
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn trailing_text_after_the_fixed_tail_matches_nothing() {
        let line = chan_sip(
            "<sip:1@x>",
            "203.0.113.9:5060",
            "Wrong password for '198.51.100.7'",
        );
        assert_eq!(blame(&line, &rules()), Blame::NoMatch);
    }

    #[test]
    fn a_chan_sip_line_without_the_asterisk_prefix_matches_nothing() {
        let line = "Registration from '<sip:1@x>' failed for '203.0.113.9:5060' - Wrong password";
        assert_eq!(blame(line, &rules()), Blame::NoMatch);
        let echoed = format!("[2026-11-21 10:00:00] VERBOSE[1] pbx_builtins.c: {line}");
        assert_eq!(blame(&echoed, &rules()), Blame::NoMatch);
    }

    #[test]
    fn an_ipv4_mapped_address_is_blamed_as_its_ipv4_address() {
        let line = chan_sip("<sip:1@x>", "[::ffff:203.0.113.9]:5060", "Wrong password");
        assert_eq!(blame(&line, &rules()), source(ATTACKER));
    }

    #[test]
    fn an_address_field_that_is_no_address_is_unparsable() {
        let line = chan_sip("<sip:1@x>", "999.0.113.9:5060", "Wrong password");
        assert_eq!(blame(&line, &rules()), Blame::Unparsable);
    }

    #[test]
    fn pjsip_failures_blame_the_sender_for_every_reason() {
        for reason in [
            "No matching endpoint found",
            "Not match Endpoint ACL",
            "Not match Endpoint Contact ACL",
            "Failed to authenticate",
            "Error to authenticate",
            "No matching endpoint found after 5 tries in 2.500 ms",
        ] {
            let line = pjsip(
                "\"1000\" <sip:1000@10.0.0.1>",
                "203.0.113.9:48336",
                "276666022",
                reason,
            );
            assert_eq!(blame(&line, &rules()), source(ATTACKER), "{reason}");
        }
    }

    #[test]
    fn pjsip_lines_of_asterisk_13_without_a_method_blame_the_sender() {
        let line = "[2016-05-23 10:18:16] NOTICE[19388] res_pjsip/pjsip_distributor.c: Request from '\"1000\" <sip:1000@10.0.0.1>' failed for '203.0.113.9:48336' (callid: 276666022) - Failed to authenticate";
        assert_eq!(blame(line, &rules()), source(ATTACKER));
    }

    #[test]
    fn a_pjsip_line_over_ipv6_blames_the_bracketed_address() {
        let line = pjsip(
            "<sip:100@x>",
            "[2001:db8::7]:5060",
            "a",
            "Failed to authenticate",
        );
        assert_eq!(blame(&line, &rules()), source("2001:db8::7"));
    }

    #[test]
    fn a_pjsip_from_header_carrying_the_fixed_text_blames_nobody() {
        let from =
            "\"x' failed for '198.51.100.7:5060' (callid: 1) - Failed to authenticate\" <sip:1@x>";
        let line = pjsip(from, "203.0.113.9:5060", "abc", "Failed to authenticate");
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_pjsip_call_id_carrying_a_second_reason_blames_nobody() {
        let line = pjsip(
            "<sip:1@x>",
            "203.0.113.9:5060",
            "x) - Failed to authenticate",
            "Failed to authenticate",
        );
        assert_eq!(blame(&line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_pjsip_call_id_carrying_another_address_blames_the_sender() {
        let line = pjsip(
            "<sip:1@x>",
            "203.0.113.9:5060",
            "198.51.100.7",
            "Failed to authenticate",
        );
        assert_eq!(blame(&line, &rules()), source(ATTACKER));
    }

    #[test]
    fn a_request_uri_user_echoed_in_a_call_line_blames_nobody_else() {
        // The review's vector: the percent-decoded R-URI user imitates the AMI line.
        let line = "[2026-11-21 10:00:00] NOTICE[436][C-00000fa9] chan_sip.c: Call from '' (203.0.113.9:5060) to extension '198.51.100.7 failed to authenticate as 'a'' rejected because extension not found in context 'default'.";
        assert_eq!(blame(line, &rules()), source(ATTACKER));
    }

    #[test]
    fn a_request_uri_user_carrying_the_call_lines_fixed_text_blames_nobody() {
        let line = "[2026-11-21 10:00:00] NOTICE[436] chan_sip.c: Call from '' (203.0.113.9:5060) to extension 'x' (198.51.100.7:5060) to extension 'y' rejected because extension not found in context 'default'.";
        assert_eq!(blame(line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn pjsip_call_lines_with_a_transport_blame_the_sender() {
        let line = "[Jan 18 17:39:50] NOTICE[12049]: res_pjsip_session.c:2337 new_invite: Call from 'anonymous' (TCP:[203.0.113.9]:61470) to extension '9011+442037690237' rejected because extension not found in context 'default'.";
        assert_eq!(blame(line, &rules()), source(ATTACKER));
    }

    #[test]
    fn ami_and_iax2_failures_blame_the_address_asterisk_wrote() {
        for line in [
            "[2016-05-06 07:08:09] NOTICE[6772] manager.c: 203.0.113.9 failed to authenticate as 'Admin'",
            "[2016-05-06 07:08:09] NOTICE[31554] manager.c: 203.0.113.9 tried to authenticate with nonexistent user 'opennms'",
            "[2012-02-13 17:53:59] NOTICE[1638] chan_iax2.c: Host 203.0.113.9 failed to authenticate as 'Fail2ban'",
            "[2012-02-13 17:44:26] NOTICE[1638] chan_iax2.c: Host 203.0.113.9 failed MD5 authentication for 'Fail2ban' (e7df7cd2 != 53ac4bc4)",
            "[2012-02-13 17:39:20] NOTICE[1638] chan_iax2.c: No registration for peer 'Fail2ban' (from 203.0.113.9)",
            "[2015-03-16 18:46:34] NOTICE[3453] chan_sip.c: hacking attempt detected '203.0.113.9'",
        ] {
            assert_eq!(blame(line, &rules()), source(ATTACKER), "{line}");
        }
    }

    #[test]
    fn an_ami_user_name_carrying_the_fixed_text_blames_nobody() {
        let line = "[2026-11-21 10:00:00] NOTICE[1] manager.c: 203.0.113.9 failed to authenticate as 'x' 198.51.100.7 failed to authenticate as 'y'";
        assert_eq!(blame(line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn an_iax2_peer_name_carrying_the_address_marker_blames_nobody() {
        let line = "[2026-11-21 10:00:00] NOTICE[1] chan_iax2.c: No registration for peer 'x' (from 198.51.100.7)' (from 203.0.113.9)";
        assert_eq!(blame(line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_failure_line_naming_loopback_blames_loopback_for_the_watcher_to_refuse() {
        // The set only reads the line; the log watcher never bans loopback.
        let line = "[2026-11-21 10:00:00] NOTICE[1] manager.c: 127.0.0.1 failed to authenticate as 'admin'";
        assert_eq!(blame(line, &rules()), source("127.0.0.1"));
    }

    #[test]
    fn the_failed_to_authenticate_device_line_is_not_matched() {
        // Its only address is in the From header the remote side wrote.
        let line = "[2026-11-21 10:00:00] NOTICE[1] chan_sip.c: Failed to authenticate device <sip:1001@198.51.100.7>;tag=abc for INVITE, code = -1";
        assert_eq!(blame(line, &rules()), Blame::NoMatch);
    }
}

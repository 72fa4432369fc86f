//! The log patterns of `[[logwatch]]`: what `patterns = ["asterisk", "... <HOST> ..."]` means.
//!
//! A pattern is a regex in which `<HOST>` stands for the offending address (fail2ban's
//! convention), or the name of a built-in set written for a PBX's or sshd's own log lines.
//! Validation compiles them ([`compile`]) so that `sipguard check` refuses a pattern that can't
//! blame anyone; the log follower then asks [`host_of`] which address a new line blames. Pure
//! code over `regex`: it belongs to the config language, so it lives below everything that
//! runs it.
use std::net::IpAddr;

use regex::Regex;

/// `(?P<host>...)` for an IPv4 or IPv6 address, with an optional `[...]` around IPv6.
const HOST: &str = r"\[?(?P<host>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}|\d{1,3}(?:\.\d{1,3}){3})\]?";

/// The built-in pattern sets, by name. `<HOST>` stands for the address.
pub fn builtin(name: &str) -> Option<&'static [&'static str]> {
    const ASTERISK: &[&str] = &[
        // chan_sip
        r"Registration from '[^']*' failed for '<HOST>(?::\d+)?' - (?:Wrong password|No matching peer found|Username/auth name mismatch|Device does not match ACL|Peer is not supposed to register|ACL error \(permit/deny\)|Not a local domain)",
        r"<HOST> failed to authenticate as '[^']*'",
        r"No registration for peer '[^']*' \(from <HOST>\)",
        r"Host <HOST> failed MD5 authentication for '[^']*'",
        r"Failed to authenticate (?:user|device) [^@]*@<HOST>",
        // chan_pjsip
        r"Request '(?:REGISTER|INVITE|SUBSCRIBE|OPTIONS)' from '[^']*' failed for '<HOST>(?::\d+)?' \(callid: [^)]*\) - (?:No matching endpoint found|Not match Endpoint(?: Contact)? ACL|(?:Failed|Error) to authenticate)",
        // the security event log
        r#"SecurityEvent="(?:FailedACL|InvalidAccountID|ChallengeResponseFailed|InvalidPassword)".*RemoteAddress="IPV[46]/(?:UDP|TCP|TLS|WS|WSS)/<HOST>/\d+""#,
    ];
    const KAMAILIO: &[&str] =
        &[r"(?i)auth(?:entication)?[ _-]?fail(?:ed|ure)?\b.*?(?:from |src=)<HOST>"];
    const SSHD: &[&str] = &[
        r"Failed (?:password|publickey) for (?:invalid user )?\S* from <HOST> port \d+",
        r"Invalid user \S* from <HOST>(?: port \d+)?",
    ];
    match name {
        "asterisk" => Some(ASTERISK),
        "kamailio" => Some(KAMAILIO),
        "sshd" => Some(SSHD),
        _ => None,
    }
}

/// Compiles a pattern, `<HOST>` replaced by the address capture.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    let re = Regex::new(&pattern.replace("<HOST>", HOST)).map_err(|e| e.to_string())?;
    if re.capture_names().any(|n| n == Some("host")) {
        Ok(re)
    } else {
        Err("the pattern must capture the address: write <HOST> or (?P<host>...)".into())
    }
}

/// The address a line blames, if a rule matches it.
pub fn host_of(line: &str, rules: &[Regex]) -> Option<IpAddr> {
    rules.iter().find_map(|re| {
        let text = re.captures(line)?.name("host")?.as_str();
        text.trim_matches(|c| c == '[' || c == ']').parse().ok()
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    fn rules(set: &str) -> Vec<Regex> {
        builtin(set)
            .unwrap()
            .iter()
            .map(|p| compile(p).unwrap())
            .collect()
    }

    #[test]
    fn asterisk_lines_name_their_attacker() {
        let r = rules("asterisk");
        for (line, host) in [
            ("[2026-11-21 10:00:00] NOTICE[1234] chan_sip.c: Registration from '\"100\"<sip:100@192.0.2.1>' failed for '203.0.113.9:5062' - Wrong password", "203.0.113.9"),
            ("[2026-11-21 10:00:00] NOTICE[1234] chan_sip.c: Registration from '<sip:1@192.0.2.1>' failed for '203.0.113.9' - No matching peer found", "203.0.113.9"),
            ("NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for '2001:db8::9' - Username/auth name mismatch", "2001:db8::9"),
            ("NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for '203.0.113.9:5060' - Device does not match ACL", "203.0.113.9"),
            ("NOTICE[1] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:100@192.0.2.1>' failed for '203.0.113.9:5060' (callid: abc) - No matching endpoint found", "203.0.113.9"),
            ("NOTICE[1] res_pjsip/pjsip_distributor.c: Request 'INVITE' from '<sip:100@x>' failed for '[2001:db8::7]:5060' (callid: a) - Failed to authenticate", "2001:db8::7"),
            ("NOTICE[1] manager.c: 203.0.113.9 failed to authenticate as 'admin'", "203.0.113.9"),
            (r#"[2026-11-21 10:00:00] SECURITY[1] res_security_log.c: SecurityEvent="InvalidPassword",EventTV="2026-11-21T10:00:00",Severity="Error",Service="PJSIP",EventVersion="2",AccountID="100",SessionID="x",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/203.0.113.9/5060",Challenge="y""#, "203.0.113.9"),
            (r#"SecurityEvent="ChallengeResponseFailed",EventTV="x",Severity="Error",Service="SIP",AccountID="1",LocalAddress="IPV6/UDP/2001:db8::1/5060",RemoteAddress="IPV6/UDP/2001:db8::66/5060""#, "2001:db8::66"),
        ] {
            assert_eq!(host_of(line, &r), Some(host.parse().unwrap()), "{line}");
        }
    }

    #[test]
    fn the_security_log_blames_the_remote_not_the_local_address() {
        let r = rules("asterisk");
        let line = r#"SecurityEvent="InvalidAccountID",Service="SIP",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/198.51.100.4/5060""#;
        assert_eq!(host_of(line, &r), Some("198.51.100.4".parse().unwrap()));
    }

    #[test]
    fn sshd_and_kamailio_lines_name_their_attacker() {
        let ssh = rules("sshd");
        assert_eq!(
            host_of(
                "sshd[99]: Failed password for invalid user admin from 203.0.113.5 port 52144 ssh2",
                &ssh
            ),
            Some("203.0.113.5".parse().unwrap())
        );
        assert_eq!(
            host_of(
                "sshd[99]: Invalid user oracle from 2001:db8::5 port 22",
                &ssh
            ),
            Some("2001:db8::5".parse().unwrap())
        );
        let k = rules("kamailio");
        assert_eq!(
            host_of(
                " 1(4955) NOTICE: <script>: AUTHFAIL REGISTER src=192.0.2.66 user=1001 rc=-2",
                &k
            ),
            Some("192.0.2.66".parse().unwrap())
        );
        assert_eq!(
            host_of(
                "sshd[1]: Accepted password for root from 203.0.113.5 port 1 ssh2",
                &ssh
            ),
            None
        );
    }

    #[test]
    fn a_pattern_without_host_is_refused() {
        assert!(compile("Failed password").is_err());
        assert!(compile("from <HOST>").is_ok());
    }

    #[test]
    fn builtin_sets_compile() {
        for set in ["asterisk", "kamailio", "sshd"] {
            for pattern in builtin(set).unwrap() {
                assert!(compile(pattern).is_ok(), "{set}: {pattern}");
            }
        }
        assert!(builtin("postfix").is_none());
    }
}

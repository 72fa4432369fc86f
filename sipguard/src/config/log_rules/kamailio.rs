//! The `kamailio` set. Kamailio's auth modules (`auth`, `auth_db`) log no failure with the
//! source address: `auth_check()`, `www_authenticate()` and `pv_www_authenticate()` only
//! return a code, and the example `kamailio.cfg` logs nothing when they fail. So the set
//! matches one line the admin adds to the config where the check fails:
//!
//! ```text
//! xlog("L_NOTICE", "AUTHFAIL REGISTER src=$si user=$tU\n");
//! ```
//!
//! (`INVITE` where the INVITE's check fails; `tests/lab/kamailio.cfg` writes exactly these, with
//! ` rc=...` after the user). The method is written as fixed text, not `$rm`. `$si` is the
//! packet's source address, filled in by Kamailio; it comes first, right after the fixed tag,
//! and everything after it may be the remote side's (`$tU`). The line is matched as Kamailio
//! writes it from `xlog`: on stderr (`-E`: ` 1(4955) NOTICE: <script>: AUTHFAIL ...`) or
//! through syslog (`Nov 21 10:00:00 host kamailio[4955]: NOTICE: <script>: AUTHFAIL ...`). A
//! second `AUTHFAIL ` or ` src=` in the line makes it ambiguous.
use super::{prefix, LinePattern, ADDR};

pub(super) fn patterns() -> Vec<LinePattern> {
    let p = prefix::kamailio_script();
    vec![LinePattern::new(
        &format!(r"^{p}AUTHFAIL [A-Z]{{3,16}} src={ADDR}(?: .*)?$"),
        &["AUTHFAIL ", " src="],
    )]
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::config::log_rules::{blame, builtin, Blame, Rule};

    fn rules() -> Vec<Rule> {
        builtin("kamailio").unwrap()
    }

    fn source(a: &str) -> Blame {
        Blame::Source(a.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn the_labs_authfail_line_on_stderr_blames_its_source() {
        for line in [
            " 1(4955) NOTICE: <script>: AUTHFAIL REGISTER src=203.0.113.9 user=1001 rc=-2",
            "12(4955) NOTICE: <script>: AUTHFAIL INVITE src=203.0.113.9 user=1001 au=1002 rc=mismatch",
            " 0(77) NOTICE: <script>: AUTHFAIL REGISTER src=203.0.113.9",
        ] {
            assert_eq!(blame(line, &rules()), source("203.0.113.9"), "{line}");
        }
    }

    #[test]
    fn the_authfail_line_through_syslog_blames_its_source() {
        for line in [
            "Nov 21 10:00:00 pbx /usr/sbin/kamailio[4955]: NOTICE: <script>: AUTHFAIL REGISTER src=2001:db8::66 user=1001",
            "Nov 21 10:00:00 pbx kamailio[4955]: NOTICE: <script>: AUTHFAIL REGISTER src=2001:db8::66 user=1001",
        ] {
            assert_eq!(blame(line, &rules()), source("2001:db8::66"), "{line}");
        }
    }

    #[test]
    fn a_user_carrying_another_authfail_blames_nobody() {
        let line = " 1(4955) NOTICE: <script>: AUTHFAIL REGISTER src=203.0.113.9 user=x AUTHFAIL REGISTER src=198.51.100.7 rc=-2";
        assert_eq!(blame(line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn a_user_carrying_a_source_field_blames_nobody() {
        let line = " 1(4955) NOTICE: <script>: AUTHFAIL REGISTER src=203.0.113.9 user=x src=198.51.100.7 rc=-2";
        assert_eq!(blame(line, &rules()), Blame::Ambiguous);
    }

    #[test]
    fn the_old_generic_auth_failure_text_matches_nothing() {
        // What the former `kamailio` set took: any "auth failed ... from <addr>".
        for line in [
            " 1(4955) NOTICE: <script>: RX REGISTER src=203.0.113.9:5060 proto=udp user=authfail from 198.51.100.7 ua=x",
            " 1(4955) ERROR: auth [api.c:83]: pre_auth(): Error while looking for credentials from 198.51.100.7",
            "AUTHFAIL REGISTER src=198.51.100.7 user=1001",
        ] {
            assert_eq!(blame(line, &rules()), Blame::NoMatch, "{line}");
        }
    }

    #[test]
    fn a_source_with_a_port_is_blamed_as_its_address() {
        let line = " 1(4955) NOTICE: <script>: AUTHFAIL REGISTER src=203.0.113.9:5060 user=1001";
        assert_eq!(blame(line, &rules()), source("203.0.113.9"));
    }
}

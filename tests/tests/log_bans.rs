//! Log bans that only the PBX's own words can trigger: the real daemon follows a log file with
//! the built-in sets, and lines crafted by a remote side to blame a victim (198.51.100.7 as
//! the SIP trunk's stand-in, loopback, the host's own address) ban nobody and are counted on
//! /metrics (`sipguard_logwatch_lines_total`), while honest failure lines ban their sender.
//! The last test runs the lab's real Kamailio: its `AUTHFAIL` lines for a guesser whose
//! display name carries the injected text ban the guesser.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use sipguard_tests::{
    daemon::Daemon,
    log_lines::{self, append},
    netns::{addr, clients::ALLOWED4, metric, Lab, PBX_IF, PBX_V4},
    policies::{TempFile, LAB},
    privileged_test, unique,
    voip::{self, VoipLab},
    wait_every,
};

/// The trunk's stand-in: what an attacker would like banned.
const VICTIM: &str = "198.51.100.7";
/// Lines past the watch's threshold (`failures = 2`).
const LINES: usize = 5;

/// A scratch log file, removed on drop.
struct LogFile {
    dir: PathBuf,
    path: PathBuf,
}

impl LogFile {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("sipguard-log-bans-"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        std::fs::write(&path, "").unwrap();
        Self { dir, path }
    }

    fn watch(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The lab policy with one watch of `log` by every built-in set, banning after 2 lines.
fn config(log: &LogFile) -> TempFile {
    TempFile::with_contents(&format!(
        "{LAB}\n[[logwatch]]\npath = \"{}\"\npatterns = [\"asterisk\", \"sshd\", \"kamailio\"]\n\
         failures = 2\nban = \"1h\"\n",
        log.watch()
    ))
}

/// `sipguard_logwatch_lines_total` of `watch` with `outcome` (`None` before it is exported).
fn lines(d: &Daemon, watch: &str, outcome: &str) -> Option<u64> {
    let text = d.scrape()?;
    metric(
        &text,
        "sipguard_logwatch_lines_total",
        &[("watch", watch), ("outcome", outcome)],
    )
    .map(|v| v as u64)
}

/// Waits (at most 5 s) until `watch`'s `outcome` count reaches `n`; returns it.
fn wait_lines(d: &Daemon, watch: &str, outcome: &str, n: u64) -> u64 {
    let what = format!("{n} {outcome} lines of {watch} on /metrics");
    wait_every(
        Duration::from_secs(5),
        Duration::from_millis(100),
        &what,
        || lines(d, watch, outcome).filter(|&c| c >= n),
    )
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", lines(d, watch, outcome), d.log_text()))
}

/// The networks `sipguard bans` lists.
fn banned(d: &Daemon) -> Vec<String> {
    let out = d.cli(&["bans", "--json"]).expect("running sipguard bans");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["net"].as_str().unwrap().to_owned())
        .collect()
}

/// A daemon on the lab's PBX watching `log`, once its watch is exported on /metrics.
fn daemon(lab: &Lab, log: &LogFile, config: &TempFile, port: u16) -> Daemon {
    let d = Daemon::start(&lab.pbx, PBX_IF, port, &["--config", config.as_str()]).unwrap();
    wait_lines(&d, &log.watch(), "no_match", 0);
    d
}

privileged_test! {
    fn lines_crafted_to_blame_the_trunk_ban_nobody_and_count_as_ambiguous() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let log = LogFile::new();
        let config = config(&log);
        let d = daemon(&lab, &log, &config, 9731);
        let attacker = "203.0.113.9:5060";
        let crafted = [
            // chan_sip: the From display name carries the fixed text and the victim.
            log_lines::chan_sip(
                &format!("\"x' failed for '{VICTIM}' - Wrong password\" <sip:1001@pbx>"),
                attacker,
            ),
            // PJSIP: the same through its From, and a second reason through the Call-ID.
            log_lines::pjsip(
                &format!("\"x' failed for '{VICTIM}:5060' (callid: 1) - Failed to authenticate\" <sip:1@x>"),
                attacker,
                "abc",
            ),
            log_lines::pjsip("<sip:1@x>", attacker, "x) - Failed to authenticate"),
            // The security log: an AccountID that writes a second RemoteAddress.
            log_lines::security(
                &format!(r#"x",RemoteAddress="IPV4/UDP/{VICTIM}/5060"#),
                "IPV4/UDP/203.0.113.9/5060",
            ),
            // sshd: a user name that writes " from VICTIM port 22".
            log_lines::sshd_invalid_user(&format!("x from {VICTIM} port 22"), "203.0.113.9"),
            log_lines::sshd_failed_password(
                &format!("invalid user x from {VICTIM} port 22"),
                "203.0.113.9",
            ),
            // Kamailio: a user that writes a second AUTHFAIL ... src=.
            log_lines::kamailio("203.0.113.9", &format!("x AUTHFAIL REGISTER src={VICTIM}")),
        ];
        for line in &crafted {
            append(&log.path, line, LINES).unwrap();
        }
        let n = (crafted.len() * LINES) as u64;
        assert_eq!(wait_lines(&d, &log.watch(), "ambiguous", n), n);
        assert_eq!(lines(&d, &log.watch(), "blamed"), Some(0));
        assert!(banned(&d).is_empty(), "{:?}", banned(&d));
        assert!(
            d.wait_for_log("could be read two ways", Duration::from_secs(2)),
            "{}",
            d.log_text()
        );
        let warnings = d.log_text().matches("could be read two ways").count();
        assert_eq!(warnings, 1, "one warning a minute, not one a line:\n{}", d.log_text());
    }
}

privileged_test! {
    fn honest_lines_naming_loopback_or_the_host_itself_ban_nobody_and_count_as_not_bannable() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let log = LogFile::new();
        let config = config(&log);
        let d = daemon(&lab, &log, &config, 9732);
        let own = format!("{PBX_V4}:5060");
        let named = [
            log_lines::chan_sip("<sip:1@x>", "127.0.0.1:5060"),
            log_lines::chan_sip("<sip:1@x>", &own),
            log_lines::chan_sip("<sip:1@x>", &format!("[::ffff:{PBX_V4}]:5060")),
            log_lines::security("1001", "IPV6/UDP/::1/5060"),
            log_lines::sshd_failed_password("root", "127.0.0.1"),
            log_lines::kamailio(PBX_V4, "1001"),
        ];
        for line in &named {
            append(&log.path, line, LINES).unwrap();
        }
        let n = (named.len() * LINES) as u64;
        assert_eq!(wait_lines(&d, &log.watch(), "not_bannable", n), n);
        assert!(banned(&d).is_empty(), "{:?}", banned(&d));
    }
}

privileged_test! {
    fn lines_with_an_unparsable_address_or_trailing_text_ban_nobody() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let log = LogFile::new();
        let config = config(&log);
        let d = daemon(&lab, &log, &config, 9733);
        append(&log.path, &log_lines::chan_sip("<sip:1@x>", "999.0.113.9:5060"), LINES).unwrap();
        append(&log.path, &format!("{} for '{VICTIM}'", log_lines::chan_sip("<sip:1@x>", "203.0.113.9")), LINES).unwrap();
        append(&log.path, &format!("sshd[1]: Invalid user x from {VICTIM} port 22"), LINES).unwrap();
        let n = LINES as u64;
        assert_eq!(wait_lines(&d, &log.watch(), "unparsable", n), n);
        assert_eq!(wait_lines(&d, &log.watch(), "no_match", 2 * n), 2 * n);
        assert!(banned(&d).is_empty(), "{:?}", banned(&d));
    }
}

privileged_test! {
    fn honest_failure_lines_of_every_set_ban_their_real_source() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let log = LogFile::new();
        let config = config(&log);
        let d = daemon(&lab, &log, &config, 9734);
        // Each sender past the threshold of 2, one set each; the From, user names and
        // Call-IDs name the victim without imitating the fixed text.
        let honest = [
            (log_lines::chan_sip(&format!("\"{VICTIM}\" <sip:1001@{VICTIM}>"), "203.0.113.1:5060"), "203.0.113.1/32"),
            (log_lines::pjsip("<sip:1@x>", "[2001:db8:99::2]:5060", VICTIM), "2001:db8:99::2/128"),
            (log_lines::security("1001", "IPV4/TLS/203.0.113.3/5061"), "203.0.113.3/32"),
            (log_lines::sshd_invalid_user(VICTIM, "203.0.113.4"), "203.0.113.4/32"),
            (log_lines::kamailio("203.0.113.5", VICTIM), "203.0.113.5/32"),
            // An IPv4-mapped sender is banned as its IPv4 address.
            (log_lines::sshd_failed_password("root", "::ffff:203.0.113.6"), "203.0.113.6/32"),
        ];
        for (line, _) in &honest {
            append(&log.path, line, 3).unwrap();
        }
        for (line, net) in &honest {
            assert!(d.wait_for_ban(net).is_some(), "{net} banned for {line:?}:\n{}", d.log_text());
        }
        let mut nets = banned(&d);
        nets.sort();
        let mut want: Vec<String> = honest.iter().map(|(_, n)| (*n).to_owned()).collect();
        want.sort();
        assert_eq!(nets, want, "only the senders, never {VICTIM}");
        assert_eq!(lines(&d, &log.watch(), "blamed"), Some(3 * honest.len() as u64));
    }
}

privileged_test! {
    fn kamailio_wrong_passwords_ban_the_guesser_not_the_address_in_its_display_name() {
        let mut lab = VoipLab::new().expect("building the VoIP lab");
        lab.start_kamailio().expect("starting Kamailio");
        let log = lab.dir.join("kamailio.log");
        let watch = log.display().to_string();
        let config = TempFile::with_contents(&format!(
            "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\nports = [5060]\n\
             allow = [\"any\"]\nsip = true\n[autoban]\nenabled = false\n\
             [[logwatch]]\npath = \"{watch}\"\npatterns = [\"kamailio\"]\nfailures = 3\n\
             ban = \"1h\"\nscope = \"sip\"\n"
        ));
        let d = Daemon::start(&lab.pbx, voip::PBX_IF, 9735, &["--config", config.as_str()]).unwrap();
        wait_lines(&d, &watch, "no_match", 0);
        let display = format!("x' failed for '{VICTIM}' - Wrong password AUTHFAIL REGISTER src={VICTIM}");
        let pbx = SocketAddr::new(addr(voip::PBX), 5060);
        let answered = log_lines::wrong_passwords(&lab.attacker, addr(voip::ATTACKER), pbx, "1001", &display, 8)
            .unwrap();
        let failures = lab.kamailio_count("AUTHFAIL", voip::ATTACKER);
        assert!(failures >= 4, "Kamailio logged {failures} AUTHFAIL lines:\n{}", lab.kamailio_log());
        let guesser = format!("{}/32", voip::ATTACKER);
        assert!(d.wait_for_ban(&guesser).is_some(), "the guesser is banned:\n{}", d.log_text());
        assert_eq!(answered, 8, "Kamailio answered every guess before the ban");
        assert_eq!(banned(&d), vec![guesser]);
        // Banned for SIP: its next REGISTER gets no answer.
        let after = log_lines::wrong_passwords(&lab.attacker, addr(voip::ATTACKER), pbx, "1001", &display, 1)
            .unwrap();
        assert_eq!(after, 0, "the banned guesser got an answer");
        assert!(wait_lines(&d, &watch, "blamed", 4) >= 4);
        assert_eq!(lines(&d, &watch, "ambiguous"), Some(0));
    }
}

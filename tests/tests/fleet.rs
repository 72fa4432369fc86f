//! Fleet-wide bans: the real `sipguard run` against a real CrowdSec Local API (Debian's
//! `crowdsec`, started by the test in a namespace, `cscli` for decisions), two PBX
//! namespaces sharing one LAPI, and a scripted fake LAPI and APIBan for the answers a real
//! one never gives (garbage, huge pages, 403, 429, values that are no address). Real packets
//! on veth pairs decide what is dropped.
use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use sipguard_tests::{
    crowdsec::Lapi,
    daemon::Daemon,
    fake_http::{FakeHttp, Reply},
    netns::{addr, ip, metric, Lab, PBX_IF, PBX_V4, PBX_V6},
    policies::{TempFile, LAB},
    privileged_test,
    traffic::{send_guesses, send_udp, UdpCounter},
    wait_every,
};

/// The fleet tests' poll interval.
const POLL: Duration = Duration::from_secs(1);
/// What one poll may take on top of the interval (the request, the map writes, a loaded CI
/// machine).
const SLACK: Duration = Duration::from_millis(1500);

const IP4: &str = "192.0.2.10";
const RANGE4_HOST: &str = "192.0.2.70";
const IP6: &str = "2001:db8:1::10";
const RANGE6_HOST: &str = "2001:db8:1::110";
const CLIENTS: [&str; 4] = [IP4, RANGE4_HOST, IP6, RANGE6_HOST];

/// Datagrams from `src` that reach the PBX's SIP port (5 sent).
fn through(lab: &Lab, src: &str) -> u64 {
    let udp = UdpCounter::start(&lab.pbx, 5060).unwrap();
    let dst = if src.contains(':') { PBX_V6 } else { PBX_V4 };
    send_udp(
        &lab.client,
        addr(src),
        SocketAddr::new(addr(dst), 5060),
        5,
        b"OPTIONS sip:100@pbx SIP/2.0\r\n\r\n",
    )
    .unwrap();
    udp.finish().unwrap().get(&addr(src)).copied().unwrap_or(0)
}

/// `sipguard bans --json`.
fn bans(d: &Daemon) -> Vec<serde_json::Value> {
    let out = d.cli(&["bans", "--json"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn row<'a>(rows: &'a [serde_json::Value], net: &str) -> Option<&'a serde_json::Value> {
    rows.iter().find(|r| r["net"] == net)
}

/// Waits (at most `limit`) until `pred` holds for the ban list; returns the time it took.
fn wait_bans(
    d: &Daemon,
    limit: Duration,
    what: &str,
    pred: impl Fn(&[serde_json::Value]) -> bool,
) -> Duration {
    let t0 = Instant::now();
    wait_every(limit, Duration::from_millis(100), what, || {
        pred(&bans(d)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", bans(d), d.log_text()));
    t0.elapsed()
}

/// The policy of the lab with `[crowdsec]` added.
fn with_crowdsec(extra: &str) -> TempFile {
    TempFile::with_contents(&format!(
        "{LAB}\n[crowdsec]\npoll_interval = \"1s\"\n{extra}"
    ))
}

/// A lab with the four clients, a LAPI on the PBX's loopback at `port`, and a daemon of the
/// lab's policy pulling its decisions with a bouncer key from a file.
fn lab_with_lapi(port: u16, metrics: u16) -> (Lab, Lapi, TempFile, Daemon) {
    lab_with_lapi_and(port, metrics, "")
}

/// [`lab_with_lapi`] with `extra` lines in `[crowdsec]`.
fn lab_with_lapi_and(port: u16, metrics: u16, extra: &str) -> (Lab, Lapi, TempFile, Daemon) {
    let lab = Lab::new(&CLIENTS).unwrap();
    let lapi = Lapi::start(&lab.pbx, ([127, 0, 0, 1], port).into()).unwrap();
    let key = lapi.bouncer_key("sipguard").unwrap();
    let key_file = lapi.secret_file("bouncer.key", &key).unwrap();
    let config = with_crowdsec(&format!(
        "lapi_url = \"{}\"\napi_key_file = \"{}\"\n{extra}",
        lapi.url(),
        key_file.display()
    ));
    let d = Daemon::start(&lab.pbx, PBX_IF, metrics, &["--config", config.as_str()]).unwrap();
    (lab, lapi, config, d)
}

privileged_test! {
    fn cscli_ip_and_range_decisions_v4_and_v6_are_dropped_within_one_poll_and_deleting_lifts_exactly_them() {
        let (lab, lapi, _config, d) = lab_with_lapi(18181, 9601);
        for c in CLIENTS {
            assert_eq!(through(&lab, c), 5, "{c} before any decision");
        }
        // The admin's own ban on an address a decision names too: never lifted by it.
        let out = d.cli(&["ban", IP6, "--for", "1h", "--reason", "by hand"]).unwrap();
        assert!(out.status.success());

        lapi.cscli(&["decisions", "add", "--ip", IP4, "-d", "1h"]).unwrap();
        lapi.cscli(&["decisions", "add", "--range", "192.0.2.64/26", "-d", "1h"]).unwrap();
        lapi.cscli(&["decisions", "add", "--ip", IP6, "-d", "1h"]).unwrap();
        lapi.cscli(&["decisions", "add", "--range", "2001:db8:1::100/120", "-d", "1h"]).unwrap();
        let took = wait_bans(&d, POLL + SLACK, "the four decisions as bans", |rows| {
            ["192.0.2.10/32", "192.0.2.64/26", "2001:db8:1::100/120"]
                .iter()
                .all(|n| row(rows, n).is_some_and(|r| r["reason"] == "crowdsec"))
        });
        eprintln!("decisions applied {took:?} after cscli returned (poll interval {POLL:?})");
        let rows = bans(&d);
        let r = row(&rows, "192.0.2.10/32").unwrap();
        assert!(r["note"].as_str().unwrap().contains("cscli"), "{r}");
        assert!(r["expires_in_s"].as_u64().unwrap() > 3500, "{r}");
        let manual = row(&rows, "2001:db8:1::10/128").unwrap();
        assert_eq!(manual["reason"], "manual", "the admin's ban is kept as it is: {manual}");
        for c in CLIENTS {
            assert_eq!(through(&lab, c), 0, "{c} under a decision");
        }

        lapi.cscli(&["decisions", "delete", "--ip", IP4]).unwrap();
        lapi.cscli(&["decisions", "delete", "--ip", IP6]).unwrap();
        lapi.cscli(&["decisions", "delete", "--range", "2001:db8:1::100/120"]).unwrap();
        wait_bans(&d, POLL + SLACK, "the deleted decisions lifted", |rows| {
            row(rows, "192.0.2.10/32").is_none() && row(rows, "2001:db8:1::100/120").is_none()
        });
        let rows = bans(&d);
        assert_eq!(row(&rows, "2001:db8:1::10/128").unwrap()["reason"], "manual");
        assert_eq!(row(&rows, "192.0.2.64/26").unwrap()["reason"], "crowdsec");
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(through(&lab, IP4), 5);
        assert_eq!(through(&lab, RANGE6_HOST), 5);
        assert_eq!(through(&lab, IP6), 0, "still banned by hand");
        assert_eq!(through(&lab, RANGE4_HOST), 0, "its decision stands");

        let text = d.scrape().unwrap();
        let applied = metric(&text, "sipguard_crowdsec_decisions_total", &[("origin", "cscli"), ("action", "applied")]);
        assert_eq!(applied, Some(4.0), "{text}");
        let deleted = metric(&text, "sipguard_crowdsec_decisions_total", &[("origin", "cscli"), ("action", "deleted")]);
        assert_eq!(deleted, Some(3.0));
        let kept = metric(&text, "sipguard_crowdsec_decisions_total", &[("origin", "cscli"), ("action", "kept_other")]);
        assert_eq!(kept, Some(1.0));
        assert!(metric(&text, "sipguard_crowdsec_last_success_timestamp_seconds", &[]).unwrap() > 1e9);
    }
}

privileged_test! {
    fn a_lapi_stopped_and_started_again_loses_nothing_and_the_outage_is_logged_once() {
        let (lab, mut lapi, _config, d) = lab_with_lapi(18182, 9602);
        lapi.cscli(&["decisions", "add", "--ip", IP4, "-d", "1h"]).unwrap();
        wait_bans(&d, POLL + SLACK, "the decision", |rows| row(rows, "192.0.2.10/32").is_some());
        lapi.stop().unwrap();
        std::thread::sleep(POLL * 4);
        assert!(row(&bans(&d), "192.0.2.10/32").is_some(), "the ban stays while the LAPI is away");
        assert_eq!(through(&lab, IP4), 0);
        let log = d.log_text();
        assert_eq!(log.matches("polling decisions failed").count(), 1, "one line per outage:\n{log}");
        let text = d.scrape().unwrap();
        assert!(metric(&text, "sipguard_crowdsec_request_failures_total", &[("request", "decisions"), ("why", "unreachable")]).unwrap() >= 2.0, "{text}");

        lapi.spawn().unwrap();
        lapi.cscli(&["decisions", "add", "--ip", RANGE4_HOST, "-d", "1h"]).unwrap();
        // After the outage the poll backs off (at most 8 intervals).
        wait_bans(&d, POLL * 8 + SLACK, "a decision made after the LAPI came back", |rows| {
            row(rows, "192.0.2.70/32").is_some()
        });
        assert!(row(&bans(&d), "192.0.2.10/32").is_some());
        assert!(d.wait_for_log("the LAPI answers again", Duration::from_secs(2)));
        assert_eq!(through(&lab, IP4), 0);
        assert_eq!(through(&lab, RANGE4_HOST), 0);
    }
}

privileged_test! {
    fn a_restarted_daemon_resynchronises_with_startup_without_duplicates_or_deleted_decisions() {
        let (lab, lapi, _config, mut d) = lab_with_lapi(18183, 9603);
        lapi.cscli(&["decisions", "add", "--ip", IP4, "-d", "1h"]).unwrap();
        lapi.cscli(&["decisions", "add", "--range", "2001:db8:1::100/120", "-d", "1h"]).unwrap();
        wait_bans(&d, POLL + SLACK, "both decisions", |rows| rows.len() == 2);
        d.stop().unwrap();
        // While the daemon is away: the bans hold in the kernel; one decision goes, one comes.
        assert_eq!(through(&lab, IP4), 0, "pinned bans outlive the daemon");
        lapi.cscli(&["decisions", "delete", "--ip", IP4]).unwrap();
        lapi.cscli(&["decisions", "add", "--ip", RANGE4_HOST, "-d", "1h"]).unwrap();
        d.spawn().unwrap();
        wait_bans(&d, POLL + SLACK, "the LAPI's set after the restart", |rows| {
            row(rows, "192.0.2.10/32").is_none()
                && row(rows, "192.0.2.70/32").is_some()
                && row(rows, "2001:db8:1::100/120").is_some()
        });
        let rows = bans(&d);
        assert_eq!(rows.len(), 2, "no duplicates: {rows:?}");
        assert!(d.wait_for_log("startup=true", Duration::from_secs(1)) || d.log_text().contains("startup"));
        assert_eq!(through(&lab, IP4), 5);
        assert_eq!(through(&lab, RANGE4_HOST), 0);
        assert_eq!(through(&lab, RANGE6_HOST), 0);
    }
}

/// A SIP REGISTER with credentials the PBX never accepts.
const GUESS: &str = "REGISTER sip:192.0.2.1 SIP/2.0\r\n\
    Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-guess\r\n\
    From: <sip:1001@192.0.2.1>;tag=1\r\nTo: <sip:1001@192.0.2.1>\r\n\
    Call-ID: guess@192.0.2.10\r\nCSeq: 2 REGISTER\r\n\
    Authorization: Digest username=\"1001\", realm=\"192.0.2.1\", nonce=\"n\", \
    uri=\"sip:192.0.2.1\", response=\"00000000000000000000000000000000\"\r\n\
    Content-Length: 0\r\n\r\n";

privileged_test! {
    fn an_auto_ban_on_pbx_a_shows_up_as_an_alert_and_pbx_b_drops_the_attacker_within_one_poll() {
        let a = Lab::new(&[IP4]).unwrap();
        let b = Lab::new(&[IP4]).unwrap();
        // The management link between the two PBXs; the LAPI listens on A's end.
        ip(&["-n", &a.pbx, "link", "add", "mg0", "type", "veth", "peer", "name", "mg1", "netns", &b.pbx]).unwrap();
        ip(&["-n", &a.pbx, "addr", "add", "198.51.100.1/24", "dev", "mg0"]).unwrap();
        ip(&["-n", &b.pbx, "addr", "add", "198.51.100.2/24", "dev", "mg1"]).unwrap();
        ip(&["-n", &a.pbx, "link", "set", "mg0", "up"]).unwrap();
        ip(&["-n", &b.pbx, "link", "set", "mg1", "up"]).unwrap();
        let lapi = Lapi::start(&a.pbx, ([198, 51, 100, 1], 18184).into()).unwrap();
        lapi.add_machine("sipguard-a", "pbx-a-password-1234").unwrap();
        let pw = lapi.secret_file("a.password", "pbx-a-password-1234").unwrap();
        let key_a = lapi.bouncer_key("pbx-a").unwrap();
        let key_b = lapi.bouncer_key("pbx-b").unwrap();
        let config_a = with_crowdsec(&format!(
            "lapi_url = \"{}\"\napi_key = \"{key_a}\"\nmachine_id = \"sipguard-a\"\npassword_file = \"{}\"\n",
            lapi.url(),
            pw.display()
        ));
        let config_b = with_crowdsec(&format!("lapi_url = \"{}\"\napi_key = \"{key_b}\"\n", lapi.url()));
        let da = Daemon::start(&a.pbx, PBX_IF, 9604, &["--config", config_a.as_str()]).unwrap();
        let db = Daemon::start(&b.pbx, PBX_IF, 9605, &["--config", config_b.as_str()]).unwrap();
        assert_eq!(through(&b, IP4), 5, "B before");

        // The guesser against A: the built-in `attempts = 10` bans it there.
        let pbx_a = UdpCounter::start(&a.pbx, 5060).unwrap();
        send_guesses(&a.client, addr(IP4), SocketAddr::new(addr(PBX_V4), 5060), 25, GUESS).unwrap();
        assert_eq!(pbx_a.finish().unwrap().get(&addr(IP4)), Some(&10));
        wait_bans(&da, Duration::from_secs(5), "A's auto-ban", |rows| {
            row(rows, "192.0.2.10/32").is_some_and(|r| r["reason"] == "auth_attempts")
        });
        // The alert reaches the LAPI.
        let alert = wait_every(Duration::from_secs(10), Duration::from_millis(250), "sipguard's alert in `cscli alerts list`", || {
            let out = lapi.cscli(&["alerts", "list", "-o", "json"]).ok()?;
            let v: serde_json::Value = serde_json::from_str(&out).ok()?;
            v.as_array()?
                .iter()
                .find(|a| a["scenario"] == "sipguard/sip-bruteforce" && a["source"]["ip"] == IP4)
                .cloned()
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", da.log_text()));
        assert_eq!(alert["machine_id"], "sipguard-a");
        assert_eq!(alert["decisions"][0]["type"], "ban");
        // B drops the attacker within one poll of the decision being there.
        let took = wait_bans(&db, POLL + SLACK, "B banning the attacker", |rows| {
            row(rows, "192.0.2.10/32").is_some_and(|r| r["reason"] == "crowdsec")
        });
        eprintln!("B banned the attacker {took:?} after the alert was listed");
        assert_eq!(through(&b, IP4), 0, "B drops the attacker");
        let note = bans(&db);
        assert!(row(&note, "192.0.2.10/32").unwrap()["note"].as_str().unwrap().contains("sipguard/sip-bruteforce"));
        // A keeps its own ban: the decision it caused is not written over it, nor sent back.
        std::thread::sleep(POLL + SLACK);
        assert_eq!(row(&bans(&da), "192.0.2.10/32").unwrap()["reason"], "auth_attempts");
        let text = da.scrape().unwrap();
        assert_eq!(metric(&text, "sipguard_crowdsec_alerts_total", &[("outcome", "sent")]), Some(1.0), "{text}");
        let text = db.scrape().unwrap();
        assert_eq!(metric(&text, "sipguard_crowdsec_decisions_total", &[("origin", "crowdsec"), ("action", "applied")]), Some(1.0), "{text}");
        let out = lapi.cscli(&["alerts", "list", "-o", "json"]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1, "one alert, nothing sent back: {v}");
    }
}

/// A stream answer with one `ban` of scope `Ip` per value.
fn stream(values: &[&str]) -> String {
    let new: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                r#"{{"duration":"59m59.5s","id":{},"origin":"lists","scenario":"test","scope":"Ip","type":"ban","value":"{v}"}}"#,
                i + 1
            )
        })
        .collect();
    format!(r#"{{"deleted":null,"new":[{}]}}"#, new.join(","))
}

privileged_test! {
    fn bad_lapi_answers_garbage_huge_wrong_key_or_no_address_apply_nothing_and_lose_nothing() {
        let lab = Lab::new(&CLIENTS).unwrap();
        // Answer 0: the good startup set. Then, one poll each: garbage, a page over the size
        // bound, 403, a page whose one value is no address next to a good one; then good.
        let good = stream(&[IP4]);
        let fake = FakeHttp::start(&lab.pbx, ([127, 0, 0, 1], 18185).into(), move |_, n| match n {
            0 => Reply::new(200, good.clone()),
            1 => Reply::new(200, "<html>502 Bad Gateway</html>"),
            2 => Reply::new(200, vec![b' '; 65 << 20]),
            3 => Reply::new(403, r#"{"message":"access forbidden"}"#),
            4 => Reply::new(200, stream(&[RANGE4_HOST, "not-an-ip"])),
            _ => Reply::new(200, stream(&[IP4, IP6])),
        })
        .unwrap();
        let config = with_crowdsec(&format!("lapi_url = \"{}\"\napi_key = \"k\"\n", fake.url()));
        let d = Daemon::start(&lab.pbx, PBX_IF, 9606, &["--config", config.as_str()]).unwrap();
        wait_bans(&d, POLL * 2 + SLACK, "the good answer's ban", |rows| row(rows, "192.0.2.10/32").is_some());
        for (what, line) in [
            ("garbage", "not a decision stream"),
            ("huge", "larger than"),
            ("403", "the key was refused (HTTP 403)"),
            ("no address", "\"not-an-ip\", which is no address"),
        ] {
            assert!(
                d.wait_for_log(line, Duration::from_secs(20)),
                "{what}: no log line {line:?}:\n{}",
                d.log_text()
            );
            let rows = bans(&d);
            assert_eq!(rows.len(), 1, "{what}: nothing applied, nothing lost: {rows:?}");
            assert!(row(&rows, "192.0.2.10/32").is_some());
        }
        // The answer after a refused one asks for the whole set again.
        wait_bans(&d, Duration::from_secs(20), "the good answer after the bad ones", |rows| {
            row(rows, "2001:db8:1::10/128").is_some()
        });
        let seen = fake.seen();
        assert!(seen[0].target.contains("startup=true"), "{:?}", seen[0]);
        let after_bad = &seen[5];
        assert!(after_bad.target.contains("startup=true"), "{after_bad:?}");
        assert!(row(&bans(&d), "192.0.2.70/32").is_none(), "nothing of the refused answer");
        assert_eq!(through(&lab, RANGE4_HOST), 5);
        assert_eq!(through(&lab, IP4), 0);
        let text = d.scrape().unwrap();
        for why in ["bad_answer", "too_large", "refused"] {
            assert!(
                metric(&text, "sipguard_crowdsec_request_failures_total", &[("request", "decisions"), ("why", why)]).is_some(),
                "{why}: {text}"
            );
        }
    }
}

/// `n` distinct documentation-range IPv4 addresses from `from` on (203.0.113.0/24, then
/// 198.18.0.0/15).
fn addresses(from: u32, n: u32) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            if i < 256 {
                format!("203.0.113.{i}")
            } else {
                let j = i - 256;
                format!("198.18.{}.{}", j / 256, j % 256)
            }
        })
        .collect()
}

fn apiban_page(addrs: &[String], id: &str) -> String {
    serde_json::json!({"ipaddress": addrs, "ID": id}).to_string()
}

/// The lab's policy with `[apiban]` pointing at `url`, its last ID kept in `state`.
fn with_apiban(url: &str, state: &std::path::Path) -> TempFile {
    TempFile::with_contents(&format!(
        "{LAB}\n[apiban]\nkey = \"testkey\"\nurl = \"{url}\"\ninterval = \"10m\"\nstate = \"{}\"\n",
        state.display()
    ))
}

privileged_test! {
    fn apiban_pages_of_250_and_the_end_marker_feed_bans_after_a_429_back_off_and_the_last_id_survives_a_restart() {
        let lab = Lab::new(&CLIENTS).unwrap();
        let mut page1 = addresses(1, 249);
        page1.push(IP4.to_owned());
        let page2 = addresses(300, 250);
        let (p1, p2) = (apiban_page(&page1, "100"), apiban_page(&page2, "200"));
        let fake = FakeHttp::start(&lab.pbx, ([127, 0, 0, 1], 18186).into(), move |target, n| {
            match (target, n) {
                (_, 0) => Reply::new(429, r#"{"ipaddress":"rate limit exceeded", "ID":"unauthorized"}"#)
                    .header("Retry-After: 2"),
                ("/testkey/banned", _) => Reply::new(200, p1.clone()),
                ("/testkey/banned/100", _) => Reply::new(200, p2.clone()),
                _ => Reply::new(400, r#"{"ipaddress":["no new bans"], "ID":"none"}"#),
            }
        })
        .unwrap();
        let state = std::env::temp_dir().join(sipguard_tests::unique("sipguard-apiban-")).join("apiban.id");
        let config = with_apiban(&fake.url(), &state);
        let mut d = Daemon::start(&lab.pbx, PBX_IF, 9607, &["--config", config.as_str()]).unwrap();
        wait_bans(&d, Duration::from_secs(15), "the feed's 500 bans", |rows| {
            rows.iter().filter(|r| r["reason"] == "apiban").count() == 500
        });
        assert!(d.wait_for_log("apiban: feed read", Duration::from_secs(5)), "{}", d.log_text());
        let seen = fake.seen();
        let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
        assert_eq!(
            targets,
            ["/testkey/banned", "/testkey/banned", "/testkey/banned/100", "/testkey/banned/200"],
            "a 429, then the pages, then the end marker"
        );
        let waited = seen[1].at.duration_since(seen[0].answered);
        assert!(waited >= Duration::from_secs(2), "Retry-After: 2 was kept: {waited:?}");
        let rows = bans(&d);
        let r = row(&rows, "192.0.2.10/32").unwrap();
        assert!(r["expires_in_s"].as_u64().unwrap() > 7 * 86400 - 60, "seven days: {r}");
        assert_eq!(through(&lab, IP4), 0);
        assert_eq!(through(&lab, RANGE4_HOST), 5);
        assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), "200");
        let text = d.scrape().unwrap();
        assert_eq!(metric(&text, "sipguard_apiban_decisions_total", &[("origin", "apiban"), ("action", "applied")]), Some(500.0));
        assert!(metric(&text, "sipguard_apiban_request_failures_total", &[("request", "banned"), ("why", "rate_limited")]).is_some());

        d.restart().unwrap();
        wait_every(Duration::from_secs(10), Duration::from_millis(100), "a request after the restart", || {
            (fake.seen().len() > 4).then_some(())
        })
        .unwrap();
        assert_eq!(fake.seen()[4].target, "/testkey/banned/200", "the kept ID");
        assert_eq!(bans(&d).len(), 500);
        let _ = std::fs::remove_dir_all(state.parent().unwrap());
    }
}

privileged_test! {
    fn bad_apiban_answers_garbage_wrong_key_or_no_address_apply_nothing_and_lose_nothing() {
        let lab = Lab::new(&CLIENTS).unwrap();
        let mut page1 = addresses(1, 9);
        page1.push(IP4.to_owned());
        let p1 = apiban_page(&page1, "100");
        let bad = apiban_page(&[RANGE4_HOST.to_owned(), "evil.example".to_owned()], "150");
        // Each start reads from the kept ID: answer 0 the good page, then one bad answer per
        // start.
        let fake = FakeHttp::start(&lab.pbx, ([127, 0, 0, 1], 18187).into(), move |_, n| match n {
            0 => Reply::new(200, p1.clone()),
            1 => Reply::new(200, "<html>oops</html>"),
            2 => Reply::new(403, r#"{"ipaddress":"none", "ID":"unauthorized"}"#),
            _ => Reply::new(200, bad.clone()),
        })
        .unwrap();
        let state = std::env::temp_dir().join(sipguard_tests::unique("sipguard-apiban-")).join("apiban.id");
        let config = with_apiban(&fake.url(), &state);
        let mut d = Daemon::start(&lab.pbx, PBX_IF, 9608, &["--config", config.as_str()]).unwrap();
        wait_bans(&d, Duration::from_secs(10), "the good page", |rows| rows.len() == 10);
        for line in [
            "not an APIBan answer",
            "the key was refused (HTTP 403)",
            "\"evil.example\", which is no address",
        ] {
            // Each start reads the feed at once, from the kept ID.
            d.restart().unwrap();
            assert!(d.wait_for_log(line, Duration::from_secs(10)), "no {line:?}:\n{}", d.log_text());
            assert_eq!(bans(&d).len(), 10, "{line}: nothing applied, nothing lost");
            assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), "100", "the ID is not taken");
        }
        let targets: Vec<String> = fake.seen().iter().map(|s| s.target.clone()).collect();
        assert_eq!(targets[1..], ["/testkey/banned/100"; 3], "{targets:?}");
        assert_eq!(through(&lab, RANGE4_HOST), 5);
        assert_eq!(through(&lab, IP4), 0);
        let _ = std::fs::remove_dir_all(state.parent().unwrap());
    }
}

privileged_test! {
    fn fifty_thousand_decisions_load_without_holding_up_the_daemon() {
        const N: u32 = 50_000;
        let lab = Lab::new(&[IP4]).unwrap();
        let values = addresses(1, N - 1);
        let mut refs: Vec<&str> = values.iter().map(String::as_str).collect();
        refs.push(IP4);
        let big = stream(&refs);
        let fake = FakeHttp::start(&lab.pbx, ([127, 0, 0, 1], 18188).into(), move |_, n| match n {
            0 => Reply::new(200, big.clone()),
            _ => Reply::new(200, r#"{"deleted":null,"new":null}"#),
        })
        .unwrap();
        let config = with_crowdsec(&format!("lapi_url = \"{}\"\napi_key = \"k\"\n", fake.url()));
        let d = Daemon::start(&lab.pbx, PBX_IF, 9609, &["--config", config.as_str()]).unwrap();
        // The metrics answer while the list loads.
        assert!(d.scrape().is_some());
        assert!(d.wait_for_log("crowdsec: decisions applied", Duration::from_secs(60)), "{}", d.log_text());
        let served = fake.seen()[0].answered;
        let line = d
            .log_text()
            .lines()
            .find(|l| l.contains("crowdsec: decisions applied"))
            .map(strip_ansi)
            .unwrap();
        let loaded = served.elapsed();
        assert!(line.contains(&format!("banned={N}")) || line.contains(&format!("\"banned\":{N}")), "{line}");
        let text = d.scrape().unwrap();
        assert_eq!(metric(&text, "sipguard_map_entries", &[("map", "BANS_V4")]), Some(f64::from(N)));
        assert_eq!(through(&lab, IP4), 0);
        eprintln!("50,000 decisions: {line}; all in the tries {loaded:?} after the answer was served");
    }
}

#[test]
fn the_addresses_of_the_load_test_are_distinct() {
    let a = addresses(1, 50_000);
    let set: std::collections::BTreeSet<IpAddr> = a.iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(set.len(), 50_000);
}

/// `line` without its terminal colour escapes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

privileged_test! {
    fn the_applied_policy_record_with_an_inline_key_is_readable_by_root_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let text = "[crowdsec]\nlapi_url = \"http://127.0.0.1:18189/\"\napi_key = \"s3cret-bouncer-key\"\n";
        let config = sipguard::config::Config::from_str(text, "inline-key.toml").expect("a valid policy");
        let pin_dir = std::path::Path::new("/sys/fs/bpf/sipguard-test-applied-mode");
        let path = sipguard::control::applied::record_path(pin_dir);
        sipguard::control::applied::record(pin_dir, &config, &["eth0".to_owned()]).expect("recording the policy");
        let mode = std::fs::metadata(&path).expect("the record").permissions().mode() & 0o777;
        let recorded = std::fs::read_to_string(&path).expect("the record");
        sipguard::control::applied::forget(pin_dir);
        assert_eq!(mode, 0o600, "{}", path.display());
        assert!(recorded.contains("s3cret-bouncer-key"), "the record is the policy text");
    }
}

/// The usage-metrics bodies a fake LAPI received, parsed.
fn usage_pushes(fake: &FakeHttp) -> Vec<serde_json::Value> {
    fake.seen()
        .iter()
        .filter(|s| s.target == "/v1/usage-metrics")
        .map(|s| serde_json::from_slice(&s.body).unwrap_or_else(|e| panic!("{e}: {s:?}")))
        .collect()
}

/// The sum of a push's items named `name` in `unit` whose labels include `labels`.
fn usage_value(body: &serde_json::Value, name: &str, unit: &str, labels: &[(&str, &str)]) -> f64 {
    body["remediation_components"][0]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["items"].as_array().into_iter().flatten())
        .filter(|i| i["name"] == name && i["unit"] == unit)
        .filter(|i| labels.iter().all(|(k, v)| i["labels"][*k] == *v))
        .map(|i| i["value"].as_f64().unwrap())
        .sum()
}

const NO_CHANGE: &str = r#"{"deleted":null,"new":null}"#;

privileged_test! {
    fn usage_metrics_are_pushed_with_the_bouncer_key_and_count_the_decisions_and_their_drops() {
        const FAILED: usize = 2;
        let lab = Lab::new(&CLIENTS).unwrap();
        let first = stream(&[IP4, IP6]);
        let (mut polls, mut usage) = (0, 0);
        // The first two pushes fail: their counts wait for the next one.
        let fake = FakeHttp::start(&lab.pbx, ([127, 0, 0, 1], 18190).into(), move |target, _| {
            if target == "/v1/usage-metrics" {
                usage += 1;
                return Reply::new(if usage <= FAILED { 500 } else { 201 }, "");
            }
            polls += 1;
            Reply::new(200, if polls == 1 { first.clone() } else { NO_CHANGE.to_owned() })
        })
        .unwrap();
        let config = with_crowdsec(&format!(
            "lapi_url = \"{}\"\napi_key = \"usage-key\"\nmetrics_interval = \"2s\"\n",
            fake.url()
        ));
        let d = Daemon::start(&lab.pbx, PBX_IF, 9610, &["--config", config.as_str()]).unwrap();
        wait_bans(&d, POLL * 2 + SLACK, "both decisions", |rows| rows.len() == 2);
        assert_eq!(through(&lab, IP4), 0);
        assert_eq!(through(&lab, IP6), 0);
        let hits = |net: &str| row(&bans(&d), net).unwrap()["hits"].as_f64().unwrap();
        assert_eq!(hits("192.0.2.10/32"), 5.0, "the ban counted the datagrams: {:?}", bans(&d));
        // A banned IPv6 source's neighbour solicitations are dropped too (bans come first), so
        // its datagrams never leave the client: the ban counts those.
        assert!(hits("2001:db8:1::10/128") >= 1.0, "{:?}", bans(&d));
        // The pushes (one window each) add up to what each ban dropped.
        let sum = |pushes: &[serde_json::Value], ip: &str| -> f64 {
            pushes
                .iter()
                .map(|b| usage_value(b, "dropped", "packet", &[("origin", "lists"), ("ip_type", ip)]))
                .sum()
        };
        let pushes = wait_every(Duration::from_secs(20), Duration::from_millis(200), "the drops pushed", || {
            let pushes = usage_pushes(&fake).split_off(FAILED.min(usage_pushes(&fake).len()));
            // A window after the drops: deltas, not totals, so the sums still match.
            (pushes.len() >= 2
                && sum(&pushes, "ipv4") == hits("192.0.2.10/32")
                && sum(&pushes, "ipv6") == hits("2001:db8:1::10/128"))
            .then_some(pushes)
        })
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{:?}\n{}", usage_pushes(&fake), bans(&d), d.log_text()));
        let last = pushes.last().unwrap();
        assert_eq!(usage_value(last, "active_decisions", "ip", &[("origin", "lists"), ("ip_type", "ipv4")]), 1.0, "{last}");
        assert_eq!(usage_value(last, "active_decisions", "ip", &[("origin", "lists"), ("ip_type", "ipv6")]), 1.0, "{last}");
        let processed: f64 = pushes.iter().map(|b| usage_value(b, "processed", "packet", &[])).sum();
        assert!(processed >= 10.0, "the judged packets: {processed}");
        // The shape the LAPI validates, and the key.
        let rc = &last["remediation_components"][0];
        assert_eq!(rc["type"], "sipguard", "{last}");
        assert!(rc["version"].as_str().is_some_and(|v| !v.is_empty()));
        assert!(rc["os"]["name"].as_str().is_some_and(|v| !v.is_empty()) && rc["os"]["version"].is_string());
        assert_eq!(rc["feature_flags"], serde_json::json!([]));
        let meta = &rc["metrics"][0]["meta"];
        let now = meta["utc_now_timestamp"].as_u64().unwrap();
        assert!(rc["utc_startup_timestamp"].as_u64().unwrap() <= now);
        let window = meta["window_size_seconds"].as_u64().unwrap();
        assert!((1..=4).contains(&window), "about the 2 s interval: {window}");
        let first_taken = &pushes[0]["remediation_components"][0]["metrics"][0]["meta"];
        let grown = first_taken["window_size_seconds"].as_u64().unwrap();
        assert!(grown >= 5, "the failed pushes' window is carried: {grown}");
        let log = d.log_text();
        assert_eq!(log.matches("sending usage metrics failed").count(), 1, "once per outage:\n{log}");
        assert!(log.contains("usage metrics are taken again"), "{log}");
        for s in fake.seen().iter().filter(|s| s.target == "/v1/usage-metrics") {
            assert!(s.head.starts_with("POST "), "{}", s.head);
            assert_eq!(s.header("x-api-key"), Some("usage-key"), "{}", s.head);
            assert_eq!(s.header("content-type"), Some("application/json"));
        }
    }
}

privileged_test! {
    fn a_lapi_without_usage_metrics_404_turns_the_push_off_after_one_line_and_decisions_keep_flowing() {
        let lab = Lab::new(&CLIENTS).unwrap();
        let (first, later) = (stream(&[IP4]), stream(&[RANGE4_HOST]));
        let (mut polls, mut refused, mut sent_later) = (0, false, false);
        let fake = FakeHttp::start(&lab.pbx, ([127, 0, 0, 1], 18191).into(), move |target, _| {
            if target == "/v1/usage-metrics" {
                refused = true;
                return Reply::new(404, "404 page not found");
            }
            polls += 1;
            if polls == 1 {
                Reply::new(200, first.clone())
            } else if refused && !std::mem::replace(&mut sent_later, true) {
                Reply::new(200, later.clone())
            } else {
                Reply::new(200, NO_CHANGE)
            }
        })
        .unwrap();
        let config = with_crowdsec(&format!(
            "lapi_url = \"{}\"\napi_key = \"k\"\nmetrics_interval = \"1s\"\n",
            fake.url()
        ));
        let d = Daemon::start(&lab.pbx, PBX_IF, 9611, &["--config", config.as_str()]).unwrap();
        const LINE: &str = "no usage metrics endpoint";
        assert!(d.wait_for_log(LINE, Duration::from_secs(5)), "{}", d.log_text());
        // A decision handed out after the 404 is applied as ever.
        wait_bans(&d, POLL * 2 + SLACK, "the decision after the 404", |rows| {
            row(rows, "192.0.2.10/32").is_some() && row(rows, "192.0.2.70/32").is_some()
        });
        std::thread::sleep(POLL * 4);
        let usage = fake.seen().iter().filter(|s| s.target == "/v1/usage-metrics").count();
        assert_eq!(usage, 1, "no push after the 404");
        let log = d.log_text();
        assert_eq!(log.matches(LINE).count(), 1, "one line:\n{log}");
        assert!(!log.contains("polling decisions failed"), "{log}");
        assert_eq!(through(&lab, IP4), 0);
        assert_eq!(through(&lab, RANGE4_HOST), 0);
        let text = d.scrape().unwrap();
        let failed = metric(&text, "sipguard_crowdsec_request_failures_total", &[("request", "usage_metrics"), ("why", "status")]);
        assert_eq!(failed, Some(1.0), "{text}");
    }
}

privileged_test! {
    fn the_debian_lapi_without_usage_metrics_keeps_handing_out_decisions() {
        // Debian's crowdsec 1.4.6 predates `POST /v1/usage-metrics` (1.6).
        let (lab, lapi, _config, d) = lab_with_lapi_and(18192, 9612, "metrics_interval = \"1s\"\n");
        lapi.cscli(&["decisions", "add", "--ip", IP4, "-d", "1h"]).unwrap();
        wait_bans(&d, POLL + SLACK, "the decision", |rows| row(rows, "192.0.2.10/32").is_some());
        assert!(d.wait_for_log("no usage metrics endpoint", Duration::from_secs(5)), "{}", d.log_text());
        lapi.cscli(&["decisions", "add", "--ip", IP6, "-d", "1h"]).unwrap();
        wait_bans(&d, POLL + SLACK, "a decision after the 404", |rows| row(rows, "2001:db8:1::10/128").is_some());
        std::thread::sleep(POLL * 2);
        let log = d.log_text();
        assert_eq!(log.matches("no usage metrics endpoint").count(), 1, "{log}");
        assert!(!log.contains("polling decisions failed"), "{log}");
        assert_eq!(through(&lab, IP4), 0);
        assert_eq!(through(&lab, IP6), 0);
    }
}

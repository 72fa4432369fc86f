//! The CrowdSec signal side: sipguard's own bans (the programs' auto-bans and scanner bans,
//! the log watch's) sent to the Local API as alerts with a ban decision, so that every
//! bouncer of that LAPI drops the attacker too. Bans that came from a feed are never sent.
//!
//! Logged in as a machine (`POST /v1/watchers/login`, a JWT renewed on 401), batched (at
//! most [`BATCH`] alerts per request, one request per second at most) and rate-bounded
//! ([`PER_MINUTE`]; the rest are dropped and counted). A batch that fails waits for the next
//! round, at most [`PENDING`] alerts are kept waiting.
use std::{
    collections::VecDeque,
    net::IpAddr,
    sync::mpsc::{Receiver, RecvTimeoutError},
    time::{Duration, Instant, SystemTime},
};

use ipnet::IpNet;
use serde_json::json;
use sipguard_common::{
    BAN_REASON_AUTH_ATTEMPTS, BAN_REASON_AUTH_ENUMERATION, BAN_REASON_AUTH_FAILURES,
    BAN_REASON_LOG, BAN_REASON_SCANNER,
};

use super::{
    counts::{self, Feed},
    http::Client,
    FeedError, Signal,
};

/// Alerts per request at most.
pub const BATCH: usize = 50;
/// Alerts per minute at most.
pub const PER_MINUTE: u32 = 120;
/// Alerts kept waiting while the LAPI doesn't take them.
pub const PENDING: usize = 1000;

/// The scenario an alert names for a ban of `reason`.
pub fn scenario(reason: u32) -> Option<&'static str> {
    match reason {
        BAN_REASON_SCANNER => Some("sipguard/sip-scanner"),
        BAN_REASON_AUTH_FAILURES | BAN_REASON_AUTH_ATTEMPTS | BAN_REASON_AUTH_ENUMERATION => {
            Some("sipguard/sip-bruteforce")
        }
        BAN_REASON_LOG => Some("sipguard/log-bruteforce"),
        _ => None,
    }
}

/// The alert for one of sipguard's bans, in the shape `POST /v1/alerts` requires.
pub fn alert(s: &Signal, at: SystemTime) -> Option<serde_json::Value> {
    let scenario = scenario(s.reason)?;
    let host = s.net.prefix_len() == s.net.max_prefix_len();
    let (scope, value) = if host {
        ("Ip", s.net.addr().to_string())
    } else {
        ("Range", s.net.to_string())
    };
    let stamp = rfc3339(at);
    let mut source = json!({ "scope": scope, "value": value });
    if host {
        source["ip"] = json!(value);
    } else {
        source["range"] = json!(value);
    }
    let seconds = s.seconds.max(1);
    Some(json!({
        "scenario": scenario,
        "scenario_hash": "",
        "scenario_version": env!("CARGO_PKG_VERSION"),
        "message": format!("sipguard banned {value} for {seconds}s ({})", s.why),
        "events_count": s.count.max(1),
        "start_at": stamp,
        "stop_at": stamp,
        "capacity": s.count,
        "leakspeed": "0s",
        "simulated": false,
        "remediation": true,
        "events": [],
        "source": source,
        "decisions": [{
            "duration": format!("{seconds}s"),
            "origin": "crowdsec",
            "scenario": scenario,
            "scope": scope,
            "type": "ban",
            "value": value,
        }],
    }))
}

/// `SystemTime` as RFC 3339 UTC (`2026-12-02T07:12:11Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86400, secs % 86400);
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// What the alert sender needs.
#[derive(Clone, Debug)]
pub struct AlertConfig {
    pub lapi_url: String,
    pub machine_id: String,
    pub password: String,
}

/// Sends the signals of `rx` until the sending side goes away.
pub fn run(cfg: &AlertConfig, rx: &Receiver<Signal>) {
    let client = Client::new();
    let mut token: Option<String> = None;
    let mut pending: VecDeque<serde_json::Value> = VecDeque::new();
    let mut window = Instant::now();
    let mut sent_in_window = 0u32;
    let mut failing = false;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(s) => take(&mut pending, &s, &mut window, &mut sent_in_window),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(s) = rx.try_recv() {
            take(&mut pending, &s, &mut window, &mut sent_in_window);
        }
        if pending.is_empty() {
            continue;
        }
        let n = pending.len().min(BATCH);
        let batch: Vec<serde_json::Value> = pending.iter().take(n).cloned().collect();
        match send(&client, cfg, &mut token, &batch) {
            Ok(()) => {
                pending.drain(..n);
                counts::alerts("sent", n as u64);
                if std::mem::take(&mut failing) {
                    tracing::info!(lapi = %cfg.lapi_url, "crowdsec: alerts are taken again");
                }
                tracing::info!(alerts = n, "crowdsec: sent sipguard's bans as alerts");
            }
            Err(e) => {
                counts::failure(Feed::Crowdsec, "alerts", e.why());
                counts::alerts("failed", n as u64);
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(
                        lapi = %cfg.lapi_url,
                        waiting = pending.len(),
                        "crowdsec: sending alerts failed, they wait for the next try: {e}"
                    );
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

/// Queues the alert of `s`, within the rate bound and the pending bound.
fn take(
    pending: &mut VecDeque<serde_json::Value>,
    s: &Signal,
    window: &mut Instant,
    sent: &mut u32,
) {
    if window.elapsed() >= Duration::from_secs(60) {
        *window = Instant::now();
        *sent = 0;
    }
    if *sent >= PER_MINUTE || pending.len() >= PENDING {
        counts::alerts("dropped", 1);
        return;
    }
    if let Some(a) = alert(s, SystemTime::now()) {
        *sent += 1;
        pending.push_back(a);
    }
}

fn send(
    client: &Client,
    cfg: &AlertConfig,
    token: &mut Option<String>,
    batch: &[serde_json::Value],
) -> Result<(), FeedError> {
    let body = serde_json::to_vec(batch).map_err(|e| FeedError::BadAnswer(e.to_string()))?;
    for _ in 0..2 {
        let jwt = match token.clone() {
            Some(t) => t,
            None => {
                let t = login(client, cfg)?;
                *token = Some(t.clone());
                t
            }
        };
        let auth = format!("Bearer {jwt}");
        let answer = client.post_json(
            &format!("{}/v1/alerts", cfg.lapi_url),
            &[("Authorization", &auth)],
            &body,
            1 << 20,
        )?;
        match answer.status {
            200 | 201 => return Ok(()),
            401 => *token = None,
            status => {
                return Err(FeedError::Status {
                    status,
                    body: super::error::excerpt(&answer.body),
                })
            }
        }
    }
    Err(FeedError::Refused {
        status: 401,
        body: "the LAPI refused a fresh login's token".into(),
    })
}

/// `POST /v1/watchers/login`: the machine's JWT.
fn login(client: &Client, cfg: &AlertConfig) -> Result<String, FeedError> {
    let body = json!({
        "machine_id": cfg.machine_id,
        "password": cfg.password,
        "scenarios": ["sipguard/sip-bruteforce", "sipguard/sip-scanner", "sipguard/log-bruteforce"],
    });
    let answer = client.post_json(
        &format!("{}/v1/watchers/login", cfg.lapi_url),
        &[],
        body.to_string().as_bytes(),
        64 << 10,
    )?;
    if answer.status != 200 {
        return Err(super::error::unexpected_status(answer.status, &answer.body));
    }
    let v: serde_json::Value = serde_json::from_slice(&answer.body)
        .map_err(|e| FeedError::BadAnswer(format!("login answer: {e}")))?;
    v["token"]
        .as_str()
        .filter(|t| !t.is_empty() && t.len() < 8192)
        .map(str::to_owned)
        .ok_or_else(|| FeedError::BadAnswer("the login answer has no token".into()))
}

/// A signal for a ban of the host's own making, if the address is one to report.
pub fn worth_sending(net: &IpNet) -> bool {
    let a: IpAddr = net.addr();
    !(a.is_loopback() || a.is_unspecified() || a.is_multicast())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(net: &str, reason: u32) -> Signal {
        Signal {
            net: net.parse().unwrap(),
            reason,
            seconds: 3600,
            count: 11,
            why: "auth_attempts".into(),
        }
    }

    #[test]
    fn an_auto_ban_becomes_an_alert_with_a_ban_decision() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_195_531);
        let a = alert(&signal("192.0.2.10/32", BAN_REASON_AUTH_ATTEMPTS), at).unwrap();
        assert_eq!(a["scenario"], "sipguard/sip-bruteforce");
        assert_eq!(a["source"]["scope"], "Ip");
        assert_eq!(a["source"]["ip"], "192.0.2.10");
        assert_eq!(a["decisions"][0]["value"], "192.0.2.10");
        assert_eq!(a["decisions"][0]["duration"], "3600s");
        assert_eq!(a["start_at"], "2026-12-02T07:12:11Z");
        let a = alert(&signal("2001:db8:66::/64", BAN_REASON_SCANNER), at).unwrap();
        assert_eq!(a["scenario"], "sipguard/sip-scanner");
        assert_eq!(a["source"]["scope"], "Range");
        assert_eq!(a["decisions"][0]["value"], "2001:db8:66::/64");
    }

    #[test]
    fn manual_and_feed_bans_are_never_sent() {
        let at = SystemTime::UNIX_EPOCH;
        assert!(alert(
            &signal("192.0.2.10/32", sipguard_common::BAN_REASON_MANUAL),
            at
        )
        .is_none());
        assert!(alert(
            &signal("192.0.2.10/32", crate::dataplane::maps::BAN_REASON_CROWDSEC),
            at
        )
        .is_none());
        assert!(alert(
            &signal("192.0.2.10/32", crate::dataplane::maps::BAN_REASON_APIBAN),
            at
        )
        .is_none());
    }

    #[test]
    fn rfc3339_of_known_times() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}

//! The usage metrics push: what sipguard did with the LAPI's decisions, sent back to it with
//! the bouncer key (`POST /v1/usage-metrics`, CrowdSec 1.6 and later) in the shape
//! go-cs-bouncer and cs-firewall-bouncer send, so that `cscli metrics show bouncers` (and the
//! console, through the LAPI) show sipguard's drops.
//!
//! Every `[crowdsec] metrics_interval` (15 minutes unless configured, go-cs-bouncer's), one
//! remediation component (`type` and `name` `sipguard`, its version, the OS, the start time)
//! with one window of items:
//! - `active_decisions` (unit `ip`): the `crowdsec` bans in force, by `origin` and `ip_type`;
//! - `dropped` (unit `packet`): the packets those bans dropped in the window, by `origin` and
//!   `ip_type`, from each ban's `hits` (the programs count packets per ban, not bytes; the hits
//!   of a ban lifted within the window are not counted);
//! - `processed` (units `packet` and `byte`): what the XDP program judged in the window.
//!
//! Read from the pinned maps at each push, never per packet. A 404 (a LAPI before 1.6) is
//! logged once and ends the push for the daemon's life; another failure is logged once per
//! outage and the window stays open, so the next push carries its counts. The decision
//! stream has a thread of its own and never waits for this one.
use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    time::{Duration, SystemTime},
};

use ipnet::IpNet;
use serde_json::{json, Value};

use super::{
    counts::{self, Feed},
    http::Client,
    FeedError,
};
use crate::dataplane::{
    clock::ban_clock_ns,
    maps::{Expiry, BAN_REASON_CROWDSEC},
    Maps,
};

/// The component's `type` and `name`.
pub const COMPONENT: &str = "sipguard";

/// What the push needs.
#[derive(Clone, Debug)]
pub struct UsageConfig {
    pub lapi_url: String,
    pub api_key: String,
    pub interval: Duration,
    pub pin_path: PathBuf,
    /// When the daemon started (`utc_startup_timestamp`).
    pub started: SystemTime,
}

/// The maps at one push.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Unix seconds.
    pub at: u64,
    /// The `crowdsec` bans in force: prefix -> (origin, hits).
    pub bans: HashMap<IpNet, (String, u64)>,
    /// Packets and bytes the XDP program judged, since its counters began.
    pub processed: (u64, u64),
}

/// The OS, as `/etc/os-release` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Os {
    pub name: String,
    pub version: String,
}

/// `ID` and `VERSION_ID` of an os-release text (`unknown` for what it lacks).
pub fn os_release(text: &str) -> Os {
    let field = |key: &str| {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
            .find(|v| !v.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    Os {
        name: field("ID"),
        version: field("VERSION_ID"),
    }
}

/// The origin of a `crowdsec` ban from its note (`crowdsec ORIGIN SCENARIO`).
pub fn origin_of_note(note: &str) -> Option<&str> {
    note.strip_prefix("crowdsec ")?
        .split(' ')
        .next()
        .filter(|o| !o.is_empty())
}

/// An origin as the LAPI names it (the ledger keeps them lowercase; the LAPI and cscli call
/// the community blocklist `CAPI`).
fn origin_label(origin: &str) -> String {
    match counts::label(origin) {
        o if o == "capi" => "CAPI".into(),
        o => o,
    }
}

fn ip_type(net: &IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "ipv4",
        IpNet::V6(_) => "ipv6",
    }
}

/// `now - before`, or `now` when the counter started over in between.
fn since(before: u64, now: u64) -> u64 {
    now.checked_sub(before).unwrap_or(now)
}

/// The items of the window from `base` to `now`.
pub fn items(base: &Sample, now: &Sample) -> Vec<Value> {
    let mut active: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    let mut dropped: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    for (net, (origin, hits)) in &now.bans {
        let key = (origin_label(origin), ip_type(net));
        *active.entry(key.clone()).or_default() += 1;
        let before = base.bans.get(net).map_or(0, |(_, h)| *h);
        *dropped.entry(key).or_default() += since(before, *hits);
    }
    let item = |name: &str, unit: &str, value: u64, labels: Value| json!({ "name": name, "value": value, "unit": unit, "labels": labels });
    let mut out = Vec::new();
    for ((origin, ip), n) in &active {
        out.push(item(
            "active_decisions",
            "ip",
            *n,
            json!({ "origin": origin, "ip_type": ip }),
        ));
    }
    for ((origin, ip), n) in &dropped {
        out.push(item(
            "dropped",
            "packet",
            *n,
            json!({ "origin": origin, "ip_type": ip }),
        ));
    }
    out.push(item(
        "processed",
        "packet",
        since(base.processed.0, now.processed.0),
        json!({}),
    ));
    out.push(item(
        "processed",
        "byte",
        since(base.processed.1, now.processed.1),
        json!({}),
    ));
    out
}

/// The whole body of `POST /v1/usage-metrics` for the window from `base` to `now`.
pub fn payload(os: &Os, started: u64, base: &Sample, now: &Sample) -> Value {
    json!({
        "remediation_components": [{
            "type": COMPONENT,
            "name": COMPONENT,
            "version": env!("CARGO_PKG_VERSION"),
            "os": { "name": os.name, "family": "linux", "version": os.version },
            "feature_flags": [],
            "utc_startup_timestamp": started,
            "metrics": [{
                "meta": {
                    "window_size_seconds": now.at.saturating_sub(base.at),
                    "utc_now_timestamp": now.at,
                },
                "items": items(base, now),
            }],
        }],
    })
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The maps pinned in `pin_path` now.
fn sample(pin_path: &std::path::Path) -> Result<Sample, FeedError> {
    let maps = Maps::open_pinned(pin_path)?;
    let now = ban_clock_ns();
    let mut bans = HashMap::new();
    for (net, b) in maps.bans()? {
        if b.reason != BAN_REASON_CROWDSEC || Expiry::from_ns(b.expires_ns).has_passed(now) {
            continue;
        }
        let note = maps.ban_note(net).unwrap_or_default();
        let origin = origin_of_note(&note).unwrap_or("unknown").to_owned();
        bans.insert(net, (origin, b.hits));
    }
    let processed = maps.counters()?.iter().fold((0u64, 0u64), |(p, b), r| {
        (p.saturating_add(r.packets), b.saturating_add(r.bytes))
    });
    Ok(Sample {
        at: unix(SystemTime::now()),
        bans,
        processed,
    })
}

/// Pushes every interval until a 404 says the LAPI has no such endpoint (on its own thread).
pub fn run(cfg: &UsageConfig) {
    let client = Client::new();
    let os = os_release(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    let started = unix(cfg.started);
    // The first window starts now: hits of bans older than the daemon are not this run's.
    let mut base = sample(&cfg.pin_path).unwrap_or_else(|_| Sample {
        at: started,
        ..Sample::default()
    });
    let mut failing: Option<&'static str> = None;
    loop {
        std::thread::sleep(cfg.interval);
        let pushed = sample(&cfg.pin_path).and_then(|now| {
            let body = payload(&os, started, &base, &now).to_string();
            push(&client, cfg, body.as_bytes())?;
            Ok(now)
        });
        match pushed {
            Ok(now) => {
                tracing::debug!(
                    window_s = now.at.saturating_sub(base.at),
                    "crowdsec: usage metrics sent"
                );
                base = now;
                if failing.take().is_some() {
                    tracing::info!(lapi = %cfg.lapi_url, "crowdsec: usage metrics are taken again");
                }
            }
            Err(e) => {
                counts::failure(Feed::Crowdsec, "usage_metrics", e.why());
                if matches!(e, FeedError::Status { status: 404, .. }) {
                    tracing::info!(
                        lapi = %cfg.lapi_url,
                        "crowdsec: the LAPI has no usage metrics endpoint (HTTP 404, CrowdSec \
                         before 1.6); usage metrics are not sent again, decisions are pulled \
                         as before"
                    );
                    return;
                }
                if failing != Some(e.why()) {
                    tracing::warn!(
                        lapi = %cfg.lapi_url,
                        "crowdsec: sending usage metrics failed, their counts wait for the \
                         next push: {e}"
                    );
                    failing = Some(e.why());
                }
            }
        }
    }
}

fn push(client: &Client, cfg: &UsageConfig, body: &[u8]) -> Result<(), FeedError> {
    let answer = client.post_json(
        &format!("{}/v1/usage-metrics", cfg.lapi_url),
        &[("X-Api-Key", &cfg.api_key)],
        body,
        64 << 10,
    )?;
    match answer.status {
        200..=299 => Ok(()),
        status => Err(super::error::unexpected_status(status, &answer.body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: u64, bans: &[(&str, &str, u64)], processed: (u64, u64)) -> Sample {
        Sample {
            at,
            bans: bans
                .iter()
                .map(|(n, o, h)| (n.parse().unwrap(), ((*o).to_owned(), *h)))
                .collect(),
            processed,
        }
    }

    fn find<'a>(items: &'a [Value], name: &str, unit: &str, origin: &str, ip: &str) -> &'a Value {
        items
            .iter()
            .find(|i| {
                i["name"] == name
                    && i["unit"] == unit
                    && i["labels"]["origin"] == origin
                    && i["labels"]["ip_type"] == ip
            })
            .unwrap_or_else(|| panic!("no {name}/{unit}/{origin}/{ip} in {items:?}"))
    }

    #[test]
    fn the_payload_has_the_shape_the_lapi_validates() {
        let os = Os {
            name: "debian".into(),
            version: "12".into(),
        };
        let base = sample(1000, &[], (0, 0));
        let now = sample(1900, &[("192.0.2.10/32", "cscli", 5)], (40, 4000));
        let p = payload(&os, 990, &base, &now);
        let rc = &p["remediation_components"];
        assert_eq!(rc.as_array().unwrap().len(), 1);
        let rc = &rc[0];
        assert_eq!(rc["type"], "sipguard");
        assert_eq!(rc["name"], "sipguard");
        assert_eq!(rc["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            rc["os"],
            json!({"name": "debian", "family": "linux", "version": "12"})
        );
        assert_eq!(rc["feature_flags"], json!([]));
        assert_eq!(rc["utc_startup_timestamp"], 990);
        let m = &rc["metrics"][0];
        assert_eq!(
            m["meta"],
            json!({"window_size_seconds": 900, "utc_now_timestamp": 1900})
        );
        for i in m["items"].as_array().unwrap() {
            assert!(
                i["name"].is_string() && i["unit"].is_string() && i["value"].is_u64(),
                "{i}"
            );
            assert!(i["labels"].is_object(), "{i}");
        }
    }

    #[test]
    fn items_count_bans_per_origin_and_family_and_drops_since_the_last_push() {
        let base = sample(
            0,
            &[
                ("192.0.2.10/32", "cscli", 7),
                ("192.0.2.64/26", "capi", 100),
                ("2001:db8::/64", "capi", 9),
            ],
            (1000, 90_000),
        );
        let now = sample(
            60,
            &[
                ("192.0.2.10/32", "cscli", 12),
                // Lifted and banned again: its count started over.
                ("192.0.2.64/26", "capi", 3),
                ("2001:db8::/64", "capi", 9),
                // New in the window.
                ("198.51.100.0/24", "capi", 4),
            ],
            (1500, 140_000),
        );
        let items = items(&base, &now);
        for (name, unit, origin, ip, value) in [
            ("active_decisions", "ip", "cscli", "ipv4", 1),
            ("active_decisions", "ip", "CAPI", "ipv4", 2),
            ("active_decisions", "ip", "CAPI", "ipv6", 1),
            ("dropped", "packet", "cscli", "ipv4", 5),
            ("dropped", "packet", "CAPI", "ipv4", 7),
            ("dropped", "packet", "CAPI", "ipv6", 0),
        ] {
            assert_eq!(find(&items, name, unit, origin, ip)["value"], value);
        }
        let processed: Vec<(&str, u64)> = items
            .iter()
            .filter(|i| i["name"] == "processed")
            .map(|i| (i["unit"].as_str().unwrap(), i["value"].as_u64().unwrap()))
            .collect();
        assert_eq!(processed, [("packet", 500), ("byte", 50_000)]);
        // Counters that started over (new maps) count from zero.
        let reset = sample(120, &[], (10, 100));
        let again = super::items(&now, &reset);
        assert_eq!(again.len(), 2, "no bans, only processed: {again:?}");
        assert_eq!(again[0]["value"], 10);
    }

    #[test]
    fn origins_come_from_the_note_and_os_from_os_release() {
        assert_eq!(
            origin_of_note("crowdsec cscli manual 'ban' from 'x'"),
            Some("cscli")
        );
        assert_eq!(origin_of_note("crowdsec lists firehol"), Some("lists"));
        assert_eq!(origin_of_note("by hand"), None);
        assert_eq!(origin_of_note("crowdsec "), None);
        assert_eq!(origin_label("capi"), "CAPI");
        assert_eq!(origin_label("we\"ird"), "we_ird");
        let os = os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n");
        assert_eq!(
            os,
            Os {
                name: "debian".into(),
                version: "12".into()
            }
        );
        assert_eq!(os_release("").name, "unknown");
        assert_eq!(os_release("ID_LIKE=debian\nID=ubuntu\n").name, "ubuntu");
    }
}

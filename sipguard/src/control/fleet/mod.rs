//! Fleet-wide bans: sipguard as a CrowdSec remediation component and signal source, and the
//! APIBan feed.
//!
//! | file | job |
//! |---|---|
//! | [`stream`] | the LAPI decision stream into the ban tries (startup resync, deltas, backoff) |
//! | [`decisions`] | a stream answer, checked whole (pure) |
//! | [`ledger`] | which decisions hold each prefix; the origin/scenario filter (pure) |
//! | [`alerts`] | sipguard's own bans out as LAPI alerts (login, batches, rate bound) |
//! | [`usage`] | usage metrics pushed to the LAPI (bans and drops by origin; off on a 404) |
//! | [`apiban`] | the APIBan feed: pages, end marker, 403/429, rate budget, last ID |
//! | [`guard`] | what a feed may never ban (pure) |
//! | [`godur`] | Go duration text (pure) |
//! | [`http`] | the bounded blocking HTTP client |
//! | [`counts`] | the feeds' counters for `/metrics` |
//! | `error.rs` | [`FeedError`] |
//!
//! Each feed runs on a thread of its own: its requests and its map writes block, and a
//! 50,000-decision list must never hold up the daemon's signals, reloads or metrics. Bans
//! get their own reasons (`crowdsec`, `apiban`, [`crate::dataplane::maps::reasons`]) and
//! share the capacity rules of the tries ([`crate::dataplane::maps::bulk`]).
use std::{
    path::Path,
    sync::mpsc::{sync_channel, SyncSender, TrySendError},
};

use ipnet::IpNet;

use crate::config::{ApibanPolicy, CrowdsecPolicy};

pub mod alerts;
pub mod apiban;
pub mod counts;
pub mod decisions;
mod error;
pub mod godur;
pub mod guard;
pub mod http;
pub mod ledger;
pub mod stream;
pub mod usage;

pub use error::FeedError;

/// One of sipguard's own bans, to report as an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signal {
    pub net: IpNet,
    /// `BAN_REASON_*`.
    pub reason: u32,
    pub seconds: u32,
    /// Failures or matches that led to it.
    pub count: u32,
    /// Said in the alert's message.
    pub why: String,
}

/// Where the event log and the log watch hand sipguard's own bans to the alert sender; a
/// no-op without `[crowdsec] machine_id`. Never blocks: a full queue drops (and counts).
#[derive(Clone, Debug, Default)]
pub struct Reporter {
    tx: Option<SyncSender<Signal>>,
}

/// Signals queued for the alert sender at most.
const QUEUE: usize = 1024;

impl Reporter {
    /// Reports `signal` (a ban from a feed is never reported: see [`alerts::scenario`]).
    pub fn report(&self, signal: Signal) {
        let Some(tx) = &self.tx else {
            return;
        };
        if alerts::scenario(signal.reason).is_none() {
            return;
        }
        match tx.try_send(signal) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => counts::alerts("dropped", 1),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Starts the feeds `crowdsec` and `apiban` configure, writing bans into the maps pinned in
/// `pin_path`; returns the reporter for sipguard's own bans. A secret that can't be read
/// stops that feed with an error line; the daemon runs on.
pub fn start(
    crowdsec: Option<&CrowdsecPolicy>,
    apiban: Option<&ApibanPolicy>,
    pin_path: &Path,
) -> Reporter {
    let started = std::time::SystemTime::now();
    let mut reporter = Reporter::default();
    if let Some(cs) = crowdsec {
        counts::register(counts::Feed::Crowdsec);
        if let Some(key) = &cs.api_key {
            match key.read() {
                Ok(api_key) => {
                    let cfg = stream::StreamConfig {
                        lapi_url: cs.lapi_url.clone(),
                        api_key,
                        interval: cs.poll_interval,
                        filter: ledger::Filter {
                            origins: cs.origins.clone(),
                            scenarios_containing: cs.scenarios_containing.clone(),
                            scenarios_not_containing: cs.scenarios_not_containing.clone(),
                        },
                        sip_only: cs.sip_only,
                        pin_path: pin_path.to_owned(),
                    };
                    tracing::info!(
                        lapi = %cfg.lapi_url,
                        poll_s = cfg.interval.as_secs_f64(),
                        "crowdsec: pulling decisions"
                    );
                    if let Some(interval) = cs.metrics_interval {
                        let usage = usage::UsageConfig {
                            lapi_url: cfg.lapi_url.clone(),
                            api_key: cfg.api_key.clone(),
                            interval,
                            pin_path: pin_path.to_owned(),
                            started,
                        };
                        tracing::info!(
                            interval_s = interval.as_secs(),
                            "crowdsec: pushing usage metrics"
                        );
                        spawn("sipguard-usage", move || usage::run(&usage));
                    }
                    spawn("sipguard-crowdsec", move || stream::run(&cfg));
                }
                Err(e) => tracing::error!(
                    "crowdsec: the bouncer key can't be read, no decisions are pulled: {e}"
                ),
            }
        }
        if let Some((machine_id, password)) = &cs.machine {
            match password.read() {
                Ok(password) => {
                    let cfg = alerts::AlertConfig {
                        lapi_url: cs.lapi_url.clone(),
                        machine_id: machine_id.clone(),
                        password,
                    };
                    let (tx, rx) = sync_channel(QUEUE);
                    reporter.tx = Some(tx);
                    tracing::info!(lapi = %cfg.lapi_url, machine = %cfg.machine_id, "crowdsec: sending sipguard's own bans as alerts");
                    spawn("sipguard-alerts", move || alerts::run(&cfg, &rx));
                }
                Err(e) => tracing::error!(
                    "crowdsec: the machine password can't be read, no alerts are sent: {e}"
                ),
            }
        }
    }
    if let Some(a) = apiban {
        counts::register(counts::Feed::Apiban);
        match a.key.read() {
            Ok(key) => {
                let cfg = apiban::ApibanConfig {
                    url: a.url.clone(),
                    key,
                    interval: a.interval,
                    ban: a.ban,
                    sip_only: a.sip_only,
                    state: a.state.clone(),
                    pin_path: pin_path.to_owned(),
                };
                tracing::info!(url = %cfg.url, interval_s = cfg.interval.as_secs(), "apiban: reading the feed");
                spawn("sipguard-apiban", move || apiban::run(&cfg));
            }
            Err(e) => tracing::error!("apiban: the key can't be read, the feed is off: {e}"),
        }
    }
    reporter
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.to_owned()).spawn(f) {
        tracing::error!("{name}: starting its thread: {e}");
    }
}

//! The CrowdSec remediation side: polls the Local API's decision stream and keeps the ban
//! tries in step with it.
//!
//! The first poll asks `startup=true` (the whole set): the ledger starts over and every
//! `crowdsec` ban in the tries that no decision holds any more is lifted, so a restarted
//! daemon resynchronises without duplicates (the tries are keyed by prefix) and without
//! keeping decisions deleted while it was away. Later polls take the deltas. An answer that
//! is refused ([`super::decisions`]) or a write that fails makes the next poll a
//! `startup=true` one again: the deltas the LAPI already handed out are not lost.
//!
//! An outage (no answer, a refused key, a bad answer) is logged once, when it starts or
//! changes, and once when it ends; polling backs off up to 8 intervals (at most a minute).
//! Bans in force stay in the kernel all along.
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use ipnet::IpNet;
use sipguard_common::{BAN_SCOPE_ALL, BAN_SCOPE_SIP};

use super::{
    counts::{self, Feed},
    decisions, guard,
    http::Client,
    ledger::{Filter, Ledger},
    FeedError,
};
use crate::{
    control::logwatch::own_addresses,
    dataplane::{
        clock::ban_clock_ns,
        maps::{Expiry, FleetBan, BAN_REASON_CROWDSEC},
        Maps,
    },
};

/// The largest stream answer taken (50,000 decisions are about 12 MB).
pub const MAX_BODY: u64 = 64 << 20;
/// Ban slots per trie the feeds leave to the admin's, the programs' and the log watch's bans.
pub const RESERVE: u32 = 4096;

/// What the decision stream needs.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    pub lapi_url: String,
    pub api_key: String,
    pub interval: Duration,
    pub filter: Filter,
    pub sip_only: bool,
    pub pin_path: PathBuf,
}

/// Polls until the process ends (on its own thread: requests and map writes block).
pub fn run(cfg: &StreamConfig) {
    let client = Client::new();
    let mut poller = Poller {
        cfg,
        ledger: Ledger::default(),
        maps: None,
        startup: true,
    };
    let mut failing: Option<&'static str> = None;
    let mut failures: u32 = 0;
    loop {
        match poller.poll(&client) {
            Ok(()) => {
                counts::success(Feed::Crowdsec);
                if failing.take().is_some() {
                    tracing::info!(lapi = %cfg.lapi_url, "crowdsec: the LAPI answers again");
                }
                failures = 0;
            }
            Err(e) => {
                counts::failure(Feed::Crowdsec, "decisions", e.why());
                if failing != Some(e.why()) {
                    tracing::warn!(
                        lapi = %cfg.lapi_url,
                        "crowdsec: polling decisions failed, the bans in force stay and polling \
                         goes on: {e}"
                    );
                    failing = Some(e.why());
                }
                failures = failures.saturating_add(1);
                poller.maps = None;
            }
        }
        std::thread::sleep(backoff(cfg.interval, failures));
    }
}

/// The wait before the next poll after `failures` failed ones in a row.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.min(3);
    let cap = (interval * 8).min(Duration::from_secs(60)).max(interval);
    (interval * factor).min(cap)
}

struct Poller<'a> {
    cfg: &'a StreamConfig,
    ledger: Ledger,
    maps: Option<Maps>,
    startup: bool,
}

impl Poller<'_> {
    fn poll(&mut self, client: &Client) -> Result<(), FeedError> {
        let url = format!(
            "{}/v1/decisions/stream?startup={}&scopes=ip,range",
            self.cfg.lapi_url, self.startup
        );
        let answer = client.get(&url, &[("X-Api-Key", &self.cfg.api_key)], MAX_BODY)?;
        match answer.status {
            200 => {}
            429 => {
                return Err(FeedError::RateLimited {
                    retry_s: answer.retry_after.unwrap_or(0),
                })
            }
            status => return Err(super::error::unexpected_status(status, &answer.body)),
        }
        let delta = match decisions::parse(&answer.body) {
            Ok(d) => d,
            Err(e) => {
                self.startup = true;
                return Err(e);
            }
        };
        let startup = self.startup;
        self.startup = true;
        self.apply(&delta, startup)?;
        self.startup = false;
        Ok(())
    }

    fn apply(&mut self, delta: &decisions::Delta, startup: bool) -> Result<(), FeedError> {
        let started = Instant::now();
        if self.maps.is_none() {
            self.maps = Some(Maps::open_pinned(&self.cfg.pin_path)?);
        }
        let Some(maps) = self.maps.as_mut() else {
            return Ok(());
        };
        let now = ban_clock_ns();
        let changes = self.ledger.apply(delta, now, startup, &self.cfg.filter);
        for (origin, n) in &changes.added {
            counts::decisions(Feed::Crowdsec, origin, "applied", *n);
        }
        for (origin, n) in &changes.deleted {
            counts::decisions(Feed::Crowdsec, origin, "deleted", *n);
        }
        let trusted = maps.trusted()?;
        let own = own_addresses();
        let scope = if self.cfg.sip_only {
            BAN_SCOPE_SIP
        } else {
            BAN_SCOPE_ALL
        };
        let mut bans = Vec::with_capacity(changes.ban.len());
        let mut refused: Vec<(IpNet, &'static str)> = Vec::new();
        let mut origin_of = std::collections::HashMap::new();
        for h in &changes.ban {
            if let Some(why) = guard::refuse(&h.net, &own, &trusted) {
                refused.push((h.net, why));
                counts::decisions(Feed::Crowdsec, &h.origin, "protected", 1);
                continue;
            }
            origin_of.insert(h.net, h.origin.as_str());
            bans.push(FleetBan {
                net: h.net,
                expiry: Expiry::At(h.until),
                reason: BAN_REASON_CROWDSEC,
                scope,
                note: format!("crowdsec {} {}", h.origin, h.scenario),
            });
        }
        for (net, _) in &refused {
            self.ledger.forget(net);
        }
        if let Some((net, why)) = refused.first() {
            tracing::warn!(
                refused = refused.len(),
                example = %net,
                "crowdsec: decisions on addresses sipguard never bans were left out: {why}"
            );
        }
        let report = if bans.is_empty() {
            Default::default()
        } else {
            maps.ban_many(&bans, now, RESERVE)?
        };
        for net in &report.kept_other {
            counts::decisions(
                Feed::Crowdsec,
                origin_of.get(net).copied().unwrap_or(""),
                "kept_other",
                1,
            );
        }
        for net in &report.full {
            counts::decisions(
                Feed::Crowdsec,
                origin_of.get(net).copied().unwrap_or(""),
                "full",
                1,
            );
            self.ledger.forget(net);
        }
        if !report.full.is_empty() {
            tracing::warn!(
                left_out = report.full.len(),
                reserve = RESERVE,
                "crowdsec: the ban tries are full for feeds (the last slots stay for the admin's \
                 and the programs' own bans); decisions left out"
            );
        }
        let mut lift = changes.lift.clone();
        if startup {
            let held: std::collections::HashSet<&IpNet> = self.ledger.nets().collect();
            lift.extend(
                maps.bans()?
                    .into_iter()
                    .filter(|(n, b)| b.reason == BAN_REASON_CROWDSEC && !held.contains(n))
                    .map(|(n, _)| n),
            );
        }
        let lifted = if lift.is_empty() {
            Vec::new()
        } else {
            maps.unban_many(&lift, BAN_REASON_CROWDSEC)?
        };
        for net in &lifted {
            tracing::info!(%net, reason = "crowdsec", "unbanned: its CrowdSec decision is gone");
        }
        if startup || !report.written.is_empty() || !lifted.is_empty() {
            tracing::info!(
                startup,
                banned = report.written.len(),
                lifted = lifted.len(),
                kept_other = report.kept_other.len(),
                ignored = delta.ignored,
                filtered = changes.filtered,
                held = self.ledger.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "crowdsec: decisions applied"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_backs_off_to_eight_intervals_or_a_minute() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), 0), s(1));
        assert_eq!(backoff(s(1), 1), s(2));
        assert_eq!(backoff(s(1), 3), s(8));
        assert_eq!(backoff(s(1), 30), s(8));
        assert_eq!(backoff(s(10), 30), s(60));
        assert_eq!(backoff(s(120), 5), s(120), "never faster than the interval");
    }
}

//! The APIBan feed: `GET {url}/{key}/banned/{ID}` returns the SIP attackers listed since ID,
//! in batches of 250 with the ID of the next; `400 {"ipaddress":["no new bans"],"ID":"none"}`
//! ends the list; 403 is a wrong key; 429 is APIBan's rate limit (11 requests per 2 minutes
//! and key), which sipguard keeps to on its own ([`Bucket`]) and backs off from
//! (`Retry-After`, else 2 minutes).
//!
//! Each page is checked whole: garbage, a wrong shape, more than [`MAX_PAGE`] entries or one
//! entry that is no address refuse it, nothing of it is applied and its ID is not taken.
//! The last ID taken is kept in `[apiban] state` across restarts.
use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use ipnet::IpNet;
use serde::Deserialize;
use sipguard_common::{BAN_SCOPE_ALL, BAN_SCOPE_SIP};

use super::{
    counts::{self, Feed},
    guard,
    http::Client,
    FeedError,
};
use crate::{
    control::logwatch::own_addresses,
    dataplane::{
        clock::ban_clock_ns,
        maps::{Expiry, FleetBan, BAN_REASON_APIBAN},
        Maps,
    },
};

/// Entries of one page at most (APIBan's batches are 250).
pub const MAX_PAGE: usize = 1000;
/// Bytes of one answer at most.
pub const MAX_BODY: u64 = 1 << 20;
/// A full batch: another page follows.
pub const BATCH: usize = 250;
/// Pages read in one round at most.
pub const MAX_PAGES: usize = 400;
/// APIBan's rate limit: requests per window and key.
pub const RATE_REQUESTS: u32 = 11;
pub const RATE_WINDOW: Duration = Duration::from_secs(120);
/// The wait after a 429 without `Retry-After`.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(120);

/// What one answer says.
#[derive(Debug, PartialEq, Eq)]
pub enum Page {
    /// Addresses, and the ID to ask from next.
    Bans { addrs: Vec<IpAddr>, next: String },
    /// Nothing new since the ID asked for.
    End,
}

#[derive(Deserialize)]
struct RawPage {
    ipaddress: OneOrMany,
    #[serde(rename = "ID")]
    id: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Reads one answer (`status`, `body`).
pub fn parse(status: u16, body: &[u8]) -> Result<Page, FeedError> {
    let raw = || -> Result<RawPage, FeedError> {
        serde_json::from_slice(body).map_err(|e| {
            FeedError::BadAnswer(format!(
                "not an APIBan answer ({e}): {:?}",
                super::error::excerpt(body)
            ))
        })
    };
    match status {
        200 => {}
        400 => {
            let r = raw()?;
            let text = match &r.ipaddress {
                OneOrMany::One(s) => s.clone(),
                OneOrMany::Many(v) => v.first().cloned().unwrap_or_default(),
            };
            if text.contains("no new bans") || r.id == "none" {
                return Ok(Page::End);
            }
            return Err(FeedError::Status {
                status,
                body: super::error::excerpt(body),
            });
        }
        401 | 403 => {
            return Err(FeedError::Refused {
                status,
                body: super::error::excerpt(body),
            })
        }
        429 => return Err(FeedError::RateLimited { retry_s: 0 }),
        _ => {
            return Err(FeedError::Status {
                status,
                body: super::error::excerpt(body),
            })
        }
    }
    let r = raw()?;
    let OneOrMany::Many(list) = r.ipaddress else {
        return Err(FeedError::BadAnswer("`ipaddress` is not a list".into()));
    };
    if list.len() > MAX_PAGE {
        return Err(FeedError::BadAnswer(format!(
            "{} addresses in one page, more than {MAX_PAGE}",
            list.len()
        )));
    }
    let next = match &r.id {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if !valid_id(&next) {
        return Err(FeedError::BadAnswer(format!(
            "the next ID {:?} is not an APIBan ID",
            r.id.to_string().chars().take(40).collect::<String>()
        )));
    }
    let mut addrs = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        match a.trim().parse::<IpAddr>() {
            Ok(ip) => addrs.push(crate::parse::fold_addr(ip)),
            Err(_) => {
                return Err(FeedError::BadAnswer(format!(
                    "entry {} of the page is {:?}, which is no address",
                    i + 1,
                    a.chars().take(64).collect::<String>()
                )))
            }
        }
    }
    Ok(Page::Bans { addrs, next })
}

/// An ID sipguard puts in a URL and a file: 1 to 32 ASCII letters and digits.
fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The request budget: [`RATE_REQUESTS`] per [`RATE_WINDOW`], refilled continuously.
#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(now: Instant) -> Self {
        Self {
            tokens: f64::from(RATE_REQUESTS),
            at: now,
        }
    }

    /// How long to wait before the next request may leave at `now` (then takes it).
    pub fn take(&mut self, now: Instant) -> Duration {
        let rate = f64::from(RATE_REQUESTS) / RATE_WINDOW.as_secs_f64();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate)
            .min(f64::from(RATE_REQUESTS));
        self.at = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }
}

/// What the feed needs.
#[derive(Clone, Debug)]
pub struct ApibanConfig {
    pub url: String,
    pub key: String,
    pub interval: Duration,
    pub ban: Duration,
    pub sip_only: bool,
    pub state: PathBuf,
    pub pin_path: PathBuf,
}

/// The last ID kept in `path`, if one is there and valid.
pub fn load_id(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let id = text.trim().to_owned();
    valid_id(&id).then_some(id)
}

fn save_id(path: &Path, id: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{id}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Reads the feed every interval until the process ends (on its own thread).
pub fn run(cfg: &ApibanConfig) {
    let client = Client::new();
    let mut bucket = Bucket::new(Instant::now());
    let mut id = load_id(&cfg.state);
    let mut failing: Option<&'static str> = None;
    loop {
        match round(cfg, &client, &mut bucket, &mut id) {
            Ok(banned) => {
                counts::success(Feed::Apiban);
                if failing.take().is_some() {
                    tracing::info!("apiban: the feed answers again");
                }
                tracing::info!(
                    banned,
                    id = id.as_deref().unwrap_or(""),
                    "apiban: feed read"
                );
            }
            Err(e) => {
                if failing != Some(e.why()) {
                    tracing::warn!("apiban: reading the feed failed, the bans in force stay: {e}");
                    failing = Some(e.why());
                }
            }
        }
        std::thread::sleep(cfg.interval);
    }
}

/// One round: pages from `id` until the end marker; returns the addresses banned.
fn round(
    cfg: &ApibanConfig,
    client: &Client,
    bucket: &mut Bucket,
    id: &mut Option<String>,
) -> Result<usize, FeedError> {
    let mut banned = 0;
    let mut maps: Option<Maps> = None;
    let mut pages = 0;
    while pages < MAX_PAGES {
        std::thread::sleep(bucket.take(Instant::now()));
        let url = match id {
            Some(i) => format!("{}/{}/banned/{i}", cfg.url, cfg.key),
            None => format!("{}/{}/banned", cfg.url, cfg.key),
        };
        let answer = client.get(&url, &[], MAX_BODY).inspect_err(|e| {
            counts::failure(Feed::Apiban, "banned", e.why());
        })?;
        let page = parse(answer.status, &answer.body).map_err(|e| match e {
            FeedError::RateLimited { .. } => FeedError::RateLimited {
                retry_s: answer
                    .retry_after
                    .unwrap_or(DEFAULT_RETRY.as_secs())
                    .clamp(1, 600),
            },
            e => e,
        });
        let page = match page {
            Ok(p) => p,
            Err(FeedError::RateLimited { retry_s }) => {
                counts::failure(Feed::Apiban, "banned", "rate_limited");
                tracing::warn!(retry_s, "apiban: rate limited (429), backing off");
                std::thread::sleep(Duration::from_secs(retry_s));
                pages += 1;
                continue;
            }
            Err(e) => {
                counts::failure(Feed::Apiban, "banned", e.why());
                return Err(e);
            }
        };
        pages += 1;
        let (addrs, next) = match page {
            Page::End => return Ok(banned),
            Page::Bans { addrs, next } => (addrs, next),
        };
        if maps.is_none() {
            maps = Some(Maps::open_pinned(&cfg.pin_path)?);
        }
        let Some(m) = maps.as_mut() else {
            return Ok(banned);
        };
        banned += apply(cfg, m, &addrs)?;
        if let Err(e) = save_id(&cfg.state, &next) {
            tracing::warn!(state = %cfg.state.display(), "apiban: keeping the last ID: {e}");
        }
        let full = addrs.len() >= BATCH;
        *id = Some(next);
        if !full {
            return Ok(banned);
        }
    }
    Ok(banned)
}

fn apply(cfg: &ApibanConfig, maps: &mut Maps, addrs: &[IpAddr]) -> Result<usize, FeedError> {
    let now = ban_clock_ns();
    let trusted = maps.trusted()?;
    let own = own_addresses();
    let until = now.saturating_add(cfg.ban.as_nanos() as u64);
    let scope = if cfg.sip_only {
        BAN_SCOPE_SIP
    } else {
        BAN_SCOPE_ALL
    };
    let mut bans = Vec::with_capacity(addrs.len());
    let mut protected = 0;
    for a in addrs {
        let net = IpNet::from(*a);
        if guard::refuse(&net, &own, &trusted).is_some() {
            protected += 1;
            continue;
        }
        bans.push(FleetBan {
            net,
            expiry: Expiry::At(until),
            reason: BAN_REASON_APIBAN,
            scope,
            note: "apiban sip".into(),
        });
    }
    counts::decisions(Feed::Apiban, "apiban", "protected", protected);
    let report = maps.ban_many(&bans, now, super::stream::RESERVE)?;
    counts::decisions(
        Feed::Apiban,
        "apiban",
        "applied",
        report.written.len() as u64,
    );
    counts::decisions(
        Feed::Apiban,
        "apiban",
        "kept_other",
        report.kept_other.len() as u64,
    );
    counts::decisions(Feed::Apiban, "apiban", "full", report.full.len() as u64);
    Ok(report.written.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gives_its_addresses_and_the_next_id() {
        let p = parse(
            200,
            br#"{"ipaddress":["203.0.113.9","2001:db8::5"],"ID":"1234567890"}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Page::Bans {
                addrs: vec![
                    "203.0.113.9".parse().unwrap(),
                    "2001:db8::5".parse().unwrap()
                ],
                next: "1234567890".into()
            }
        );
    }

    #[test]
    fn the_end_marker_ends_the_list_in_both_documented_forms() {
        assert_eq!(
            parse(400, br#"{"ipaddress":["no new bans"], "ID":"none"}"#).unwrap(),
            Page::End
        );
        assert_eq!(
            parse(400, br#"{"ipaddress":"no new bans", "ID":"none"}"#).unwrap(),
            Page::End
        );
    }

    #[test]
    fn a_wrong_key_a_rate_limit_and_garbage_are_errors() {
        assert!(matches!(
            parse(403, br#"{"ipaddress":"none", "ID":"unauthorized"}"#),
            Err(FeedError::Refused { status: 403, .. })
        ));
        assert!(matches!(
            parse(
                429,
                br#"{"ipaddress":"rate limit exceeded", "ID":"unauthorized"}"#
            ),
            Err(FeedError::RateLimited { .. })
        ));
        assert!(matches!(
            parse(200, b"<html>"),
            Err(FeedError::BadAnswer(_))
        ));
        assert!(matches!(parse(400, b"oops"), Err(FeedError::BadAnswer(_))));
        let e = parse(
            200,
            br#"{"ipaddress":["203.0.113.9","evil.example"],"ID":"5"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("entry 2") && e.contains("evil.example"), "{e}");
        assert!(matches!(
            parse(200, br#"{"ipaddress":["203.0.113.9"],"ID":"../../x"}"#),
            Err(FeedError::BadAnswer(_))
        ));
    }

    #[test]
    fn the_bucket_allows_eleven_requests_then_one_every_eleven_seconds() {
        let t0 = Instant::now();
        let mut b = Bucket::new(t0);
        for _ in 0..RATE_REQUESTS {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        let wait = b.take(t0);
        assert!(
            wait > Duration::from_secs(10) && wait < Duration::from_secs(12),
            "{wait:?}"
        );
    }
}

//! Prometheus exposition: counters are read from the per-CPU map at scrape time, never
//! copied on the packet path.
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use prometheus::{Encoder as _, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use sipguard_common::{POLICY_DEFAULT_DROP, POLICY_MONITOR};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

use crate::{maps::Maps, Error};

/// What the exporter learns by watching the maps over time, for "silence is an alarm": when
/// each reason's packet count last rose, and whether the XDP program is on its interface.
/// Sampled by the daemon every [`SAMPLE_EVERY`], never on the packet path.
#[derive(Debug, Default)]
pub struct Activity {
    iface: String,
    primed: bool,
    totals: BTreeMap<&'static str, u64>,
    last_match: BTreeMap<&'static str, SystemTime>,
    attached: Option<bool>,
}

/// How often the daemon samples [`Activity`].
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

impl Activity {
    pub fn new(iface: &str) -> Self {
        Self {
            iface: iface.to_owned(),
            ..Self::default()
        }
    }

    /// The counters summed per reason and the interface's XDP state, read without holding the
    /// activity (a scrape must not wait for `ip`).
    fn read(
        maps: &Maps,
        iface: &str,
    ) -> Result<(BTreeMap<&'static str, u64>, Option<bool>), Error> {
        let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
        for row in maps.counters()? {
            *totals.entry(row.reason).or_default() += row.packets;
        }
        Ok((totals, crate::loader::xdp_attached(iface)))
    }

    fn observe(
        &mut self,
        totals: BTreeMap<&'static str, u64>,
        attached: Option<bool>,
        now: SystemTime,
    ) {
        if self.primed {
            for (reason, total) in &totals {
                if self.totals.get(reason).is_none_or(|prev| total > prev) {
                    self.last_match.insert(reason, now);
                }
            }
        }
        self.totals = totals;
        self.primed = true;
        self.attached = attached;
    }
}

/// Renders every metric in the Prometheus text format.
pub fn render(maps: &Maps, activity: Option<&Activity>) -> Result<String, Error> {
    let registry = Registry::new();
    let labels = ["service", "reason", "verdict"];
    let packets = IntCounterVec::new(
        Opts::new(
            "sipguard_packets_total",
            "Packets judged by the XDP program, by service, reason and verdict",
        ),
        &labels,
    )
    .expect("valid metric");
    let bytes = IntCounterVec::new(
        Opts::new(
            "sipguard_bytes_total",
            "Bytes judged by the XDP program, by service, reason and verdict",
        ),
        &labels,
    )
    .expect("valid metric");
    for row in maps.counters()? {
        let l = [row.service.as_str(), row.reason, row.verdict];
        packets.with_label_values(&l).inc_by(row.packets);
        bytes.with_label_values(&l).inc_by(row.bytes);
    }

    let sip_packets = IntCounterVec::new(
        Opts::new(
            "sipguard_sip_packets_total",
            "UDP datagrams to SIP services, by service, SIP class and verdict",
        ),
        &["service", "class", "verdict"],
    )
    .expect("valid metric");
    for row in maps.sip_counters()? {
        sip_packets
            .with_label_values(&[row.service.as_str(), row.class, row.verdict])
            .inc_by(row.packets);
    }

    let bans = IntCounterVec::new(
        Opts::new(
            "sipguard_bans_created_total",
            "Bans the data plane made on its own, by reason (scanner, auth_failures, auth_attempts)",
        ),
        &["reason"],
    )
    .expect("valid metric");
    for (reason, n) in maps.ban_counts()? {
        bans.with_label_values(&[reason]).inc_by(n);
    }

    let entries = IntGaugeVec::new(
        Opts::new("sipguard_map_entries", "Entries in use per BPF map"),
        &["map"],
    )
    .expect("valid metric");
    let capacity = IntGaugeVec::new(
        Opts::new("sipguard_map_capacity", "Capacity per BPF map"),
        &["map"],
    )
    .expect("valid metric");
    for f in maps.fill()? {
        entries.with_label_values(&[f.map]).set(f.entries as i64);
        capacity.with_label_values(&[f.map]).set(f.capacity as i64);
    }

    let build = IntGaugeVec::new(
        Opts::new("sipguard_build_info", "sipguard version; always 1"),
        &["version"],
    )
    .expect("valid metric");
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

    let policy = maps.active_policy()?;
    let monitor = IntGauge::new(
        "sipguard_monitor_mode",
        "1 when the global mode is monitor (drops are counted as would_drop and passed)",
    )
    .expect("valid metric");
    monitor.set(i64::from(policy.flags & POLICY_MONITOR != 0));
    let default_drop = IntGauge::new(
        "sipguard_default_drop",
        "1 when traffic matching no service is dropped",
    )
    .expect("valid metric");
    default_drop.set(i64::from(policy.flags & POLICY_DEFAULT_DROP != 0));

    let last_match = prometheus::GaugeVec::new(
        Opts::new(
            "sipguard_last_match_timestamp_seconds",
            "Unix time at which packets with this reason were last counted (sampled every \
             second by the daemon; absent until the first change it sees)",
        ),
        &["reason"],
    )
    .expect("valid metric");
    let attached = IntGaugeVec::new(
        Opts::new(
            "sipguard_attached",
            "1 when the XDP program is attached to the protected interface",
        ),
        &["iface"],
    )
    .expect("valid metric");
    if let Some(a) = activity {
        for (reason, at) in &a.last_match {
            let secs = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            last_match.with_label_values(&[reason]).set(secs);
        }
        if let Some(on) = a.attached {
            attached.with_label_values(&[&a.iface]).set(i64::from(on));
        }
    }

    for c in [
        Box::new(packets) as Box<dyn prometheus::core::Collector>,
        Box::new(last_match),
        Box::new(attached),
        Box::new(bytes),
        Box::new(sip_packets),
        Box::new(bans),
        Box::new(entries),
        Box::new(capacity),
        Box::new(build),
        Box::new(monitor),
        Box::new(default_drop),
    ] {
        registry.register(c).expect("unique metric names");
    }
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("text encoding into a Vec cannot fail");
    Ok(String::from_utf8(out).expect("the text format is UTF-8"))
}

/// Binds the metrics listener (before the runtime starts, so a bad address fails the start).
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, Error> {
    let what = || format!("binding the metrics listener on {addr}");
    let listener = std::net::TcpListener::bind(addr).map_err(Error::io(what()))?;
    listener.set_nonblocking(true).map_err(Error::io(what()))?;
    Ok(listener)
}

/// Serves `GET /metrics` until the task is dropped, reading the maps pinned in `pin_dir`
/// (opened once) and sampling their [`Activity`] on `iface` every [`SAMPLE_EVERY`].
pub async fn serve(
    listener: std::net::TcpListener,
    pin_dir: PathBuf,
    iface: String,
) -> Result<(), Error> {
    let listener = TcpListener::from_std(listener).map_err(Error::io("metrics listener"))?;
    let maps = Arc::new(Maps::open_pinned(&pin_dir)?);
    let activity = Arc::new(Mutex::new(Activity::new(&iface)));
    {
        let (maps, activity) = (maps.clone(), activity.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let (maps, activity, iface) = (maps.clone(), activity.clone(), iface.clone());
                let sampled = tokio::task::spawn_blocking(move || {
                    let (totals, attached) = Activity::read(&maps, &iface)?;
                    activity.lock().unwrap_or_else(|p| p.into_inner()).observe(
                        totals,
                        attached,
                        SystemTime::now(),
                    );
                    Ok::<(), Error>(())
                })
                .await;
                if let Ok(Err(e)) = sampled {
                    tracing::warn!("sampling the counters for /metrics: {e}");
                }
            }
        });
    }
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving Prometheus metrics at /metrics");
    }
    // Scrapers are few; a flood of connections must not exhaust descriptors.
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a metrics connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (maps, activity) = (maps.clone(), activity.clone());
        tokio::spawn(async move {
            let result =
                tokio::time::timeout(REQUEST_TIMEOUT, handle(stream, maps, activity)).await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "metrics request failed"),
                Err(_) => tracing::debug!(%peer, "metrics request timed out"),
            }
            drop(permit);
        });
    }
}

/// At most this many metrics connections at once.
const MAX_CONNECTIONS: usize = 8;
/// A whole request, from accept to the last byte written.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A minimal HTTP/1.x responder: one request per connection, bounded head; the caller bounds
/// the time. Rendering reads the maps with syscalls, so it runs on a blocking thread, away
/// from the runtime that handles the daemon's signals.
async fn handle(
    mut stream: TcpStream,
    maps: Arc<Maps>,
    activity: Arc<Mutex<Activity>>,
) -> std::io::Result<()> {
    const MAX_HEAD: usize = 8192;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    read_head.await?;
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => match tokio::task::spawn_blocking(move || {
            let activity = activity.lock().unwrap_or_else(|p| p.into_inner());
            render(&maps, Some(&activity))
        })
        .await
        .map_err(std::io::Error::other)?
        {
            Ok(text) => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", text),
            Err(e) => (
                "500 Internal Server Error",
                "text/plain; charset=utf-8",
                format!("reading the BPF maps failed: {e}\n"),
            ),
        },
        ("GET", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "sipguard: metrics at /metrics\n".to_owned(),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".into(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

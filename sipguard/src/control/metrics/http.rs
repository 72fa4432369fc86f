//! The metrics endpoint: a minimal HTTP/1.1 responder for `GET /metrics`, bounded in
//! connections, request size and time, so that a flood of scrapers can't exhaust the
//! daemon's descriptors or stall its signal handling.
use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

use super::{render, Activity, SAMPLE_EVERY};
use crate::{control::ControlError, dataplane::Maps};

/// Binds the metrics listener (before the runtime starts, so a bad address fails the start).
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ControlError> {
    let what = || format!("binding the metrics listener on {addr}");
    let listener = std::net::TcpListener::bind(addr).map_err(ControlError::io(what()))?;
    listener
        .set_nonblocking(true)
        .map_err(ControlError::io(what()))?;
    Ok(listener)
}

/// Serves `GET /metrics` until the task is dropped, reading the maps pinned in `pin_dir`
/// (opened once) and sampling their [`Activity`] on `ifaces` every [`SAMPLE_EVERY`].
pub async fn serve(
    listener: std::net::TcpListener,
    pin_dir: PathBuf,
    ifaces: Vec<String>,
) -> Result<(), ControlError> {
    let listener = TcpListener::from_std(listener).map_err(ControlError::io("metrics listener"))?;
    let maps = Arc::new(Maps::open_pinned(&pin_dir)?);
    let activity = Arc::new(Mutex::new(Activity::default()));
    {
        let (maps, activity) = (maps.clone(), activity.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let (maps, activity, ifaces) = (maps.clone(), activity.clone(), ifaces.clone());
                let sampled = tokio::task::spawn_blocking(move || {
                    let (totals, attached) = Activity::read(&maps, &ifaces)?;
                    let lost = activity.lock().unwrap_or_else(|p| p.into_inner()).observe(
                        totals,
                        attached,
                        SystemTime::now(),
                    );
                    if let Some(p) = lost {
                        if p.lost != 0 {
                            tracing::warn!(
                                lost = p.lost,
                                "{} bans the data plane decided were not made: the ban map is \
                                 full (sipguard_ban_insert_failures_total; `sipguard bans` lists it)",
                                p.lost
                            );
                        }
                        if p.evicted != 0 {
                            tracing::warn!(
                                evicted = p.evicted,
                                "{} of the data plane's bans still in force gave way to newer ones: \
                                 its ban room is full, the oldest go first (sipguard_bans_evicted_total; \
                                 `sipguard bans` shows the room); the admin's bans are not touched",
                                p.evicted
                            );
                        }
                    }
                    Ok::<(), ControlError>(())
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

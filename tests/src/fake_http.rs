//! A scripted HTTP/1.1 server for the fleet tests: a fake LAPI or APIBan inside a test
//! namespace that answers each request with what `answer` says for its path and its number,
//! and records the requests (with their arrival time). One connection at a time, one
//! request per connection; bounded to 2 minutes and 10,000 requests.
use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{netns::spawn_in_ns, Deadline};

/// One answer: status, extra header lines (`Name: value`), body.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, line: &str) -> Self {
        self.headers.push(line.to_owned());
        self
    }
}

/// A request as received: its target (path and query), head, body and when it arrived.
#[derive(Clone, Debug)]
pub struct Seen {
    pub target: String,
    /// The request line and header lines.
    pub head: String,
    /// The body (`Content-Length` bytes, at most 1 MiB).
    pub body: Vec<u8>,
    pub at: Instant,
    /// When its answer was written.
    pub answered: Instant,
}

/// The server; stopped on drop.
pub struct FakeHttp {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

type Answer = dyn FnMut(&str, usize) -> Reply + Send;

impl FakeHttp {
    /// Listens on `addr` in `ns`; `answer(target, n)` answers the `n`-th request (from 0).
    pub fn start(
        ns: &str,
        addr: SocketAddr,
        answer: impl FnMut(&str, usize) -> Reply + Send + 'static,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, log) = (stop.clone(), seen.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut answer: Box<Answer> = Box::new(answer);
        let thread = spawn_in_ns(ns, move || {
            let listener = TcpListener::bind(addr)?;
            listener.set_nonblocking(true)?;
            let _ = ready_tx.send(());
            let deadline = Deadline::after(Duration::from_secs(120));
            let mut n = 0;
            while !s.load(Ordering::Relaxed) && deadline.pending() && n < 10_000 {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false)?;
                stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                let at = Instant::now();
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                let end = head
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(head.len(), |p| p + 4);
                let mut body = head.split_off(end);
                let text = String::from_utf8_lossy(&head).into_owned();
                let target = text.split_whitespace().nth(1).unwrap_or("").to_owned();
                let length = header(&text, "content-length")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0)
                    .min(1 << 20);
                while body.len() < length {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => body.extend_from_slice(&buf[..k]),
                    }
                }
                let reply = answer(&target, n);
                n += 1;
                let mut out = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for h in &reply.headers {
                    out.push_str(h);
                    out.push_str("\r\n");
                }
                out.push_str("\r\n");
                let _ = stream.write_all(out.as_bytes());
                let _ = stream.write_all(&reply.body);
                let _ = stream.flush();
                log.lock().unwrap_or_else(|p| p.into_inner()).push(Seen {
                    target,
                    head: text,
                    body,
                    at,
                    answered: Instant::now(),
                });
            }
            Ok(())
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| anyhow::anyhow!("the fake server in {ns} did not start"))?;
        Ok(Self {
            addr,
            seen,
            stop,
            thread: Some(thread),
        })
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Seen {
    /// The value of header `name` (ignoring case), if the request had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.head, name)
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

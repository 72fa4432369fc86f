//! Real traffic between the test namespaces: UDP datagrams and TCP connections from chosen
//! source addresses, and receivers that count what arrived. Every loop is bounded.
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::{
    netns::{in_ns, spawn_in_ns},
    wait_every, Deadline,
};

/// Datagrams the end-to-end tests send from each source.
pub const DATAGRAMS: u32 = 20;

/// A receiving socket served by a thread inside a namespace: `start` returns once the socket
/// is bound, `finish` stops the thread and returns what it gathered. Bounded to 120 s.
pub struct Receiver<T> {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<anyhow::Result<T>>,
}

impl<T: Default + Send + 'static> Receiver<T> {
    /// Binds with `bind` inside `ns`, then calls `step` until stopped; `step` must return
    /// within ~100 ms (a socket timeout or non-blocking accept).
    pub fn start<S: 'static>(
        ns: &str,
        bind: impl FnOnce() -> std::io::Result<S> + Send + 'static,
        mut step: impl FnMut(&S, &mut T) + Send + 'static,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = spawn_in_ns(ns, move || {
            let socket = bind()?;
            let _ = ready_tx.send(());
            let mut gathered = T::default();
            let deadline = Deadline::after(Duration::from_secs(120));
            while !s.load(Ordering::Relaxed) && deadline.pending() {
                step(&socket, &mut gathered);
            }
            Ok(gathered)
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| anyhow::anyhow!("receiver in {ns} did not start"))?;
        Ok(Self { stop, thread })
    }

    /// Stops the thread and returns what it gathered.
    pub fn finish(self) -> anyhow::Result<T> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("receiver thread panicked"))?
    }
}

/// A dual-stack UDP receiver on `[::]:port` counting datagrams per source address.
pub struct UdpCounter(Receiver<BTreeMap<IpAddr, u64>>);

/// Binds a dual-stack UDP socket on `[::]:port` whose reads time out after 100 ms.
fn dual_stack_udp(port: u16) -> impl FnOnce() -> std::io::Result<UdpSocket> {
    move || {
        let sock = UdpSocket::bind(("::", port))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(sock)
    }
}

impl UdpCounter {
    pub fn start(ns: &str, port: u16) -> anyhow::Result<Self> {
        let step = |sock: &UdpSocket, counts: &mut BTreeMap<IpAddr, u64>| {
            let mut buf = [0u8; 2048];
            if let Ok((_, from)) = sock.recv_from(&mut buf) {
                *counts.entry(from.ip().to_canonical()).or_insert(0) += 1;
            }
        };
        Receiver::start(ns, dual_stack_udp(port), step).map(Self)
    }

    /// Stops after a short drain and returns datagrams per source.
    pub fn finish(self) -> anyhow::Result<BTreeMap<IpAddr, u64>> {
        std::thread::sleep(Duration::from_millis(300));
        self.0.finish()
    }
}

/// A dual-stack UDP receiver on `[::]:port` keeping every datagram whole, with its source
/// (an IPv4-mapped one as IPv4), in order of arrival: what an application on the PBX gets
/// (after the kernel's reassembly).
pub struct UdpLog(Receiver<Vec<(IpAddr, Vec<u8>)>>);

impl UdpLog {
    pub fn start(ns: &str, port: u16) -> anyhow::Result<Self> {
        let step = |sock: &UdpSocket, log: &mut Vec<(IpAddr, Vec<u8>)>| {
            let mut buf = vec![0u8; 65536];
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                buf.truncate(n);
                log.push((from.ip().to_canonical(), buf));
            }
        };
        Receiver::start(ns, dual_stack_udp(port), step).map(Self)
    }

    /// Stops after a short drain and returns the datagrams.
    pub fn finish(self) -> anyhow::Result<Vec<(IpAddr, Vec<u8>)>> {
        std::thread::sleep(Duration::from_millis(300));
        self.0.finish()
    }
}

/// Sends `count` datagrams from `src` (any port) to `dst` inside namespace `ns`.
pub fn send_udp(
    ns: &str,
    src: IpAddr,
    dst: SocketAddr,
    count: u32,
    payload: &[u8],
) -> anyhow::Result<()> {
    in_ns(ns, || -> anyhow::Result<()> {
        let sock = UdpSocket::bind(SocketAddr::new(src, 0))?;
        for _ in 0..count {
            sock.send_to(payload, dst)?;
            // pace a little so no queue in between drops anything
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    })?
}

/// Sends `count` password guesses from `src` to `dst` inside namespace `ns`: `template` with
/// its digest `response="000..."` replaced by each guess's number, so that no guess is a
/// retransmission of the one before (which sipguard counts once).
pub fn send_guesses(
    ns: &str,
    src: IpAddr,
    dst: SocketAddr,
    count: u32,
    template: &str,
) -> anyhow::Result<()> {
    const ZERO: &str = "response=\"00000000000000000000000000000000\"";
    anyhow::ensure!(template.contains(ZERO), "the guess template has no {ZERO}");
    in_ns(ns, || -> anyhow::Result<()> {
        let sock = UdpSocket::bind(SocketAddr::new(src, 0))?;
        for i in 0..count {
            let guess = template.replace(ZERO, &format!("response=\"{i:032}\""));
            sock.send_to(guess.as_bytes(), dst)?;
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    })?
}

/// A dual-stack TCP listener on `[::]:port` that accepts and closes connections.
pub struct TcpAcceptor(Receiver<u64>);

impl TcpAcceptor {
    pub fn start(ns: &str, port: u16) -> anyhow::Result<Self> {
        let bind = move || {
            let l = TcpListener::bind(("::", port))?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        let step = |l: &TcpListener, accepted: &mut u64| match l.accept() {
            Ok(_) => *accepted += 1,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        };
        Receiver::start(ns, bind, step).map(Self)
    }

    /// Stops and returns the number of accepted connections.
    pub fn finish(self) -> anyhow::Result<u64> {
        self.0.finish()
    }
}

/// Whether a TCP connection from `src` to `dst` completes within `timeout`.
pub fn tcp_connects(
    ns: &str,
    src: IpAddr,
    dst: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<bool> {
    in_ns(ns, || -> anyhow::Result<bool> {
        let family = match src {
            IpAddr::V4(_) => nix::sys::socket::AddressFamily::Inet,
            IpAddr::V6(_) => nix::sys::socket::AddressFamily::Inet6,
        };
        // std has no bind-before-connect: do it with nix, then hand the fd to std.
        use nix::sys::socket::{bind, socket, SockFlag, SockType, SockaddrStorage};
        let fd = socket(family, SockType::Stream, SockFlag::empty(), None)?;
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrStorage::from(SocketAddr::new(src, 0)),
        )?;
        let stream = TcpStream::from(fd);
        stream.set_nonblocking(true)?;
        let addr = SockaddrStorage::from(dst);
        let _ = nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&stream), &addr);
        // connected when the peer address is known
        let connected = || stream.peer_addr().ok();
        let what = format!("a TCP connection from {src} to {dst}");
        Ok(wait_every(timeout, Duration::from_millis(20), &what, connected).is_ok())
    })?
}

/// Steady UDP from several sources at once, for as long as a test changes things under it
/// (reloads, restarts): one datagram from each source every `gap`, until `finish` or at most
/// 120 s / 100,000 rounds.
pub struct SteadyUdp {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<anyhow::Result<BTreeMap<IpAddr, u64>>>,
}

impl SteadyUdp {
    pub fn start(ns: &str, srcs: &[IpAddr], dst: SocketAddr, gap: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let srcs = srcs.to_vec();
        let thread = spawn_in_ns(ns, move || {
            let socks = srcs
                .iter()
                .map(|&src| UdpSocket::bind(SocketAddr::new(src, 0)).map(|s| (src, s)))
                .collect::<std::io::Result<Vec<_>>>()?;
            let mut sent = BTreeMap::new();
            let deadline = Deadline::after(Duration::from_secs(120));
            for round in 0..100_000u32 {
                if flag.load(Ordering::Relaxed) || !deadline.pending() {
                    break;
                }
                for (src, sock) in &socks {
                    sock.send_to(format!("steady {round}").as_bytes(), dst)?;
                    *sent.entry(*src).or_insert(0) += 1;
                }
                std::thread::sleep(gap);
            }
            Ok(sent)
        });
        Self { stop, thread }
    }

    /// Stops sending and returns the datagrams sent per source.
    pub fn finish(self) -> anyhow::Result<BTreeMap<IpAddr, u64>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("sender thread panicked"))?
    }
}

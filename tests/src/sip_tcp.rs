//! SIP over one TCP connection, for the lab's TCP measurements: [`SipStream`] frames the
//! PBX's answers by `Content-Length` (the guesser's TCP mode, [`crate::guesser`]), and
//! [`register_flood`] pipelines REGISTERs with the segment layout chosen ([`Packing`]).
//! Everything is bounded: a flood by its count and its duration, a read by its timeout.
use std::{
    io::{ErrorKind, Read as _, Write as _},
    net::{IpAddr, SocketAddr, TcpStream},
    os::fd::AsRawFd as _,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};

use crate::{netns::in_ns, Deadline};

/// One TCP connection to the PBX, its answers read one SIP message at a time.
pub struct SipStream {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl SipStream {
    /// Connects (in the calling thread's namespace) from the address the route gives; fails
    /// unless that is `src`.
    pub fn connect(src: IpAddr, pbx: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect_timeout(&pbx, Duration::from_secs(3))
            .with_context(|| format!("connecting to {pbx} over TCP"))?;
        let local = stream.local_addr()?;
        if local.ip() != src {
            bail!("the TCP connection to {pbx} left from {local}, not {src}");
        }
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next whole message the PBX sent, waiting at most `timeout`; `None` on silence or
    /// when the PBX closed the connection.
    pub fn next_message(&mut self, timeout: Duration) -> anyhow::Result<Option<String>> {
        let deadline = Deadline::after(timeout);
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(len) = message_len(&self.buf) {
                let message = String::from_utf8_lossy(&self.buf[..len]).into_owned();
                self.buf.drain(..len);
                return Ok(Some(message));
            }
            let left = deadline.left();
            if left.is_zero() {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The length of the first whole message in `buf` (leading CRLF keep-alives included), from
/// its headers' end and its `Content-Length` (0 when absent, as on a stream it must not be).
fn message_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let body = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            let name = name.trim();
            (name.eq_ignore_ascii_case("content-length") || name == "l")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    (buf.len() >= head_end + body).then_some(head_end + body)
}

/// How a flood lays its REGISTERs out in TCP segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// Each REGISTER padded to the connection's MSS: one request per segment, every segment
    /// starting with a request line.
    OnePerSegment,
    /// `n` REGISTERs per segment, each padded to MSS / n: every segment holds `n` whole
    /// requests and starts with a request line.
    PerSegment(usize),
    /// Unpadded REGISTERs written back to back: segments cut the stream wherever the MSS
    /// falls, so most start in the middle of a request.
    Stream,
}

/// Segments a padded flood keeps unanswered at most. The sender's kernel cuts segments where
/// the MSS falls only while the peer's window is open wide; with the window filling (a
/// dropped segment holds what follows out of order at the PBX), it sends what the window
/// takes and later segments start inside a request. Eight segments in flight never come
/// near a window.
pub const PADDED_IN_FLIGHT: usize = 8;

impl Packing {
    /// (pad each REGISTER to this length, REGISTERs per write, most unanswered) for `mss`.
    fn layout(self, mss: usize) -> anyhow::Result<(Option<usize>, usize, u64)> {
        Ok(match self {
            Self::OnePerSegment => (Some(mss), 1, PADDED_IN_FLIGHT as u64),
            Self::PerSegment(n) => {
                if n == 0 || !mss.is_multiple_of(n) {
                    bail!("MSS {mss} is not a multiple of {n}");
                }
                (Some(mss / n), n, (n * PADDED_IN_FLIGHT) as u64)
            }
            Self::Stream => (None, 16, u64::MAX),
        })
    }
}

/// What a TCP REGISTER flood did ([`register_flood`]).
#[derive(Clone, Copy, Debug)]
pub struct TcpFlood {
    /// REGISTERs written into the socket (accepted by the kernel, not necessarily sent).
    pub written: u64,
    /// Final answers the PBX sent back on the connection.
    pub answered: u64,
    /// From the connection's start to its reset.
    pub secs: f64,
    /// The connection's MSS and the length of each REGISTER.
    pub mss: usize,
    pub request_len: usize,
}

/// A REGISTER flood over one TCP connection from `ns` (source `src`) to `pbx`: at most `max`
/// REGISTERs laid out as `packing`, written for at most `duration` (as fast as the socket
/// takes them; padded ones with at most [`PADDED_IN_FLIGHT`] segments unanswered), then the
/// connection is reset so that nothing still queued reaches the PBX.
/// Answers are drained meanwhile.
pub fn register_flood(
    ns: &str,
    src: IpAddr,
    pbx: SocketAddr,
    packing: Packing,
    max: u64,
    duration: Duration,
) -> anyhow::Result<TcpFlood> {
    in_ns(ns, || -> anyhow::Result<TcpFlood> {
        let started = Instant::now();
        let mut s = SipStream::connect(src, pbx)?;
        // Nagle on: a request is never sent in pieces because a write was.
        s.stream.set_nodelay(false)?;
        s.stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        let fd = s.stream.as_raw_fd();
        let mss = sockopt(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG)?;
        let (pad, per_write, in_flight) = packing.layout(mss)?;
        let request_len = flood_register(s.local_addr()?, pbx, 0, pad)?.len();
        let stop = AtomicBool::new(false);
        let answered = AtomicU64::new(0);
        let mut reader = SipStream {
            stream: s.stream.try_clone()?,
            buf: Vec::new(),
        };
        let written = std::thread::scope(|scope| -> anyhow::Result<u64> {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    match reader.next_message(Duration::from_millis(50)) {
                        Ok(Some(m)) if m.trim_start().starts_with("SIP/2.0 ") => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
            let result = write_flood(
                &mut s,
                pad,
                (max, duration),
                (per_write, in_flight),
                &answered,
            );
            stop.store(true, Ordering::Relaxed);
            result
        })?;
        // Reset, not FIN: what the kernel still holds must not trickle on to the PBX.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: `fd` is the open socket, `linger` a valid struct of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            bail!("SO_LINGER: {}", std::io::Error::last_os_error());
        }
        drop(reader);
        drop(s);
        Ok(TcpFlood {
            written,
            answered: answered.load(Ordering::Relaxed),
            secs: started.elapsed().as_secs_f64(),
            mss,
            request_len,
        })
    })?
}

/// Writes REGISTERs `per_write` at a time, each write only when the socket has room for all
/// of it (so that no write stops inside a request and no segment is cut there) and while at
/// most `in_flight` would be left unanswered, until `max` are written or `duration` has
/// passed.
fn write_flood(
    s: &mut SipStream,
    pad: Option<usize>,
    (max, duration): (u64, Duration),
    (per_write, in_flight): (usize, u64),
    answered: &AtomicU64,
) -> anyhow::Result<u64> {
    let fd = s.stream.as_raw_fd();
    let (local, pbx) = (s.local_addr()?, s.stream.peer_addr()?);
    let sndbuf = sockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)?;
    let deadline = Deadline::after(duration);
    let (mut written, mut next) = (0u64, 0u64);
    let (mut chunk, mut in_chunk) = (Vec::new(), 0);
    while written < max && deadline.pending() {
        while chunk.is_empty() || (in_chunk < per_write && next < max) {
            chunk.extend(flood_register(local, pbx, next, pad)?.bytes());
            (in_chunk, next) = (in_chunk + 1, next + 1);
        }
        let mut queued = 0;
        // SAFETY: TIOCOUTQ writes one int, the bytes not yet acknowledged, into `queued`.
        if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &raw mut queued) } != 0 {
            bail!("TIOCOUTQ: {}", std::io::Error::last_os_error());
        }
        // Room counted with the kernel's per-segment overhead (about as much again).
        let unanswered =
            (written + in_chunk as u64).saturating_sub(answered.load(Ordering::Relaxed));
        if (queued as usize + chunk.len()) * 2 > sndbuf || unanswered > in_flight {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        s.send(&chunk)?;
        written += in_chunk as u64;
        (in_chunk, chunk) = (0, Vec::new());
    }
    Ok(written)
}

fn sockopt(fd: i32, level: i32, name: i32) -> anyhow::Result<usize> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: an int option read into an int of the length passed.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &mut len) };
    if rc != 0 {
        bail!(
            "getsockopt({level}, {name}): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(value as usize)
}

/// Flood REGISTER number `i` (fixed length for a given `len`: counters are zero-padded),
/// padded with an `X-Pad` header to exactly `len` bytes if given. User-Agent
/// `sipguard-lab-flood`, as the UDP flood's.
fn flood_register(
    local: SocketAddr,
    pbx: SocketAddr,
    i: u64,
    len: Option<usize>,
) -> anyhow::Result<String> {
    let pbx = pbx.ip();
    let head = format!(
        "REGISTER sip:{pbx} SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK-tf{i:08}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@{pbx}>;tag=tf{i:08}\r\n\
         To: <sip:1001@{pbx}>\r\n\
         Call-ID: tf{i:08}@{ip}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:1001@{local}>\r\n\
         User-Agent: sipguard-lab-flood\r\n\
         Expires: 3600\r\n",
        ip = local.ip(),
    );
    let tail = "Content-Length: 0\r\n\r\n";
    let Some(len) = len else {
        return Ok(format!("{head}{tail}"));
    };
    let pad = "X-Pad: \r\n".len();
    let Some(fill) = len.checked_sub(head.len() + tail.len() + pad) else {
        bail!(
            "a flood REGISTER needs {} bytes, not {len}",
            head.len() + tail.len() + pad
        );
    };
    Ok(format!("{head}X-Pad: {}\r\n{tail}", "x".repeat(fill)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_framed_by_content_length() {
        let two = b"SIP/2.0 401 Unauthorized\r\nContent-Length: 3\r\n\r\nabcSIP/2.0 200 OK\r\nl: 0\r\n\r\n";
        let first = message_len(two).unwrap();
        assert!(two[..first].ends_with(b"abc"));
        assert_eq!(message_len(&two[first..]), Some(two.len() - first));
        assert_eq!(
            message_len(b"SIP/2.0 200 OK\r\nContent-Length: 5\r\n\r\nab"),
            None
        );
        assert_eq!(message_len(b"SIP/2.0 200 OK\r\n"), None);
    }

    #[test]
    fn padded_flood_registers_have_the_length_asked() {
        let (local, pbx) = (
            "192.0.2.66:40000".parse().unwrap(),
            "192.0.2.1:5060".parse().unwrap(),
        );
        for len in [362, 724, 1448] {
            let r = flood_register(local, pbx, 7, Some(len)).unwrap();
            assert_eq!(r.len(), len);
            assert_eq!(message_len(r.as_bytes()), Some(len));
        }
        assert_eq!(
            flood_register(local, pbx, 1, None).unwrap().len(),
            flood_register(local, pbx, 99_999, None).unwrap().len()
        );
        assert!(flood_register(local, pbx, 1, Some(100)).is_err());
    }
}

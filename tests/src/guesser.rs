//! A SIP digest password guesser for the lab's measurements, timed to the microsecond: it
//! registers without credentials, takes the PBX's challenge, and sends REGISTERs whose
//! `Authorization` answers the latest challenge with a real digest (RFC 2617, qop=auth) of
//! its `password`: a wrong one, as a password guesser's, or the right one to show the digest
//! is the real thing. Over UDP or one TCP connection ([`Transport`]). Everything is bounded:
//! at most `max` requests, and `silence` for an answer.
use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::{netns::in_ns, sip_tcp::SipStream, Deadline};

/// One request and what came back.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    pub sent: Instant,
    /// Credentials were in it (all but the first, which fetches the challenge).
    pub with_credentials: bool,
    /// The final answer's status and its arrival.
    pub answer: Option<(u16, Instant)>,
}

/// A guesser bound to `src` (port chosen by the kernel) against `pbx`, for `user`.
pub struct Guesser {
    pub ns: String,
    pub src: IpAddr,
    pub pbx: SocketAddr,
    pub user: String,
    /// The password every digest is computed with.
    pub password: String,
    /// Longest wait for an answer before a request counts as dropped.
    pub silence: Duration,
}

/// What the guesser's requests travel over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    /// One TCP connection for all requests.
    Tcp,
}

/// A challenge's realm and nonce.
#[derive(Clone, Debug)]
struct Challenge {
    realm: String,
    nonce: String,
}

impl Guesser {
    /// [`Guesser::lock_step_over`] UDP.
    pub fn lock_step(&self, max: usize) -> anyhow::Result<Vec<Exchange>> {
        self.lock_step_over(Transport::Udp, max)
    }

    /// Lock-step: each request leaves as soon as the previous one is answered, so the first
    /// unanswered one is the first the attacker could send after its last answer. Stops at
    /// the first request left unanswered for `silence`, or after `max` requests.
    pub fn lock_step_over(
        &self,
        transport: Transport,
        max: usize,
    ) -> anyhow::Result<Vec<Exchange>> {
        self.lock_step_core(transport, max, None, false)
    }

    /// Lock-step over UDP beside another client: before each request with credentials,
    /// `neighbour` gets that client challenged and returns the nonce it was sent. With
    /// `share`, a guess waits for a nonce both were sent: when the neighbour's differs (a
    /// new second began between the two challenges, for a PBX whose nonce is the time's), the
    /// guesser first fetches a fresh challenge, at most 3 times. Stops like
    /// [`Guesser::lock_step`].
    pub fn lock_step_beside(
        &self,
        max: usize,
        neighbour: impl Fn() -> anyhow::Result<String> + Sync,
        share: bool,
    ) -> anyhow::Result<Vec<Exchange>> {
        self.lock_step_core(Transport::Udp, max, Some(&neighbour), share)
    }

    /// [`Guesser::lock_step_over`], with [`Guesser::lock_step_beside`]'s neighbour if given.
    fn lock_step_core(
        &self,
        transport: Transport,
        max: usize,
        neighbour: Option<&(dyn Fn() -> anyhow::Result<String> + Sync)>,
        share: bool,
    ) -> anyhow::Result<Vec<Exchange>> {
        in_ns(&self.ns, || -> anyhow::Result<Vec<Exchange>> {
            let mut channel = Channel::open(self, transport)?;
            let mut out = Vec::new();
            let mut challenge: Option<Challenge> = None;
            let mut cseq = 0;
            while out.len() < max {
                if let (Some(neighbour), true) = (neighbour, challenge.is_some()) {
                    let mut theirs = neighbour()?;
                    for _ in 0..3 {
                        if !share || challenge.as_ref().is_some_and(|c| c.nonce == theirs) {
                            break;
                        }
                        let request = self.register(&channel, cseq, None)?;
                        channel.send(request.as_bytes())?;
                        if let Some((_, _, Some(fresh))) = self.answer(&mut channel, cseq)? {
                            challenge = Some(fresh);
                        }
                        cseq += 1;
                        theirs = neighbour()?;
                    }
                }
                let request = self.register(&channel, cseq, challenge.as_ref())?;
                let sent = Instant::now();
                channel.send(request.as_bytes())?;
                let answer = self.answer(&mut channel, cseq)?;
                cseq += 1;
                out.push(Exchange {
                    sent,
                    with_credentials: challenge.is_some(),
                    answer: answer.as_ref().map(|(code, at, _)| (*code, *at)),
                });
                match answer {
                    Some((_, _, Some(c))) => challenge = Some(c),
                    Some(_) => {}
                    None => break,
                }
            }
            Ok(out)
        })?
    }

    /// One REGISTER without credentials; the nonce of the PBX's challenge to it.
    pub fn challenge(&self) -> anyhow::Result<String> {
        in_ns(&self.ns, || -> anyhow::Result<String> {
            let mut channel = Channel::open(self, Transport::Udp)?;
            let request = self.register(&channel, 0, None)?;
            channel.send(request.as_bytes())?;
            match self.answer(&mut channel, 0)? {
                Some((_, _, Some(c))) => Ok(c.nonce),
                _ => anyhow::bail!("the PBX sent {} no challenge", self.src),
            }
        })?
    }

    /// [`Guesser::burst_over`] UDP.
    pub fn burst(&self, n: usize) -> anyhow::Result<Vec<Exchange>> {
        self.burst_over(Transport::Udp, n)
    }

    /// Pipelined: fetches one challenge, then sends `n` requests with credentials back to
    /// back without waiting (over TCP, in one write), and collects answers for `silence`.
    /// Returns the exchanges (answers matched by CSeq).
    pub fn burst_over(&self, transport: Transport, n: usize) -> anyhow::Result<Vec<Exchange>> {
        in_ns(&self.ns, || -> anyhow::Result<Vec<Exchange>> {
            let mut channel = Channel::open(self, transport)?;
            let request = self.register(&channel, 0, None)?;
            channel.send(request.as_bytes())?;
            let Some((_, _, Some(challenge))) = self.answer(&mut channel, 0)? else {
                anyhow::bail!("the PBX sent no challenge to {}", self.src);
            };
            let mut out = Vec::with_capacity(n);
            let mut pipelined = Vec::new();
            for i in 1..=n {
                let request = self.register(&channel, i, Some(&challenge))?;
                let sent = Instant::now();
                match transport {
                    Transport::Udp => channel.send(request.as_bytes())?,
                    Transport::Tcp => pipelined.extend_from_slice(request.as_bytes()),
                }
                out.push(Exchange {
                    sent,
                    with_credentials: true,
                    answer: None,
                });
            }
            if !pipelined.is_empty() {
                channel.send(&pipelined)?;
            }
            let deadline = Deadline::after(self.silence);
            while deadline.pending() {
                let Some(text) = channel.recv(Duration::from_millis(20))? else {
                    continue;
                };
                if let (Some(code), Some(cseq)) = (status(&text), cseq(&text)) {
                    if code >= 200 {
                        if let Some(e) = out.get_mut(cseq.wrapping_sub(1) as usize) {
                            e.answer.get_or_insert((code, Instant::now()));
                        }
                    }
                }
            }
            Ok(out)
        })?
    }

    /// REGISTER number `i` (CSeq i + 1), answering `challenge` with the digest of the
    /// guesser's password if given.
    fn register(
        &self,
        channel: &Channel,
        i: usize,
        challenge: Option<&Challenge>,
    ) -> anyhow::Result<String> {
        let local = channel.local_addr()?;
        let (user, pbx) = (&self.user, self.pbx.ip());
        let uri = format!("sip:{pbx}");
        let auth = match challenge {
            Some(Challenge { realm, nonce }) => {
                let cnonce = format!("c{i}");
                let response = digest_response(
                    [user, realm, &self.password],
                    ["REGISTER", &uri],
                    [nonce, "00000001", &cnonce],
                );
                format!(
                    "Authorization: Digest username=\"{user}\", realm=\"{realm}\", \
                     nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", \
                     algorithm=MD5, qop=auth, nc=00000001, cnonce=\"{cnonce}\"\r\n"
                )
            }
            None => String::new(),
        };
        Ok(format!(
            "REGISTER {uri} SIP/2.0\r\n\
             Via: SIP/2.0/{via} {local};branch=z9hG4bK-guess-{i}-{port}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{pbx}>;tag=g{port}\r\n\
             To: <sip:{user}@{pbx}>\r\n\
             Call-ID: guess-{port}@{ip}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local}>\r\n\
             {auth}User-Agent: Zoiper rv2.10.20.3\r\n\
             Expires: 60\r\n\
             Content-Length: 0\r\n\r\n",
            via = channel.via(),
            port = local.port(),
            ip = local.ip(),
            cseq = i + 1,
        ))
    }

    /// The final answer to request `i`: (status, arrival, a challenge's realm and nonce).
    /// Provisional answers and answers to other requests are skipped.
    fn answer(
        &self,
        channel: &mut Channel,
        i: usize,
    ) -> anyhow::Result<Option<(u16, Instant, Option<Challenge>)>> {
        let deadline = Deadline::after(self.silence);
        loop {
            let left = deadline.left();
            if left.is_zero() {
                return Ok(None);
            }
            let Some(text) = channel.recv(left)? else {
                return Ok(None);
            };
            let at = Instant::now();
            match (status(&text), cseq(&text)) {
                (Some(code), Some(c)) if code >= 200 && c == i as u64 + 1 => {
                    let challenge = param(&text, "nonce").map(|nonce| Challenge {
                        realm: param(&text, "realm").unwrap_or_default(),
                        nonce,
                    });
                    return Ok(Some((code, at, challenge)));
                }
                _ => {}
            }
        }
    }
}

/// The guesser's socket: a UDP one sending to the PBX, or one TCP connection.
enum Channel {
    Udp(UdpSocket, SocketAddr),
    Tcp(SipStream),
}

impl Channel {
    /// Opens it from `g.src` (in the calling thread's namespace).
    fn open(g: &Guesser, transport: Transport) -> anyhow::Result<Self> {
        Ok(match transport {
            Transport::Udp => Self::Udp(
                UdpSocket::bind(SocketAddr::new(g.src, 0))
                    .with_context(|| format!("binding {} in {}", g.src, g.ns))?,
                g.pbx,
            ),
            Transport::Tcp => Self::Tcp(SipStream::connect(g.src, g.pbx)?),
        })
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Self::Udp(sock, _) => sock.local_addr(),
            Self::Tcp(stream) => stream.local_addr(),
        }
    }

    /// The Via header's transport.
    fn via(&self) -> &'static str {
        match self {
            Self::Udp(..) => "UDP",
            Self::Tcp(_) => "TCP",
        }
    }

    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Self::Udp(sock, to) => sock.send_to(bytes, *to).map(drop)?,
            Self::Tcp(stream) => stream.send(bytes)?,
        }
        Ok(())
    }

    /// The next message from the PBX within `timeout`.
    fn recv(&mut self, timeout: Duration) -> anyhow::Result<Option<String>> {
        match self {
            Self::Udp(sock, _) => {
                sock.set_read_timeout(Some(timeout.max(Duration::from_micros(1))))?;
                let mut buf = [0u8; 4096];
                match sock.recv(&mut buf) {
                    Ok(len) => Ok(Some(String::from_utf8_lossy(&buf[..len]).into_owned())),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Self::Tcp(stream) => stream.next_message(timeout),
        }
    }
}

/// RFC 2617's qop=auth digest: MD5(HA1:nonce:nc:cnonce:auth:HA2), HA1 = MD5(user:realm:
/// password), HA2 = MD5(method:uri).
fn digest_response(a1: [&str; 3], a2: [&str; 2], [nonce, nc, cnonce]: [&str; 3]) -> String {
    let ha1 = hex(md5(a1.join(":").as_bytes()));
    let ha2 = hex(md5(a2.join(":").as_bytes()));
    hex(md5([ha1.as_str(), nonce, nc, cnonce, "auth", ha2.as_str()]
        .join(":")
        .as_bytes()))
}

fn hex(bytes: [u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// MD5 (RFC 1321), for the digest only.
fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    for block in msg.chunks_exact(64) {
        let m: Vec<u32> = block
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(k[i])
                .wrapping_add(m[g])
                .rotate_left(S[(i / 16) * 4 + i % 4]);
            (a, d, c) = (d, c, b);
            b = b.wrapping_add(rotated);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 16];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_le_bytes());
    }
    out
}

fn status(text: &str) -> Option<u16> {
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

fn cseq(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("CSeq:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A quoted parameter (`nonce`, `realm`) of a challenge.
fn param(text: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = text.find(&key)? + key.len();
    let end = text[at..].find('"')?;
    Some(text[at..at + end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_gives_its_status_cseq_and_nonce() {
        let text = "SIP/2.0 401 Unauthorized\r\nCSeq: 3 REGISTER\r\n\
                    WWW-Authenticate: Digest realm=\"192.0.2.1\", nonce=\"abc123\", qop=\"auth\"\r\n\r\n";
        assert_eq!(status(text), Some(401));
        assert_eq!(cseq(text), Some(3));
        assert_eq!(param(text, "nonce").as_deref(), Some("abc123"));
        assert_eq!(param(text, "realm").as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn md5_and_the_digest_match_the_rfcs() {
        assert_eq!(hex(md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        let long =
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890";
        assert_eq!(hex(md5(long)), "57edf4a22be3c955ac49da2e2107b67a");
        // RFC 2617 section 3.5.
        assert_eq!(
            digest_response(
                ["Mufasa", "testrealm@host.com", "Circle Of Life"],
                ["GET", "/dir/index.html"],
                ["dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b"],
            ),
            "6629fae49393a05397450978507c4ef1"
        );
    }
}

//! A SIP digest password guesser for the lab's measurements, timed to the microsecond: it
//! registers without credentials, takes the PBX's challenge, and sends REGISTERs whose
//! `Authorization` answers the latest nonce with a wrong digest (the PBX can't tell it from a
//! wrong password). Everything is bounded: at most `max` requests, and `silence` for an
//! answer.
use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::{netns::in_ns, Deadline};

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
    /// Longest wait for an answer before a request counts as dropped.
    pub silence: Duration,
}

impl Guesser {
    /// Lock-step: each request leaves as soon as the previous one is answered, so the first
    /// unanswered one is the first the attacker could send after its last answer. Stops at
    /// the first request left unanswered for `silence`, or after `max` requests.
    pub fn lock_step(&self, max: usize) -> anyhow::Result<Vec<Exchange>> {
        in_ns(&self.ns, || -> anyhow::Result<Vec<Exchange>> {
            let sock = self.socket()?;
            let mut out = Vec::new();
            let mut nonce: Option<String> = None;
            for i in 0..max {
                let request = self.register(&sock, i, nonce.as_deref())?;
                let sent = Instant::now();
                sock.send_to(request.as_bytes(), self.pbx)?;
                let answer = self.answer(&sock, i)?;
                out.push(Exchange {
                    sent,
                    with_credentials: nonce.is_some(),
                    answer: answer.as_ref().map(|(code, at, _)| (*code, *at)),
                });
                match answer {
                    Some((_, _, Some(n))) => nonce = Some(n),
                    Some(_) => {}
                    None => break,
                }
            }
            Ok(out)
        })?
    }

    /// Pipelined: fetches one challenge, then sends `n` requests with credentials back to
    /// back without waiting, and collects answers for `silence`. Returns the exchanges
    /// (answers matched by CSeq).
    pub fn burst(&self, n: usize) -> anyhow::Result<Vec<Exchange>> {
        in_ns(&self.ns, || -> anyhow::Result<Vec<Exchange>> {
            let sock = self.socket()?;
            let request = self.register(&sock, 0, None)?;
            sock.send_to(request.as_bytes(), self.pbx)?;
            let Some((_, _, Some(nonce))) = self.answer(&sock, 0)? else {
                anyhow::bail!("the PBX sent no challenge to {}", self.src);
            };
            let mut out = Vec::with_capacity(n);
            for i in 1..=n {
                let request = self.register(&sock, i, Some(&nonce))?;
                let sent = Instant::now();
                sock.send_to(request.as_bytes(), self.pbx)?;
                out.push(Exchange {
                    sent,
                    with_credentials: true,
                    answer: None,
                });
            }
            let deadline = Deadline::after(self.silence);
            let mut buf = [0u8; 4096];
            while deadline.pending() {
                sock.set_read_timeout(Some(Duration::from_millis(20)))?;
                let Ok(len) = sock.recv(&mut buf) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&buf[..len]);
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

    fn socket(&self) -> anyhow::Result<UdpSocket> {
        let sock = UdpSocket::bind(SocketAddr::new(self.src, 0))
            .with_context(|| format!("binding {} in {}", self.src, self.ns))?;
        sock.set_read_timeout(Some(self.silence))?;
        Ok(sock)
    }

    /// REGISTER number `i` (CSeq i + 1), answering `nonce` with a wrong digest if given.
    fn register(&self, sock: &UdpSocket, i: usize, nonce: Option<&str>) -> anyhow::Result<String> {
        let local = sock.local_addr()?;
        let (user, pbx) = (&self.user, self.pbx.ip());
        let auth = match nonce {
            Some(n) => format!(
                "Authorization: Digest username=\"{user}\", realm=\"{pbx}\", nonce=\"{n}\", \
                 uri=\"sip:{pbx}\", response=\"{:032x}\", algorithm=MD5, qop=auth, \
                 nc=00000001, cnonce=\"c{i}\"\r\n",
                0x5eed_u128 * (i as u128 + 1)
            ),
            None => String::new(),
        };
        Ok(format!(
            "REGISTER sip:{pbx} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-guess-{i}-{port}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{pbx}>;tag=g{port}\r\n\
             To: <sip:{user}@{pbx}>\r\n\
             Call-ID: guess-{port}@{ip}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local}>\r\n\
             {auth}User-Agent: Zoiper rv2.10.20.3\r\n\
             Expires: 60\r\n\
             Content-Length: 0\r\n\r\n",
            port = local.port(),
            ip = local.ip(),
            cseq = i + 1,
        ))
    }

    /// The final answer to request `i`: (status, arrival, nonce of a challenge). Provisional
    /// answers and answers to other requests are skipped.
    fn answer(
        &self,
        sock: &UdpSocket,
        i: usize,
    ) -> anyhow::Result<Option<(u16, Instant, Option<String>)>> {
        let deadline = Deadline::after(self.silence);
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.left();
            if left.is_zero() {
                return Ok(None);
            }
            sock.set_read_timeout(Some(left))?;
            let len = match sock.recv(&mut buf) {
                Ok(len) => len,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            };
            let at = Instant::now();
            let text = String::from_utf8_lossy(&buf[..len]);
            match (status(&text), cseq(&text)) {
                (Some(code), Some(c)) if code >= 200 && c == i as u64 + 1 => {
                    return Ok(Some((code, at, nonce(&text))));
                }
                _ => {}
            }
        }
    }
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

fn nonce(text: &str) -> Option<String> {
    let at = text.find("nonce=\"")? + 7;
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
        assert_eq!(nonce(text).as_deref(), Some("abc123"));
    }
}

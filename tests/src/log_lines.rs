//! Log lines for the log-ban tests: the lines Asterisk, sshd and Kamailio write, honest and
//! crafted by a remote side to blame someone else, and a REGISTER password guesser whose
//! From display name carries text of the attacker's choosing (for the lab's Kamailio).
use std::{
    io::Write as _,
    net::{IpAddr, SocketAddr, UdpSocket},
    path::Path,
    time::Duration,
};

use anyhow::Context as _;

use crate::netns::in_ns;

/// Appends `line` `n` times to `path`.
pub fn append(path: &Path, line: &str, n: usize) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    for _ in 0..n {
        writeln!(f, "{line}")?;
    }
    Ok(())
}

/// chan_sip's failed registration, `from` being the From header the remote side sent.
pub fn chan_sip(from: &str, addr: &str) -> String {
    format!(
        "[2026-11-21 10:00:00] NOTICE[1638] chan_sip.c: Registration from '{from}' failed for \
         '{addr}' - Wrong password"
    )
}

/// PJSIP's failed request (`res_pjsip/pjsip_distributor.c`).
pub fn pjsip(from: &str, addr: &str, callid: &str) -> String {
    format!(
        "[2026-11-21 10:00:00] NOTICE[19388] res_pjsip/pjsip_distributor.c: Request 'REGISTER' \
         from '{from}' failed for '{addr}' (callid: {callid}) - Failed to authenticate"
    )
}

/// An Asterisk security event `InvalidPassword` from `remote` (`IPV4/UDP/a.b.c.d/port`).
pub fn security(account: &str, remote: &str) -> String {
    format!(
        r#"[2026-11-21 10:00:01] SECURITY[1204] res_security_log.c: SecurityEvent="InvalidPassword",EventTV="2026-11-21T10:00:01.000+0000",Severity="Error",Service="PJSIP",EventVersion="2",AccountID="{account}",SessionID="0x1",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="{remote}",Challenge="abc",ReceivedChallenge="abc",ReceivedHash="def""#
    )
}

/// sshd's invalid user through syslog.
pub fn sshd_invalid_user(user: &str, addr: &str) -> String {
    format!("Nov 21 10:00:02 pbx sshd[4242]: Invalid user {user} from {addr} port 40000")
}

/// sshd's failed password through syslog.
pub fn sshd_failed_password(user: &str, addr: &str) -> String {
    format!(
        "Nov 21 10:00:02 pbx sshd[4242]: Failed password for {user} from {addr} port 40000 ssh2"
    )
}

/// The lab Kamailio's `xlog` failure line on stderr.
pub fn kamailio(src: &str, user: &str) -> String {
    format!(" 1(4955) NOTICE: <script>: AUTHFAIL REGISTER src={src} user={user} rc=-2")
}

/// Sends from `src` in `ns` a REGISTER for `user` without credentials, then `guesses`
/// REGISTERs answering each challenge with a wrong digest, each with the From display name
/// `display`. Stops at the first request left unanswered for a second. Returns the number of
/// wrong guesses the PBX answered.
pub fn wrong_passwords(
    ns: &str,
    src: IpAddr,
    pbx: SocketAddr,
    user: &str,
    display: &str,
    guesses: usize,
) -> anyhow::Result<usize> {
    in_ns(ns, || -> anyhow::Result<usize> {
        let sock = UdpSocket::bind(SocketAddr::new(src, 0))?;
        sock.set_read_timeout(Some(Duration::from_secs(1)))?;
        let local = sock.local_addr()?;
        let mut nonce: Option<String> = None;
        let mut answered = 0;
        for i in 0..=guesses {
            let auth = match &nonce {
                Some(n) => format!(
                    "Authorization: Digest username=\"{user}\", realm=\"{ip}\", nonce=\"{n}\", \
                     uri=\"sip:{ip}\", response=\"{:032x}\", algorithm=MD5, qop=auth, \
                     nc=00000001, cnonce=\"c{i}\"\r\n",
                    0xbad_u128 * (i as u128 + 1),
                    ip = pbx.ip(),
                ),
                None => String::new(),
            };
            let request = format!(
                "REGISTER sip:{ip} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {local};branch=z9hG4bK-wrong-{i}-{port}\r\n\
                 Max-Forwards: 70\r\n\
                 From: \"{display}\" <sip:{user}@{ip}>;tag=w{port}\r\n\
                 To: <sip:{user}@{ip}>\r\n\
                 Call-ID: wrong-{port}@{lip}\r\n\
                 CSeq: {cseq} REGISTER\r\n\
                 Contact: <sip:{user}@{local}>\r\n\
                 {auth}User-Agent: Zoiper rv2.10.20.3\r\n\
                 Expires: 60\r\n\
                 Content-Length: 0\r\n\r\n",
                ip = pbx.ip(),
                port = local.port(),
                lip = local.ip(),
                cseq = i + 1,
            );
            sock.send_to(request.as_bytes(), pbx)?;
            let mut buf = [0u8; 4096];
            let Ok(len) = sock.recv(&mut buf) else {
                break;
            };
            let text = String::from_utf8_lossy(&buf[..len]);
            if nonce.is_some() {
                answered += 1;
            }
            nonce = text.find("nonce=\"").and_then(|at| {
                let rest = &text[at + 7..];
                Some(rest[..rest.find('"')?].to_owned())
            });
            if nonce.is_none() {
                break;
            }
        }
        Ok(answered)
    })?
}

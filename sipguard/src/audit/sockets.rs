//! Listening sockets from `/proc/net/{tcp,tcp6,udp,udp6}`: pure parsing of the kernel's text,
//! plus [`read_host`] for this host (its network namespace).
//!
//! Each line: `sl local_address rem_address st ...`; addresses are hex, one 32-bit word at a
//! time in host byte order (little-endian here: `0100007F` is 127.0.0.1; IPv6 is four such
//! words), the port is plain hex. TCP state `0A` is LISTEN; an unconnected UDP socket is in
//! state `07` (TCP_CLOSE).
use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// A socket waiting for connections or datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Listener {
    pub proto: Proto,
    pub addr: IpAddr,
    pub port: u16,
}

impl Listener {
    /// Only reachable from this host.
    pub fn loopback(&self) -> bool {
        match self.addr {
            IpAddr::V4(a) => a.is_loopback(),
            IpAddr::V6(a) => {
                a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }

    /// Bound to every address (`0.0.0.0` or `::`).
    pub fn wildcard(&self) -> bool {
        self.addr.is_unspecified()
    }

    /// Which families reach it: a `::` socket is dual-stack (Linux's default bindv6only=0).
    pub fn families(&self) -> (bool, bool) {
        match self.addr {
            IpAddr::V4(_) => (true, false),
            IpAddr::V6(a) if a.is_unspecified() => (true, true),
            IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => (true, false),
            IpAddr::V6(_) => (false, true),
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{} {a}:{}", self.proto, self.port),
            IpAddr::V6(a) => write!(f, "{} [{a}]:{}", self.proto, self.port),
        }
    }
}

/// `0100007F` -> 127.0.0.1; 32 hex digits -> an IPv6 address (four little-endian words).
pub fn parse_addr(hex: &str) -> Option<IpAddr> {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_le_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(&hex[i * 8..i * 8 + 8])?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// The listening sockets of one `/proc/net/{tcp,udp}[6]` text. Lines that don't parse are
/// skipped (the header, a truncated last line).
pub fn parse(text: &str, proto: Proto) -> Vec<Listener> {
    let want = match proto {
        Proto::Tcp => "0A",
        Proto::Udp => "07",
    };
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _sl = f.next()?;
            let local = f.next()?;
            let _remote = f.next()?;
            let state = f.next()?;
            if !state.eq_ignore_ascii_case(want) {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            Some(Listener {
                proto,
                addr: parse_addr(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
            })
        })
        .collect()
}

/// This network namespace's listeners, sorted, without duplicates (SO_REUSEPORT groups).
/// A missing file (no IPv6) counts as empty.
pub fn read_host() -> Result<Vec<Listener>, (String, std::io::Error)> {
    let mut all = Vec::new();
    for (file, proto) in [
        ("tcp", Proto::Tcp),
        ("tcp6", Proto::Tcp),
        ("udp", Proto::Udp),
        ("udp6", Proto::Udp),
    ] {
        let path = format!("/proc/net/{file}");
        match std::fs::read_to_string(&path) {
            Ok(t) => all.extend(parse(&t, proto)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err((path, e)),
        }
    }
    all.sort();
    all.dedup();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:13AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 21999 1 0000000000000000 100 0 0 10 0
   2: 0102000A:0016 0302000A:C350 01 00000000:00000000 02:000A7B1B 00000000     0        0 31337 4 0000000000000000 20 4 29 10 -1
";

    #[test]
    fn tcp_listeners_only_in_state_0a() {
        let l = parse(TCP, Proto::Tcp);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].to_string(), "tcp 0.0.0.0:5038");
        assert!(l[0].wildcard() && !l[0].loopback());
        assert_eq!(l[1].to_string(), "tcp 127.0.0.1:3306");
        assert!(l[1].loopback());
    }

    #[test]
    fn ipv6_words_are_little_endian() {
        assert_eq!(
            parse_addr("00000000000000000000000001000000"),
            Some("::1".parse().unwrap())
        );
        assert_eq!(
            parse_addr("B80D0120000000000000000001000000"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_addr("0000000000000000FFFF00000100007F"),
            Some("::ffff:127.0.0.1".parse().unwrap())
        );
        assert_eq!(parse_addr("zz"), None);
    }

    #[test]
    fn udp_unconnected_sockets_are_state_07() {
        let text = "  sl  local_address rem_address   st\n 1: 00000000000000000000000000000000:13C4 00000000000000000000000000000000:0000 07 0\n 2: 0100007F:0045 0200007F:1234 01 0\n";
        let l = parse(text, Proto::Udp);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].to_string(), "udp [::]:5060");
        assert_eq!(l[0].families(), (true, true));
    }

    #[test]
    fn a_mapped_loopback_is_loopback() {
        let l = Listener {
            proto: Proto::Tcp,
            addr: "::ffff:127.0.0.1".parse().unwrap(),
            port: 1,
        };
        assert!(l.loopback());
        assert_eq!(l.families(), (true, false));
    }
}

//! Facts about the host's own networking that the policy depends on, read from /proc.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::policy::HostFacts;

const TCP_ESTABLISHED: &str = "01";

/// Reads the facts the policy translation needs. Missing files (another OS, a container
/// without /proc/net) leave the fact empty; the policy then simply doesn't use it.
pub fn host_facts() -> HostFacts {
    HostFacts {
        local_port_range: std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| parse_port_range(&s)),
        established_tcp: ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .flat_map(|s| parse_established(&s))
            .collect(),
    }
}

/// `net.ipv4.ip_local_port_range`: two numbers separated by whitespace.
pub fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(|n| n.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if lo > 0 && lo <= hi => Some((lo, hi)),
        _ => None,
    }
}

/// Established TCP sessions from /proc/net/tcp or tcp6: (remote address, local port).
pub fn parse_established(text: &str) -> Vec<(IpAddr, u16)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _slot = f.next()?;
            let local = f.next()?;
            let remote = f.next()?;
            if f.next()? != TCP_ESTABLISHED {
                return None;
            }
            let (_, local_port) = parse_endpoint(local)?;
            let (remote_addr, _) = parse_endpoint(remote)?;
            Some((remote_addr, local_port))
        })
        .collect()
}

/// `0100007F:0016` (IPv4, address in host byte order) or 32 hex digits (IPv6, four 32-bit
/// words each in host byte order), then the port in hex.
fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let addr = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(addr, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((addr, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_is_read_from_the_sysctl_format() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("garbage"), None);
        assert_eq!(parse_port_range("60999 32768"), None);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn established_ipv4_sessions_are_parsed_and_others_skipped() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:0016 0A01A8C0:C350 01 00000000:00000000 00:00000000 00000000     0        0 1 1\n\
           1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1\n";
        assert_eq!(
            parse_established(text),
            vec![("192.168.1.10".parse().unwrap(), 22)]
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn established_ipv6_sessions_are_parsed() {
        // remote 2001:db8::1 as the kernel prints it (words in host byte order)
        let text = "header\n\
           0: 00000000000000000000000001000000:0016 B80D0120000000000000000001000000:D431 01 0 0 0 0 0 1 1\n";
        assert_eq!(
            parse_established(text),
            vec![("2001:db8::1".parse().unwrap(), 22)]
        );
    }
}

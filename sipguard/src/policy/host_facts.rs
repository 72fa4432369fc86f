//! Facts about the host the policy depends on: its ephemeral port range and the SSH session
//! of the admin who started sipguard.
//!
//! [`HostFacts::read`] is the only code of the policy layer that looks outside the process
//! (a sysctl file, two environment variables); everything it reads is parsed by the pure
//! functions below, and [`super::CompiledPolicy::compile`] takes the facts as a value, so
//! tests pass their own.
use std::net::IpAddr;

/// Facts about the host the policy is applied on.
#[derive(Clone, Debug, Default)]
pub struct HostFacts {
    /// `net.ipv4.ip_local_port_range`, used when the config says `reply_ports = "auto"`.
    pub local_port_range: Option<(u16, u16)>,
    /// The SSH session of the admin who started sipguard (from `SSH_CONNECTION`):
    /// (client address, local sshd port).
    pub admin_sessions: Vec<(IpAddr, u16)>,
}

/// Linux's default `ip_local_port_range`, used when the host's can't be read.
pub const LINUX_LOCAL_PORT_RANGE: (u16, u16) = (32768, 60999);

impl HostFacts {
    /// Reads the facts of this host. A fact that can't be read stays empty; the translation
    /// then falls back and says so (see [`super::CompiledPolicy::compile`]).
    pub fn read() -> Self {
        Self {
            local_port_range: std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
                .ok()
                .and_then(|s| parse_port_range(&s)),
            admin_sessions: ["SSH_CONNECTION", "SSH_CLIENT"]
                .iter()
                .find_map(|var| std::env::var(var).ok().and_then(|v| parse_ssh_env(&v)))
                .into_iter()
                .collect(),
        }
    }
}

/// `net.ipv4.ip_local_port_range`: two numbers separated by whitespace.
fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(|n| n.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if lo > 0 && lo <= hi => Some((lo, hi)),
        _ => None,
    }
}

/// sshd's `SSH_CONNECTION` ("client_ip client_port server_ip server_port") or `SSH_CLIENT`
/// ("client_ip client_port server_port"): (client address, local sshd port).
fn parse_ssh_env(value: &str) -> Option<(IpAddr, u16)> {
    let f: Vec<&str> = value.split_whitespace().collect();
    let ([client, _, _, port] | [client, _, port]) = f.as_slice() else {
        return None;
    };
    Some((client.parse().ok()?, port.parse().ok()?))
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

    #[test]
    fn ssh_connection_gives_the_admin_address_and_sshd_port() {
        assert_eq!(
            parse_ssh_env("203.0.113.9 51514 192.0.2.1 22"),
            Some(("203.0.113.9".parse().unwrap(), 22))
        );
        assert_eq!(
            parse_ssh_env("2001:db8::9 51514 2222"),
            Some(("2001:db8::9".parse().unwrap(), 2222))
        );
        assert_eq!(parse_ssh_env("nonsense"), None);
    }
}

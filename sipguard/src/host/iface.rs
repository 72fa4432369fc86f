//! The host's network interfaces: whether one exists, whether it is Ethernet (the only link
//! type the XDP program parses), and which XDP mode `ip` reports on it.
//!
//! The checks run before anything is loaded or attached, so that a typo in `--iface` or a
//! tunnel interface is refused in one sentence instead of by the kernel.
use std::ffi::CString;

use super::HostError;

/// The interface's index, or a clear error when it does not exist.
pub fn interface_index(iface: &str) -> Result<u32, HostError> {
    let missing = || HostError::NoSuchInterface {
        name: iface.to_owned(),
    };
    let c_iface = CString::new(iface).map_err(|_| missing())?;
    // SAFETY: `c_iface` is a valid NUL-terminated string that outlives the call.
    match unsafe { libc::if_nametoindex(c_iface.as_ptr()) } {
        0 => Err(missing()),
        index => Ok(index),
    }
}

/// The interface's index after checking it is an Ethernet link: on a tun, WireGuard or PPP
/// interface XDP sees IP headers at offset 0, which this program would misread.
pub fn check_interface(iface: &str) -> Result<u32, HostError> {
    let index = interface_index(iface)?;
    let link_type =
        link_type(iface).map_err(HostError::io(format!("reading the link type of {iface}")))?;
    if link_type != libc::ARPHRD_ETHER {
        return Err(HostError::NotEthernet {
            iface: iface.to_owned(),
            link_type,
        });
    }
    Ok(index)
}

/// ARPHRD_* link type of `iface` in this network namespace (SIOCGIFHWADDR).
fn link_type(iface: &str) -> std::io::Result<u16> {
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
    // SAFETY: plain syscalls; the socket's descriptor is owned by `sock` from its creation on,
    // the ifreq is zeroed (a valid value of the C struct) and its name NUL-terminated (at most
    // IFNAMSIZ - 1 bytes are copied), and the kernel writes only within the ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let sock = OwnedFd::from_raw_fd(fd);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr
            .ifr_name
            .iter_mut()
            .zip(iface.bytes().take(libc::IFNAMSIZ - 1))
        {
            *dst = src as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ifr.ifr_ifru.ifru_hwaddr.sa_family)
    }
}

/// Whether `iface` has an XDP program, per `ip -j link show` (None: `ip` can't say).
pub fn xdp_attached(iface: &str) -> Option<bool> {
    xdp_mode(iface).map(|m| m.is_some())
}

/// The XDP mode on `iface` ("native", "skb", "offload", "multi"), `Some(None)` when no XDP
/// program is attached or the interface is gone, `None` when `ip` can't say.
pub fn xdp_mode(iface: &str) -> Option<Option<&'static str>> {
    let out = std::process::Command::new("ip")
        .args(["-j", "link", "show", "dev", iface])
        .output()
        .ok()?;
    if !out.status.success() {
        // The interface is gone: nothing is attached to it.
        return Some(None);
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(mode_of(&doc))
}

/// The XDP mode in `ip -j link show dev IF`'s answer (`XDP_ATTACHED_*` as iproute2 prints
/// it), None when it shows no XDP program.
fn mode_of(doc: &serde_json::Value) -> Option<&'static str> {
    let xdp = &doc[0]["xdp"];
    if xdp.is_null() {
        return None;
    }
    Some(match xdp["mode"].as_u64() {
        Some(1) => "native",
        Some(2) => "skb",
        Some(3) => "offload",
        Some(4) => "multi",
        _ => "attached",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xdp_mode_is_read_from_ip_json() {
        let doc = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(mode_of(&doc(r#"[{"ifname":"eth0"}]"#)), None);
        assert_eq!(
            mode_of(&doc(
                r#"[{"ifname":"eth0","xdp":{"mode":2,"prog":{"id":7}}}]"#
            )),
            Some("skb")
        );
        assert_eq!(mode_of(&doc(r#"[{"xdp":{"mode":1}}]"#)), Some("native"));
        assert_eq!(mode_of(&doc(r#"[{"xdp":{}}]"#)), Some("attached"));
    }

    #[test]
    fn a_name_with_a_nul_is_no_interface() {
        assert!(matches!(
            interface_index("eth\0"),
            Err(HostError::NoSuchInterface { .. })
        ));
    }
}

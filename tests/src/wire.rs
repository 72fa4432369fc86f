//! Real frames on the namespace lab's veth, for what a socket cannot send (a UDP length of 0,
//! tiny first fragments, IPv6 forms of IPv4 sources): built with the veth's own MAC addresses
//! and valid checksums (the PBX's kernel checks them, unlike BPF_PROG_TEST_RUN), and written
//! from the client namespace by an AF_PACKET socket on `cli0`, paced, bounded in count and
//! time.
use std::{
    net::IpAddr,
    os::fd::AsRawFd as _,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use etherparse::PacketBuilder;

use crate::{
    flood::{af_packet_socket, ifindex},
    netns::{in_ns, ip, Lab, CLIENT_IF, PBX_IF},
    packets, Deadline,
};

const ETH_HLEN: usize = 14;
/// Most frames one [`Wire::send`] takes, and the longest it may take.
const MAX_FRAMES: usize = 10_000;
const MAX_TIME: Duration = Duration::from_secs(30);
/// Frames sent back to back before a pause: well under the 256 frames a veth queues for
/// its peer's XDP, so that nothing is lost before the filter sees it.
const PACE_FRAMES: usize = 16;
const PACE_GAP: Duration = Duration::from_millis(1);

/// The client side of a [`Lab`] as a raw sender: frames from `cli0` to `pbx0` (or, with
/// [`Wire::between`], from any interface to any peer on its segment).
pub struct Wire {
    ns: String,
    dev: String,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
}

impl Wire {
    pub fn new(lab: &Lab) -> anyhow::Result<Self> {
        Self::between(&lab.client, CLIENT_IF, &lab.pbx, PBX_IF)
    }

    /// Frames written on `dev` in namespace `ns`, addressed to `peer_dev`'s MAC in `peer_ns`
    /// (the same segment: a veth pair or a bridge). A forger's sender: the source address is
    /// whatever [`Wire::udp`] is given.
    pub fn between(ns: &str, dev: &str, peer_ns: &str, peer_dev: &str) -> anyhow::Result<Self> {
        Ok(Self {
            ns: ns.to_owned(),
            dev: dev.to_owned(),
            src_mac: mac(ns, dev)?,
            dst_mac: mac(peer_ns, peer_dev)?,
        })
    }

    /// Ethernet / IPv4 or IPv6 (by `src`'s family) / UDP from `src`:5060 to `dst`:`dport`,
    /// every checksum valid.
    pub fn udp(&self, src: IpAddr, dst: IpAddr, dport: u16, payload: &[u8]) -> Vec<u8> {
        let eth = PacketBuilder::ethernet2(self.src_mac, self.dst_mac);
        let ip = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
            (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
            _ => panic!("{src} and {dst} are of different families"),
        };
        let b = ip.udp(5060, dport);
        let mut out = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut out, payload).expect("writing a frame");
        out
    }

    /// Writes `frames` out of the sender's interface in order, a short pause every few frames; returns the
    /// time from the first to the last.
    pub fn send(&self, frames: &[Vec<u8>]) -> anyhow::Result<Duration> {
        if frames.len() > MAX_FRAMES {
            bail!("{} frames: at most {MAX_FRAMES} per send", frames.len());
        }
        in_ns(&self.ns, || -> anyhow::Result<Duration> {
            let sock = af_packet_socket(ifindex(&self.dev)?)?;
            let deadline = Deadline::after(MAX_TIME);
            let start = Instant::now();
            for (i, f) in frames.iter().enumerate() {
                let mut tries = 0;
                // SAFETY: a frame by pointer and length, alive for the call.
                while unsafe { libc::send(sock.as_raw_fd(), f.as_ptr().cast(), f.len(), 0) } < 0 {
                    let e = std::io::Error::last_os_error();
                    tries += 1;
                    if e.raw_os_error() != Some(libc::ENOBUFS) || tries > 100 {
                        return Err(e).context("send(AF_PACKET)");
                    }
                    std::thread::sleep(PACE_GAP);
                }
                if i % PACE_FRAMES == PACE_FRAMES - 1 {
                    std::thread::sleep(PACE_GAP);
                }
                if !deadline.pending() {
                    bail!("sent {i} of {} frames in {MAX_TIME:?}", frames.len());
                }
            }
            Ok(start.elapsed())
        })?
    }
}

/// The MAC address of `dev` in namespace `ns`.
pub fn mac(ns: &str, dev: &str) -> anyhow::Result<[u8; 6]> {
    let out = ip(&["-n", ns, "-br", "link", "show", dev])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = text
        .split_whitespace()
        .nth(2)
        .with_context(|| format!("no MAC address in {text:?}"))?;
    let bytes = field
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("MAC address {field:?}"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("MAC address {field:?}"))
}

/// The Internet checksum (RFC 1071) of `parts` laid end to end (each of even length but the
/// last).
pub fn inet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = parts
        .iter()
        .flat_map(|p| p.chunks(2))
        .map(|w| u32::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the header checksum of an untagged IPv4 frame without options.
fn fix_ipv4_header_checksum(frame: &mut [u8]) {
    let ip = ETH_HLEN..ETH_HLEN + 20;
    frame[ip.start + 10..ip.start + 12].fill(0);
    let sum = inet_checksum(&[&frame[ip.clone()]]);
    frame[ip.start + 10..ip.start + 12].copy_from_slice(&sum.to_be_bytes());
}

/// An IPv6 UDP frame (from [`Wire::udp`]) with UDP length 0, the jumbogram form Linux
/// delivers as "the rest of the IP payload", its checksum recomputed as the receiver checks
/// it: the pseudo-header carries the real length, the header its 0.
pub fn with_udp_length_zero(frame: &[u8]) -> Vec<u8> {
    assert_eq!(frame[12..14], [0x86, 0xdd], "an IPv6 frame");
    let mut out = packets::with_udp_len(frame, 0);
    let udp = ETH_HLEN + 40;
    let real_len = (out.len() - udp) as u32;
    out[udp + 6..udp + 8].fill(0);
    let mut pseudo = out[ETH_HLEN + 8..ETH_HLEN + 40].to_vec(); // source, destination
    pseudo.extend_from_slice(&real_len.to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 17]);
    let sum = match inet_checksum(&[&pseudo, &out[udp..]]) {
        0 => 0xffff,
        s => s,
    };
    out[udp + 6..udp + 8].copy_from_slice(&sum.to_be_bytes());
    out
}

/// [`packets::fragments`] of a frame from [`Wire::udp`], valid on the wire: the UDP checksum
/// (over the whole datagram) stays in the first fragment, IPv4 header checksums are redone.
pub fn fragments(frame: &[u8], first_len: usize, id: u32) -> [Vec<u8>; 2] {
    let mut parts = packets::fragments(frame, first_len, id);
    if frame[12..14] == [0x08, 0x00] {
        parts.iter_mut().for_each(|f| fix_ipv4_header_checksum(f));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_over_a_valid_header_is_zero() {
        let f = packets::udp("192.0.2.10", 5060);
        assert_eq!(inet_checksum(&[&f[ETH_HLEN..ETH_HLEN + 20]]), 0);
        let mut g = f.clone();
        fix_ipv4_header_checksum(&mut g);
        assert_eq!(f, g, "etherparse's checksum, recomputed");
    }

    #[test]
    fn udp_length_zero_keeps_a_checksum_the_receiver_accepts() {
        let f = packets::sip("2001:db8:1::10", b"REGISTER sip:x SIP/2.0\r\n\r\n");
        let z = with_udp_length_zero(&f);
        let udp = ETH_HLEN + 40;
        assert_eq!(z[udp + 4..udp + 6], [0, 0]);
        let len = ((z.len() - udp) as u32).to_be_bytes();
        let check = inet_checksum(&[&z[ETH_HLEN + 8..udp], &len, &[0, 0, 0, 17], &z[udp..]]);
        assert_eq!(check, 0, "verifies as Linux verifies it");
    }
}

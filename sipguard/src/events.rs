//! The programs' events (bans they made) from the `EVENTS` ring buffer into the log.
//!
//! Bans are rare by nature (one per source per ban time), but a flood of forged sources can
//! make many: at most [`LINES_PER_SECOND`] are logged each second, and the rest are summed up
//! in one line. The per-reason totals are in `/metrics` (`sipguard_bans_created_total`).
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use ipnet::IpNet;
use sipguard_common::{Event, BAN_REASON_NAMES, EVENT_BAN};
use tokio::io::unix::AsyncFd;

/// Event lines logged per second at most.
pub const LINES_PER_SECOND: u32 = 20;

/// Decodes one ring buffer record.
pub fn decode(bytes: &[u8]) -> Option<Event> {
    if bytes.len() < std::mem::size_of::<Event>() {
        return None;
    }
    // Safety: Event is plain old data and the record is at least that long.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const Event) })
}

/// The banned prefix of a ban event.
pub fn banned_net(e: &Event) -> Option<IpNet> {
    let addr = match e.family {
        4 => IpAddr::V4(Ipv4Addr::new(e.addr[0], e.addr[1], e.addr[2], e.addr[3])),
        6 => IpAddr::V6(Ipv6Addr::from(e.addr)),
        _ => return None,
    };
    IpNet::new(addr, e.prefix_len).ok()
}

/// Reads events until the ring buffer goes away, logging each ban.
pub async fn log(mut ring: AsyncFd<RingBuf<MapData>>) {
    let mut window = Instant::now();
    let mut logged = 0u32;
    let mut suppressed = 0u64;
    loop {
        let Ok(mut guard) = ring.readable_mut().await else {
            return;
        };
        let ring = guard.get_inner_mut();
        while let Some(record) = ring.next() {
            let Some(event) = decode(&record) else {
                continue;
            };
            if event.kind != EVENT_BAN {
                continue;
            }
            if window.elapsed() >= Duration::from_secs(1) {
                if suppressed > 0 {
                    tracing::warn!(suppressed, "more bans in the last second than logged");
                }
                window = Instant::now();
                logged = 0;
                suppressed = 0;
            }
            if logged >= LINES_PER_SECOND {
                suppressed += 1;
                continue;
            }
            logged += 1;
            let reason = BAN_REASON_NAMES
                .get(event.reason as usize)
                .copied()
                .unwrap_or("unknown");
            match banned_net(&event) {
                Some(net) => tracing::warn!(
                    %net,
                    reason,
                    failures = event.count,
                    seconds = event.ban_s,
                    "banned"
                ),
                None => tracing::warn!(reason, "banned a source of unknown family"),
            }
        }
        guard.clear_ready();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_event_decodes_to_its_prefix() {
        let mut e = Event {
            kind: EVENT_BAN,
            family: 6,
            prefix_len: 64,
            ..Event::default()
        };
        e.addr[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        let bytes: [u8; std::mem::size_of::<Event>()] = unsafe { std::mem::transmute(e) };
        let back = decode(&bytes).unwrap();
        assert_eq!(banned_net(&back).unwrap().to_string(), "2001:db8::/64");
        assert!(decode(&bytes[..10]).is_none());
    }
}

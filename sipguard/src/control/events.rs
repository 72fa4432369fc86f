//! The programs' events from the `EVENTS` ring buffer into the log: the bans they made, and
//! samples of the packets they dropped.
//!
//! Bans are rare by nature (one per source per ban time), but a flood of forged sources can
//! make many: at most [`LINES_PER_SECOND`] are logged each second, and the rest are summed up
//! in one line. The per-reason totals are in `/metrics` (`sipguard_bans_created_total`).
//! Drop samples are already bounded in the kernel (`[global] drop_samples` per second and
//! CPU) and have their own [`LINES_PER_SECOND`] here, so they never crowd out a ban.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use ipnet::IpNet;
use sipguard_common::{verdict, Event, BAN_REASON_NAMES, EVENT_BAN, EVENT_DROP, REASON_NAMES};
use tokio::io::unix::AsyncFd;

/// Event lines logged per second at most.
pub const LINES_PER_SECOND: u32 = 20;

/// Decodes one ring buffer record.
pub fn decode(bytes: &[u8]) -> Option<Event> {
    if bytes.len() < size_of::<Event>() {
        return None;
    }
    // SAFETY: Event is plain old data and the record is at least that long.
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

/// At most [`LINES_PER_SECOND`] lines a second of one kind; the rest summed up.
struct Budget {
    what: &'static str,
    window: Instant,
    logged: u32,
    suppressed: u64,
}

impl Budget {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            window: Instant::now(),
            logged: 0,
            suppressed: 0,
        }
    }

    /// Whether one more line may be logged now.
    fn take(&mut self) -> bool {
        if self.window.elapsed() >= Duration::from_secs(1) {
            if self.suppressed > 0 {
                tracing::warn!(
                    suppressed = self.suppressed,
                    "more {} in the last second than logged",
                    self.what
                );
            }
            self.window = Instant::now();
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged >= LINES_PER_SECOND {
            self.suppressed += 1;
            return false;
        }
        self.logged += 1;
        true
    }
}

/// The source of a drop sample.
pub fn sample_source(e: &Event) -> Option<IpAddr> {
    banned_net(e).map(|n| n.addr())
}

/// Reads events until the ring buffer goes away, logging each ban and drop sample.
/// `service_name` names a service slot (drop samples carry the slot).
/// Each ban is also handed to `reporter` (sent to CrowdSec as an alert when configured).
pub async fn log(
    mut ring: AsyncFd<RingBuf<MapData>>,
    service_name: impl Fn(u16) -> String,
    reporter: super::fleet::Reporter,
) {
    let mut bans = Budget::new("bans");
    let mut drops = Budget::new("drop samples");
    loop {
        let Ok(mut guard) = ring.readable_mut().await else {
            return;
        };
        let ring = guard.get_inner_mut();
        while let Some(record) = ring.next() {
            let Some(event) = decode(&record) else {
                continue;
            };
            if event.kind == EVENT_DROP {
                if drops.take() {
                    log_drop(&event, &service_name);
                }
                continue;
            }
            if event.kind != EVENT_BAN {
                continue;
            }
            if let Some(net) = banned_net(&event) {
                reporter.report(super::fleet::Signal {
                    net,
                    reason: event.reason,
                    seconds: event.ban_s,
                    count: event.count,
                    why: BAN_REASON_NAMES
                        .get(event.reason as usize)
                        .copied()
                        .unwrap_or("unknown")
                        .to_owned(),
                });
            }
            if !bans.take() {
                continue;
            }
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

fn log_drop(e: &Event, service_name: &impl Fn(u16) -> String) {
    let reason = REASON_NAMES
        .get(e.reason as usize)
        .copied()
        .unwrap_or("unknown");
    let verdict = if u32::from(e.verdict) == verdict::WOULD_DROP {
        "would_drop"
    } else {
        "drop"
    };
    let protocol = match e.protocol {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "icmpv6",
        _ => "none",
    };
    let src = sample_source(e).map_or_else(|| "none".to_owned(), |a| a.to_string());
    tracing::info!(
        %src,
        protocol,
        dport = e.dport,
        service = service_name(e.service),
        reason,
        verdict,
        skipped = e.count,
        "dropped"
    );
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
        // SAFETY: Event is plain old data (a repr(C) struct of integers and byte arrays) and
        // the array has exactly its size.
        let bytes: [u8; size_of::<Event>()] = unsafe { std::mem::transmute(e) };
        let back = decode(&bytes).unwrap();
        assert_eq!(banned_net(&back).unwrap().to_string(), "2001:db8::/64");
        assert!(decode(&bytes[..10]).is_none());
    }
}

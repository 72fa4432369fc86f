//! Samples of dropped packets for the daemon's log: who was dropped, where to, and why,
//! without logging per packet. Each CPU sends at most the policy's `drop_samples` a second
//! through the `EVENTS` ring buffer and counts the drops it skipped, so a flood costs a
//! per-CPU counter per drop, never a record per drop, and can't flood the journal.
//!
//! The sampled packet is parsed again, in a global BPF function: the pipeline carries no
//! address or port to here, and only a few packets a second pay for the second parse.
use aya_ebpf::{bindings::xdp_md, programs::XdpContext};
use sipguard_common::{packed::DropWhat, Event, EVENT_DROP};

use crate::{
    clock,
    maps::{self, EVENTS, SAMPLES},
    net::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP},
    parse::{self, Cursor, Parsed, Proto, Src},
};

/// Called for every drop (and would_drop) with its verdict; sends a sample within the budget.
#[inline(always)]
pub(crate) fn drop(ctx: &XdpContext, service: u32, reason: u32, verdict: u32) {
    let Some((_, policy)) = maps::active() else {
        return;
    };
    let budget = policy.drop_samples as u64;
    if budget == 0 {
        return;
    }
    let Some(st) = SAMPLES.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: per-CPU map memory.
    let st = unsafe { &mut *st };
    // The clock costs as much as the rest of a drop: under a flood, once the second's samples
    // are out, it is read every 64th drop only (a new second is noticed 64 drops late).
    if st.skipped < 64 || st.skipped & 63 == 0 {
        let now = clock::now();
        if now.saturating_sub(st.second_start_ns) >= 1_000_000_000 {
            st.second_start_ns = now;
            st.sent = 0;
        }
    }
    if st.sent >= budget {
        st.skipped += 1;
        return;
    }
    st.sent += 1;
    let skipped = st.skipped;
    st.skipped = 0;
    let what = DropWhat {
        service,
        reason,
        verdict,
    };
    sipguard_drop_sample(ctx.ctx, what.pack(), skipped);
}

/// Parses the packet again and sends the sample. `what`: a packed [`DropWhat`]. Returns 1
/// when the record was sent.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_drop_sample(ctx: *mut xdp_md, what: u64, skipped: u64) -> u64 {
    let ctx = XdpContext::new(ctx);
    let what = DropWhat::unpack(what);
    let mut event = Event {
        kind: EVENT_DROP,
        reason: what.reason,
        verdict: what.verdict as u8,
        service: what.service as u16,
        count: skipped.min(u32::MAX as u64) as u32,
        ..Event::default()
    };
    let mut cursor = Cursor::new(&ctx);
    if let Ok(Parsed::Ip(pkt)) = parse::packet::<false>(&mut cursor) {
        let v6 = matches!(pkt.src, Src::V6(_));
        match pkt.src {
            Src::V4(a) => {
                event.family = 4;
                event.prefix_len = 32;
                event.addr[..4].copy_from_slice(&a);
            }
            Src::V6(a) => {
                event.family = 6;
                event.prefix_len = 128;
                event.addr = a;
            }
        }
        let (protocol, dport) = match pkt.l4.proto {
            Proto::Udp => (IPPROTO_UDP, pkt.l4.dport),
            Proto::Tcp => (IPPROTO_TCP, pkt.l4.dport),
            Proto::Icmp if v6 => (IPPROTO_ICMPV6, 0),
            Proto::Icmp => (IPPROTO_ICMP, 0),
            _ => (0, 0),
        };
        event.protocol = protocol;
        event.dport = dport;
    }
    EVENTS.output::<Event>(&event, 0).is_ok() as u64
}

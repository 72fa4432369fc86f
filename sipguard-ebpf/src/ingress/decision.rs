//! The outcome of the pipeline, and the one place every verdict passes through: monitor mode
//! turns a drop into `would_drop`, drops are sampled for the log, and every packet is counted
//! per CPU by (service, reason, verdict), and by SIP class on SIP services.

use aya_ebpf::{bindings::xdp_action, maps::PerCpuArray, programs::XdpContext};
use sipguard_common::{counter_index, sip_counter_index, verdict, Counter};

use crate::{
    maps::{COUNTERS, SIP_COUNTERS},
    sample,
};

/// No SIP class: not a UDP packet to a SIP service.
pub(crate) const NO_SIP_CLASS: u32 = u32::MAX;

/// The outcome of the pipeline before monitor mode and counting.
#[derive(Clone, Copy)]
pub(crate) struct Decision {
    pub(crate) service: u32,
    pub(crate) reason: u32,
    pub(crate) drop: bool,
    pub(crate) monitor: bool,
    pub(crate) sip_class: u32,
}

impl Decision {
    #[inline(always)]
    pub(crate) const fn pass(service: u32, reason: u32) -> Self {
        Self {
            service,
            reason,
            drop: false,
            monitor: false,
            sip_class: NO_SIP_CLASS,
        }
    }

    #[inline(always)]
    pub(crate) const fn drop(service: u32, reason: u32, monitor: bool) -> Self {
        Self {
            service,
            reason,
            drop: true,
            monitor,
            sip_class: NO_SIP_CLASS,
        }
    }

    #[inline(always)]
    pub(crate) const fn with_sip_class(mut self, class: u32) -> Self {
        self.sip_class = class;
        self
    }
}

/// The one place every verdict passes through: applies monitor mode and counts.
#[inline(always)]
pub(crate) fn finish(ctx: &XdpContext, d: Decision) -> u32 {
    let (v, action) = if !d.drop {
        (verdict::PASS, xdp_action::XDP_PASS)
    } else if d.monitor {
        (verdict::WOULD_DROP, xdp_action::XDP_PASS)
    } else {
        (verdict::DROP, xdp_action::XDP_DROP)
    };
    if d.drop {
        sample::drop(ctx, d.service, d.reason, v);
    }
    let bytes = (ctx.data_end() - ctx.data()) as u64;
    count(&COUNTERS, counter_index(d.service, d.reason, v), bytes);
    if d.sip_class != NO_SIP_CLASS {
        count(
            &SIP_COUNTERS,
            sip_counter_index(d.service, d.sip_class, v),
            bytes,
        );
    }
    action
}

#[inline(always)]
fn count(counters: &PerCpuArray<Counter>, index: u32, bytes: u64) {
    if let Some(c) = counters.get_ptr_mut(index) {
        // SAFETY: per-CPU value, no concurrent writer on this CPU.
        unsafe {
            (*c).packets += 1;
            (*c).bytes += bytes;
        }
    }
}

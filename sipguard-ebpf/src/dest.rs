//! Destinations, for a box in front of the hosts it protects: `[global] protect` (the hosts
//! whose traffic is sipguard's business) and the services' `to` (a port told apart by the
//! address it is sent to). Both are LPM entries of the destination tries under one scope per
//! (epoch, group): group [`DEST_GROUP_PROTECT`] is the protected hosts, the others a port's
//! services.
//!
//! The XDP program asks [`sipguard_dest`], a global function that reads the destination from
//! the packet itself: the address never travels through the pipeline (a value kept from the
//! parse would have the verifier walk the pipeline once per parse path, past its million
//! instructions), and the lookup is verified once. The egress program has the address at hand
//! and calls [`find`].
use aya_ebpf::{bindings::xdp_md, maps::lpm_trie::Key, programs::XdpContext};
use sipguard_common::{addr, dest_scope, ScopedV4, ScopedV6, DEST_GROUP_PROTECT, SCOPE_BITS};

use crate::{
    maps::{DESTS_V4, DESTS_V6},
    net::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, ETH_TYPE_OFFSET, VLAN_HLEN},
};

/// The entry for `addr` (IPv4 as `::ffff:a.b.c.d`; any IPv6 form of an IPv4 address is that
/// address, as for sources) in `group` of `epoch`: a service slot, or 1 for a protected host;
/// 0 for none.
#[inline(always)]
pub(crate) fn find(epoch: u32, group: u32, a: &[u8; 16]) -> u32 {
    let scope = dest_scope(epoch, group);
    let value = match addr::ipv4_in_ipv6(a) {
        Some(v4) => DESTS_V4.get(Key::new(SCOPE_BITS + 32, ScopedV4 { scope, addr: v4 })),
        None => DESTS_V6.get(Key::new(SCOPE_BITS + 128, ScopedV6 { scope, addr: *a })),
    };
    match value {
        Some(v) => *v,
        None => 0,
    }
}

/// The current packet's entry in `group` of `epoch` (0: none).
#[inline(always)]
pub(crate) fn lookup(ctx: &XdpContext, epoch: u32, group: u32) -> u32 {
    sipguard_dest(ctx.ctx, (epoch as u64) << 32 | group as u64) as u32
}

/// The current packet is to one of the protected hosts.
#[inline(always)]
pub(crate) fn protected(ctx: &XdpContext, epoch: u32) -> bool {
    lookup(ctx, epoch, DEST_GROUP_PROTECT) != 0
}

/// [`find`] for the packet's destination, read from its IP header (behind up to two VLAN
/// tags, as the parser reads it); `which` is the epoch in the high word, the group in the
/// low one. A packet the parser judged has these headers; anything else finds nothing.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_dest(ctx: *mut xdp_md, which: u64) -> u64 {
    let ctx = XdpContext::new(ctx);
    let (epoch, group) = ((which >> 32) as u32 & 1, which as u32);
    let (start, end) = (ctx.data(), ctx.data_end());
    let mut off = ETH_TYPE_OFFSET;
    let mut ethertype = 0u16;
    for _ in 0..3 {
        if start + off + 2 > end {
            return 0;
        }
        // SAFETY: checked above.
        ethertype = u16::from_be(unsafe { core::ptr::read_unaligned((start + off) as *const u16) });
        off += 2;
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        off += VLAN_HLEN - 2;
    }
    let mut a = [0u8; 16];
    match ethertype {
        ETH_P_IP => {
            if start + off + 20 > end {
                return 0;
            }
            // SAFETY: checked above; the destination is bytes 16..20 of the header.
            let d = unsafe { core::ptr::read_unaligned((start + off + 16) as *const [u8; 4]) };
            a[10] = 0xff;
            a[11] = 0xff;
            a[12..].copy_from_slice(&d);
        }
        ETH_P_IPV6 => {
            if start + off + 40 > end {
                return 0;
            }
            // SAFETY: checked above; the destination is bytes 24..40 of the header.
            a = unsafe { core::ptr::read_unaligned((start + off + 24) as *const [u8; 16]) };
        }
        _ => return 0,
    }
    find(epoch, group, &a) as u64
}

//! sipguard's eBPF programs: the entry points only.
//!
//! - [`sipguard`] (XDP, on the protected interface): one verdict per packet. The pipeline and
//!   its order are described once, in [`ingress`].
//! - [`sipguard_egress`] (TC egress, same interface): reads the PBX's SIP answers for
//!   auto-ban ([`egress`]); never drops or changes a packet.
//! - [`sipguard_noop`]: passes; the benchmark's baseline.
//!
//! Every map is declared in [`maps`]; their names, keys and values are the contract in
//! `sipguard-common`.
#![no_std]
#![no_main]
#![allow(
    clippy::needless_borrows_for_generic_args,
    reason = "aya-ebpf's map methods take `impl Borrow`: a reference keeps the key or value \
              where it was built instead of a copy on the 512-byte BPF stack"
)]
#![allow(
    clippy::needless_pass_by_value,
    reason = "the entry points' signatures are aya's macro contract (the context by value)"
)]

mod ban;
mod clock;
mod dest;
mod egress;
mod ingress;
mod learned;
mod maps;
mod net;
mod nonce;
mod parse;
mod pipelining;
mod sample;
mod source;
mod ua;
mod users;

use aya_ebpf::{
    bindings::{xdp_action, TC_ACT_OK},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};

#[xdp]
pub fn sipguard(ctx: XdpContext) -> u32 {
    ingress::run(&ctx)
}

/// Does nothing but pass: the benchmark runs it to measure BPF_PROG_TEST_RUN's own cost per
/// packet on the machine, so the table can show what sipguard itself adds. Never attached.
#[xdp]
pub fn sipguard_noop(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[classifier]
pub fn sipguard_egress(ctx: TcContext) -> i32 {
    let _ = egress::observe(&ctx);
    TC_ACT_OK
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

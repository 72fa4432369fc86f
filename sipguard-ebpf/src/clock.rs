//! The programs' clock, chosen at load time.
//!
//! `bpf_ktime_get_coarse_ns` (CLOCK_MONOTONIC_COARSE) costs a few nanoseconds and exists from
//! Linux 5.11. On 5.10 the loader clears [`SIPGUARD_COARSE_CLOCK`] and the programs read
//! `bpf_ktime_get_ns` (CLOCK_MONOTONIC). The two are one clock at two resolutions (the coarse
//! one up to a tick behind); the daemon writes ban expiry on whichever the programs read
//! (its `ban_clock_ns`, which decides as the loader's probe does). The flag is a
//! read-only global that the loader sets before loading: the verifier knows its value, walks
//! only the branch it selects and removes the other, so a kernel never sees a call to a helper
//! it lacks.

use aya_ebpf::helpers::{bpf_ktime_get_coarse_ns, bpf_ktime_get_ns};

/// 1 where the kernel has `bpf_ktime_get_coarse_ns`; set by the loader from its kernel probe
/// (the global's name is `sipguard::dataplane::object::global::COARSE_CLOCK`).
/// 0 here, so an object loaded without the probe still runs everywhere.
#[no_mangle]
static SIPGUARD_COARSE_CLOCK: u32 = 0;

/// Nanoseconds on the monotonic clock.
#[inline(always)]
pub(crate) fn now() -> u64 {
    // SAFETY: a read of a global; volatile, so that LLVM can't fold in the default value.
    if unsafe { core::ptr::read_volatile(&SIPGUARD_COARSE_CLOCK) } != 0 {
        // SAFETY: helper without arguments.
        unsafe { bpf_ktime_get_coarse_ns() }
    } else {
        // SAFETY: helper without arguments.
        unsafe { bpf_ktime_get_ns() }
    }
}

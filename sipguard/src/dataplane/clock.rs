//! The clock of ban expiry, shared by the daemon, the CLI and the programs.
//!
//! A ban's `expires_ns` is compared by the programs with their own clock, which depends on
//! the kernel (see [`super::kernel::coarse_clock`]); whoever writes or judges a ban in user
//! space reads the time here, so that a ban the daemon sees as expired is expired for the
//! programs too. It lives apart from the map writer so that reading the time does not mean
//! depending on the maps.

/// Now on the programs' clock, in nanoseconds: CLOCK_MONOTONIC_COARSE
/// (`bpf_ktime_get_coarse_ns`, from 5.11) or CLOCK_MONOTONIC (`bpf_ktime_get_ns`).
pub fn ban_clock_ns() -> u64 {
    let clock = if super::kernel::coarse_clock() {
        nix::time::ClockId::CLOCK_MONOTONIC_COARSE
    } else {
        nix::time::ClockId::CLOCK_MONOTONIC
    };
    // Both clocks exist on every Linux sipguard runs on (the probe refuses older kernels).
    let ts = nix::time::clock_gettime(clock).expect("both monotonic clocks exist on Linux");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ban_clock_never_goes_back() {
        let a = ban_clock_ns();
        let b = ban_clock_ns();
        assert!(a > 0 && b >= a);
    }
}

//! Shared pieces of sipguard's privileged tests, benchmark and demo: packet builders, a
//! BPF_PROG_TEST_RUN harness around the real loader and map writer, and throwaway network
//! namespaces joined by veth.
//!
//! A test starts through [`fixture`] ([`bpf_test!`] for "the program loaded with this
//! policy", [`privileged_test!`] for the rest that needs root) and waits through [`wait`];
//! its policies are files in `tests/policies/` ([`policies`]).
pub mod crowdsec;
pub mod daemon;
pub mod fail2ban;
pub mod fake_http;
pub mod fixture;
pub mod flood;
pub mod forgery;
pub mod guesser;
pub mod harness;
pub mod log_lines;
pub mod netns;
pub mod packets;
pub mod policies;
pub mod reset;
pub mod scale;
pub mod scenario;
pub mod sip_tcp;
pub mod traffic;
pub mod voip;
pub mod wait;
pub mod wire;

pub use fixture::privileged;
pub use wait::{wait_every, wait_until, Deadline};

/// A name unique to this process and call, for pin directories and namespaces.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}-{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

//! Shared pieces of sipguard's privileged tests, benchmark and demo: packet builders, a
//! BPF_PROG_TEST_RUN harness around the real loader and map writer, and throwaway network
//! namespaces joined by veth.
pub mod daemon;
pub mod fail2ban;
pub mod flood;
pub mod guesser;
pub mod harness;
pub mod netns;
pub mod packets;
pub mod policies;
pub mod reset;
pub mod scale;
pub mod scenario;
pub mod traffic;
pub mod voip;

/// Whether privileged tests can run here. Root: yes. Not root: they are skipped with a note,
/// except under CI (`CI` set), where a privileged test that cannot run is a failure.
pub fn privileged(test: &str) -> bool {
    if sipguard::host::is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root (BPF, XDP, network namespaces) and CI must run it");
    }
    eprintln!("skipping {test}: needs root (run `sudo -E cargo xtask test`)");
    false
}

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

/// Polls `done` every 50 ms until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

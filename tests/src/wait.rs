//! Waiting, in one place: every test and bench helper that waits for something to happen
//! polls through [`wait_until`], so each wait is bounded, says what it waited for when it
//! gives up, and none hand-writes its own deadline arithmetic. Loops that do work for a while
//! (receivers, steady senders, log tails) rather than wait are bounded by a [`Deadline`].
use std::time::{Duration, Instant};

/// How often [`wait_until`] polls: cheap probes (a log file, `try_wait`) at this rate cost
/// nothing and add at most this much to a wait.
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `probe` every [`POLL`] until it yields a value or `timeout` passes; the error names
/// `what` was awaited. `probe` runs at least once, and once more at the deadline.
pub fn wait_until<T>(
    timeout: Duration,
    what: &str,
    probe: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    wait_every(timeout, POLL, what, probe)
}

/// [`wait_until`] polling every `every`: for probes that start a process or query a server
/// (`fail2ban-client`, `ss`, Prometheus), which should not run 20 times a second.
pub fn wait_every<T>(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Deadline::after(timeout);
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        anyhow::ensure!(deadline.pending(), "{what}: not within {timeout:?}");
        std::thread::sleep(every.min(deadline.left()));
    }
}

/// A point in time a loop must not run past.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    /// `limit` from now.
    pub fn after(limit: Duration) -> Self {
        Self(Instant::now() + limit)
    }

    /// Whether it is still ahead.
    pub fn pending(&self) -> bool {
        Instant::now() < self.0
    }

    /// The time left (zero once passed).
    pub fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_probe_that_yields_at_once_is_polled_once() {
        let calls = Cell::new(0);
        let v = wait_until(Duration::from_secs(1), "the answer", || {
            calls.set(calls.get() + 1);
            Some(42)
        })
        .unwrap();
        assert_eq!((v, calls.get()), (42, 1));
    }

    #[test]
    fn a_probe_is_polled_until_it_yields() {
        let calls = Cell::new(0);
        let v = wait_every(
            Duration::from_secs(5),
            Duration::ZERO,
            "the third call",
            || {
                calls.set(calls.get() + 1);
                (calls.get() == 3).then_some("third")
            },
        )
        .unwrap();
        assert_eq!((v, calls.get()), ("third", 3));
    }

    #[test]
    fn a_wait_that_runs_out_names_what_it_waited_for() {
        let started = Instant::now();
        let e = wait_until(Duration::from_millis(120), "the daemon's metrics", || {
            None::<()>
        })
        .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(120));
        assert!(started.elapsed() < Duration::from_secs(2), "bounded");
        assert_eq!(e.to_string(), "the daemon's metrics: not within 120ms");
    }

    #[test]
    fn a_deadline_counts_down_to_zero() {
        let d = Deadline::after(Duration::from_millis(30));
        assert!(d.pending() && d.left() <= Duration::from_millis(30));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!d.pending());
        assert_eq!(d.left(), Duration::ZERO);
    }
}

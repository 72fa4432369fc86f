//! BPF_PROG_TEST_RUN harness: the real object, the real loader and map writer, a private pin
//! directory, crafted packets in, verdict and counters out.
//!
//! The programs are loaded once per test binary (per per-source table size, the one load-time
//! parameter) and shared: under software emulation a load costs seconds of verifier time.
//! Each [`Harness`] holds the shared object's lock, so tests on parallel threads take turns,
//! and finds every map reset to what a fresh load gives ([`crate::reset`]).
use std::{
    collections::BTreeMap,
    ops::{Deref, DerefMut},
    path::PathBuf,
    sync::{Mutex, MutexGuard, Once, PoisonError},
    time::Duration,
};

use aya::programs::{TestRun, TestRunOptions};
use sipguard::{
    config::Config,
    dataplane::{self, maps::counter_map, Loaded},
    policy::{CompiledPolicy, HostFacts},
};

/// XDP return codes.
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;

/// The programs loaded with their own pinned maps: what a [`Harness`] derefs to.
pub struct Fixture {
    pub loaded: Loaded,
    pin_dir: PathBuf,
}

/// A test's handle on a [`Fixture`] with `config` applied: the binary's shared one, locked
/// for as long as the handle lives, or one of its own ([`Harness::standalone`]).
pub struct Harness {
    hold: Hold,
}

enum Hold {
    Shared(MutexGuard<'static, Fixture>),
    Own(Box<Fixture>),
}

/// Host facts used by the tests: the Linux default ephemeral range, no sessions.
pub fn test_host() -> HostFacts {
    HostFacts {
        local_port_range: Some((32768, 60999)),
        admin_sessions: Vec::new(),
    }
}

/// The shared fixtures, by per-source table size; leaked, so their guards are `'static`.
static SHARED: Mutex<BTreeMap<u32, &'static Mutex<Fixture>>> = Mutex::new(BTreeMap::new());
/// Pin directories of the shared fixtures, removed at exit (statics are never dropped).
static SHARED_PINS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The per-source table size `config` asks for (the default when it doesn't parse: the test
/// then sees the parse error from [`Fixture::apply`]).
fn tracked_sources(config: &str) -> u32 {
    Config::from_str(config, "test.toml").map_or(sipguard::config::DEFAULT_TRACKED_SOURCES, |c| {
        c.global.tracked_sources
    })
}

/// The binary's fixture for `tracked_sources`, loaded on first use, locked. A test that
/// panicked while holding it poisoned the lock; that is harmless, the next holder resets
/// every map anyway.
fn shared(tracked_sources: u32) -> MutexGuard<'static, Fixture> {
    let fixture: &'static Mutex<Fixture> = {
        let mut all = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        all.entry(tracked_sources).or_insert_with(|| {
            let fixture = Fixture::load(tracked_sources);
            remove_at_exit(fixture.pin_dir.clone());
            Box::leak(Box::new(Mutex::new(fixture)))
        })
    };
    fixture.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records a shared fixture's pin directory for removal when the process exits.
fn remove_at_exit(pin_dir: PathBuf) {
    static REGISTER: Once = Once::new();
    extern "C" fn remove_shared_pins() {
        // try_lock: never wait at exit on a thread that died holding it.
        if let Ok(dirs) = SHARED_PINS.try_lock() {
            for dir in dirs.iter() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    SHARED_PINS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(pin_dir);
    // SAFETY: registers a plain function that only removes directories.
    REGISTER.call_once(|| unsafe {
        libc::atexit(remove_shared_pins);
    });
}

impl Harness {
    /// The binary's shared programs, every map reset to what a fresh load gives, with
    /// `config` (TOML) applied. Waits while another test holds them.
    pub fn with_config(config: &str) -> Self {
        let mut fixture = shared(tracked_sources(config));
        fixture.reset();
        let mut h = Self {
            hold: Hold::Shared(fixture),
        };
        h.apply(config);
        h
    }

    /// Programs loaded for this handle alone, with `config` applied: for the benchmark, which
    /// keeps several policies loaded side by side. Removed with their pins on drop.
    pub fn standalone(config: &str) -> Self {
        let mut h = Self {
            hold: Hold::Own(Box::new(Fixture::load(tracked_sources(config)))),
        };
        h.apply(config);
        h
    }
}

impl Deref for Harness {
    type Target = Fixture;
    fn deref(&self) -> &Fixture {
        match &self.hold {
            Hold::Shared(guard) => guard,
            Hold::Own(fixture) => fixture,
        }
    }
}

impl DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut Fixture {
        match &mut self.hold {
            Hold::Shared(guard) => guard,
            Hold::Own(fixture) => fixture,
        }
    }
}

impl Fixture {
    /// Loads the XDP, egress and no-op programs with a per-source table of `tracked_sources`
    /// entries, their maps pinned in a directory of their own.
    fn load(tracked_sources: u32) -> Self {
        let pin_dir = PathBuf::from("/sys/fs/bpf").join(crate::unique("sipguard-test-"));
        let mut loaded = dataplane::load(&pin_dir, tracked_sources)
            .unwrap_or_else(|e| panic!("loading the program: {e}"));
        let noop: &mut aya::programs::Xdp = loaded
            .ebpf
            .program_mut(dataplane::object::NOOP_PROGRAM)
            .expect("no-op program in the object")
            .try_into()
            .expect("an XDP program");
        noop.load().expect("loading the no-op program");
        Self { loaded, pin_dir }
    }

    /// Brings every map back to what a fresh load gives (see [`crate::reset`]).
    pub fn reset(&mut self) {
        crate::reset::reset(&mut self.loaded, &self.pin_dir);
    }

    /// Every map's contents (see [`crate::reset::snapshot`]).
    pub fn snapshot(&mut self) -> Vec<(String, Vec<crate::reset::Entry>)> {
        crate::reset::snapshot(&mut self.loaded, &self.pin_dir)
    }

    /// Applies another policy (a reload).
    pub fn apply(&mut self, config: &str) {
        let config = Config::from_str(config, "test.toml").unwrap_or_else(|e| panic!("{e}"));
        let policy = CompiledPolicy::compile(&config, &test_host());
        self.loaded
            .maps
            .apply(&policy)
            .unwrap_or_else(|e| panic!("applying the policy: {e}"));
    }

    /// Runs one packet through the program; returns the XDP action.
    pub fn run(&self, frame: &[u8]) -> u32 {
        self.run_repeat(frame, 1).0
    }

    /// Runs a packet `repeat` times; returns the action and the kernel's mean time per run.
    pub fn run_repeat(&self, frame: &[u8], repeat: u32) -> (u32, Duration) {
        let program = self.loaded.program().expect("program");
        let result = program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                repeat,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN: {e}"));
        (result.return_value, result.duration)
    }

    /// Runs one frame through the TC egress program (auto-ban); returns its TC action.
    pub fn run_egress(&self, frame: &[u8]) -> i32 {
        let program: &aya::programs::SchedClassifier = self
            .loaded
            .ebpf
            .program(dataplane::object::EGRESS_PROGRAM)
            .expect("egress program in the object")
            .try_into()
            .expect("a TC program");
        program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                repeat: 1,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN (egress): {e}"))
            .return_value as i32
    }

    /// Mean time per run of the object's no-op XDP program on `frame`: what
    /// BPF_PROG_TEST_RUN itself costs on this machine, to subtract from measurements.
    pub fn floor(&self, frame: &[u8], repeat: u32) -> Duration {
        let program: &aya::programs::Xdp = self
            .loaded
            .ebpf
            .program(dataplane::object::NOOP_PROGRAM)
            .expect("no-op program in the object")
            .try_into()
            .expect("an XDP program");
        program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                repeat,
                ..Default::default()
            })
            .expect("BPF_PROG_TEST_RUN")
            .duration
    }

    /// Forgets every source's rate state (the `RATES` LRU map), as if no request was seen.
    pub fn clear_rate_state(&self) {
        use aya::maps::{HashMap, Map, MapData};
        let data = MapData::from_pin(self.pin_dir.join(dataplane::object::map::RATES))
            .expect("pinned RATES map");
        let mut rates: HashMap<MapData, sipguard_common::RateKey, sipguard_common::SourceState> =
            HashMap::try_from(Map::LruHashMap(data)).expect("an LRU hash map");
        let keys: Vec<_> = rates.keys().filter_map(Result::ok).collect();
        for k in keys {
            let _ = rates.remove(&k);
        }
    }

    /// The ban map's entries.
    pub fn bans(&self) -> Vec<(ipnet::IpNet, sipguard_common::Ban)> {
        self.loaded.maps.bans().expect("reading bans")
    }

    /// Packets counted per (service, reason, verdict).
    pub fn counters(&self) -> BTreeMap<(String, String, String), u64> {
        counter_map(&self.loaded.maps.counters().expect("reading counters"))
    }

    /// Packets counted for one (service, reason, verdict).
    pub fn count(&self, service: &str, reason: &str, verdict: &str) -> u64 {
        self.counters()
            .get(&(service.to_owned(), reason.to_owned(), verdict.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// SIP packets counted for one (service, SIP class, verdict).
    pub fn sip_count(&self, service: &str, class: &str, verdict: &str) -> u64 {
        self.loaded
            .maps
            .sip_counters()
            .expect("reading SIP counters")
            .iter()
            .filter(|r| r.service == service && r.class == class && r.verdict == verdict)
            .map(|r| r.packets)
            .sum()
    }

    /// Total SIP packets counted over all keys.
    pub fn sip_total(&self) -> u64 {
        let rows = self
            .loaded
            .maps
            .sip_counters()
            .expect("reading SIP counters");
        rows.iter().map(|r| r.packets).sum()
    }

    /// Bans the programs made for one reason name, summed over CPUs.
    pub fn ban_count(&self, reason: &str) -> u64 {
        let counts = self.loaded.maps.ban_counts().expect("reading ban counters");
        counts
            .iter()
            .find(|(name, _)| *name == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// What auto-ban weighed and did not ban on, of one kind (`challenge`, `retransmission`,
    /// `unproven_failure`, `spared`), summed over CPUs.
    pub fn evidence(&self, kind: &str) -> u64 {
        let counts = self
            .loaded
            .maps
            .evidence_counts()
            .expect("reading ban counters");
        counts
            .iter()
            .find(|(name, _)| *name == kind)
            .map_or_else(|| panic!("no evidence kind {kind}"), |(_, n)| *n)
    }

    /// One round trip through both programs: `request` (from the client) passes the XDP
    /// program, then the PBX's `answer` leaves through the egress program.
    pub fn round_trip(&self, request: &[u8], answer: &[u8]) {
        assert_eq!(self.run(request), XDP_PASS, "the request reaches the PBX");
        assert_eq!(self.run_egress(answer), 0, "the answer leaves (TC_ACT_OK)");
    }

    /// Total packets counted over all keys.
    pub fn total(&self) -> u64 {
        self.counters().values().sum()
    }

    /// Runs `frame` and asserts the action and that exactly the one (service, reason,
    /// verdict) counter moved, by one; `case` names the packet in the messages.
    pub fn expect(&self, case: &str, frame: &[u8], action: u32, counted: (&str, &str, &str)) {
        let (service, reason, verdict) = counted;
        let before = self.count(service, reason, verdict);
        let total = self.total();
        assert_eq!(self.run(frame), action, "{case}: action");
        assert_eq!(
            self.count(service, reason, verdict),
            before + 1,
            "{case}: {service}/{reason}/{verdict}; counters: {:?}",
            self.counters()
        );
        assert_eq!(self.total(), total + 1, "{case}: one counter moved");
    }

    pub fn pin_dir(&self) -> &std::path::Path {
        &self.pin_dir
    }
}

/// Only standalone fixtures are dropped; the shared ones' pins go at exit.
impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.pin_dir);
    }
}

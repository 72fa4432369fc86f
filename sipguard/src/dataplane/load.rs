//! Loading the object: the kernel probe, the pin directory (locked, migrated when its maps
//! don't fit), the programs into the kernel, and the verifier's refusal when it says no.
use std::{fs::File, path::Path};

use aya::{
    programs::{Program, ProgramError, SchedClassifier, Xdp},
    Ebpf, EbpfLoader, VerifierLogLevel,
};

use super::{
    kernel,
    maps::Maps,
    object::{self, map},
    pin_dir::{self, Migration},
    DataplaneError,
};

type Result<T, E = DataplaneError> = std::result::Result<T, E>;

/// A loaded object: the program (attached or not) and its maps, with the pin directory
/// locked for as long as it lives.
pub struct Loaded {
    pub ebpf: Ebpf,
    pub maps: Maps,
    /// Set when the pinned maps had another layout: they were moved aside, and this build's
    /// maps start empty in the pin directory.
    pub migration: Option<Migration>,
    /// What the kernel offers, as probed before loading.
    pub features: kernel::Features,
    _lock: File,
}

impl Loaded {
    /// The XDP program (for BPF_PROG_TEST_RUN in tests and benchmarks).
    pub fn program(&self) -> Result<&Xdp> {
        let program = self
            .ebpf
            .program(object::PROGRAM)
            .ok_or(DataplaneError::MissingProgram(object::PROGRAM))?;
        Ok(program.try_into()?)
    }
}

/// Loads the object with its maps pinned under `pin_dir` (reusing maps already pinned there,
/// so bans and counters survive a restart) and loads the program into the kernel, with a
/// per-source table of `tracked_sources` entries (`[global] tracked_sources`). Fails when
/// another sipguard holds the same pin directory.
pub fn load(pin_dir: &Path, tracked_sources: u32) -> Result<Loaded> {
    let features = kernel::probe()?;
    pin_dir::ensure_bpffs(pin_dir)?;
    let mut lock = pin_dir::lock(pin_dir)?;
    let mut migration = None;
    if let Some(found) = pin_dir::mismatch(pin_dir, tracked_sources) {
        migration = Some(pin_dir::set_aside(pin_dir, found, lock)?);
        std::fs::create_dir_all(pin_dir).map_err(DataplaneError::io(format!(
            "creating {}",
            pin_dir.display()
        )))?;
        lock = pin_dir::lock(pin_dir)?;
    }
    let coarse_clock = u32::from(features.coarse_clock);
    let mut ebpf = EbpfLoader::new()
        .verifier_log_level(verifier_log_level())
        .default_map_pin_directory(pin_dir)
        .map_max_entries(map::RATES, tracked_sources)
        .override_global(object::global::COARSE_CLOCK, &coarse_clock, true)
        .load(object::OBJECT)
        .map_err(|e| DataplaneError::Load(Box::new(e)))?;
    let maps = Maps::from_ebpf(&mut ebpf)?;
    xdp_program(&mut ebpf)?
        .load()
        .map_err(|e| load_error("XDP", e))?;
    egress_program(&mut ebpf)?
        .load()
        .map_err(|e| load_error("TC egress", e))?;
    Ok(Loaded {
        ebpf,
        maps,
        migration,
        features,
        _lock: lock,
    })
}

/// What the verifier writes when it refuses a program: its error and its statistics, not its
/// walk of every instruction. Kernels before 6.4 keep a log's first part, and the walk of a
/// program of half a million instructions overflows any buffer: the refusal would be lost
/// behind ENOSPC (after five verifications). `SIPGUARD_VERIFIER_LOG` (a file for the whole
/// log, for development) asks for the walk too.
fn verifier_log_level() -> VerifierLogLevel {
    if std::env::var_os("SIPGUARD_VERIFIER_LOG").is_some() {
        VerifierLogLevel::DEBUG | VerifierLogLevel::STATS
    } else {
        VerifierLogLevel::STATS
    }
}

/// The program `name` of `ebpf` as a `P`.
fn program_mut<'a, P>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut P>
where
    &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    let program = ebpf
        .program_mut(name)
        .ok_or(DataplaneError::MissingProgram(name))?;
    Ok(program.try_into()?)
}

/// The XDP program of `ebpf`.
pub(crate) fn xdp_program(ebpf: &mut Ebpf) -> Result<&mut Xdp> {
    program_mut(ebpf, object::PROGRAM)
}

/// The TC egress program of `ebpf`.
pub(crate) fn egress_program(ebpf: &mut Ebpf) -> Result<&mut SchedClassifier> {
    program_mut(ebpf, object::EGRESS_PROGRAM)
}

/// How many of the verifier's last lines an error shows.
const VERIFIER_TAIL_LINES: usize = 20;

/// A program load's failure: the verifier's refusal as its last lines, naming the kernel.
fn load_error(program: &'static str, e: ProgramError) -> DataplaneError {
    match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            // For development: the whole log, which names the function that failed. Best
            // effort: the refusal below is the error that matters.
            if let Some(path) = std::env::var_os("SIPGUARD_VERIFIER_LOG") {
                let _ = std::fs::write(path, &log);
            }
            DataplaneError::Verifier {
                release: kernel::release(),
                program,
                io_error,
                verifier_tail: tail(&log, VERIFIER_TAIL_LINES),
            }
        }
        other => other.into(),
    }
}

/// The last `n` lines of `log`.
fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_shows_the_verifier_logs_last_lines() {
        let log: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let t = tail(&log, VERIFIER_TAIL_LINES);
        assert!(t.starts_with("line 11\n"), "{t}");
        assert!(t.ends_with("line 30"), "{t}");
        assert_eq!(tail("only\n", 20), "only");
        assert_eq!(tail("", 20), "");
    }
}

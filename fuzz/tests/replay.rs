//! Every committed input of every fuzz target (`corpus/<target>/`, `regressions/<target>/`)
//! through the function the target runs, without libFuzzer or nightly: a crash once found
//! stays a test case of a plain `cargo test --manifest-path fuzz/Cargo.toml
//! --no-default-features`.
use std::{
    collections::BTreeSet,
    fs,
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use sipguard_fuzz::TARGETS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dir` (none when it doesn't exist), sorted.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn subdirs(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_committed_input_of_every_target_runs_without_a_panic() {
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, run) in TARGETS {
        for kind in ["corpus", "regressions"] {
            for file in inputs(&root().join(kind).join(name)) {
                let data = fs::read(&file).unwrap();
                ran += 1;
                if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                    failed.push(format!("{name}: {}", file.display()));
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "inputs that fail:\n{}",
        failed.join("\n")
    );
    assert!(
        ran > 0,
        "no committed input found under {}",
        root().display()
    );
}

#[test]
fn every_target_is_a_fuzz_binary_with_a_seed_corpus() {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let bins: BTreeSet<String> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "sipguard-fuzz")
        .map(str::to_owned)
        .collect();
    let targets: BTreeSet<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(bins, targets, "[[bin]]s of fuzz/Cargo.toml against TARGETS");
    for name in &targets {
        assert!(
            !inputs(&root().join("corpus").join(name)).is_empty(),
            "corpus/{name}/ has no seed"
        );
    }
    for kind in ["corpus", "regressions"] {
        let dir = root().join(kind);
        if dir.is_dir() {
            let stray: Vec<_> = subdirs(&dir).difference(&targets).cloned().collect();
            assert!(
                stray.is_empty(),
                "{kind}/ has folders of no target: {stray:?}"
            );
        }
    }
}

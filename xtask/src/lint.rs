//! `cargo xtask lint`: what CI checks besides the tests. rustfmt (nightly, for
//! `rustfmt.toml`'s import grouping), clippy with warnings denied for the user-space crates and
//! again for the eBPF crate on its own target (aya-template's `test.sh` does the same two
//! runs), and the layer check: a module of the `sipguard` crate never names a higher layer.

use std::{collections::BTreeSet, fs, path::Path, process::Command};

use anyhow::{bail, Context, Result};

use crate::{cargo, run, setup::rustup, walk};

/// The `sipguard` crate's layers, lowest first: each top-level module of `sipguard/src` and
/// the top-level modules it may name (besides itself). The crate doc in `sipguard/src/lib.rs`
/// draws the same order; a `crate::` path to a module not listed here fails the check, so a
/// new module must be placed.
pub const LAYERS: &[(&str, &[&str])] = &[
    ("parse", &[]),
    ("config", &["parse"]),
    ("policy", &["config", "parse"]),
    ("host", &["config"]),
    ("dataplane", &["policy", "config", "parse", "host"]),
    (
        "control",
        &["dataplane", "policy", "config", "parse", "host"],
    ),
    ("audit", &["control", "policy", "config", "parse"]),
    ("error", &["control", "dataplane", "config", "host"]),
];

pub fn all(root: &Path) -> Result<()> {
    let mut failed = Vec::new();
    println!("xtask lint: rustfmt --check");
    if let Err(e) = run(nightly_cargo(root).args(["fmt", "--all", "--", "--check"])) {
        failed.push(format!("rustfmt: {e:#} (fix: cargo +nightly fmt --all)"));
    }
    // The fuzz crate is a workspace of its own (fuzz/Cargo.toml), so `--all` leaves it out.
    if let Err(e) = run(nightly_cargo(&root.join("fuzz")).args(["fmt", "--", "--check"])) {
        failed.push(format!(
            "rustfmt (fuzz): {e:#} (fix: cd fuzz && cargo +nightly fmt)"
        ));
    }
    println!("xtask lint: clippy, user-space crates");
    if let Err(e) = run(cargo(root).args([
        "clippy",
        "--workspace",
        "--exclude",
        "sipguard-ebpf",
        "--all-targets",
        "--",
        "--deny",
        "warnings",
    ])) {
        failed.push(format!("clippy (user space): {e:#}"));
    }
    println!("xtask lint: clippy, the fuzz crate (its own workspace; without libFuzzer)");
    if let Err(e) = run(cargo(root).args([
        "clippy",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--no-default-features",
        "--lib",
        "--tests",
        "--",
        "--deny",
        "warnings",
    ])) {
        failed.push(format!("clippy (fuzz): {e:#}"));
    }
    println!("xtask lint: clippy, eBPF crate (bpfel-unknown-none)");
    if let Err(e) = run(nightly_cargo(&root.join("sipguard-ebpf"))
        .env("CARGO_TARGET_DIR", root.join("target/lint-ebpf"))
        .env("RUSTFLAGS", "-C panic=abort")
        .args([
            "clippy",
            "--release",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--",
            "--deny",
            "warnings",
        ]))
    {
        failed.push(format!("clippy (eBPF): {e:#}"));
    }
    println!("xtask lint: layers");
    let violations = layer_violations(&root.join("sipguard/src"))?;
    for v in &violations {
        println!("  {v}");
    }
    if !violations.is_empty() {
        failed.push(format!(
            "layers: {} path(s) name a higher layer",
            violations.len()
        ));
    }
    if !failed.is_empty() {
        bail!("lint failed:\n  {}", failed.join("\n  "));
    }
    println!("xtask lint: ok");
    Ok(())
}

/// Nightly's cargo in `dir` (`rustup run`: the cargo running xtask is not rustup's proxy, so
/// `cargo +nightly` would not parse).
fn nightly_cargo(dir: &Path) -> Command {
    let mut cmd = rustup();
    cmd.args(["run", "nightly", "cargo"]).current_dir(dir);
    cmd
}

/// Every `crate::X` path in the code (not the comments) of `src`'s layer modules that names a module the layer may not name,
/// as `file:line: text`.
pub fn layer_violations(src: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    // Every top-level module is in a layer (else its own imports would go unchecked).
    for entry in fs::read_dir(src).with_context(|| format!("listing {}", src.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", src.display()))?
            .path();
        let name = path.file_stem().map(|n| n.to_string_lossy().into_owned());
        let module = match name {
            Some(n) if path.is_dir() && n != "bin" => n,
            Some(n) if path.extension().is_some_and(|e| e == "rs") && n != "lib" => n,
            _ => continue,
        };
        if !LAYERS.iter().any(|(l, _)| *l == module) {
            out.push(format!(
                "{}: the module `{module}` is in no layer of xtask/src/lint.rs's LAYERS",
                path.strip_prefix(src).unwrap_or(&path).display()
            ));
        }
    }
    for &(layer, allowed) in LAYERS {
        let mut files = Vec::new();
        let file = src.join(format!("{layer}.rs"));
        if file.is_file() {
            files.push(file);
        }
        let dir = src.join(layer);
        if dir.is_dir() {
            let mut under = Vec::new();
            walk(&dir, &mut under)?;
            files.extend(
                under
                    .into_iter()
                    .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "rs")),
            );
        }
        for file in files {
            let mut text =
                fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            // In `X.rs` and `X/mod.rs`, `super::` is the crate root.
            let rel = file.strip_prefix(src).unwrap_or(&file);
            if rel.components().count() == 1 || rel == Path::new(layer).join("mod.rs") {
                text = text.replace("super::", "crate::");
            }
            for (n, line) in text.lines().enumerate() {
                // Docs may point anywhere; code may not.
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for name in crate_paths(line) {
                    if name == layer || allowed.contains(&name.as_str()) {
                        continue;
                    }
                    let why = if LAYERS.iter().any(|(l, _)| *l == name) {
                        format!("`{layer}` may not name `{name}`")
                    } else {
                        format!("`{name}` is in no layer of xtask/src/lint.rs's LAYERS")
                    };
                    out.push(format!(
                        "{}:{}: {why}: {}",
                        file.strip_prefix(src).unwrap_or(&file).display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// The top-level module names a line's `crate::` paths start with: `crate::a::b` gives `a`,
/// `crate::{a::b, c}` gives `a` and `c` (the braces may not close on the same line: the
/// names up to the line's end count).
pub fn crate_paths(line: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        // `$crate::` in macros and identifiers ending in `crate` (e.g. `pub(crate)`) aside.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c == '$' || c == '_' || c.is_alphanumeric()) {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && (c.is_alphanumeric() || c == '_') => {
                        start = false;
                        names.insert(ident_at(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<String> {
        crate_paths(line).into_iter().collect()
    }

    #[test]
    fn a_plain_path_names_its_first_module() {
        assert_eq!(names("use crate::dataplane::maps::Maps;"), ["dataplane"]);
        assert_eq!(
            names("let x = crate::policy::compile(&c); crate::config::X"),
            ["config", "policy"]
        );
    }

    #[test]
    fn a_group_names_each_top_level_module_and_not_nested_ones() {
        assert_eq!(
            names("use crate::{config::{Config, Mode}, policy::CompiledPolicy, Error};"),
            ["Error", "config", "policy"]
        );
        assert_eq!(names("use crate::{"), Vec::<String>::new());
    }

    #[test]
    fn macro_crate_paths_and_pub_crate_are_not_paths() {
        assert!(names("$crate::harness::Harness").is_empty());
        assert!(names("pub(crate) fn f()").is_empty());
    }

    #[test]
    fn the_sipguard_crate_keeps_its_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sipguard/src");
        let v = layer_violations(&src).unwrap();
        assert!(v.is_empty(), "{}", v.join("\n"));
    }

    #[test]
    fn a_lower_layer_naming_a_higher_one_is_reported_with_file_and_line() {
        let dir = std::env::temp_dir().join(format!("sipguard-lint-{}", std::process::id()));
        fs::create_dir_all(dir.join("config")).unwrap();
        fs::write(
            dir.join("config/mod.rs"),
            "use crate::parse::duration;\nuse crate::control::daemon;\n",
        )
        .unwrap();
        fs::write(
            dir.join("policy.rs"),
            "use crate::{config::Config, mystery};\nuse super::dataplane::Maps;\n",
        )
        .unwrap();
        fs::write(dir.join("stray.rs"), "use crate::control::daemon;\n").unwrap();
        let mut v = layer_violations(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        v.sort();
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(v[0].starts_with("config/mod.rs:2: `config` may not name `control`"));
        assert!(v[1].starts_with("policy.rs:1: `mystery` is in no layer"));
        assert!(v[2].starts_with("policy.rs:2: `policy` may not name `dataplane`"));
        assert!(v[3].starts_with("stray.rs: the module `stray` is in no layer"));
    }
}

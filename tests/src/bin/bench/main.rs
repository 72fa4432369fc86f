//! `cargo xtask bench`: what sipguard costs and what it stops. The parts, one module each:
//! the per-packet rows ([`per_packet`], BPF_PROG_TEST_RUN on every verdict path), auto-ban's
//! reaction in the VoIP lab ([`autoban_lab`]), flood capacity against iptables and nftables
//! ([`flood_capacity`]), brute force against fail2ban ([`bruteforce`]) and the scale part
//! (`sipguard_tests::scale`). Tables on stdout as each part runs; typed results as JSON
//! ([`report`]). Any part but the per-packet rows is skipped with a count of 0.
mod autoban_lab;
mod bruteforce;
mod flood_capacity;
mod per_packet;
mod policies;
mod report;

use std::path::PathBuf;

use clap::Parser;

/// sipguard-bench: per-packet cost of every verdict path (BPF_PROG_TEST_RUN), then the lab
/// parts.
#[derive(Parser, Debug)]
#[command(name = "sipguard-bench", args_override_self = true)]
struct Args {
    /// Repeats per BPF_PROG_TEST_RUN run.
    #[arg(long, default_value_t = 1_000_000)]
    repeat: u32,
    /// Runs per path (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where to write the per-packet JSON; the other parts' JSON go next to it.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Only the paths and parts whose name contains SUBSTRING.
    #[arg(long, value_name = "SUBSTRING")]
    only: Option<String>,
    /// Trials of the lab's auto-ban timing (0: skip it).
    #[arg(long, value_name = "N", default_value_t = 10)]
    lab_trials: usize,
    /// Tracked sources of the scale part (0: skip the scale part).
    #[arg(long, value_name = "N", default_value_t = 1 << 20)]
    scale_sources: u32,
    /// Deny prefixes of the scale part.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    scale_prefixes: usize,
    /// Seconds of each flood of the flood-capacity comparison (0: skip it).
    #[arg(long, value_name = "N", default_value_t = 8)]
    flood_secs: u64,
    /// Trials of svcrack against sipguard and fail2ban, per defence (0: skip them).
    #[arg(long, value_name = "N", default_value_t = 3)]
    bruteforce_trials: usize,
}

impl Args {
    /// Whether the part `name` runs: a non-zero count, and selected by `--only`.
    fn wants(&self, name: &str, count: u64) -> bool {
        count > 0 && self.only.as_ref().is_none_or(|o| name.contains(o.as_str()))
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !sipguard::host::is_root() {
        anyhow::bail!("the benchmark loads BPF programs: run it as root");
    }
    let results = per_packet::run(&per_packet::Options {
        repeat: args.repeat,
        runs: args.runs,
        only: args.only.as_deref(),
    })?;
    // The parts after the per-packet rows, each with its own JSON next to the main one.
    let mut parts: Vec<(&str, serde_json::Value)> = Vec::new();
    if args.wants("autoban_lab", args.lab_trials as u64) {
        let lab = autoban_lab::run(args.lab_trials)?;
        parts.push(("autoban_lab", serde_json::to_value(lab)?));
    }
    if args.wants("flood_capacity", args.flood_secs) {
        let floods = flood_capacity::run(args.flood_secs)?;
        parts.push(("flood_capacity", serde_json::to_value(floods)?));
    }
    if args.wants("bruteforce", args.bruteforce_trials as u64) {
        let bruteforce = bruteforce::run(args.bruteforce_trials)?;
        parts.push(("bruteforce", serde_json::to_value(bruteforce)?));
    }
    if args.wants("scale", args.scale_sources as u64) {
        let scale = sipguard_tests::scale::run(&sipguard_tests::scale::Args {
            sources: args.scale_sources,
            prefixes: args.scale_prefixes,
            runs: args.runs,
            repeat: args.repeat,
        })?;
        parts.push(("scale", scale));
    }
    let Some(path) = args.json else {
        return Ok(());
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    for (name, doc) in &parts {
        report::write_json(&path.with_file_name(format!("{name}.json")), doc, "")?;
    }
    // A run of other parts only (`--only scale`) keeps the last per-packet results.
    if !results.is_empty() {
        let doc = report::PerPacket::new(args.repeat, args.runs, &results);
        report::write_json(&path, &doc, "\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_full_bench() {
        let a = Args::parse_from(["sipguard-bench"]);
        assert_eq!((a.repeat, a.runs), (1_000_000, 5));
        assert_eq!(
            (a.lab_trials, a.flood_secs, a.bruteforce_trials),
            (10, 8, 3)
        );
        assert_eq!((a.scale_sources, a.scale_prefixes), (1 << 20, 100_000));
        assert!(a.json.is_none() && a.only.is_none());
    }

    #[test]
    fn the_per_packet_only_invocation_skips_every_other_part() {
        let a = Args::parse_from(
            "sipguard-bench --json target/bench/prog_test_run.json --lab-trials 0 --flood-secs 0 \
             --bruteforce-trials 0 --scale-sources 0 --scale-prefixes 0"
                .split_whitespace(),
        );
        assert_eq!(
            a.json.as_deref(),
            Some(std::path::Path::new("target/bench/prog_test_run.json"))
        );
        for (part, count) in [
            ("autoban_lab", a.lab_trials as u64),
            ("flood_capacity", a.flood_secs),
            ("bruteforce", a.bruteforce_trials as u64),
            ("scale", a.scale_sources as u64),
        ] {
            assert!(!a.wants(part, count), "{part}");
        }
    }

    #[test]
    fn only_selects_parts_by_name_and_a_bad_flag_is_refused() {
        let a = Args::parse_from(["sipguard-bench", "--only", "scale", "--runs", "3"]);
        assert!(a.wants("scale", 1) && !a.wants("bruteforce", 3));
        assert_eq!(a.runs, 3);
        assert!(Args::try_parse_from(["sipguard-bench", "--frobnicate"]).is_err());
        assert!(Args::try_parse_from(["sipguard-bench", "--runs", "many"]).is_err());
    }
}

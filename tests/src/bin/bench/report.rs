//! What the bench writes: the per-packet table on stdout as it is measured, and each part's
//! typed results as JSON (`prog_test_run.json` and one `<part>.json` next to it), which
//! `tests/bench/report.py` turns into `summary.md` and the charts. The JSON goes through
//! `serde_json::Value`, whose maps are sorted, so the files keep the key order they had.
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

/// One per-packet row (`results[]` of `prog_test_run.json`).
#[derive(Serialize)]
pub struct PathResult {
    pub path: &'static str,
    pub median_ns: f64,
    pub floor_ns: f64,
    pub net_ns: f64,
    pub min_ns: f64,
    pub max_ns: f64,
    /// Every run's mean, sorted.
    pub samples_ns: Vec<f64>,
    pub verdict: &'static str,
    pub frame_bytes: usize,
}

/// `prog_test_run.json`.
#[derive(Serialize)]
pub struct PerPacket<'a> {
    pub benchmark: &'static str,
    pub repeat: u32,
    pub runs: usize,
    pub kernel: String,
    pub cpus: usize,
    pub results: &'a [PathResult],
}

impl<'a> PerPacket<'a> {
    pub fn new(repeat: u32, runs: usize, results: &'a [PathResult]) -> Self {
        Self {
            benchmark: "xdp_prog_test_run",
            repeat,
            runs,
            kernel: kernel_release(),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            results,
        }
    }
}

/// The running kernel's release (`/proc/sys/kernel/osrelease`), or empty.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The per-packet table's title and column heads.
pub fn print_per_packet_header(repeat: u32, runs: usize) {
    println!("BPF_PROG_TEST_RUN, {repeat} repeats x {runs} runs per path (mean ns/packet per run)");
    println!(
        "floor: a no-op XDP program, run right before each run of each path; net = median of \
         (path - floor) per run\n"
    );
    println!(
        "{:<50} {:>8} {:>6} {:>6} {:>8} {:>8} {:>8}",
        "path", "median", "floor", "net", "min", "max", "verdict"
    );
}

/// One row of the per-packet table.
pub fn print_per_packet_row(r: &PathResult) {
    println!(
        "{:<50} {:>8.0} {:>6.0} {:>6.0} {:>8.0} {:>8.0} {:>8}",
        r.path, r.median_ns, r.floor_ns, r.net_ns, r.min_ns, r.max_ns, r.verdict
    );
}

/// Writes `doc` as pretty JSON to `path` and says so (`JSON: path`, after `lead`).
pub fn write_json(path: &Path, doc: &impl Serialize, lead: &str) -> anyhow::Result<()> {
    // Through a Value: its sorted maps give the files their (alphabetical) key order.
    let value = serde_json::to_value(doc)?;
    std::fs::write(path, serde_json::to_string_pretty(&value)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{lead}JSON: {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_per_packet_row_is_written_with_the_keys_report_py_reads_in_sorted_order() {
        let row = PathResult {
            path: "sip_allow_list_pass_v4",
            median_ns: 30.0,
            floor_ns: 10.0,
            net_ns: 20.0,
            min_ns: 29.0,
            max_ns: 31.0,
            samples_ns: vec![29.0, 30.0, 31.0],
            verdict: "pass",
            frame_bytes: 60,
        };
        let text = serde_json::to_string(&serde_json::to_value(&row).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"floor_ns":10.0,"frame_bytes":60,"max_ns":31.0,"median_ns":30.0,"min_ns":29.0,"net_ns":20.0,"path":"sip_allow_list_pass_v4","samples_ns":[29.0,30.0,31.0],"verdict":"pass"}"#
        );
    }
}

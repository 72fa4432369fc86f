//! Policies shared by the tests, the benchmark and the demo. Every test policy is a file in
//! `tests/policies/` (included at build time), so that a ruleset is read as TOML and written
//! once; those used by one test module only are included by that module.

/// For crafted packets (BPF_PROG_TEST_RUN tests and the benchmark): allow lists on SIP, SSH
/// and ICMP, RTP open to all, a deny list in both families, default drop.
pub const CRAFTED: &str = include_str!("../policies/crafted.toml");

/// For the namespace lab (end-to-end tests and the demo), where every test address sits on
/// the veth's 192.0.2.0/24 and 2001:db8:1::/64: the first half of the /24 and the first /112
/// are the office, the rest is unknown, and one address of each family is denied outright.
pub const LAB: &str = include_str!("../policies/lab.toml");

/// A file of the side-by-side benchmark's policy, written for sipguard (`policy.toml`),
/// iptables (`iptables.rules`) and nftables (`nftables.nft`), in `tests/bench/`.
pub fn bench_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join(name)
}

/// Loads the benchmark's iptables rules into namespace `ns` (`iptables-legacy-restore`: the
/// x_tables iptables of the seeds' guides).
pub fn load_bench_iptables(ns: &str) -> anyhow::Result<()> {
    let rules = std::fs::read(bench_file("iptables.rules"))?;
    crate::netns::run_in(ns, "iptables-legacy-restore", &[], Some(&rules)).map(drop)
}

/// Loads the benchmark's nftables ruleset into namespace `ns` (`nft -f`).
pub fn load_bench_nftables(ns: &str) -> anyhow::Result<()> {
    let rules = std::fs::read(bench_file("nftables.nft"))?;
    crate::netns::run_in(ns, "nft", &["-f", "-"], Some(&rules)).map(drop)
}

/// A file removed on drop (configs handed to the daemon).
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    pub fn with_contents(text: &str) -> Self {
        let p = std::env::temp_dir().join(format!("{}.toml", crate::unique("sipguard-")));
        std::fs::write(&p, text).expect("writing a temporary config");
        Self(p)
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("UTF-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

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

/// `base` (TOML) edited as a value: parsed, changed by `change`, written back. For policies
/// derived from another (the benchmark's variants of [`CRAFTED`] and the bench policy), so
/// that a variant can't silently miss its edit the way a text replacement would.
pub fn edit(base: &str, change: impl FnOnce(&mut toml::Table)) -> anyhow::Result<String> {
    let mut table: toml::Table = base.parse()?;
    change(&mut table);
    Ok(toml::to_string(&table)?)
}

/// The `[[service]]` named `name` of a parsed policy.
pub fn service<'a>(policy: &'a mut toml::Table, name: &str) -> anyhow::Result<&'a mut toml::Table> {
    policy
        .get_mut("service")
        .and_then(toml::Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table_mut)
        .find(|s| s.get("name").and_then(toml::Value::as_str) == Some(name))
        .ok_or_else(|| anyhow::anyhow!("the policy has no service {name:?}"))
}

/// A table of `key = value` pairs, for edits.
pub fn table<const N: usize>(pairs: [(&str, toml::Value); N]) -> toml::Value {
    toml::Value::Table(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// `{ rate = RATE, burst = BURST }`, a limit of a service's `limits`.
pub fn limit(rate: i64, burst: i64) -> toml::Value {
    table([("rate", rate.into()), ("burst", burst.into())])
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_changes_the_named_service_and_keeps_the_rest() {
        let edited = edit(CRAFTED, |p| {
            service(p, "ssh")
                .unwrap()
                .insert("limits".into(), table([("syn", limit(0, 1))]));
        })
        .unwrap();
        let mut expected: toml::Table = CRAFTED.parse().unwrap();
        let ssh = service(&mut expected, "ssh").unwrap();
        ssh.insert("limits".into(), toml::Value::Table(Default::default()));
        ssh["limits"]
            .as_table_mut()
            .unwrap()
            .insert("syn".into(), limit(0, 1));
        assert_eq!(edited.parse::<toml::Table>().unwrap(), expected);
        let config = sipguard::config::Config::from_str(&edited, "edited.toml");
        assert!(config.is_ok(), "{:?}", config.err().map(|e| e.to_string()));
    }

    #[test]
    fn a_missing_service_is_an_error_not_a_silent_no_op() {
        let mut p: toml::Table = CRAFTED.parse().unwrap();
        assert!(service(&mut p, "sip").is_ok());
        let e = service(&mut p, "iax").unwrap_err();
        assert_eq!(e.to_string(), "the policy has no service \"iax\"");
    }
}

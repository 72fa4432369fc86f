//! The applied-policy record: the text of the policy the daemon last applied, kept in
//! `/run/sipguard` so that `sipguard check --diff` and `sipguard audit` can compare against
//! what runs, which the maps alone can't tell (they hold compiled bytes, not the config).
use std::path::{Path, PathBuf};

use super::{ControlError, Refusal};
use crate::config::Config;

/// Where the records live (a tmpfs: the record goes with the boot, as the daemon does).
const RUN_DIR: &str = "/run/sipguard";

/// Where the daemon using `pin_dir` records the policy it applied: under /run/sipguard, named
/// after the pin directory (one daemon per pin directory).
pub fn record_path(pin_dir: &Path) -> PathBuf {
    let name: String = pin_dir
        .to_string_lossy()
        .trim_matches('/')
        .chars()
        .map(|c| if c == '/' { '-' } else { c })
        .collect();
    Path::new(RUN_DIR).join(format!("{name}.applied.toml"))
}

/// Records `config` as the running policy of the daemon using `pin_dir` on `ifaces` (written
/// to a temporary file and renamed, so a reader never sees half of it).
pub fn record(pin_dir: &Path, config: &Config, ifaces: &[String]) -> Result<(), ControlError> {
    let path = record_path(pin_dir);
    std::fs::create_dir_all(RUN_DIR).map_err(ControlError::io(format!("creating {RUN_DIR}")))?;
    let tmp = path.with_extension("tmp");
    let header = header(&config.source, ifaces);
    // Owner-only: the policy may hold secrets inline ([crowdsec] api_key and password,
    // [apiban] key), and the file it came from may be 0600.
    let write = || -> std::io::Result<()> {
        use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all((header + &config.text).as_bytes())
    };
    write().map_err(ControlError::io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(ControlError::io(format!("writing {}", path.display())))
}

/// The record's first lines: where the policy came from and the interfaces it guards.
fn header(source: &str, ifaces: &[String]) -> String {
    format!(
        "# applied by sipguard from {source}\n{INTERFACES_LINE}{}\n",
        ifaces.join(" ")
    )
}

/// The header line that names the interfaces, then their names separated by spaces.
const INTERFACES_LINE: &str = "# interfaces: ";

/// The interfaces the daemon using `pin_dir` guards, as its record names them (empty: no
/// record, or one written before records named them).
pub fn interfaces(pin_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(record_path(pin_dir))
        .map(|text| interfaces_of(&text))
        .unwrap_or_default()
}

/// The interfaces named in a record's text.
fn interfaces_of(text: &str) -> Vec<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(INTERFACES_LINE))
        .map(|names| names.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The running policy of the daemon using `pin_dir`, as it recorded it.
pub fn running(pin_dir: &Path) -> Result<Config, ControlError> {
    let path = record_path(pin_dir);
    let text = std::fs::read_to_string(&path).map_err(|error| Refusal::NoRunningPolicy {
        path: path.clone(),
        pin_dir: pin_dir.to_owned(),
        error,
    })?;
    Ok(Config::from_str(&text, &path.display().to_string())?)
}

/// Forgets the record of the daemon using `pin_dir` (its maps are gone). Best effort: a
/// record left behind only makes `check --diff` compare against a policy no longer running.
pub fn forget(pin_dir: &Path) {
    let _ = std::fs::remove_file(record_path(pin_dir));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_path_is_named_after_the_pin_directory() {
        assert_eq!(
            record_path(Path::new("/sys/fs/bpf/sipguard")),
            PathBuf::from("/run/sipguard/sys-fs-bpf-sipguard.applied.toml")
        );
    }

    #[test]
    fn the_record_names_the_interfaces_it_guards() {
        let ifaces = ["wan0".to_owned(), "wan1".to_owned()];
        let text = header("/etc/sipguard/sipguard.toml", &ifaces) + "[global]\n";
        assert!(
            text.starts_with("# applied by sipguard from /etc/sipguard/sipguard.toml\n"),
            "{text}"
        );
        assert_eq!(interfaces_of(&text), ifaces);
        assert!(interfaces_of("# applied by sipguard from x\n[global]\n").is_empty());
        assert!(Config::from_str(&text, "record").is_ok(), "still a config");
    }
}

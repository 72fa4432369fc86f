//! `sipguard check --config FILE --diff`: what applying FILE would change against the policy
//! the daemon runs. The daemon records the text of every policy it applies (see [`record`]);
//! both are parsed and compared item by item: global settings, each deny and trusted prefix,
//! each service's shape and each of its allow entries, the scanner, auto-ban and log-watch
//! settings.
use std::path::{Path, PathBuf};

use crate::{config::Config, Error};

/// Where the daemon using `pin_dir` records the policy it applied: under /run/sipguard, named
/// after the pin directory (one daemon per pin directory).
pub fn record_path(pin_dir: &Path) -> PathBuf {
    let name: String = pin_dir
        .to_string_lossy()
        .trim_matches('/')
        .chars()
        .map(|c| if c == '/' { '-' } else { c })
        .collect();
    PathBuf::from("/run/sipguard").join(format!("{name}.applied.toml"))
}

/// Records `config` as the running policy of the daemon using `pin_dir` (written to a
/// temporary file and renamed, so a reader never sees half of it).
pub fn record(pin_dir: &Path, config: &Config) -> Result<(), Error> {
    let path = record_path(pin_dir);
    let dir = path.parent().expect("a file under /run/sipguard");
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let tmp = path.with_extension("tmp");
    let header = format!("# applied by sipguard from {}\n", config.source);
    std::fs::write(&tmp, header + &config.text)
        .map_err(Error::io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(Error::io(format!("writing {}", path.display())))
}

/// The running policy of the daemon using `pin_dir`, as it recorded it.
pub fn running(pin_dir: &Path) -> Result<Config, Error> {
    let path = record_path(pin_dir);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Refused(format!(
            "no running policy recorded at {} ({e}): is a sipguard daemon running with {}?",
            path.display(),
            pin_dir.display()
        ))
    })?;
    Ok(Config::from_str(&text, &path.display().to_string())?)
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
}

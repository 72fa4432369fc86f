//! `sipguard install --iface IF`: the binary, a config to start from, a systemd unit and the
//! Grafana dashboard, under a root directory (`/` on a real host, a staging directory for
//! packages and tests). An existing config is never overwritten.
use std::path::{Path, PathBuf};

use crate::{config::Config, Error};

/// The unit, with `@BIN@`, `@CONFIG@` and `@IFACE@` to fill in.
pub const UNIT_TEMPLATE: &str = include_str!("../deploy/sipguard.service");
/// A Grafana dashboard for the exported metrics.
pub const GRAFANA_DASHBOARD: &str = include_str!("../deploy/grafana-sipguard.json");
/// The commented example with every section.
pub const EXAMPLE_CONFIG: &str = include_str!("../examples/sipguard.toml");

pub const BIN: &str = "/usr/local/sbin/sipguard";
pub const CONFIG: &str = "/etc/sipguard/sipguard.toml";
pub const EXAMPLE: &str = "/etc/sipguard/sipguard.example.toml";
pub const UNIT: &str = "/etc/systemd/system/sipguard.service";
pub const DASHBOARD: &str = "/usr/local/share/sipguard/grafana-sipguard.json";

/// The unit for `iface`.
pub fn unit(iface: &str) -> String {
    UNIT_TEMPLATE
        .replace("@BIN@", BIN)
        .replace("@CONFIG@", CONFIG)
        .replace("@IFACE@", iface)
}

/// Installs under `root`, copying the running binary `exe`. Returns one line per file: what
/// was written or kept.
pub fn install(root: &Path, iface: &str, exe: &Path) -> Result<Vec<String>, Error> {
    if iface.is_empty()
        || iface.len() > 15
        || !iface
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
    {
        return Err(Error::Refused(format!(
            "{iface:?} is not an interface name (at most 15 letters, digits, '.', '_', '-', '@')"
        )));
    }
    let at = |path: &str| -> PathBuf { root.join(path.trim_start_matches('/')) };
    let mut done = Vec::new();
    let write = |path: &str, text: &str, done: &mut Vec<String>| -> Result<(), Error> {
        let p = at(path);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .map_err(Error::io(format!("creating {}", dir.display())))?;
        }
        std::fs::write(&p, text).map_err(Error::io(format!("writing {}", p.display())))?;
        done.push(format!("wrote {}", p.display()));
        Ok(())
    };

    let bin = at(BIN);
    if let Some(dir) = bin.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    }
    if std::fs::canonicalize(exe).ok() != std::fs::canonicalize(&bin).ok() {
        // Through a temporary name: a running daemon keeps its old binary until restarted.
        let tmp = bin.with_extension("new");
        std::fs::copy(exe, &tmp).map_err(Error::io(format!("copying {}", exe.display())))?;
        std::fs::rename(&tmp, &bin).map_err(Error::io(format!("installing {}", bin.display())))?;
        done.push(format!("wrote {}", bin.display()));
    }

    let config = at(CONFIG);
    if config.exists() {
        // The admin's policy: validated, never replaced.
        Config::from_file(&config)?;
        done.push(format!("kept {} (valid)", config.display()));
    } else {
        write(CONFIG, crate::config::DEFAULT_CONFIG, &mut done)?;
    }
    write(EXAMPLE, EXAMPLE_CONFIG, &mut done)?;
    write(UNIT, &unit(iface), &mut done)?;
    write(DASHBOARD, GRAFANA_DASHBOARD, &mut done)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_the_installed_binary_on_the_interface_and_reloads_by_validating() {
        let unit = unit("eth0");
        assert!(unit.contains(
            "ExecStart=/usr/local/sbin/sipguard run --iface eth0 --config /etc/sipguard/sipguard.toml"
        ));
        assert!(unit.contains("ExecReload=/usr/local/sbin/sipguard reload"));
        assert!(!unit.contains('@'), "every placeholder filled:\n{unit}");
    }

    #[test]
    fn the_installed_configs_are_valid() {
        Config::from_str(crate::config::DEFAULT_CONFIG, "default").unwrap();
        Config::from_str(EXAMPLE_CONFIG, "example").unwrap();
    }

    #[test]
    fn the_dashboard_is_grafana_json_with_panels() {
        let doc: serde_json::Value = serde_json::from_str(GRAFANA_DASHBOARD).unwrap();
        assert_eq!(doc["uid"], "sipguard");
        assert!(doc["panels"].as_array().unwrap().len() >= 10);
    }

    #[test]
    fn install_writes_everything_and_keeps_an_existing_config() {
        let root = std::env::temp_dir().join(format!("sipguard-install-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let exe = std::env::current_exe().unwrap();
        let done = install(&root, "eth0", &exe).unwrap();
        assert_eq!(done.len(), 5, "{done:?}");
        for path in [BIN, CONFIG, EXAMPLE, UNIT, DASHBOARD] {
            assert!(root.join(&path[1..]).is_file(), "{path}");
        }
        let config = root.join(&CONFIG[1..]);
        std::fs::write(&config, "[global]\ndefault = \"pass\"\n").unwrap();
        let done = install(&root, "eth0", &exe).unwrap();
        assert!(done.iter().any(|l| l.starts_with("kept")), "{done:?}");
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            "[global]\ndefault = \"pass\"\n"
        );
        // A broken one is reported, not replaced.
        std::fs::write(&config, "[global]\ndefault = \"sometimes\"\n").unwrap();
        assert!(install(&root, "eth0", &exe).is_err());
        assert!(install(&root, "eth0; rm -rf /", &exe).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}

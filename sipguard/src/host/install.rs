//! `sipguard install`: the binary, a config to start from, a systemd unit, the interface in
//! `/etc/default/sipguard` and the Grafana dashboard, under a root directory (`/` on a real
//! host, a staging directory for packages and tests). Two layouts share every text: a local
//! install under /usr/local, and the Debian package's (`cargo xtask deb` stages it with
//! `--layout debian`). An existing config is never overwritten.
use std::path::{Path, PathBuf};

use super::HostError;
use crate::config::Config;

/// The unit, with `@BIN@`, `@CONFIG@` and `@DEFAULTS@` to fill in. The interface comes from
/// the defaults file, so that one unit text serves both layouts and an admin changes the
/// interface where Debian admins look for it.
pub const UNIT_TEMPLATE: &str = include_str!("../../deploy/sipguard.service");
/// `/etc/default/sipguard`, with `@IFACE@` to fill in.
pub const DEFAULTS_TEMPLATE: &str = include_str!("../../deploy/sipguard.default");
/// A Grafana dashboard for the exported metrics.
pub const GRAFANA_DASHBOARD: &str = include_str!("../../deploy/grafana-sipguard.json");
/// The commented example with every section.
pub const EXAMPLE_CONFIG: &str = include_str!("../../examples/sipguard.toml");

/// The policy file, in both layouts.
pub const CONFIG: &str = "/etc/sipguard/sipguard.toml";
/// The unit's environment file (`SIPGUARD_IFACE`, `SIPGUARD_OPTS`), in both layouts.
pub const DEFAULTS: &str = "/etc/default/sipguard";

/// Where the files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub bin: &'static str,
    pub unit: &'static str,
    pub example: &'static str,
    pub dashboard: &'static str,
}

/// `sipguard install` on a host: what the admin installs by hand lives under /usr/local and
/// /etc/systemd/system, out of the package manager's way.
pub const LOCAL: Layout = Layout {
    bin: "/usr/local/sbin/sipguard",
    unit: "/etc/systemd/system/sipguard.service",
    example: "/etc/sipguard/sipguard.example.toml",
    dashboard: "/usr/local/share/sipguard/grafana-sipguard.json",
};

/// The Debian package: the distribution's paths (the unit in /usr/lib so that an admin's
/// override in /etc/systemd/system wins).
pub const DEBIAN: Layout = Layout {
    bin: "/usr/sbin/sipguard",
    unit: "/usr/lib/systemd/system/sipguard.service",
    example: "/usr/share/doc/sipguard/examples/sipguard.toml",
    dashboard: "/usr/share/sipguard/grafana-sipguard.json",
};

/// The unit for `layout`.
pub fn unit(layout: &Layout) -> String {
    UNIT_TEMPLATE
        .replace("@BIN@", layout.bin)
        .replace("@CONFIG@", CONFIG)
        .replace("@DEFAULTS@", DEFAULTS)
}

/// A fresh defaults file naming `iface` (empty: not configured yet).
pub fn defaults(iface: &str) -> String {
    DEFAULTS_TEMPLATE.replace("@IFACE@", iface)
}

/// `text` (a defaults file) with its `SIPGUARD_IFACE=` line set to `iface`, every other line
/// (the admin's options and comments) kept.
pub fn set_iface(text: &str, iface: &str) -> String {
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("SIPGUARD_IFACE=") {
                found = true;
                format!("SIPGUARD_IFACE={iface}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if !found {
        out.push(format!("SIPGUARD_IFACE={iface}"));
    }
    out.join("\n") + "\n"
}

/// Refuses what is not an interface name, or several separated by commas (`run --iface`
/// takes that list): it lands in a shell-sourced file and a unit.
pub fn check_iface_name(iface: &str) -> Result<(), HostError> {
    let one = |name: &str| {
        !name.is_empty()
            && name.len() <= 15
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
    };
    let ok = iface.split(',').all(one);
    if ok {
        Ok(())
    } else {
        Err(HostError::NotAnInterfaceName {
            iface: iface.to_owned(),
        })
    }
}

/// Writes files under a root, collecting one line per file.
struct Writer<'a> {
    root: &'a Path,
    done: Vec<String>,
}

impl Writer<'_> {
    fn at(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn parent_of(&self, p: &Path) -> Result<(), HostError> {
        match p.parent() {
            Some(dir) => std::fs::create_dir_all(dir)
                .map_err(HostError::io(format!("creating {}", dir.display()))),
            None => Ok(()),
        }
    }

    fn write(&mut self, path: &str, text: &str) -> Result<(), HostError> {
        let p = self.at(path);
        self.parent_of(&p)?;
        std::fs::write(&p, text).map_err(HostError::io(format!("writing {}", p.display())))?;
        self.done.push(format!("wrote {}", p.display()));
        Ok(())
    }

    /// Copies `exe` to `path` through a temporary name: a running daemon keeps its old binary
    /// until restarted.
    fn copy_binary(&mut self, exe: &Path, path: &str) -> Result<(), HostError> {
        let bin = self.at(path);
        self.parent_of(&bin)?;
        if std::fs::canonicalize(exe).ok() == std::fs::canonicalize(&bin).ok() {
            return Ok(());
        }
        let tmp = bin.with_extension("new");
        std::fs::copy(exe, &tmp).map_err(HostError::io(format!("copying {}", exe.display())))?;
        std::fs::rename(&tmp, &bin)
            .map_err(HostError::io(format!("installing {}", bin.display())))?;
        self.done.push(format!("wrote {}", bin.display()));
        Ok(())
    }

    /// The admin's policy is validated, never replaced.
    fn config(&mut self) -> Result<(), HostError> {
        let config = self.at(CONFIG);
        if config.exists() {
            Config::from_file(&config)?;
            self.done.push(format!("kept {} (valid)", config.display()));
            Ok(())
        } else {
            self.write(CONFIG, crate::config::DEFAULT_CONFIG)
        }
    }

    /// The defaults file: `iface` set in it (the rest of an existing file kept), or without
    /// `iface` an existing file kept and a missing one written unconfigured.
    fn defaults(&mut self, iface: Option<&str>) -> Result<(), HostError> {
        let p = self.at(DEFAULTS);
        let old = match std::fs::read_to_string(&p) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(HostError::io(format!("reading {}", p.display()))(e)),
        };
        match (old, iface) {
            (None, iface) => self.write(DEFAULTS, &defaults(iface.unwrap_or(""))),
            (Some(old), Some(iface)) => self.write(DEFAULTS, &set_iface(&old, iface)),
            (Some(_), None) => {
                self.done.push(format!("kept {}", p.display()));
                Ok(())
            }
        }
    }
}

/// Installs `layout` under `root`, copying the running binary `exe`; `iface` goes into the
/// defaults file (a package leaves it out: the admin names the interface). Returns one line
/// per file: what was written or kept.
pub fn install(
    root: &Path,
    layout: &Layout,
    iface: Option<&str>,
    exe: &Path,
) -> Result<Vec<String>, HostError> {
    if let Some(iface) = iface {
        check_iface_name(iface)?;
    }
    let mut w = Writer {
        root,
        done: Vec::new(),
    };
    w.copy_binary(exe, layout.bin)?;
    w.config()?;
    w.defaults(iface)?;
    w.write(layout.example, EXAMPLE_CONFIG)?;
    w.write(layout.unit, &unit(layout))?;
    w.write(layout.dashboard, GRAFANA_DASHBOARD)?;
    Ok(w.done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_the_installed_binary_on_the_configured_interface_and_reloads_by_validating() {
        for layout in [LOCAL, DEBIAN] {
            let unit = unit(&layout);
            assert!(unit.contains(&format!(
                "ExecStart={} run --iface ${{SIPGUARD_IFACE}} --config /etc/sipguard/sipguard.toml",
                layout.bin
            )));
            assert!(unit.contains("EnvironmentFile=/etc/default/sipguard\n"));
            assert!(unit.contains(&format!("ExecReload={} reload", layout.bin)));
            assert!(!unit.contains('@'), "every placeholder filled:\n{unit}");
        }
    }

    #[test]
    fn the_defaults_file_names_the_interface_and_keeps_the_admins_options() {
        assert!(defaults("").contains("\nSIPGUARD_IFACE=\n"));
        let text = defaults("eth0");
        assert!(text.contains("\nSIPGUARD_IFACE=eth0\n"));
        let edited = text.replace("SIPGUARD_OPTS=\"\"", "SIPGUARD_OPTS=\"--watch\"");
        let moved = set_iface(&edited, "ens3");
        assert!(moved.contains("\nSIPGUARD_IFACE=ens3\n"));
        assert!(moved.contains("SIPGUARD_OPTS=\"--watch\""));
        assert_eq!(set_iface("", "eth1"), "SIPGUARD_IFACE=eth1\n");
    }

    #[test]
    fn an_interface_list_is_names_separated_by_commas() {
        assert!(check_iface_name("eth0").is_ok());
        assert!(check_iface_name("wan0,wan1").is_ok());
        for bad in [
            "",
            "wan0,",
            ",wan0",
            "wan0 wan1",
            "wan0;reboot",
            "a-name-too-long-x",
        ] {
            assert!(check_iface_name(bad).is_err(), "{bad:?}");
        }
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

    fn temp_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("sipguard-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn install_writes_everything_and_keeps_an_existing_config() {
        let root = temp_root("install");
        let exe = std::env::current_exe().unwrap();
        let done = install(&root, &LOCAL, Some("eth0"), &exe).unwrap();
        assert_eq!(done.len(), 6, "{done:?}");
        for path in [
            LOCAL.bin,
            CONFIG,
            DEFAULTS,
            LOCAL.example,
            LOCAL.unit,
            LOCAL.dashboard,
        ] {
            assert!(root.join(&path[1..]).is_file(), "{path}");
        }
        let config = root.join(&CONFIG[1..]);
        std::fs::write(&config, "[global]\ndefault = \"pass\"\n").unwrap();
        let done = install(&root, &LOCAL, Some("eth1"), &exe).unwrap();
        assert!(done.iter().any(|l| l.starts_with("kept")), "{done:?}");
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            "[global]\ndefault = \"pass\"\n"
        );
        let defaults = std::fs::read_to_string(root.join(&DEFAULTS[1..])).unwrap();
        assert!(defaults.contains("\nSIPGUARD_IFACE=eth1\n"), "{defaults}");
        // A broken one is reported, not replaced.
        std::fs::write(&config, "[global]\ndefault = \"sometimes\"\n").unwrap();
        assert!(install(&root, &LOCAL, Some("eth0"), &exe).is_err());
        assert!(install(&root, &LOCAL, Some("eth0; rm -rf /"), &exe).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_debian_layout_leaves_the_interface_to_the_admin() {
        let root = temp_root("debian");
        let exe = std::env::current_exe().unwrap();
        install(&root, &DEBIAN, None, &exe).unwrap();
        for path in [
            DEBIAN.bin,
            CONFIG,
            DEFAULTS,
            DEBIAN.example,
            DEBIAN.unit,
            DEBIAN.dashboard,
        ] {
            assert!(root.join(&path[1..]).is_file(), "{path}");
        }
        let defaults = std::fs::read_to_string(root.join(&DEFAULTS[1..])).unwrap();
        assert!(defaults.contains("\nSIPGUARD_IFACE=\n"), "{defaults}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}

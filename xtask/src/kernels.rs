//! Debian's kernels for the test matrix: fetched with apt from the archives the machine's own
//! apt configuration uses, through a private apt state (own sources list, lists and cache) so
//! the machine's lists stay as they are, unpacked into `~/.cache/sipguard/kernels/`
//! (`$SIPGUARD_KERNEL_CACHE` overrides it), with their modules in `/lib/modules/VERSION`
//! where virtme-ng looks for them. Everything is cached: a ready machine pays a few checks
//! and a refresh of the package lists at most once a day.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime},
};

use anyhow::{bail, Context, Result};

use crate::{run, setup::output};

/// One Debian kernel series of the matrix: the packages are named
/// `{prefix}{N}{suffix}` with a number N that grows with each ABI bump.
#[derive(Debug, PartialEq, Eq)]
pub struct Series {
    /// What `--kernels` calls it, e.g. `6.1`.
    pub label: &'static str,
    prefix: &'static str,
    suffix: &'static str,
}

/// Debian 11, 12 and 13's kernels (the PBXs this product protects run them).
pub const SERIES: &[Series] = &[
    Series {
        label: "5.10",
        prefix: "linux-image-5.10.0-",
        suffix: "-amd64-unsigned",
    },
    Series {
        label: "6.1",
        prefix: "linux-image-6.1.0-",
        suffix: "-amd64-unsigned",
    },
    Series {
        label: "6.12",
        prefix: "linux-image-6.12.",
        suffix: "+deb13-amd64-unsigned",
    },
];

/// Suites of the main archive and of the security archive that carry those kernels.
const MAIN_SUITES: &[&str] = &["bullseye", "bookworm", "trixie"];
const SECURITY_SUITES: &[&str] = &["bullseye-security", "bookworm-security"];
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// How old the private package lists may get before `apt-get update` runs again.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// A kernel ready to boot: its image, and its modules in `/lib/modules/{version}`.
pub struct Kernel {
    pub label: &'static str,
    /// `uname -r` of the kernel, e.g. `6.1.0-57-amd64`.
    pub version: String,
    pub vmlinuz: PathBuf,
}

/// Makes the newest kernel of each series present and returns them in the same order.
pub fn fetch(series: &[&'static Series]) -> Result<Vec<Kernel>> {
    let cache = cache_dir()?;
    let apt = AptState::new(&cache.join("apt"))?;
    apt.refresh()?;
    let names = output(apt.command("apt-cache").args(["pkgnames", "linux-image-"]))?;
    series
        .iter()
        .map(|s| {
            let package = newest_package(&names, s).with_context(|| {
                format!(
                    "no {}N{} package in the Debian archive's lists",
                    s.prefix, s.suffix
                )
            })?;
            prepare(&apt, &cache, s.label, &package)
        })
        .collect()
}

/// `$SIPGUARD_KERNEL_CACHE`, else `~/.cache/sipguard/kernels`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SIPGUARD_KERNEL_CACHE") {
        return Ok(dir.into());
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/sipguard/kernels"))
}

/// The newest package of `series` among `names` (one package name a line), by its number.
fn newest_package(names: &str, series: &Series) -> Option<String> {
    names
        .lines()
        .map(str::trim)
        .filter_map(|name| {
            let n = name
                .strip_prefix(series.prefix)?
                .strip_suffix(series.suffix)?;
            let n: u64 = n.parse().ok()?;
            Some((n, name))
        })
        .max()
        .map(|(_, name)| name.to_owned())
}

/// The kernel of `package`: downloaded, unpacked and its modules installed unless that was
/// done before.
fn prepare(apt: &AptState, cache: &Path, label: &'static str, package: &str) -> Result<Kernel> {
    let version = package
        .strip_prefix("linux-image-")
        .and_then(|v| v.strip_suffix("-unsigned"))
        .with_context(|| format!("unexpected kernel package name {package}"))?
        .to_owned();
    // The image sits in a directory with no `lib/modules` of its own, so that virtme-ng
    // takes the modules from the guest's root, i.e. the host's /lib/modules.
    let dir = cache.join(&version);
    let kernel = Kernel {
        label,
        vmlinuz: dir.join(format!("vmlinuz-{version}")),
        version,
    };
    let modules = Path::new("/lib/modules").join(&kernel.version);
    // depmod runs last, so its output says the copy is whole.
    let modules_ready = modules.join("modules.dep").is_file() && modules.join("kernel").is_dir();
    if !kernel.vmlinuz.is_file() || !modules_ready {
        let deb = download(apt, &cache.join("debs"), package)?;
        let tree = dir.join("unpacked");
        unpack(&deb, &tree)?;
        if !modules_ready {
            install_modules(&tree, &kernel.version, &modules)?;
        }
        let image = tree
            .join("boot")
            .join(format!("vmlinuz-{}", kernel.version));
        fs::copy(&image, &kernel.vmlinuz).with_context(|| {
            format!(
                "copying {} to {}",
                image.display(),
                kernel.vmlinuz.display()
            )
        })?;
        fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
    }
    Ok(kernel)
}

/// The `.deb` of `package` in `debs`, downloaded if it is not there yet: into a scratch
/// directory first, so that an interrupted download leaves no truncated `.deb` behind.
fn download(apt: &AptState, debs: &Path, package: &str) -> Result<PathBuf> {
    let scratch = debs.join("partial");
    if scratch.exists() {
        fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    }
    fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    if let Some(deb) = find_deb(debs, package)? {
        return Ok(deb);
    }
    println!("xtask: downloading {package}");
    run(apt
        .command("apt-get")
        .args(["-q", "download", package])
        .current_dir(&scratch))?;
    let fetched = find_deb(&scratch, package)?.with_context(|| {
        format!(
            "apt-get download left no {package}_*.deb in {}",
            scratch.display()
        )
    })?;
    let deb = debs.join(fetched.file_name().context("a .deb without a file name")?);
    fs::rename(&fetched, &deb)
        .with_context(|| format!("moving {} to {}", fetched.display(), deb.display()))?;
    Ok(deb)
}

/// The `PACKAGE_*.deb` file in `dir`, if any.
fn find_deb(dir: &Path, package: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("{package}_");
    Ok(fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with(&prefix) && n.ends_with(".deb")
            })
        }))
}

/// `dpkg -x deb tree`, into an empty `tree`.
fn unpack(deb: &Path, tree: &Path) -> Result<()> {
    println!("xtask: unpacking {}", deb.display());
    if tree.exists() {
        fs::remove_dir_all(tree).with_context(|| format!("removing {}", tree.display()))?;
    }
    fs::create_dir_all(tree).with_context(|| format!("creating {}", tree.display()))?;
    let unpacked = run(Command::new("dpkg").arg("-x").arg(deb).arg(tree));
    if unpacked.is_err() {
        // A damaged download: fetch it again next time.
        let _ = fs::remove_file(deb);
    }
    unpacked
}

/// Copies the modules of `version` from the unpacked `tree` (`lib/modules` or
/// `usr/lib/modules`) to `modules`, then `depmod version`.
fn install_modules(tree: &Path, version: &str, modules: &Path) -> Result<()> {
    println!(
        "xtask: installing the modules of {version} in {}",
        modules.display()
    );
    let src = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| tree.join(d).join(version))
        .find(|d| d.is_dir())
        .with_context(|| format!("{} holds no modules of {version}", tree.display()))?;
    fs::create_dir_all(modules).with_context(|| format!("creating {}", modules.display()))?;
    run(Command::new("cp").arg("-a").arg(src.join(".")).arg(modules))?;
    run(Command::new("depmod").arg(version))
}

/// The archive URIs the machine's apt uses: the main one and, if configured, the security one.
#[derive(Debug, PartialEq, Eq)]
struct Archives {
    main: String,
    security: Option<String>,
}

/// Reads the archives from `/etc/apt/sources.list.d/*.sources` (deb822 `URIs:` lines) and
/// `/etc/apt/sources.list` (`deb URI SUITE ...` lines).
fn machine_archives() -> Result<Archives> {
    let mut uris = Vec::new();
    let parts = Path::new("/etc/apt/sources.list.d");
    let mut files: Vec<PathBuf> = fs::read_dir(parts)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "sources"));
    files.sort();
    for file in &files {
        let text =
            fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        uris.extend(deb822_uris(&text));
    }
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        uris.extend(one_line_uris(&text));
    }
    pick_archives(&uris).context(
        "found no Debian archive in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list",
    )
}

/// The URIs of the `Types: deb` stanzas of a deb822 sources file.
fn deb822_uris(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (key, value) = l.split_once(':')?;
                (!l.starts_with('#') && key.trim().eq_ignore_ascii_case(name)).then(|| value.trim())
            })
        };
        let enabled = field("Enabled").is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        if enabled && field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb")) {
            uris.extend(
                field("URIs")
                    .into_iter()
                    .flat_map(str::split_whitespace)
                    .map(String::from),
            );
        }
    }
    uris
}

/// The URIs of the `deb [options] URI SUITE ...` lines of a one-line sources list.
fn one_line_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("deb ")?.trim_start();
            let rest = match rest.strip_prefix('[') {
                Some(options) => options.split_once(']')?.1,
                None => rest,
            };
            rest.split_whitespace().next().map(String::from)
        })
        .collect()
}

/// The first URI not ending in `-security` is the main archive; the first that does, the
/// security archive.
fn pick_archives(uris: &[String]) -> Option<Archives> {
    let is_security = |u: &&String| u.trim_end_matches('/').ends_with("-security");
    let main = uris.iter().find(|u| !is_security(u))?.clone();
    let security = uris.iter().find(is_security).cloned();
    Some(Archives { main, security })
}

/// The private sources list: the kernels' suites on the machine's archives.
fn sources_list(archives: &Archives) -> String {
    let line = |uri: &str, suite: &str| format!("deb [signed-by={KEYRING}] {uri} {suite} main\n");
    let mut list: String = MAIN_SUITES
        .iter()
        .map(|s| line(&archives.main, s))
        .collect();
    if let Some(security) = &archives.security {
        list.extend(SECURITY_SUITES.iter().map(|s| line(security, s)));
    }
    list
}

/// apt's state for the kernels only: sources list, lists and cache under one directory.
struct AptState {
    sources: PathBuf,
    lists: PathBuf,
    cache: PathBuf,
}

impl AptState {
    /// Creates the directories and (re)writes the sources list from the machine's archives.
    fn new(dir: &Path) -> Result<Self> {
        let state = Self {
            sources: dir.join("sources.list"),
            lists: dir.join("lists"),
            cache: dir.join("cache"),
        };
        for d in [
            state.lists.join("partial"),
            state.cache.join("archives/partial"),
        ] {
            fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        let list = sources_list(&machine_archives()?);
        if fs::read_to_string(&state.sources).ok().as_deref() != Some(list.as_str()) {
            fs::write(&state.sources, &list)
                .with_context(|| format!("writing {}", state.sources.display()))?;
            // New sources: the lists must be fetched again.
            let _ = fs::remove_file(state.stamp());
        }
        Ok(state)
    }

    /// `program` (apt-get or apt-cache) with this state instead of the machine's.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let opt = |k: &str, v: &Path| format!("{k}={}", v.display());
        cmd.arg("-o")
            .arg(opt("Dir::Etc::sourcelist", &self.sources))
            .args(["-o", "Dir::Etc::sourceparts=-", "-o"])
            .arg(opt("Dir::State::Lists", &self.lists))
            .arg("-o")
            .arg(opt("Dir::Cache", &self.cache))
            // The private directories are root's; apt's `_apt` user could not write them.
            .args(["-o", "APT::Sandbox::User=root"]);
        cmd
    }

    /// Written after each successful `apt-get update`.
    fn stamp(&self) -> PathBuf {
        self.lists.join("xtask-updated")
    }

    /// `apt-get update` when the lists are missing or older than a day. A failed refresh
    /// with lists already present keeps using them.
    fn refresh(&self) -> Result<()> {
        let age = fs::metadata(self.stamp())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        if age.is_some_and(|a| a < LISTS_MAX_AGE) {
            return Ok(());
        }
        println!("xtask: refreshing the package lists of the kernel matrix");
        match run(self.command("apt-get").args(["-q", "update"])) {
            Ok(()) => fs::write(self.stamp(), "")
                .with_context(|| format!("writing {}", self.stamp().display())),
            Err(e) if age.is_some() => {
                println!("xtask: {e:#}; using the package lists of the last refresh");
                Ok(())
            }
            Err(e) => bail!("{e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_package_compares_numbers_and_skips_other_flavours() {
        let names = "linux-image-6.1.0-9-amd64-unsigned\n\
                     linux-image-6.1.0-57-amd64-unsigned\n\
                     linux-image-6.1.0-60-rt-amd64-unsigned\n\
                     linux-image-6.1.0-0.deb11.13-amd64-unsigned\n\
                     linux-image-6.12.117+deb13-amd64-unsigned\n\
                     linux-image-6.12.99+deb13-amd64-unsigned\n\
                     linux-image-6.12.120+deb13-cloud-amd64-unsigned\n\
                     linux-image-5.10.0-46-amd64-unsigned\n";
        let newest =
            |label| newest_package(names, SERIES.iter().find(|s| s.label == label).unwrap());
        assert_eq!(
            newest("6.1").as_deref(),
            Some("linux-image-6.1.0-57-amd64-unsigned")
        );
        assert_eq!(
            newest("6.12").as_deref(),
            Some("linux-image-6.12.117+deb13-amd64-unsigned")
        );
        assert_eq!(
            newest("5.10").as_deref(),
            Some("linux-image-5.10.0-46-amd64-unsigned")
        );
    }

    #[test]
    fn archives_come_from_deb822_and_one_line_sources() {
        let deb822 = "Types: deb\n# http://old.example/x\nURIs: http://archive.example/debian\n\
                      Suites: bookworm bookworm-updates\nComponents: main\n\n\
                      Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n\
                      Types: deb\nURIs: http://archive.example/debian-security/\n\
                      Suites: bookworm-security\nComponents: main\n";
        let one_line = "# deb http://commented.example/debian bookworm main\n\
                        deb [arch=amd64 signed-by=/k.gpg] http://other.example/debian bookworm main\n";
        let mut uris = deb822_uris(deb822);
        uris.extend(one_line_uris(one_line));
        assert_eq!(
            uris,
            [
                "http://archive.example/debian",
                "http://archive.example/debian-security/",
                "http://other.example/debian"
            ]
        );
        let archives = pick_archives(&uris).unwrap();
        assert_eq!(archives.main, "http://archive.example/debian");
        assert_eq!(
            archives.security.as_deref(),
            Some("http://archive.example/debian-security/")
        );
        let list = sources_list(&archives);
        assert!(list.starts_with(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://archive.example/debian bullseye main\n"
        ));
        assert_eq!(list.lines().count(), 5);
        assert!(list.contains("debian-security/ bookworm-security main"));
    }
}

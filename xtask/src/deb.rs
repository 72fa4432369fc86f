//! `cargo xtask deb`: a Debian package of the release build, with `dpkg-deb` only. The file
//! tree is what `sipguard install --layout debian` stages, so the unit, the defaults file, the
//! configs and the dashboard are the same texts a local install writes; the maintainer
//! scripts and the copyright live in `sipguard/deploy/debian/`.

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::{describe, run, walk};

/// Files dpkg keeps (and asks about) when the admin changed them.
const CONFFILES: &[&str] = &["/etc/default/sipguard", "/etc/sipguard/sipguard.toml"];
/// Maintainer scripts, from `sipguard/deploy/debian/`.
const SCRIPTS: &[&str] = &["postinst", "prerm", "postrm"];
/// `ip -j link show` backs `sipguard status` and the XDP mode checks.
const EXTRA_DEPENDS: &str = "iproute2";
const MAINTAINER: &str = "sipguard developers <sipguard@example.invalid>";
const DESCRIPTION: &str = "\
Description: XDP firewall for VoIP phone systems
 sipguard protects PBXs (Asterisk, FreePBX, Kamailio, FreeSWITCH) in the kernel:
 an XDP program on the PBX's NIC applies per-service allow lists of source
 CIDRs, a global deny list, bans and a default policy, with SIP-aware rate
 limits per source, scanner fingerprints, SYN/ICMP flood defences, and bans of
 password guessers from the PBX's own answers. Its counters are exported to
 Prometheus (a Grafana dashboard is included).
 .
 Set the interface in /etc/default/sipguard, adapt /etc/sipguard/sipguard.toml,
 then: systemctl enable --now sipguard.
";

/// Builds `target/debian/sipguard_<version>_<arch>.deb` from the release binary (built
/// already) and returns its path.
pub fn build(root: &Path) -> Result<PathBuf> {
    let bin = root.join("target/release/sipguard");
    let version = version(&bin)?;
    let arch = stdout(Command::new("dpkg").arg("--print-architecture"))?;
    let out_dir = root.join("target/debian");
    let stage = out_dir.join("stage");
    if stage.exists() {
        fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    }
    // Quiet: its "next: edit ..." advice is for an admin, not for a staging tree.
    stdout(
        Command::new(&bin)
            .args(["install", "--layout", "debian", "--root"])
            .arg(&stage),
    )?;
    run(Command::new("strip")
        .args(["--strip-unneeded", "--remove-section=.comment"])
        .arg(stage.join("usr/sbin/sipguard")))?;
    docs(root, &stage, &version)?;
    normalize_modes(&stage)?;
    let depends = depends(&stage.join("usr/sbin/sipguard"))?;
    control(root, &stage, &version, &arch, &depends)?;
    let deb = out_dir.join(format!("sipguard_{version}_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group", "-Zxz"])
        .arg(&stage)
        .arg(&deb))?;
    Ok(deb)
}

/// The package version: the binary's own (`sipguard 0.1.0`), i.e. the workspace version.
fn version(bin: &Path) -> Result<String> {
    let out = stdout(Command::new(bin).arg("--version"))?;
    let version = out
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("`sipguard --version` printed {out:?}"))?;
    Ok(version.to_owned())
}

/// Trimmed stdout of `cmd`, which must succeed.
fn stdout(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}: {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// /usr/share/doc/sipguard: copyright, a Debian changelog (gzipped, as policy wants) and the
/// README (the admin's guide).
fn docs(root: &Path, stage: &Path, version: &str) -> Result<()> {
    let doc = stage.join("usr/share/doc/sipguard");
    fs::create_dir_all(&doc).with_context(|| format!("creating {}", doc.display()))?;
    copy(
        &root.join("sipguard/deploy/debian/copyright"),
        &doc.join("copyright"),
    )?;
    copy(&root.join("README.md"), &doc.join("README.md"))?;
    let changelog = format!(
        "sipguard ({version}) unstable; urgency=medium\n\n  * Built by `cargo xtask deb` from the \
         sipguard source tree.\n\n -- {MAINTAINER}  {}\n",
        changelog_date(root)?
    );
    let gz = doc.join("changelog.gz");
    let plain = doc.join("changelog");
    fs::write(&plain, changelog).with_context(|| format!("writing {}", plain.display()))?;
    // -n: no name or time stamp in the header, so the same tree gives the same bytes.
    run(Command::new("gzip").args(["-9nf"]).arg(&plain))?;
    anyhow::ensure!(gz.is_file(), "gzip did not write {}", gz.display());
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// RFC 2822 date of `SOURCE_DATE_EPOCH`, else of the last commit (reproducible), else now.
fn changelog_date(root: &Path) -> Result<String> {
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(e) => e,
        Err(_) => {
            stdout(
                Command::new("git")
                    .arg("-C")
                    .arg(root)
                    .args(["log", "-1", "--format=%ct"]),
            )
            .unwrap_or_default()
        }
    };
    let mut date = Command::new("date");
    date.args(["-u", "-R"]);
    if !epoch.is_empty() {
        date.arg("-d").arg(format!("@{epoch}"));
    }
    stdout(&mut date)
}

/// 0755 for directories and the binary, 0644 for the rest, whatever the umask was.
fn normalize_modes(stage: &Path) -> Result<()> {
    let mut paths = Vec::new();
    walk(stage, &mut paths)?;
    for path in paths {
        let exec = path.is_dir() || path.ends_with("usr/sbin/sipguard");
        let mode = if exec { 0o755 } else { 0o644 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    Ok(())
}

/// The shared libraries' packages with their minimal versions (dpkg-shlibdeps, run in a
/// scratch tree because it wants a `debian/control`), plus iproute2.
fn depends(bin: &Path) -> Result<String> {
    let scratch = std::env::temp_dir().join(format!("sipguard-shlibdeps-{}", std::process::id()));
    fs::create_dir_all(scratch.join("debian")).context("creating a dpkg-shlibdeps scratch dir")?;
    fs::write(
        scratch.join("debian/control"),
        "Source: sipguard\n\nPackage: sipguard\nArchitecture: any\n",
    )?;
    let shlibs = stdout(
        Command::new("dpkg-shlibdeps")
            .current_dir(&scratch)
            .args(["-O", "-e"])
            .arg(bin),
    );
    let _ = fs::remove_dir_all(&scratch);
    let shlibs = shlibs?;
    let libs = shlibs
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .with_context(|| format!("dpkg-shlibdeps printed {shlibs:?}"))?;
    Ok(format!("{libs}, {EXTRA_DEPENDS}"))
}

/// Installed-Size in KiB, as dpkg-gencontrol counts it: each file rounded up, one per dir.
fn installed_size(stage: &Path) -> Result<u64> {
    let mut paths = Vec::new();
    walk(stage, &mut paths)?;
    let mut kib = 0;
    for path in paths
        .iter()
        .filter(|p| !p.starts_with(stage.join("DEBIAN")))
    {
        let meta = fs::symlink_metadata(path)?;
        kib += if meta.is_dir() {
            1
        } else {
            meta.len().div_ceil(1024)
        };
    }
    Ok(kib)
}

/// DEBIAN/: control, conffiles, md5sums and the maintainer scripts.
fn control(root: &Path, stage: &Path, version: &str, arch: &str, depends: &str) -> Result<()> {
    let meta = stage.join("DEBIAN");
    fs::create_dir_all(&meta).with_context(|| format!("creating {}", meta.display()))?;
    let control = format!(
        "Package: sipguard\nVersion: {version}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\n\
         Installed-Size: {}\nDepends: {depends}\nSection: net\nPriority: optional\n\
         Homepage: https://github.com/sipguard/sipguard\n{DESCRIPTION}",
        installed_size(stage)?
    );
    write(&meta.join("control"), &control, 0o644)?;
    write(
        &meta.join("conffiles"),
        &(CONFFILES.join("\n") + "\n"),
        0o644,
    )?;
    write(&meta.join("md5sums"), &md5sums(stage)?, 0o644)?;
    for script in SCRIPTS {
        let text = fs::read_to_string(root.join("sipguard/deploy/debian").join(script))
            .with_context(|| format!("reading the {script} script"))?;
        write(&meta.join(script), &text, 0o755)?;
    }
    Ok(())
}

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// `md5sum` lines for every file outside DEBIAN/, paths relative to the root as dpkg wants.
fn md5sums(stage: &Path) -> Result<String> {
    let mut paths = Vec::new();
    walk(stage, &mut paths)?;
    let mut files: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| p.is_file() && !p.starts_with(stage.join("DEBIAN")))
        .filter_map(|p| p.strip_prefix(stage).ok().map(Path::to_path_buf))
        .collect();
    files.sort();
    stdout(Command::new("md5sum").current_dir(stage).args(&files)).map(|s| s + "\n")
}

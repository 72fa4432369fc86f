//! Makes the eBPF toolchain and the test packages present. Every step checks first and
//! prints only what it installs, so a ready machine pays a few fast checks.

use std::{
    env,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};

use crate::{as_root, describe, run};

/// Debian packages the tests and the demo need.
const APT_PACKAGES: &[&str] = &[
    "iproute2",
    "iputils-ping",
    "ethtool",
    "tcpdump",
    // Floods in the end-to-end tests.
    "hping3",
    // The real-tools tests: Kamailio as the PBX, sipp as phones and flood generator.
    "kamailio",
    "sip-tester",
    // A real Prometheus server scrapes the daemon in an end-to-end test.
    "prometheus",
    // The benchmark's side-by-side rulesets, checked against the policy by a test.
    "iptables",
    "nftables",
];

/// Debian packages only `cargo xtask bench` needs: the filters sipguard is compared with
/// (iptables with fail2ban, nftables) and the charts (Debian's python3 with matplotlib).
const BENCH_APT_PACKAGES: &[&str] = &["iptables", "nftables", "fail2ban", "python3-matplotlib"];

/// PyPI packages the tests need (installed with `python3 -m pip`).
/// The real-tools tests' attacker: svmap, svwar, svcrack (the version they were written for).
const PYPI_PACKAGES: &[&str] = &["sipvicious==0.3.8"];

/// Debian packages the kernel matrix needs: qemu (TCG), depmod for the Debian kernels'
/// modules, and the static busybox virtme-ng puts in its initramfs.
const MATRIX_APT_PACKAGES: &[&str] = &["qemu-system-x86", "kmod", "busybox-static"];

/// PyPI packages the kernel matrix needs: virtme-ng's `vng` boots the kernels.
const MATRIX_PYPI_PACKAGES: &[&str] = &["virtme-ng==1.42"];

/// bpf-linker release built against nightly's LLVM (the version verified in TOOLCHAIN.md).
const BPF_LINKER_VERSION: &str = "0.13.0";

/// cargo-fuzz, the fuzz step's driver (`cargo xtask fuzz`), installed from crates.io.
const CARGO_FUZZ_VERSION: &str = "0.13.1";

/// Where `$HOME/.cargo/bin` lives (`$CARGO_HOME/bin` if set).
fn cargo_bin() -> Result<PathBuf> {
    match env::var_os("CARGO_HOME") {
        Some(home) => Ok(PathBuf::from(home).join("bin")),
        None => Ok(home()?.join(".cargo/bin")),
    }
}

fn home() -> Result<PathBuf> {
    env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")
}

/// Prepends the cargo bin dir to PATH for all children: aya-build (sipguard's build.rs) looks
/// up `bpf-linker` and `rustup` there.
pub fn put_cargo_bin_on_path() -> Result<()> {
    let bin = cargo_bin()?;
    let old = env::var_os("PATH").unwrap_or_default();
    if env::split_paths(&old).any(|p| p == bin) {
        return Ok(());
    }
    let path = env::join_paths(std::iter::once(bin).chain(env::split_paths(&old)))
        .context("building PATH")?;
    // Single-threaded here, before any child starts.
    env::set_var("PATH", path);
    Ok(())
}

/// The first executable called `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Whether the effective user is root (from /proc/self/status).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let uid = s.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            Some(uid.split_whitespace().nth(1)? == "0")
        })
        .unwrap_or(false)
}

/// Stdout of `cmd`, which must succeed.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!("`{}` failed: {}", describe(cmd), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `cmd` runs and exits 0, with its output discarded.
fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn rustup() -> Command {
    Command::new("rustup")
}

/// Nightly with rust-src, and a bpf-linker that runs.
pub fn toolchain() -> Result<()> {
    let toolchains = output(rustup().args(["toolchain", "list"]))?;
    let has_nightly = toolchains
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|t| {
            t == "nightly"
                || t.strip_prefix("nightly-")
                    .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
        });
    if !has_nightly {
        println!("xtask: installing the nightly Rust toolchain");
        run(rustup().args(["toolchain", "install", "nightly", "--profile", "minimal"]))?;
    }
    let components =
        output(rustup().args(["component", "list", "--toolchain", "nightly", "--installed"]))?;
    if !components.lines().any(|l| l.starts_with("rust-src")) {
        println!("xtask: installing rust-src for nightly");
        run(rustup().args(["component", "add", "rust-src", "--toolchain", "nightly"]))?;
    }
    if !succeeds(Command::new("bpf-linker").arg("--version")) {
        build_bpf_linker()?;
    }
    Ok(())
}

/// rustfmt and clippy for both toolchains: `cargo xtask lint` formats with nightly's rustfmt
/// (rustfmt.toml's import options are unstable) and lints the eBPF crate with nightly's clippy.
pub fn lint_components() -> Result<()> {
    for toolchain in ["stable", "nightly"] {
        let installed =
            output(rustup().args(["component", "list", "--toolchain", toolchain, "--installed"]))?;
        for component in ["rustfmt", "clippy"] {
            if !installed.lines().any(|l| l.starts_with(component)) {
                println!("xtask: installing {component} for {toolchain}");
                run(rustup().args(["component", "add", component, "--toolchain", toolchain]))?;
            }
        }
    }
    Ok(())
}

/// Builds bpf-linker against nightly rustc's own libLLVM, per TOOLCHAIN.md: symlinks to that
/// library in a stable prefix (the binary's RUNPATH), then `cargo +nightly install`.
fn build_bpf_linker() -> Result<()> {
    if find_on_path("bpf-linker").is_some() {
        println!(
            "xtask: bpf-linker is installed but does not run (nightly's LLVM changed?): rebuilding"
        );
    }
    println!("xtask: building bpf-linker {BPF_LINKER_VERSION} against nightly's LLVM (takes ~2-3 minutes)");
    let sysroot = output(rustup().args(["run", "nightly", "rustc", "--print", "sysroot"]))?;
    let sysroot_lib = Path::new(sysroot.trim()).join("lib");
    let lib = fs::read_dir(&sysroot_lib)
        .with_context(|| format!("reading {}", sysroot_lib.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .map(|n| n.to_string_lossy().into_owned())
        .find(|n| n.starts_with("libLLVM.so.") && n.contains("-rust-"))
        .with_context(|| format!("no libLLVM.so.*-rust-* in {}", sysroot_lib.display()))?;
    // libLLVM.so.22.1-rust-1.97.0-nightly -> llvm-22
    let major: String = lib["libLLVM.so.".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();

    let prefix = home()?.join(".cache/sipguard/llvm");
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib)
        .with_context(|| format!("creating {}", prefix_lib.display()))?;
    for name in ["libLLVM.so", lib.as_str()] {
        let link = prefix_lib.join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(sysroot_lib.join(&lib), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    run(rustup()
        .args([
            "run",
            "nightly",
            "cargo",
            "install",
            "bpf-linker",
            "--locked",
            "--force",
        ])
        .args([
            "--version",
            BPF_LINKER_VERSION,
            "--no-default-features",
            "--features",
        ])
        .arg(format!("llvm-{major}"))
        .env("LLVM_PREFIX", &prefix))?;
    if !succeeds(Command::new("bpf-linker").arg("--version")) {
        bail!("bpf-linker was installed but `bpf-linker --version` still fails");
    }
    Ok(())
}

/// cargo-fuzz at [`CARGO_FUZZ_VERSION`] (built with stable cargo, about 30 s), and the C++
/// compiler libfuzzer-sys builds libFuzzer with. The fuzz build itself uses nightly, which
/// [`toolchain`] installs.
pub fn cargo_fuzz() -> Result<()> {
    if find_on_path("c++").is_none() {
        apt_install(&["g++"])?;
    }
    let version = Command::new("cargo-fuzz")
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    // `cargo-fuzz 0.13.1`
    if version.is_some_and(|v| v.split_whitespace().nth(1) == Some(CARGO_FUZZ_VERSION)) {
        return Ok(());
    }
    println!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION}");
    run(
        Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into())).args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--force",
            "--version",
            CARGO_FUZZ_VERSION,
        ]),
    )
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.ends_with(b"install ok installed"))
}

fn apt_install(missing: &[&str]) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    println!("xtask: installing Debian packages: {}", missing.join(" "));
    run(as_root("apt-get")?.args(["update", "-q"]))?;
    run(as_root("apt-get")?
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(missing))
}

/// What `cargo xtask bench` needs beyond the tests' packages.
pub fn bench_deps() -> Result<()> {
    let missing: Vec<&str> = BENCH_APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
    apt_install(&missing)
}

/// `python3 -m pip`, allowed to install next to Debian's packages.
fn pip() -> Command {
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pip"])
        .env("PIP_BREAK_SYSTEM_PACKAGES", "1");
    cmd
}

/// Installs those of `packages` (`name==version`) that pip doesn't show in that version.
fn pip_install_missing(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            let (name, version) = p.split_once("==").unwrap_or((p, ""));
            let shown = pip().args(["show", name]).output();
            !matches!(shown, Ok(o) if o.status.success()
                && String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == format!("Version: {version}") || version.is_empty()))
        })
        .collect();
    if !missing.is_empty() {
        println!("xtask: installing PyPI packages: {}", missing.join(" "));
        run(pip().args(["install", "-q"]).args(&missing))?;
    }
    Ok(())
}

/// Those of `apt` that are not installed, plus python3-pip when `pypi` needs it and pip is
/// missing.
fn missing_apt(apt: &[&'static str], pypi: &[&str]) -> Vec<&'static str> {
    let mut missing: Vec<&str> = apt.iter().copied().filter(|p| !installed(p)).collect();
    if !pypi.is_empty() && !succeeds(pip().arg("--version")) && !installed("python3-pip") {
        missing.push("python3-pip");
    }
    missing
}

/// Where Debian's crowdsec is unpacked for the fleet tests (`tests/src/crowdsec.rs` looks
/// there): its post-install script registers with the Central API, which a test machine can't
/// reach, so the package is downloaded and unpacked (`dpkg -x`), never installed.
const CROWDSEC_CACHE: &str = "/var/cache/sipguard-test-deps";

/// Debian's crowdsec (the LAPI and cscli) unpacked into [`CROWDSEC_CACHE`]/crowdsec, unless
/// it is installed already.
fn crowdsec() -> Result<()> {
    let cache = Path::new(CROWDSEC_CACHE);
    let unpacked = cache.join("crowdsec/usr/bin");
    if Path::new("/usr/bin/crowdsec").is_file() && Path::new("/usr/bin/cscli").is_file()
        || unpacked.join("crowdsec").is_file() && unpacked.join("cscli").is_file()
    {
        return Ok(());
    }
    println!(
        "xtask: unpacking Debian's crowdsec into {}",
        cache.display()
    );
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    run(as_root("apt-get")?.args(["update", "-q"]))?;
    run(as_root("apt-get")?
        .args(["download", "-q", "crowdsec"])
        .current_dir(cache))?;
    let deb = fs::read_dir(cache)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("crowdsec_"))
        })
        .context("apt-get download crowdsec left no .deb")?;
    run(as_root("dpkg")?
        .arg("-x")
        .arg(&deb)
        .arg(cache.join("crowdsec")))
}

/// Debian and PyPI packages the tests need, and bpffs on /sys/fs/bpf.
pub fn test_deps() -> Result<()> {
    apt_install(&missing_apt(APT_PACKAGES, PYPI_PACKAGES))?;
    crowdsec()?;
    pip_install_missing(PYPI_PACKAGES)?;
    if is_root() && !bpffs_mounted() {
        println!("xtask: mounting bpffs on /sys/fs/bpf");
        run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))?;
    }
    Ok(())
}

/// What booting other kernels under qemu needs (see `kernels.rs`): qemu, kmod, a static
/// busybox and virtme-ng. Returns the path of virtme-ng's `vng`.
pub fn matrix_deps() -> Result<PathBuf> {
    apt_install(&missing_apt(MATRIX_APT_PACKAGES, MATRIX_PYPI_PACKAGES))?;
    pip_install_missing(MATRIX_PYPI_PACKAGES)?;
    vng()
}

/// virtme-ng's `vng` script: in the scripts directory of the python3 pip installs for
/// (pyenv's shims are not on every PATH), else the first on PATH.
fn vng() -> Result<PathBuf> {
    let scripts = output(Command::new("python3").args([
        "-c",
        "import sysconfig; print(sysconfig.get_path('scripts'))",
    ]))?;
    let beside_python = Path::new(scripts.trim()).join("vng");
    if beside_python.is_file() {
        return Ok(beside_python);
    }
    find_on_path("vng").context("virtme-ng is installed but its `vng` script was not found")
}

fn bpffs_mounted() -> bool {
    fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"/sys/fs/bpf") && f.get(2) == Some(&"bpf")
        })
    })
}

/// Removes what killed test runs left behind: `sgt-*` network namespaces (and processes still
/// inside them) and `/sys/fs/bpf/sipguard-test-*` pin directories.
pub fn remove_stale_test_leftovers() -> Result<()> {
    let list = output(Command::new("ip").args(["netns", "list"]))?;
    for ns in list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("sgt-"))
    {
        println!("xtask: removing stale test namespace {ns}");
        let pids = output(Command::new("ip").args(["netns", "pids", ns])).unwrap_or_default();
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        run(Command::new("ip").args(["netns", "delete", ns]))?;
    }
    let Ok(entries) = fs::read_dir("/sys/fs/bpf") else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        let name: OsString = entry.file_name();
        if name.to_string_lossy().starts_with("sipguard-test-") {
            println!(
                "xtask: removing stale pin directory {}",
                entry.path().display()
            );
            fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

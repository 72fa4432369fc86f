//! Builds the XDP program (`sipguard-ebpf`) for bpfel-unknown-none with the nightly toolchain and
//! bpf-linker (aya-template's shape); `src/dataplane/object.rs` embeds the object. `cargo xtask
//! setup` installs both.
//!
//! Without the `ebpf` feature (the fuzz crate's build, under nightly with sanitizers, which
//! never loads a program) the object is an empty file: nothing of the eBPF toolchain runs.

#[cfg(feature = "ebpf")]
fn main() -> aya_build::Result<()> {
    use std::path::PathBuf;

    use aya_build::{Package, Toolchain};

    let root_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sipguard-ebpf");
    let root_dir = root_dir
        .to_str()
        .expect("workspace path is UTF-8")
        .to_owned();
    aya_build::build_ebpf(
        [Package {
            name: "sipguard-ebpf",
            root_dir: &root_dir,
            ..Default::default()
        }],
        Toolchain::default(),
    )
}

#[cfg(not(feature = "ebpf"))]
fn main() -> std::io::Result<()> {
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    std::fs::write(std::path::Path::new(&out_dir).join("sipguard-xdp"), [])
}

//! Builds the XDP program (`sipguard-ebpf`) for bpfel-unknown-none with the nightly toolchain and
//! bpf-linker (aya-template's shape); `src/dataplane/object.rs` embeds the object. `cargo xtask
//! setup` installs both.
use std::path::PathBuf;

use aya_build::{Package, Toolchain};

fn main() -> aya_build::Result<()> {
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

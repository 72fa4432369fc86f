//! `sipguard install`: systemd files onto this host or a staging root (see
//! [`sipguard::host::install`]).
use std::path::Path;

use anyhow::Context as _;
use sipguard::host::install::{self as inst, DEBIAN, LOCAL};

use super::require_root;
use crate::args::{InstallArgs, InstallLayout};

pub fn run(args: &InstallArgs) -> anyhow::Result<()> {
    // Staging under another root needs no privileges.
    if args.root == Path::new("/") {
        require_root("sipguard install")?;
    }
    let layout = match args.layout {
        Some(InstallLayout::Debian) => &DEBIAN,
        Some(InstallLayout::Local) | None => &LOCAL,
    };
    let iface = args.iface.as_deref();
    anyhow::ensure!(
        iface.is_some() || layout == &DEBIAN,
        "--iface: a local install needs the interface to protect"
    );
    let exe = std::env::current_exe().context("finding this binary")?;
    for line in inst::install(&args.root, layout, iface, &exe)? {
        println!("{line}");
    }
    println!(
        "next: edit {} (and SIPGUARD_IFACE in {}), then `systemctl daemon-reload && systemctl \
         enable --now sipguard`",
        inst::CONFIG,
        inst::DEFAULTS
    );
    Ok(())
}

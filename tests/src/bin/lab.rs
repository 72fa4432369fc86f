//! `cargo xtask lab`: a throwaway VoIP lab in network namespaces (Kamailio with digest auth,
//! sipp phones, an attacker with SIPVicious, sipp and hping3), sipguard with its built-in
//! default on the PBX's interface, and a scripted attack timeline printed as a table as it
//! plays. With `--perimeter` the lab is routed: sipguard runs on a Linux router's outside
//! interface in front of the PBX (`--dnat`: the router DNATs a public address to the PBX).
//! Everything is removed at the end, also on Ctrl-C.
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use sipguard_tests::{
    daemon::Daemon,
    scenario::{self, Length},
    voip::{Nat, VoipLab},
};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("sipguard-lab [--short] [--perimeter [--dnat]] [--json FILE]");
        return Ok(());
    }
    let len = if args.iter().any(|a| a == "--short") {
        Length::SHORT
    } else {
        Length::FULL
    };
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    if !sipguard::host::is_root() {
        anyhow::bail!("the lab builds network namespaces and loads BPF programs: run it as root");
    }
    // Ctrl-C ends the timeline after the phase that is playing (its tools get the signal too),
    // and the lab is taken down on the way out.
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(on_interrupt),
            nix::sys::signal::SaFlags::SA_RESTART,
            nix::sys::signal::SigSet::empty(),
        );
        nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, &action)?;
    }
    let flag = |name: &str| args.iter().any(|a| a == name);
    println!("building the lab: PBX (Kamailio, digest auth), phones (sipp), attacker (SIPVicious, sipp, hping3)");
    let mut lab = if flag("--perimeter") {
        let nat = if flag("--dnat") { Nat::Dnat } else { Nat::None };
        println!(
            "routed: phones and attacker outside, a Linux router (forwarding{}) in front of the PBX",
            if nat == Nat::Dnat {
                ", DNAT from its public address to the PBX"
            } else {
                ""
            }
        );
        VoipLab::perimeter(nat)
    } else {
        VoipLab::new()
    }
    .context("building the lab")?;
    lab.start_kamailio()?;
    let (ns, iface) = lab.guard();
    let daemon = Daemon::start(ns, iface, 9477, &[])?;
    println!(
        "sipguard runs on {} {iface} with its built-in default; honest phones register and call \
         during every attack\n",
        if lab.perimeter.is_some() {
            "the router's outside interface"
        } else {
            "the PBX's"
        }
    );
    println!("{}", scenario::header());
    let phases = match scenario::run(&lab, &daemon, len, &STOP, |p| {
        println!("{}", scenario::row(p));
    }) {
        Ok(phases) => phases,
        // The tools of the phase that was playing got the Ctrl-C too.
        Err(e) if STOP.load(Ordering::Relaxed) => {
            println!("interrupted during a phase ({e:#})");
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let honest_ok: u64 = phases.iter().map(|p| p.honest_ok).sum();
    let honest_failed: u64 = phases.iter().map(|p| p.honest_failed).sum();
    println!(
        "\nhonest registrations and calls: {honest_ok} ok, {honest_failed} failed; attack packets \
         sent {}, reached the PBX {}",
        phases.iter().map(|p| p.sent).sum::<u64>(),
        phases.iter().map(|p| p.reached).sum::<u64>()
    );
    if STOP.load(Ordering::Relaxed) {
        println!("interrupted: taking the lab down");
    }
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&phases)?)
            .with_context(|| format!("writing {path}"))?;
        println!("JSON: {path}");
    }
    println!("removing the namespaces");
    Ok(())
}

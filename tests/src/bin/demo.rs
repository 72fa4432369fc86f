//! `cargo xtask run` without arguments: sipguard on a throwaway two-namespace network, with
//! traffic from an allowed office, an unknown host and a denied one, then what sipguard saw.
//! Everything it creates is removed at the end, also on failure.
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use anyhow::Context as _;
use sipguard_tests::{
    daemon::Daemon,
    netns::{metric, Lab, PBX_IF, PBX_V4, PBX_V6},
    policies::{TempFile, LAB},
    traffic::{send_udp, tcp_connects, TcpAcceptor, UdpCounter},
};

const OFFICE: &str = "192.0.2.10";
const OFFICE6: &str = "2001:db8:1::10";
const STRANGER: &str = "192.0.2.200";
const ATTACKER: &str = "192.0.2.250";

fn main() -> anyhow::Result<()> {
    if !sipguard::host::is_root() {
        anyhow::bail!("the demo creates network namespaces and attaches XDP: run it as root");
    }
    let ip = |s: &str| -> IpAddr { s.parse().expect("demo address") };
    println!("== sipguard demo: namespace 'pbx' (192.0.2.1, 2001:db8:1::1) behind XDP on pbx0,");
    println!("   namespace 'client' sending from office {OFFICE} / {OFFICE6}, stranger {STRANGER}, attacker {ATTACKER}\n");
    println!("policy:\n\n{LAB}");

    let lab = Lab::new(&[OFFICE, OFFICE6, STRANGER, ATTACKER])?;
    let config = TempFile::with_contents(LAB);
    let udp = UdpCounter::start(&lab.pbx, 5060)?;
    let tcp = TcpAcceptor::start(&lab.pbx, 22)?;
    let daemon = Daemon::start(&lab.pbx, PBX_IF, 9477, &["--config", config.as_str()])?;
    println!("sipguard is running on pbx0; metrics on 127.0.0.1:9477 inside the pbx namespace\n");

    let sip = SocketAddr::new(ip(PBX_V4), 5060);
    for src in [OFFICE, STRANGER, ATTACKER] {
        send_udp(
            &lab.client,
            ip(src),
            sip,
            10,
            b"REGISTER sip:pbx SIP/2.0\r\n\r\n",
        )?;
    }
    send_udp(
        &lab.client,
        ip(OFFICE6),
        SocketAddr::new(ip(PBX_V6), 5060),
        10,
        b"REGISTER sip:pbx SIP/2.0\r\n\r\n",
    )?;
    let ssh = SocketAddr::new(ip(PBX_V4), 22);
    let t = Duration::from_millis(1500);
    let office_ssh = tcp_connects(&lab.client, ip(OFFICE), ssh, t)?;
    let stranger_ssh = tcp_connects(&lab.client, ip(STRANGER), ssh, t)?;
    let office_ping = lab.ping(OFFICE, PBX_V4, 2);
    let stranger_ping = lab.ping(STRANGER, PBX_V4, 2);
    let received = udp.finish()?;
    tcp.finish()?;

    let got = |s: &str| received.get(&ip(s)).copied().unwrap_or(0);
    let ok = |b: bool| if b { "ok" } else { "blocked" };
    println!("what reached the PBX:");
    println!(
        "  SIP datagrams: office {}/10, office v6 {}/10, stranger {}/10, attacker {}/10",
        got(OFFICE),
        got(OFFICE6),
        got(STRANGER),
        got(ATTACKER)
    );
    println!(
        "  ssh: office {}, stranger {}",
        ok(office_ssh),
        ok(stranger_ssh)
    );
    println!(
        "  ping: office {}, stranger {}\n",
        ok(office_ping),
        ok(stranger_ping)
    );

    let status = daemon.cli(&["status"])?;
    println!(
        "$ sipguard status\n{}",
        String::from_utf8_lossy(&status.stdout)
    );
    let metrics = daemon.scrape().with_context(|| {
        format!(
            "scraping /metrics; the daemon's log:\n{}",
            daemon.log_text()
        )
    })?;
    println!("$ curl -s 127.0.0.1:9477/metrics | grep sipguard_packets_total");
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("sipguard_packets_total"))
    {
        println!("{line}");
    }
    let dropped =
        metric(&metrics, "sipguard_packets_total", &[("reason", "denied")]).unwrap_or(0.0);
    println!("\nthe attacker's {dropped} datagrams were dropped in XDP before the kernel's stack saw them.");
    println!("cleaning up the namespaces; run `cargo xtask run -- run --iface IFACE` to protect a real NIC.");
    Ok(())
}

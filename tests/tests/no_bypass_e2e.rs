//! No way around the filter, end to end: the real `sipguard run` on the PBX side of a veth,
//! the attacks of `no_bypass.rs` sent as bursts of real frames from the client namespace
//! (AF_PACKET on `cli0`, valid checksums, [`sipguard_tests::wire`]), and what the PBX's
//! kernel hands its SIP socket (after reassembly) counted and held to the limits of
//! `policies/no_bypass.toml` (REGISTER: rate 1/s, burst 3; INVITE: burst 2), with the
//! daemon's /metrics counting the rest.
use std::net::IpAddr;

use sipguard_tests::{
    daemon::Daemon,
    netns::{addr, Lab, PBX_IF, PBX_V4, PBX_V6},
    policies::{self, TempFile},
    privileged_test,
    traffic::UdpLog,
    wire::{self, Wire},
};

const POLICY: &str = include_str!("../policies/no_bypass.toml");
/// The policy's per-source REGISTER limit.
const REGISTER_BURST: u64 = 3;
const REGISTER_RATE: f64 = 1.0;
const INVITE_BURST: u64 = 2;
/// REGISTERs in an attacker's burst.
const BURST_OF: usize = 400;
/// The address the tests add to `[global] deny` as a /32.
const DENIED4: &str = "192.0.2.77";

/// The daemon (dropped first), its lab, a raw sender and the datagrams reaching the PBX.
struct Pbx {
    daemon: Daemon,
    wire: Wire,
    log: UdpLog,
    lab: Lab,
    _config: TempFile,
}

impl Pbx {
    fn start(metrics_port: u16) -> Self {
        let lab = Lab::new(&[]).unwrap();
        let policy = policies::edit(POLICY, |p| {
            let global = p["global"].as_table_mut().unwrap();
            let deny = global["deny"].as_array_mut().unwrap();
            deny.push(format!("{DENIED4}/32").into());
        })
        .unwrap();
        let config = TempFile::with_contents(&policy);
        let log = UdpLog::start(&lab.pbx, 5060).unwrap();
        let daemon = Daemon::start(
            &lab.pbx,
            PBX_IF,
            metrics_port,
            &["--config", config.as_str()],
        )
        .unwrap();
        Self {
            wire: Wire::new(&lab).unwrap(),
            daemon,
            log,
            lab,
            _config: config,
        }
    }

    /// A UDP frame from `src`:5060 to the PBX's SIP port in `src`'s family.
    fn sip(&self, src: &str, payload: &[u8]) -> Vec<u8> {
        let src = addr(src);
        let dst = addr(if src.is_ipv4() { PBX_V4 } else { PBX_V6 });
        self.wire.udp(src, dst, 5060, payload)
    }

    /// Stops the receiver; returns the datagrams that reached the PBX and the daemon.
    fn finish(self) -> (Vec<(IpAddr, Vec<u8>)>, Daemon, Lab) {
        let got = self.log.finish().unwrap();
        (got, self.daemon, self.lab)
    }
}

/// A SIP request of `method` from `src`, `size` bytes long (padded in an `X-Pad` header).
fn request(method: &str, src: &str, seq: usize, size: usize) -> Vec<u8> {
    let head = format!(
        "{method} sip:1001@{PBX_V4} SIP/2.0\r\nVia: SIP/2.0/UDP [{src}]:5060;branch=z9hG4bK-{seq}\r\n\
         From: <sip:1001@{PBX_V4}>;tag={seq}\r\nTo: <sip:1001@{PBX_V4}>\r\nCall-ID: {seq}@h13\r\n\
         CSeq: {seq} {method}\r\nUser-Agent: Yealink SIP-T46S 66.86.0.15\r\nX-Pad: "
    );
    let tail = "\r\nContent-Length: 0\r\n\r\n";
    let pad = size
        .checked_sub(head.len() + tail.len())
        .expect("room for the headers");
    format!("{head}{}{tail}", "p".repeat(pad)).into_bytes()
}

/// The datagrams from `src` in `got`.
fn from<'a>(got: &'a [(IpAddr, Vec<u8>)], src: &str) -> Vec<&'a [u8]> {
    let src = addr(src).to_canonical();
    got.iter()
        .filter(|(a, _)| *a == src)
        .map(|(_, d)| d.as_slice())
        .collect()
}

/// Asserts that each of `datagrams` is a whole `method` request of `size` bytes.
fn all_whole(datagrams: &[&[u8]], method: &str, size: usize, who: &str) {
    for d in datagrams {
        assert!(
            d.starts_with(format!("{method} sip:").as_bytes()) && d.len() == size,
            "{who}: a datagram of {} bytes starting {:?}, not a whole {size}-byte {method}",
            d.len(),
            String::from_utf8_lossy(&d[..d.len().min(40)])
        );
    }
}

privileged_test! {
    fn an_ipv6_register_burst_with_udp_length_zero_is_held_to_the_register_limit() {
        // Two sources in different /64s (the policy's IPv6 rate key), one burst each,
        // interleaved: true UDP lengths from one, UDP length 0 from the other.
        const TRUE_LEN: &str = "2001:db8:2::10";
        const ZERO_LEN: &str = "2001:db8:3::10";
        const SIZE: usize = 500;
        let pbx = Pbx::start(9760);
        let mut frames = Vec::new();
        for i in 0..BURST_OF {
            frames.push(pbx.sip(TRUE_LEN, &request("REGISTER", TRUE_LEN, i, SIZE)));
            let zero = pbx.sip(ZERO_LEN, &request("REGISTER", ZERO_LEN, i, SIZE));
            frames.push(wire::with_udp_length_zero(&zero));
        }
        let elapsed = pbx.wire.send(&frames).unwrap();
        let (got, d, _lab) = pbx.finish();

        let allowed = REGISTER_BURST + (elapsed.as_secs_f64() * REGISTER_RATE).ceil() as u64;
        let true_len = from(&got, TRUE_LEN);
        let zero_len = from(&got, ZERO_LEN);
        eprintln!(
            "{BURST_OF} REGISTERs each in {elapsed:?}: true lengths {} reached, UDP length 0 {}",
            true_len.len(),
            zero_len.len()
        );
        for (who, reached) in [("true lengths", &true_len), ("UDP length 0", &zero_len)] {
            let n = reached.len() as u64;
            assert!(
                (REGISTER_BURST..=allowed).contains(&n),
                "{who}: {n} REGISTERs reached the PBX in {elapsed:?}, limit {allowed}"
            );
            // Linux delivers the length-0 datagrams whole: the hole was real.
            all_whole(reached, "REGISTER", SIZE, who);
        }
        assert!(
            true_len.len().abs_diff(zero_len.len()) <= 1,
            "the same limit with and without a UDP length"
        );
        let passed = (true_len.len() + zero_len.len()) as u64;
        let sent = 2 * BURST_OF as u64;
        assert_eq!(d.packets("sip", "allowed", "pass"), passed, "{}", d.log_text());
        assert_eq!(d.packets("sip", "rate_limited", "drop"), sent - passed);
        let register = |verdict| {
            d.sample(
                "sipguard_sip_packets_total",
                &[("service", "sip"), ("class", "register"), ("verdict", verdict)],
            )
        };
        assert_eq!(register("drop"), sent - passed, "classified as REGISTERs");
        assert_eq!(register("pass"), passed);
    }
}

privileged_test! {
    fn registers_in_tiny_first_fragments_reach_nothing_while_honest_fragments_arrive_whole() {
        const TINY4: &str = "192.0.2.66";
        const TINY6: &str = "2001:db8:4::66";
        const HONEST4: &str = "192.0.2.67";
        const HONEST6: &str = "2001:db8:5::67";
        const SIZE: usize = 600;
        const BIG: usize = 1800;
        let pbx = Pbx::start(9761);
        let mut frames = Vec::new();
        let mut id = 1000u32;
        let mut next_id = || {
            id += 1;
            id
        };
        // Each REGISTER split after its UDP header: the request line is in the second.
        for i in 0..BURST_OF {
            for src in [TINY4, TINY6] {
                let f = pbx.sip(src, &request("REGISTER", src, i, SIZE));
                frames.extend(wire::fragments(&f, 8, next_id()));
            }
        }
        // What a stack sends at a 1500-byte IPv4 / 1280-byte IPv6 path MTU: the first
        // fragment holds the request line and the headers.
        let honest = [("REGISTER", REGISTER_BURST), ("INVITE", INVITE_BURST)];
        for (src, first_len) in [(HONEST4, 1480), (HONEST6, 1232)] {
            for (method, n) in honest {
                for i in 0..n as usize {
                    let f = pbx.sip(src, &request(method, src, i, BIG));
                    frames.extend(wire::fragments(&f, first_len, next_id()));
                }
            }
        }
        let elapsed = pbx.wire.send(&frames).unwrap();
        let (got, d, _lab) = pbx.finish();

        eprintln!(
            "{} frames in {elapsed:?}; reached the PBX: {:?}",
            frames.len(),
            got.iter().map(|(a, d)| (a, d.len())).collect::<Vec<_>>()
        );
        for src in [TINY4, TINY6] {
            assert_eq!(from(&got, src).len(), 0, "{src}: REGISTERs in tiny fragments");
        }
        let tiny = 2 * BURST_OF as u64;
        assert_eq!(d.packets("sip", "tiny_fragment", "drop"), tiny, "{}", d.log_text());
        assert_eq!(d.packets("sip", "fragment", "drop"), tiny, "their later fragments");
        let honest_each = REGISTER_BURST + INVITE_BURST;
        for src in [HONEST4, HONEST6] {
            let reached = from(&got, src);
            assert_eq!(reached.len() as u64, honest_each, "{src}: honest fragmented requests");
            let (registers, invites): (Vec<_>, Vec<_>) =
                reached.iter().partition(|d| d.starts_with(b"REGISTER"));
            all_whole(&registers, "REGISTER", BIG, src);
            all_whole(&invites, "INVITE", BIG, src);
            assert_eq!(registers.len() as u64, REGISTER_BURST, "{src}");
        }
        assert_eq!(d.packets("sip", "allowed", "pass"), 2 * honest_each);
        assert_eq!(d.packets("sip", "fragment", "pass"), 2 * honest_each);
    }
}

/// The IPv6 forms of an IPv4 address that sipguard judges as that address.
fn ipv6_forms(v4: &str) -> [String; 3] {
    [
        format!("::ffff:{v4}"),
        format!("::{v4}"),
        format!("64:ff9b::{v4}"),
    ]
}

privileged_test! {
    fn ipv6_forms_of_a_denied_ipv4_source_reach_nothing_and_a_ban_of_one_bans_the_ipv4_address() {
        const EACH: usize = 20;
        const OTHER4: &str = "192.0.2.78";
        let pbx = Pbx::start(9762);
        let [mapped, compatible, nat64] = ipv6_forms(OTHER4);
        let mut frames = Vec::new();
        let mut denied = vec![DENIED4.to_owned()];
        denied.extend(ipv6_forms(DENIED4));
        for i in 0..EACH {
            for src in &denied {
                frames.push(pbx.sip(src, &request("REGISTER", src, i, 400)));
            }
        }
        // One REGISTER from each IPv6 form of an address no list names.
        for src in [&mapped, &compatible, &nat64] {
            frames.push(pbx.sip(src, &request("REGISTER", src, 0, 400)));
        }
        pbx.wire.send(&frames).unwrap();
        let ban = pbx.daemon.cli(&["ban", &mapped, "--for", "1h"]).unwrap();
        let banned = String::from_utf8_lossy(&ban.stdout).into_owned();
        let bans = pbx.daemon.cli(&["bans"]).unwrap();
        let bans = String::from_utf8_lossy(&bans.stdout).into_owned();
        // After the ban, from every form of the banned address.
        let mut after = vec![pbx.sip(OTHER4, &request("REGISTER", OTHER4, 1, 400))];
        for src in [&mapped, &compatible, &nat64] {
            after.push(pbx.sip(src, &request("REGISTER", src, 1, 400)));
        }
        pbx.wire.send(&after).unwrap();
        let (got, d, _lab) = pbx.finish();

        eprintln!("reached the PBX: {:?}", got.iter().map(|(a, _)| a).collect::<Vec<_>>());
        for src in &denied {
            assert_eq!(from(&got, src).len(), 0, "{src} is denied");
        }
        let m = d.scrape().unwrap();
        assert_eq!(d.packets("sip", "denied", "drop"), (EACH * denied.len()) as u64, "{m}");
        // The forms of an address no list names pass, and Linux delivers each, the mapped one
        // as the IPv4 peer: what the denied ones would have done without sipguard.
        assert_eq!(d.packets("sip", "allowed", "pass"), 3, "{m}");
        for src in [&mapped, &compatible, &nat64] {
            assert_eq!(from(&got, src).len(), 1, "{src} before the ban");
        }
        assert_eq!(got[0].0, addr(OTHER4), "the PBX sees ::ffff:{OTHER4} as {OTHER4}");
        assert_eq!(got.len(), 3, "nothing else reached the PBX");

        assert!(ban.status.success() && banned.contains("banned 192.0.2.78/32"), "{banned}");
        assert!(
            bans.lines().any(|l| l.starts_with("192.0.2.78/32")),
            "`sipguard bans` lists the IPv4 address: {bans}"
        );
        assert_eq!(d.packets("sip", "banned", "drop"), 4, "{m}");
    }
}

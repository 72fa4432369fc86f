//! The per-packet rows: mean nanoseconds per packet of every verdict path of the real XDP
//! program, measured by the kernel with BPF_PROG_TEST_RUN (millions of repeats per run,
//! several runs for the spread), each run next to a no-op program's floor.
use std::time::Duration;

use sipguard::dataplane::clock::ban_clock_ns;
use sipguard_common::{Ban, BAN_REASON_MANUAL, BAN_SCOPE_ALL};
use sipguard_tests::{
    harness::Harness,
    packets::{self, frame, register, sip, udp, Transport},
};

use crate::{policies, report::PathResult};

/// How each path is measured.
pub struct Options<'a> {
    pub repeat: u32,
    pub runs: usize,
    /// Only the paths whose name contains this.
    pub only: Option<&'a str>,
}

/// One verdict path: a name, the programs (with their policy) it runs on, and the packet.
struct Path<'h> {
    name: &'static str,
    on: &'h Harness,
    frame: Vec<u8>,
}

/// The programs the paths run on, each with its policy applied.
struct Instances {
    /// The tests' policy, limits off, plus one ban: every lookup a hardened deployment makes.
    crafted: Harness,
    /// The built-in default (no deny list, no bans).
    default_policy: Harness,
    rate: Harness,
    scanners_read_every: Harness,
    scanners_remembered: Harness,
    credentials: Harness,
}

impl Instances {
    fn load() -> anyhow::Result<Self> {
        let mut crafted = Harness::standalone(&policies::crafted_unlimited()?);
        crafted.loaded.maps.ban(
            "192.0.2.66/32".parse()?,
            Ban {
                expires_ns: ban_clock_ns() + 3_600_000_000_000,
                created_ns: ban_clock_ns(),
                hits: 0,
                reason: BAN_REASON_MANUAL,
                scope: BAN_SCOPE_ALL,
            },
        )?;
        Ok(Self {
            crafted,
            default_policy: Harness::standalone(sipguard::config::DEFAULT_CONFIG),
            rate: Harness::standalone(policies::RATE),
            scanners_read_every: Harness::standalone(&policies::scanners("0")?),
            scanners_remembered: Harness::standalone(&policies::scanners("1s")?),
            credentials: Harness::standalone(policies::CREDENTIALS),
        })
    }
}

/// An honest phone's REGISTER with its User-Agent early in the request.
const HONEST_EARLY: &[u8] = b"REGISTER sip:192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---3c5e8c2f;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:1001@192.0.2.10:5060;rinstance=8a7c2e1b>\r\n\
To: <sip:1001@192.0.2.1>\r\n\
From: <sip:1001@192.0.2.1>;tag=7d1a3f22\r\n\
Call-ID: Mzk1ZTQ3ZjI5ODg4NjA2YzE0OTQ2OTg1\r\n\
CSeq: 2 REGISTER\r\n\
Expires: 3600\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 0\r\n\r\n";

/// Every path, in the order of the table.
fn paths(i: &Instances) -> anyhow::Result<Vec<Path<'_>>> {
    let mut out = Vec::new();
    let mut add = |name, on, frame| out.push(Path { name, on, frame });
    let c = &i.crafted;
    add("non_ip_pass", c, {
        let mut arp = udp("192.0.2.10", 15000)[..42].to_vec();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        arp
    });
    add("rtp_allowed_pass_v4", c, udp("192.0.2.10", 15000));
    add("rtp_allowed_pass_v6", c, udp("2001:db8:1::10", 15000));
    add("sip_allow_list_pass_v4", c, udp("192.0.2.10", 5060));
    add("sip_allow_list_pass_v6", c, udp("2001:db8:1::10", 5060));
    add("sip_not_allowed_drop_v4", c, udp("192.0.2.200", 5060));
    let sip_5060 = Transport::Udp {
        sport: 5060,
        dport: 5060,
    };
    add(
        "sip_register_classified_no_limit_pass_v4",
        c,
        frame("192.0.2.10", sip_5060, &register(0)),
    );
    add(
        "sip_register_1400b_classified_no_limit_pass_v4",
        c,
        frame("192.0.2.10", sip_5060, &register(1300)),
    );
    add("denied_drop_v4", c, udp("198.51.100.7", 5060));
    add("banned_drop_v4", c, udp("192.0.2.66", 5060));
    add("default_drop_v4", c, udp("192.0.2.200", 7777));
    let dns = Transport::Udp {
        sport: 53,
        dport: 40000,
    };
    add("reply_pass_v4", c, frame("192.0.2.200", dns, b"answer"));
    add(
        "tcp_syn_ssh_pass_v4",
        c,
        frame("192.0.2.10", Transport::TcpSyn { dport: 22 }, &[]),
    );
    add(
        "icmp_echo_pass_v4",
        c,
        frame("192.0.2.10", Transport::Echo, b"ping"),
    );
    // A 1400-byte first fragment of an INVITE (classified, remembered for its datagram) and
    // its later fragment (the remembered verdict), from an allowed source, limits off.
    let invite = format!(
        "INVITE sip:1002@192.0.2.1 SIP/2.0\r\nCSeq: 2 INVITE\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(1800)
    );
    let [first, later] = packets::fragments(&sip("192.0.2.10", invite.as_bytes()), 1384, 9);
    add("sip_invite_fragmented_first_1400b_pass_v4", c, first);
    add("sip_invite_fragmented_later_pass_v4", c, later);
    add(
        "worst_parse_vlan2_ipv6_ext4_pass",
        c,
        packets::with_vlan_tags(
            // 600 bytes: a smaller first fragment to SIP is `tiny_fragment`.
            &packets::with_ipv6_ext(&sip("2001:db8:1::10", &[b'x'; 600]), &[0, 43, 60, 44], 0),
            2,
        ),
    );
    add(
        "malformed_l4_drop",
        c,
        udp("192.0.2.10", 5060)[..14 + 20 + 4].to_vec(),
    );

    let d = &i.default_policy;
    add("default_policy_rtp_pass_v4", d, udp("198.51.100.20", 15000));
    add(
        "default_policy_sip_keepalive_pass_v4",
        d,
        sip("198.51.100.20", b"\r\n\r\n"),
    );
    add(
        "default_policy_register_over_limit_drop_v4",
        d,
        sip("198.51.100.21", &register(0)),
    );
    // A million SYNs from one address: past its burst, this is the SYN-limit drop.
    add(
        "default_policy_ssh_private_syn_over_limit_drop_v4",
        d,
        frame("10.1.2.3", Transport::TcpSyn { dport: 22 }, &[]),
    );
    add(
        "default_policy_ssh_public_drop_v4",
        d,
        frame("198.51.100.20", Transport::TcpSyn { dport: 22 }, &[]),
    );

    let r = &i.rate;
    add(
        "syn_flood_one_source_over_limit_drop_v4",
        r,
        frame("198.51.100.20", Transport::TcpSyn { dport: 22 }, &[]),
    );
    add(
        "rate_register_under_limit_pass_v4",
        r,
        sip("198.51.100.20", &register(0)),
    );
    add(
        "rate_register_1400b_under_limit_pass_v4",
        r,
        sip("198.51.100.20", &register(1300)),
    );
    // SIP over TCP: a segment is classified like a datagram and searched for pipelined
    // requests (the whole 1400 bytes for the second row).
    let tcp = |payload: &[u8]| frame("198.51.100.20", Transport::TcpAck { dport: 5060 }, payload);
    add(
        "rate_register_tcp_under_limit_pass_v4",
        r,
        tcp(&register(0)),
    );
    add(
        "rate_register_1400b_tcp_under_limit_pass_v4",
        r,
        tcp(&register(1300)),
    );

    let scanner_end = packets::register_1400_ending_with("User-Agent: friendly-scanner\r\n\r\n");
    let honest_end =
        packets::register_1400_ending_with("User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\r\n");
    let with_credentials = String::from_utf8(HONEST_EARLY.to_vec())?.replace(
        "Content-Length: 0",
        "Authorization: Digest username=\"1001\", realm=\"192.0.2.1\", \
         nonce=\"Z2V0LXNpcGd1YXJkLW5vbmNl\", uri=\"sip:192.0.2.1\", \
         response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, qop=auth, \
         nc=00000001, cnonce=\"0a4f113b\"\r\nContent-Length: 0",
    );
    add(
        "credentials_register_counted_trusted_pass_v4",
        &i.credentials,
        sip("198.51.100.20", with_credentials.as_bytes()),
    );
    let (every, remembered) = (&i.scanners_read_every, &i.scanners_remembered);
    add(
        "scanner_ua_end_of_1400b_read_drop_v4",
        every,
        sip("198.51.100.66", &scanner_end),
    );
    add(
        "honest_ua_end_of_1400b_read_pass_v4",
        every,
        sip("198.51.100.20", &honest_end),
    );
    add(
        "honest_register_ua_early_read_pass_v4",
        every,
        sip("198.51.100.20", HONEST_EARLY),
    );
    add(
        "scanner_ua_1400b_remembered_drop_v4",
        remembered,
        sip("198.51.100.66", &scanner_end),
    );
    add(
        "honest_ua_end_of_1400b_remembered_pass_v4",
        remembered,
        sip("198.51.100.20", &honest_end),
    );
    Ok(out)
}

/// Loads the policies, measures every path `only` selects, printing each row as it is
/// measured; returns the rows.
pub fn run(opts: &Options) -> anyhow::Result<Vec<PathResult>> {
    let instances = Instances::load()?;
    crate::report::print_per_packet_header(opts.repeat, opts.runs);
    let mut results = Vec::new();
    for path in paths(&instances)? {
        if opts.only.is_some_and(|o| !path.name.contains(o)) {
            continue;
        }
        let row = measure(&path, opts);
        crate::report::print_per_packet_row(&row);
        results.push(row);
    }
    Ok(results)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `opts.runs` runs of `opts.repeat` repeats of one path, each right after its floor.
fn measure(path: &Path, opts: &Options) -> PathResult {
    let (h, pkt) = (path.on, &path.frame);
    let mut samples: Vec<f64> = Vec::with_capacity(opts.runs);
    let mut floors: Vec<f64> = Vec::with_capacity(opts.runs);
    let mut nets: Vec<f64> = Vec::with_capacity(opts.runs);
    let mut action = 0;
    // "Under the limit": every run starts from empty rate state (the policy's burst
    // covers a whole run); "over the limit": the bucket is emptied first.
    let under = path.name.contains("under_limit");
    if path.name.contains("over_limit") {
        h.run_repeat(pkt, 1_000);
    }
    for _ in 0..opts.runs {
        if under {
            h.clear_rate_state();
        }
        // The floor right before each run, so machine drift cancels out of the net.
        let floor = h.floor(pkt, opts.repeat).as_nanos() as f64;
        let (a, mean): (u32, Duration) = h.run_repeat(pkt, opts.repeat);
        action = a;
        samples.push(mean.as_nanos() as f64);
        floors.push(floor);
        nets.push(mean.as_nanos() as f64 - floor);
    }
    let (floor_ns, net_ns) = (median(&mut floors), median(&mut nets));
    let median_ns = median(&mut samples);
    PathResult {
        path: path.name,
        median_ns,
        floor_ns,
        net_ns,
        min_ns: samples[0],
        max_ns: samples[samples.len() - 1],
        samples_ns: samples,
        verdict: match action {
            1 => "drop",
            2 => "pass",
            _ => "other",
        },
        frame_bytes: pkt.len(),
    }
}

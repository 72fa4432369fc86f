//! The translation's rules, and the exact values that reach the kernel.
use std::net::IpAddr;

use sipguard_common::{
    Policy, BAN_SCOPE_ALL, BAN_SCOPE_SIP, POLICY_AUTOBAN, POLICY_CONFIGURED, POLICY_DEFAULT_DROP,
    POLICY_MONITOR, POLICY_SCANNERS, PROTO_SLOT_TCP, PROTO_SLOT_UDP, SERVICE_ALLOW_ANY_V4,
    SERVICE_ALLOW_ANY_V6, SERVICE_ENABLED, SERVICE_SIP,
};

use super::*;

fn config(text: &str) -> Config {
    Config::from_str(text, "test.toml").expect("valid test config")
}

const SSH_PRIVATE: &str = r#"
    [[service]]
    name = "ssh"
    protocol = "tcp"
    ports = [22]
    allow = ["10.0.0.0/8"]
"#;

#[test]
fn default_drop_and_monitor_become_policy_flags() {
    let c = config("[global]\ndefault = \"drop\"\nmode = \"monitor\"\n");
    let p = CompiledPolicy::compile(&c, &HostFacts::default());
    assert_eq!(
        p.settings.flags,
        POLICY_CONFIGURED | POLICY_DEFAULT_DROP | POLICY_MONITOR | POLICY_SCANNERS | POLICY_AUTOBAN
    );
}

#[test]
fn scanner_patterns_and_times_reach_the_policy() {
    let c =
        config("[scanners]\nuser_agents = [\"Evil-Scan\"]\nban = \"15m\"\nrecheck = \"250ms\"\n");
    let p = CompiledPolicy::compile(&c, &HostFacts::default());
    assert_ne!(p.settings.flags & POLICY_SCANNERS, 0);
    assert_eq!(p.scanners.count, 1);
    assert_eq!(&p.scanners.patterns[0].bytes[..9], b"evil-scan");
    assert_eq!(p.settings.scanner_ban_s, 900);
    assert_eq!(p.settings.scanner_recheck_ms, 250);
}

#[test]
fn disabled_scanners_leave_no_patterns() {
    let c = config("[scanners]\nenabled = false\n");
    let p = CompiledPolicy::compile(&c, &HostFacts::default());
    assert_eq!(p.settings.flags & POLICY_SCANNERS, 0);
    assert_eq!(p.scanners.count, 0);
}

#[test]
fn auto_reply_ports_come_from_the_host() {
    let c = config("[global]\nreply_ports = \"auto\"\n");
    let host = HostFacts {
        local_port_range: Some((32768, 60999)),
        ..Default::default()
    };
    assert_eq!(
        CompiledPolicy::compile(&c, &host).reply_ports(),
        Some((32768, 60999))
    );
}

#[test]
fn udp_and_tcp_service_gets_ports_in_both_slots() {
    let c = config(
        "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\nports = [5060]\nallow = [\"any\"]\n",
    );
    let p = CompiledPolicy::compile(&c, &HostFacts::default());
    let s = &p.services[0];
    assert_eq!(s.ports.len(), 2);
    assert!(s.serves(PROTO_SLOT_UDP, 5060) && s.serves(PROTO_SLOT_TCP, 5060));
    assert_eq!(
        s.flags,
        SERVICE_ENABLED | SERVICE_ALLOW_ANY_V4 | SERVICE_ALLOW_ANY_V6
    );
}

/// A host with the Linux default port range and the given admin SSH sessions.
fn admin_host(admin_sessions: Vec<(IpAddr, u16)>) -> HostFacts {
    HostFacts {
        local_port_range: Some(LINUX_LOCAL_PORT_RANGE),
        admin_sessions,
    }
}

#[test]
fn sip_limits_become_intervals_and_bursts_per_class() {
    let c = config(
        "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\nsip = true\n[service.limits]\nregister = { rate = 4, burst = 8 }\ninvite = { rate = 0, burst = 1 }\n",
    );
    let s = &CompiledPolicy::compile(&c, &admin_host(vec![])).services[0];
    // other and syn: defaults (100/s burst 500, 5/s burst 20)
    assert_eq!(
        s.rate_interval_ns,
        [250_000_000, 0, 10_000_000, 200_000_000, 200_000_000]
    );
    assert_eq!(s.rate_burst, [8, 1, 500, 20, 10]);
    assert_eq!(
        (s.syn_budget_interval_ns, s.syn_budget_burst),
        (1_000_000, 2000)
    );
    assert_ne!(s.flags & SERVICE_SIP, 0);
}

#[test]
fn unreadable_port_range_falls_back_to_the_linux_default_with_a_note() {
    let c = config("[global]\nreply_ports = \"auto\"\n");
    let p = CompiledPolicy::compile(&c, &HostFacts::default());
    assert_eq!(p.reply_ports(), Some(LINUX_LOCAL_PORT_RANGE));
    assert_eq!(p.notes.len(), 1);
}

#[test]
fn established_admin_session_outside_the_allow_list_is_kept() {
    let c = config(SSH_PRIVATE);
    let host = admin_host(vec![("203.0.113.9".parse().unwrap(), 22)]);
    let p = CompiledPolicy::compile(&c, &host);
    assert!(p.services[0]
        .allow
        .contains(&"203.0.113.9/32".parse().unwrap()));
    assert_eq!(p.notes.len(), 1);
}

#[test]
fn established_session_already_allowed_adds_nothing() {
    let c = config(SSH_PRIVATE);
    let host = admin_host(vec![("10.1.2.3".parse().unwrap(), 22)]);
    let p = CompiledPolicy::compile(&c, &host);
    assert_eq!(p.services[0].allow.len(), 1);
    assert!(p.notes.is_empty());
}

#[test]
fn established_session_from_mapped_ipv6_is_kept_as_ipv4() {
    let c = config(SSH_PRIVATE);
    let host = admin_host(vec![("::ffff:203.0.113.9".parse().unwrap(), 22)]);
    let p = CompiledPolicy::compile(&c, &host);
    assert!(p.services[0]
        .allow
        .contains(&"203.0.113.9/32".parse().unwrap()));
}

#[test]
fn admin_session_to_a_port_of_no_service_adds_nothing() {
    let c = config(SSH_PRIVATE);
    // sshd on 2222, which is no service: the session's packets pass as replies
    let host = admin_host(vec![("203.0.113.9".parse().unwrap(), 2222)]);
    assert!(CompiledPolicy::compile(&c, &host).notes.is_empty());
}

#[test]
fn exposure_follows_services_default_reply_ports_and_monitor() {
    let host = HostFacts {
        local_port_range: Some((32768, 60999)),
        admin_sessions: vec![],
    };
    let p = CompiledPolicy::compile(&Config::builtin_default(), &host);
    let open = |e: &Exposure| matches!(e, Exposure::Open { .. });
    assert!(open(&p.exposure(PROTO_SLOT_UDP, 5060, true, true)));
    assert!(matches!(
        p.exposure(PROTO_SLOT_TCP, 5038, true, true),
        Exposure::Restricted { ref service, .. } if service == "ami"
    ));
    assert_eq!(
        p.exposure(PROTO_SLOT_TCP, 3306, true, true),
        Exposure::Dropped
    );
    assert_eq!(
        p.exposure(PROTO_SLOT_TCP, 40000, true, true),
        Exposure::Dropped
    );
    assert!(
        open(&p.exposure(PROTO_SLOT_UDP, 40000, true, true)),
        "reply ports pass"
    );
    let c = config(
        "[global]\ndefault = \"pass\"\n[[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\"any6\"]\nmode = \"monitor\"\n[[service]]\nname = \"web\"\nprotocol = \"tcp\"\nports = [80]\nallow = [\"any6\"]\n",
    );
    let p = CompiledPolicy::compile(&c, &host);
    assert!(
        open(&p.exposure(PROTO_SLOT_TCP, 3306, true, false)),
        "default pass"
    );
    assert!(
        open(&p.exposure(PROTO_SLOT_TCP, 22, true, false)),
        "service monitor"
    );
    assert!(
        !open(&p.exposure(PROTO_SLOT_TCP, 80, true, false)),
        "any6 on an IPv4 socket"
    );
    assert!(open(&p.exposure(PROTO_SLOT_TCP, 80, false, true)));
    let p = CompiledPolicy::compile(&config("[global]\nmode = \"monitor\"\n"), &host);
    assert!(
        open(&p.exposure(PROTO_SLOT_TCP, 3306, true, true)),
        "global monitor"
    );
}

#[test]
fn the_built_in_default_reaches_the_kernel_as_exactly_these_settings() {
    let host = admin_host(vec![]);
    let p = CompiledPolicy::compile(&Config::builtin_default(), &host);
    assert_eq!(
        p.settings,
        Policy {
            flags: POLICY_CONFIGURED | POLICY_DEFAULT_DROP | POLICY_SCANNERS | POLICY_AUTOBAN,
            icmp_echo_service: 0,
            reply_port_lo: 32768,
            reply_port_hi: 60999,
            rate_v6_prefix: 64,
            scanner_recheck_ms: 1000,
            scanner_ban_s: 0,
            autoban_failures: 5,
            autoban_window_ms: 60_000,
            autoban_ban_s: 3600,
            autoban_scope: BAN_SCOPE_ALL,
            autoban_attempts: 10,
            drop_samples: 1,
            autoban_learned_s: 7200,
            digest_seed: 0,
            autoban_users: 10,
        }
    );
}

#[test]
fn every_global_scanner_and_autoban_key_reaches_the_kernel_settings() {
    let c = config(
        "[global]\nmode = \"monitor\"\ndefault = \"pass\"\nreply_ports = \"none\"\n\
         rate_ipv6_prefix = 48\ndrop_samples = 7\ntracked_sources = 4096\n\
         [scanners]\nban = \"2h\"\nrecheck = \"250ms\"\n\
         [autoban]\nenabled = false\nfailures = 3\nattempts = 0\nusers = 4\nwindow = \"10m\"\nban = \"1d\"\n\
         scope = \"sip\"\nlearned_trust = \"30m\"\n",
    );
    let p = CompiledPolicy::compile(&c, &admin_host(vec![]));
    assert_eq!(
        p.settings,
        Policy {
            flags: POLICY_CONFIGURED | POLICY_MONITOR | POLICY_SCANNERS,
            icmp_echo_service: 0,
            reply_port_lo: 0,
            reply_port_hi: 0,
            rate_v6_prefix: 48,
            scanner_recheck_ms: 250,
            scanner_ban_s: 7200,
            autoban_failures: 3,
            autoban_window_ms: 600_000,
            autoban_ban_s: 86_400,
            autoban_scope: BAN_SCOPE_SIP,
            autoban_attempts: 0,
            drop_samples: 7,
            autoban_learned_s: 1800,
            digest_seed: 0,
            autoban_users: 4,
        }
    );
    assert_eq!(p.reply_ports(), None);
    assert!(p.notes.is_empty());
}

#[test]
fn a_configured_reply_range_and_a_sub_second_scanner_ban_reach_the_settings() {
    let c = config("[global]\nreply_ports = \"1000-2000\"\n[scanners]\nban = \"500ms\"\n");
    let p = CompiledPolicy::compile(&c, &HostFacts::default());
    assert_eq!(
        (p.settings.reply_port_lo, p.settings.reply_port_hi),
        (1000, 2000)
    );
    assert_eq!(p.reply_ports(), Some((1000, 2000)));
    assert_eq!(p.settings.scanner_ban_s, 1, "a ban is at least a second");
    assert!(p.notes.is_empty(), "no host fact was needed");
}

#[test]
fn the_fallback_note_reads_as_one_sentence() {
    let c = config("[global]\nreply_ports = \"auto\"\n");
    let p = CompiledPolicy::compile(&c, &HostFacts::default());
    assert_eq!(
        p.notes,
        [
            "could not read net.ipv4.ip_local_port_range: using the Linux default 32768-60999 as \
          reply ports"
        ]
    );
}

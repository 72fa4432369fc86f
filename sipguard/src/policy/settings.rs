//! The per-epoch global settings: `[global]`, `[scanners]` and `[autoban]` as the
//! `sipguard_common::Policy` value the data plane reads.
//!
//! This is the one place where those keys become kernel values (flags, milliseconds, seconds,
//! a scope); the map writer stores the value as built here, adding only the `POLICY_HAS_*`
//! flags of the lists it wrote and the icmp service's slot.
use sipguard_common::{
    ua::Scanners, Policy, BAN_SCOPE_ALL, BAN_SCOPE_SIP, POLICY_AUTOBAN, POLICY_CONFIGURED,
    POLICY_DEFAULT_DROP, POLICY_MONITOR, POLICY_PROTECT, POLICY_SCANNERS,
};

use super::{HostFacts, LINUX_LOCAL_PORT_RANGE};
use crate::config::{Config, DefaultAction, Mode, ReplyPorts};

/// The settings of `config`, with the resolved UDP reply ports and the scanner table (whose
/// pattern count turns the scanner check on).
pub(super) fn settings(
    config: &Config,
    reply_ports: Option<(u16, u16)>,
    scanners: &Scanners,
) -> Policy {
    let global = &config.global;
    let mut flags = POLICY_CONFIGURED;
    if global.default_action == DefaultAction::Drop {
        flags |= POLICY_DEFAULT_DROP;
    }
    if global.mode == Mode::Monitor {
        flags |= POLICY_MONITOR;
    }
    if scanners.count > 0 {
        flags |= POLICY_SCANNERS;
    }
    let autoban = &config.autoban;
    if autoban.enabled {
        flags |= POLICY_AUTOBAN;
    }
    if !global.protect.is_empty() {
        flags |= POLICY_PROTECT;
    }
    let (reply_port_lo, reply_port_hi) = reply_ports.unwrap_or((0, 0));
    Policy {
        flags,
        // A slot: the map writer assigns it.
        icmp_echo_service: 0,
        reply_port_lo,
        reply_port_hi,
        rate_v6_prefix: u32::from(global.rate_ipv6_prefix),
        scanner_recheck_ms: saturating_u32(config.scanners.recheck.as_millis()),
        scanner_ban_s: config
            .scanners
            .ban
            .map_or(0, |d| saturating_u32(u128::from(d.as_secs().max(1)))),
        autoban_failures: autoban.failures,
        autoban_window_ms: saturating_u32(autoban.window.as_millis()),
        autoban_ban_s: saturating_u32(u128::from(autoban.ban.as_secs())),
        autoban_scope: if autoban.sip_only {
            BAN_SCOPE_SIP
        } else {
            BAN_SCOPE_ALL
        },
        autoban_attempts: autoban.attempts,
        drop_samples: global.drop_samples,
        autoban_learned_s: saturating_u32(u128::from(autoban.learned_trust.as_secs())),
        // Random per epoch: the map writer draws it.
        digest_seed: 0,
        autoban_users: autoban.users,
    }
}

/// `reply_ports`: none, the configured range, or (`"auto"`) the host's ephemeral range, else
/// Linux's default with a note.
pub(super) fn reply_ports(
    configured: ReplyPorts,
    host: &HostFacts,
    notes: &mut Vec<String>,
) -> Option<(u16, u16)> {
    match configured {
        ReplyPorts::None => None,
        ReplyPorts::Range(r) => Some((r.lo, r.hi)),
        ReplyPorts::Auto => Some(host.local_port_range.unwrap_or_else(|| {
            notes.push(format!(
                "could not read net.ipv4.ip_local_port_range: using the Linux default \
                 {}-{} as reply ports",
                LINUX_LOCAL_PORT_RANGE.0, LINUX_LOCAL_PORT_RANGE.1
            ));
            LINUX_LOCAL_PORT_RANGE
        })),
    }
}

fn saturating_u32(n: u128) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

//! The default policy: what happens to traffic that targets no service.
//!
//! Under default drop, return traffic of the host's own sockets (TCP segments with ACK, UDP
//! to the local ephemeral range) still passes: a stateless filter must not cut the host off
//! from DNS, updates and its trunks' answers.

use sipguard_common::{reason, Policy, POLICY_DEFAULT_DROP, SERVICE_NONE};

use super::decision::Decision;
use crate::{
    net::TCP_ACK,
    parse::{Packet, Proto},
};

/// Step: traffic to no service -> pass `default`, or under default drop: pass `reply` for
/// return traffic, else drop `default` (`monitor`: would_drop).
#[inline(always)]
pub(crate) fn judge(policy: &Policy, pkt: &Packet, monitor: bool) -> Decision {
    if policy.flags & POLICY_DEFAULT_DROP == 0 {
        return Decision::pass(SERVICE_NONE, reason::DEFAULT);
    }
    let l4 = &pkt.l4;
    let reply = match l4.proto {
        Proto::Tcp => l4.flags & TCP_ACK != 0,
        Proto::Udp => {
            policy.reply_port_lo != 0
                && l4.dport >= policy.reply_port_lo
                && l4.dport <= policy.reply_port_hi
        }
        _ => false,
    };
    if reply {
        Decision::pass(SERVICE_NONE, reason::REPLY)
    } else {
        Decision::drop(SERVICE_NONE, reason::DEFAULT, monitor)
    }
}

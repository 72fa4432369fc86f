//! Every metric in the Prometheus text format, rendered from the maps at scrape time.
//!
//! A fresh registry per scrape: the counters are the kernel's, so each scrape reads them
//! whole instead of keeping a copy in sync.
use std::time::SystemTime;

use prometheus::{Encoder as _, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use sipguard_common::{POLICY_DEFAULT_DROP, POLICY_MONITOR};

use super::Activity;
use crate::{control::ControlError, dataplane::Maps};

/// Renders every metric in the Prometheus text format.
pub fn render(maps: &Maps, activity: Option<&Activity>) -> Result<String, ControlError> {
    let registry = Registry::new();
    let labels = ["service", "reason", "verdict"];
    let packets = IntCounterVec::new(
        Opts::new(
            "sipguard_packets_total",
            "Packets judged by the XDP program, by service, reason and verdict",
        ),
        &labels,
    )?;
    let bytes = IntCounterVec::new(
        Opts::new(
            "sipguard_bytes_total",
            "Bytes judged by the XDP program, by service, reason and verdict",
        ),
        &labels,
    )?;
    for row in maps.counters()? {
        let l = [row.service.as_str(), row.reason, row.verdict];
        packets.with_label_values(&l).inc_by(row.packets);
        bytes.with_label_values(&l).inc_by(row.bytes);
    }

    let sip_packets = IntCounterVec::new(
        Opts::new(
            "sipguard_sip_packets_total",
            "UDP datagrams to SIP services, by service, SIP class and verdict",
        ),
        &["service", "class", "verdict"],
    )?;
    for row in maps.sip_counters()? {
        sip_packets
            .with_label_values(&[row.service.as_str(), row.class, row.verdict])
            .inc_by(row.packets);
    }

    let bans = IntCounterVec::new(
        Opts::new(
            "sipguard_bans_created_total",
            "Bans the data plane made on its own, by reason (scanner, auth_failures, auth_attempts, auth_enumeration)",
        ),
        &["reason"],
    )
    ?;
    for (reason, n) in maps.ban_counts()? {
        bans.with_label_values(&[reason]).inc_by(n);
    }
    let ban_failures = prometheus::IntCounter::new(
        "sipguard_ban_insert_failures_total",
        "Bans the data plane decided but could not write because the ban map was full (the \
         source was dropped or judged as before, not banned)",
    )?;
    ban_failures.inc_by(maps.ban_insert_failures()?);
    let evicted = prometheus::IntCounter::new(
        "sipguard_bans_evicted_total",
        "The data plane's bans still in force that newer ones pushed out of its ban room (the \
         most recent 65536 are kept, the oldest go first; the admin's, log and fleet bans have \
         a room of their own and are never pushed out)",
    )?;
    evicted.inc_by(maps.ban_evictions()?);
    let evidence = IntCounterVec::new(
        Opts::new(
            "sipguard_autoban_evidence_total",
            "What auto-ban weighed and did not ban on, by kind: challenge (a 401/403/407 to a \
             request without credentials, never a failure), retransmission (a request with \
             credentials seen again, one attempt), unproven_failure (a failure answered over \
             UDP: bans from SIP at most), nonce_proven (a failure answered over UDP to a \
             request echoing a nonce the PBX sent to that address alone: proven), \
             shared_nonce (a challenge nonce sent to a second address: proves nothing), spared \
             (a ban withheld: unproven evidence against a source the PBX accepted lately), \
             stale (a 401/407 with stale=true to a request with credentials: an expired \
             nonce, no refused password)",
        ),
        &["kind"],
    )?;
    for (kind, n) in maps.evidence_counts()? {
        evidence.with_label_values(&[kind]).inc_by(n);
    }

    let log_lines = IntCounterVec::new(
        Opts::new(
            "sipguard_logwatch_lines_total",
            "Lines read by the log watch, by file and outcome (blamed, no_match, ambiguous, \
             unparsable, not_bannable)",
        ),
        &["watch", "outcome"],
    )?;
    for (watch, outcome, n) in crate::control::logwatch::line_counts() {
        log_lines.with_label_values(&[&watch, outcome]).inc_by(n);
    }

    let entries = IntGaugeVec::new(
        Opts::new("sipguard_map_entries", "Entries in use per BPF map"),
        &["map"],
    )?;
    let capacity = IntGaugeVec::new(
        Opts::new("sipguard_map_capacity", "Capacity per BPF map"),
        &["map"],
    )?;
    for f in maps.fill()? {
        entries.with_label_values(&[f.map]).set(f.entries as i64);
        capacity.with_label_values(&[f.map]).set(f.capacity as i64);
    }

    let build = IntGaugeVec::new(
        Opts::new("sipguard_build_info", "sipguard version; always 1"),
        &["version"],
    )?;
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

    let policy = maps.active_policy()?;
    let monitor = IntGauge::new(
        "sipguard_monitor_mode",
        "1 when the global mode is monitor (drops are counted as would_drop and passed)",
    )?;
    monitor.set(i64::from(policy.flags & POLICY_MONITOR != 0));
    let default_drop = IntGauge::new(
        "sipguard_default_drop",
        "1 when traffic matching no service is dropped",
    )?;
    default_drop.set(i64::from(policy.flags & POLICY_DEFAULT_DROP != 0));

    let dests = maps.destinations()?;
    let protected = IntGaugeVec::new(
        Opts::new(
            "sipguard_protected",
            "1 for each destination in [global] protect (none: every destination is judged; \
             traffic to others passes as reason unprotected)",
        ),
        &["net"],
    )?;
    for net in &dests.protect {
        protected
            .with_label_values(&[net.to_string().as_str()])
            .set(1);
    }
    let service_to = IntGaugeVec::new(
        Opts::new(
            "sipguard_service_destination",
            "1 for each destination a service names (to = [...]); a service without one \
             serves every destination",
        ),
        &["service", "to"],
    )?;
    for (service, nets) in &dests.to {
        for net in nets {
            service_to
                .with_label_values(&[service.as_str(), net.to_string().as_str()])
                .set(1);
        }
    }

    let last_match = prometheus::GaugeVec::new(
        Opts::new(
            "sipguard_last_match_timestamp_seconds",
            "Unix time at which packets with this reason were last counted (sampled every \
             second by the daemon; absent until the first change it sees)",
        ),
        &["reason"],
    )?;
    let attached = IntGaugeVec::new(
        Opts::new(
            "sipguard_attached",
            "1 when the XDP program is attached to the protected interface (one series per \
             interface the daemon guards)",
        ),
        &["iface"],
    )?;
    let xdp_mode = IntGaugeVec::new(
        Opts::new(
            "sipguard_xdp_mode",
            "1 for the XDP mode (native, skb, ...) of each interface the program is attached to",
        ),
        &["iface", "mode"],
    )?;
    if let Some(a) = activity {
        for (reason, at) in &a.last_match {
            let secs = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            last_match.with_label_values(&[reason]).set(secs);
        }
        for (iface, mode) in &a.attached {
            attached
                .with_label_values(&[iface])
                .set(i64::from(mode.is_some()));
            if let Some(mode) = mode {
                xdp_mode.with_label_values(&[iface.as_str(), mode]).set(1);
            }
        }
    }

    let mut collectors: Vec<Box<dyn prometheus::core::Collector>> = Vec::new();
    fleet(&mut collectors)?;

    for c in collectors.into_iter().chain([
        Box::new(packets) as Box<dyn prometheus::core::Collector>,
        Box::new(last_match),
        Box::new(attached),
        Box::new(xdp_mode),
        Box::new(bytes),
        Box::new(sip_packets),
        Box::new(bans),
        Box::new(ban_failures),
        Box::new(evicted),
        Box::new(evidence),
        Box::new(log_lines),
        Box::new(entries),
        Box::new(capacity),
        Box::new(build),
        Box::new(monitor),
        Box::new(default_drop),
        Box::new(protected),
        Box::new(service_to),
    ]) {
        registry.register(c)?;
    }
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out)?;
    // The text format is UTF-8 (the encoder writes only strings).
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The fleet feeds' metrics (`sipguard_crowdsec_*`, `sipguard_apiban_*`), for the feeds this
/// daemon runs.
fn fleet(out: &mut Vec<Box<dyn prometheus::core::Collector>>) -> Result<(), ControlError> {
    use crate::control::fleet::counts::{snapshot, Feed};
    for (feed, name, what) in [
        (Feed::Crowdsec, "crowdsec", "CrowdSec LAPI decisions"),
        (Feed::Apiban, "apiban", "APIBan addresses"),
    ] {
        let Some(c) = snapshot(feed) else {
            continue;
        };
        let decisions = IntCounterVec::new(
            Opts::new(
                format!("sipguard_{name}_decisions_total"),
                format!(
                    "{what} by origin and action (applied, deleted, kept_other: a ban of \
                     another reason holds the prefix, full: no room left for feeds, protected: \
                     an address sipguard never bans)"
                ),
            ),
            &["origin", "action"],
        )?;
        for ((origin, action), n) in &c.decisions {
            decisions
                .with_label_values(&[origin.as_str(), action])
                .inc_by(*n);
        }
        let failures = IntCounterVec::new(
            Opts::new(
                format!("sipguard_{name}_request_failures_total"),
                format!("Failed {name} requests, by request and why"),
            ),
            &["request", "why"],
        )?;
        for ((request, why), n) in &c.failures {
            failures.with_label_values(&[request, why]).inc_by(*n);
        }
        let last = prometheus::Gauge::new(
            format!("sipguard_{name}_last_success_timestamp_seconds"),
            format!("Unix time of the last successful {name} poll (0: none yet)"),
        )?;
        if let Some(t) = c.last_success {
            last.set(
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
            );
        }
        out.push(Box::new(decisions));
        out.push(Box::new(failures));
        out.push(Box::new(last));
        if feed == Feed::Crowdsec {
            let alerts = IntCounterVec::new(
                Opts::new(
                    "sipguard_crowdsec_alerts_total",
                    "sipguard's own bans sent to the LAPI as alerts, by outcome (sent, failed, \
                     dropped: over the rate bound or the queue)",
                ),
                &["outcome"],
            )?;
            for (outcome, n) in &c.alerts {
                alerts.with_label_values(&[outcome]).inc_by(*n);
            }
            out.push(Box::new(alerts));
        }
    }
    Ok(())
}

//! Ban management for the CLI: `sipguard ban`, `unban`, `bans`, over the pinned maps.
//!
//! The map writer ([`crate::dataplane::maps`]) bans whatever it is given; the promise that a
//! trusted address is never locked out by an admin's ban is kept here.
use std::{fmt::Write as _, time::Duration};

use ipnet::IpNet;
use serde::Serialize;
use sipguard_common::{
    Ban, AUTO_BAN_ROOM, BAN_MAX_ENTRIES, BAN_REASON_MANUAL, BAN_SCOPE_ALL, BAN_SCOPE_SIP,
};

use super::{ControlError, Refusal};
use crate::dataplane::{
    clock::ban_clock_ns,
    maps::{ban_reason_name, BanRoom, Expiry},
    Maps,
};

/// What a ban covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// Every packet of the source (fail2ban's iptables-allports).
    All,
    /// The source's packets to SIP services only (CGNAT addresses shared with honest users).
    Sip,
}

/// One ban as `sipguard bans` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BanRow {
    pub net: String,
    pub reason: String,
    /// The admin's text (`--reason`), if any.
    pub note: Option<String>,
    pub scope: &'static str,
    /// Seconds left; `None`: until removed.
    pub expires_in_s: Option<u64>,
    pub expired: bool,
    pub hits: u64,
    /// `admin` (by hand, from logs, from the fleet) or `programs` (the data plane's own).
    pub room: &'static str,
}

/// Bans `net` for `duration` (`None`: until unbanned). Refuses a prefix that overlaps a trusted
/// entry of the running policy: a trusted address must never be locked out.
pub fn ban(
    maps: &mut Maps,
    net: IpNet,
    duration: Option<Duration>,
    note: &str,
    scope: Scope,
) -> Result<(), ControlError> {
    let net = net.trunc();
    if let Some(t) = maps
        .trusted()?
        .into_iter()
        .find(|t| t.contains(&net) || net.contains(t))
    {
        return Err(Refusal::BanTrusted { net, trusted: t }.into());
    }
    let now = ban_clock_ns();
    let expiry = duration.map_or(Expiry::Never, |d| Expiry::At(now + d.as_nanos() as u64));
    let ban = Ban {
        expires_ns: expiry.as_ns(),
        created_ns: now,
        hits: 0,
        reason: BAN_REASON_MANUAL,
        scope: match scope {
            Scope::All => BAN_SCOPE_ALL,
            Scope::Sip => BAN_SCOPE_SIP,
        },
    };
    Ok(maps.ban_with_note(net, ban, note)?)
}

/// Every ban, longest time left first.
pub fn list(maps: &Maps) -> Result<Vec<BanRow>, ControlError> {
    let now = ban_clock_ns();
    let mut rows: Vec<BanRow> = maps
        .bans_in_rooms()?
        .into_iter()
        .map(|(net, b, room)| BanRow {
            room: match room {
                BanRoom::Admin => "admin",
                BanRoom::Programs => "programs",
            },
            ..row(maps, net, &b, now)
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.expires_in_s.unwrap_or(u64::MAX)));
    Ok(rows)
}

fn row(maps: &Maps, net: IpNet, b: &Ban, now: u64) -> BanRow {
    BanRow {
        net: net.to_string(),
        reason: ban_reason_name(b.reason)
            .map_or_else(|| format!("reason {}", b.reason), str::to_owned),
        note: maps.ban_note(net).filter(|n| !n.is_empty()),
        scope: if b.scope == BAN_SCOPE_SIP {
            "sip"
        } else {
            "all"
        },
        expires_in_s: match Expiry::from_ns(b.expires_ns) {
            Expiry::Never => None,
            Expiry::At(ns) => Some(ns.saturating_sub(now) / 1_000_000_000),
        },
        expired: Expiry::from_ns(b.expires_ns).has_passed(now),
        hits: b.hits,
        room: "admin",
    }
}

/// `sipguard bans` as a table.
pub fn to_text(rows: &[BanRow]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("no bans\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<44} {:<14} {:<5} {:>10} {:>10}  note",
        "address", "reason", "scope", "time left", "hits"
    );
    for r in rows {
        let left = match (r.expired, r.expires_in_s) {
            (true, _) => "expired".to_owned(),
            (false, None) => "permanent".to_owned(),
            (false, Some(s)) => human(s),
        };
        let _ = writeln!(
            out,
            "{:<44} {:<14} {:<5} {:>10} {:>10}  {}",
            r.net,
            r.reason,
            r.scope,
            left,
            r.hits,
            r.note.as_deref().unwrap_or("")
        );
    }
    out
}

/// The line `sipguard bans` adds when the ban maps are under pressure: a room 90 % full or
/// more (the admin's trie of either family, or the programs' room), bans the data plane
/// lost to a full map (`lost`) or its bans that newer ones evicted (`evicted`). None
/// otherwise.
pub fn pressure(rows: &[BanRow], lost: u64, evicted: u64) -> Option<String> {
    let admin = || rows.iter().filter(|r| r.room == "admin");
    let a6 = admin().filter(|r| r.net.contains(':')).count();
    let a4 = admin().count() - a6;
    let programs = rows.iter().filter(|r| r.room == "programs").count();
    let (cap, room) = (BAN_MAX_ENTRIES as usize, AUTO_BAN_ROOM as usize);
    let tight = |n: usize, of: usize| n * 10 >= of * 9;
    if !tight(a4, cap) && !tight(a6, cap) && !tight(programs, room) && lost == 0 && evicted == 0 {
        return None;
    }
    Some(format!(
        "ban maps: admin's room IPv4 {a4} of {cap} prefixes, IPv6 {a6} of {cap}; the data \
         plane's room {programs} of {room} (the oldest give way: {evicted} evicted, \
         sipguard_bans_evicted_total); {lost} bans the data plane decided were lost to a full \
         map (sipguard_ban_insert_failures_total)\n"
    ))
}

fn human(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_like_a_duration() {
        assert_eq!(human(42), "42s");
        assert_eq!(human(125), "2m05s");
        assert_eq!(human(3 * 3600 + 60), "3h01m");
        assert_eq!(human(2 * 86400 + 3600), "2d01h");
    }

    #[test]
    fn pressure_is_shown_only_near_full_or_after_a_lost_ban() {
        let row = |net: String| BanRow {
            net,
            reason: "auth_failures".into(),
            note: None,
            scope: "sip",
            expires_in_s: None,
            expired: false,
            hits: 0,
            room: "admin",
        };
        let few: Vec<BanRow> = (0..10).map(|i| row(format!("192.0.2.{i}/32"))).collect();
        assert_eq!(pressure(&few, 0, 0), None);
        assert_eq!(
            pressure(&few, 3, 0).as_deref(),
            Some(
                "ban maps: admin's room IPv4 10 of 65536 prefixes, IPv6 0 of 65536; the data \
                 plane's room 0 of 65536 (the oldest give way: 0 evicted, \
                 sipguard_bans_evicted_total); 3 bans the data plane decided were lost to a \
                 full map (sipguard_ban_insert_failures_total)\n"
            )
        );
        let line = pressure(&few, 0, 12).expect("evictions are pressure");
        assert!(line.contains("12 evicted"), "{line}");
        let many: Vec<BanRow> = (0..59_000u32)
            .map(|i| row(format!("2001:db8:{:x}:{:x}::/64", i >> 16, i & 0xffff)))
            .collect();
        let line = pressure(&many, 0, 0).expect("90 % full");
        assert!(line.contains("IPv6 59000 of 65536;"), "{line}");
        // The same bans in the data plane's room fill that one.
        let theirs: Vec<BanRow> = many
            .into_iter()
            .map(|r| BanRow {
                room: "programs",
                ..r
            })
            .collect();
        let line = pressure(&theirs, 0, 0).expect("its room 90 % full");
        assert!(
            line.contains("IPv6 0 of 65536; the data plane's room 59000 of 65536"),
            "{line}"
        );
    }

    #[test]
    fn an_empty_list_says_so() {
        assert_eq!(to_text(&[]), "no bans\n");
    }

    #[test]
    fn a_ban_row_shows_its_time_left_or_that_it_is_permanent() {
        let row = |expires_in_s, expired| BanRow {
            net: "203.0.113.7/32".into(),
            reason: "manual".into(),
            note: Some("scanner".into()),
            scope: "all",
            expires_in_s,
            expired,
            hits: 3,
            room: "admin",
        };
        let text = to_text(&[row(Some(125), false), row(None, false), row(Some(0), true)]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("address"), "{text}");
        assert!(
            lines[1].contains(" 2m05s ") && lines[1].ends_with("  scanner"),
            "{text}"
        );
        assert!(lines[2].contains(" permanent "), "{text}");
        assert!(lines[3].contains(" expired "), "{text}");
    }
}

//! A Local API decision-stream answer (`GET /v1/decisions/stream`), checked whole before
//! anything of it is applied: `{"new": [...] | null, "deleted": [...] | null}`.
//!
//! Only `ban` decisions of scope `Ip` or `Range` are sipguard's (compared ignoring case);
//! others (captcha, Country, AS, ...) are counted and left. A `ban` whose value is no address
//! or prefix, or whose duration is no duration, makes the whole answer refused: a LAPI (or
//! something posing as one) that says that is not to be trusted with the rest.
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::{godur, FeedError};

/// The most decisions one answer may hold (a community blocklist is some tens of thousands;
/// each ban trie holds 65,536).
pub const MAX_DECISIONS: usize = 250_000;

/// One ban decision, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The LAPI's id, or (without one) value, origin and scenario together.
    pub key: String,
    pub net: IpNet,
    /// Time left (zero for an expired or deleted one).
    pub left: Duration,
    /// Lowercase.
    pub origin: String,
    pub scenario: String,
}

/// A checked answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub new: Vec<Decision>,
    pub deleted: Vec<Decision>,
    /// Decisions that are not sipguard's (another type or scope).
    pub ignored: usize,
}

#[derive(Deserialize)]
struct RawAnswer {
    #[serde(default)]
    new: Option<Vec<RawDecision>>,
    #[serde(default)]
    deleted: Option<Vec<RawDecision>>,
}

#[derive(Deserialize)]
struct RawDecision {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    scenario: Option<String>,
    scope: String,
    #[serde(rename = "type")]
    kind: String,
    value: String,
    #[serde(default)]
    duration: Option<String>,
}

/// Checks a stream answer's body.
pub fn parse(body: &[u8]) -> Result<Delta, FeedError> {
    // serde would read a struct from an array too.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(FeedError::BadAnswer(format!(
            "not a decision stream (no JSON object): {:?}",
            super::error::excerpt(body)
        )));
    }
    let raw: RawAnswer = serde_json::from_slice(body)
        .map_err(|e| FeedError::BadAnswer(format!("not a decision stream: {e}")))?;
    let new = raw.new.unwrap_or_default();
    let deleted = raw.deleted.unwrap_or_default();
    if new.len() + deleted.len() > MAX_DECISIONS {
        return Err(FeedError::BadAnswer(format!(
            "{} decisions in one answer, more than {MAX_DECISIONS}",
            new.len() + deleted.len()
        )));
    }
    let mut out = Delta::default();
    for (list, is_new) in [(new, true), (deleted, false)] {
        for d in list {
            match check(d, is_new)? {
                Some(d) if is_new => out.new.push(d),
                Some(d) => out.deleted.push(d),
                None => out.ignored += 1,
            }
        }
    }
    Ok(out)
}

/// One decision: `None` when it is not a ban of an address or prefix.
fn check(d: RawDecision, is_new: bool) -> Result<Option<Decision>, FeedError> {
    let scope = d.scope.to_ascii_lowercase();
    if !d.kind.eq_ignore_ascii_case("ban") || !(scope == "ip" || scope == "range") {
        return Ok(None);
    }
    let id =
        d.id.map_or_else(|| "no id".to_owned(), |i| format!("id {i}"));
    let shown: String = d.value.chars().take(64).collect();
    let value = d.value.trim();
    let net = if scope == "ip" {
        value
            .parse::<std::net::IpAddr>()
            .map(|a| IpNet::from(crate::parse::fold_addr(a)))
            .ok()
    } else {
        value
            .parse::<IpNet>()
            .ok()
            .map(|n| crate::parse::fold_net(n.trunc()))
    };
    let Some(net) = net else {
        return Err(FeedError::BadAnswer(format!(
            "decision {id} of scope {:?} has the value {shown:?}, which is no {}",
            d.scope,
            if scope == "ip" { "address" } else { "prefix" }
        )));
    };
    let left = match (&d.duration, is_new) {
        (Some(t), _) => godur::parse(t).ok_or_else(|| {
            FeedError::BadAnswer(format!(
                "decision {id} ({shown}) has the duration {:?}, which is no duration",
                t.chars().take(40).collect::<String>()
            ))
        })?,
        (None, true) => {
            return Err(FeedError::BadAnswer(format!(
                "decision {id} ({shown}) has no duration"
            )))
        }
        (None, false) => Duration::ZERO,
    };
    let origin = d.origin.unwrap_or_default().to_lowercase();
    let scenario = d.scenario.unwrap_or_default();
    let key = match d.id {
        Some(i) => i.to_string(),
        None => format!("{}|{origin}|{scenario}", net.trunc()),
    };
    Ok(Some(Decision {
        key,
        net: net.trunc(),
        left,
        origin,
        scenario,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_startup_answer_gives_its_bans_and_ignores_other_decisions() {
        let body = br#"{"deleted":null,"new":[
            {"duration":"59m59.67s","id":1,"origin":"cscli","scenario":"manual","scope":"Ip","type":"ban","value":"203.0.113.9"},
            {"duration":"4h","id":2,"origin":"CAPI","scenario":"crowdsecurity/ssh-bf","scope":"range","type":"BAN","value":"2001:db8:66::/48"},
            {"duration":"4h","id":3,"origin":"cscli","scenario":"x","scope":"Country","type":"ban","value":"FR"},
            {"duration":"4h","id":4,"origin":"cscli","scenario":"x","scope":"Ip","type":"captcha","value":"192.0.2.1"}
        ]}"#;
        let d = parse(body).unwrap();
        assert_eq!(d.new.len(), 2);
        assert_eq!(d.ignored, 2);
        assert_eq!(d.new[0].net.to_string(), "203.0.113.9/32");
        assert_eq!(d.new[0].left.as_secs(), 3599);
        assert_eq!(d.new[1].net.to_string(), "2001:db8:66::/48");
        assert_eq!(d.new[1].origin, "capi");
        assert_eq!(d.new[1].key, "2");
    }

    #[test]
    fn deleted_decisions_have_negative_durations_and_null_lists_are_empty() {
        let body = br#"{"deleted":[{"duration":"-9.1ms","id":3,"origin":"cscli","scenario":"m","scope":"Ip","type":"ban","value":"2001:db8:1::10"}],"new":null}"#;
        let d = parse(body).unwrap();
        assert!(d.new.is_empty());
        assert_eq!(d.deleted[0].left, Duration::ZERO);
        assert_eq!(d.deleted[0].net.to_string(), "2001:db8:1::10/128");
        assert_eq!(
            parse(br#"{"deleted":null,"new":null}"#).unwrap(),
            Delta::default()
        );
    }

    #[test]
    fn a_value_that_is_no_address_refuses_the_whole_answer_and_names_it() {
        let body = br#"{"new":[
            {"duration":"1h","id":1,"origin":"cscli","scenario":"m","scope":"Ip","type":"ban","value":"203.0.113.9"},
            {"duration":"1h","id":7,"origin":"cscli","scenario":"m","scope":"Ip","type":"ban","value":"not-an-ip"}]}"#;
        let e = parse(body).unwrap_err().to_string();
        assert!(
            e.contains("decision id 7") && e.contains("\"not-an-ip\""),
            "{e}"
        );
        let e = parse(br#"{"new":[{"duration":"1h","id":8,"scope":"Range","type":"ban","value":"10.0.0.0/99"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no prefix"), "{e}");
        let e = parse(br#"{"new":[{"duration":"soon","id":9,"scope":"Ip","type":"ban","value":"192.0.2.1"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no duration"), "{e}");
    }

    #[test]
    fn garbage_and_wrong_shapes_are_refused() {
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"[]",
            b"{\"new\": 5}",
            b"{\"new\":[{\"value\":1}]}",
            b"",
        ] {
            assert!(
                matches!(parse(body), Err(FeedError::BadAnswer(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn ipv4_mapped_values_are_their_ipv4_address() {
        let d = parse(br#"{"new":[{"duration":"1h","id":1,"scope":"ip","type":"ban","value":"::ffff:192.0.2.7"},
            {"duration":"1h","id":2,"scope":"range","type":"ban","value":"::ffff:198.51.100.0/120"}]}"#)
        .unwrap();
        assert_eq!(d.new[0].net.to_string(), "192.0.2.7/32");
        assert_eq!(d.new[1].net.to_string(), "198.51.100.0/24");
    }
}

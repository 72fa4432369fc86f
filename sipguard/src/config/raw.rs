//! The policy file as serde reads it: one `Raw*` struct per table, every value wrapped in
//! [`Spanned`] so that validation can point at the line and column of a bad value.
//!
//! Nothing is checked here beyond TOML types and unknown keys (`deny_unknown_fields`); the
//! rules are in [`super::validate`]. The visitors at the end are hand-written because serde's
//! untagged enums buffer their input, which loses the spans.
use std::fmt;

use serde::{
    de::{self, Deserializer, SeqAccess, Visitor},
    Deserialize,
};
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) global: Option<RawGlobal>,
    pub(super) scanners: Option<RawScanners>,
    pub(super) autoban: Option<RawAutoban>,
    #[serde(default)]
    pub(super) logwatch: Vec<Spanned<RawLogwatch>>,
    #[serde(default)]
    pub(super) service: Vec<Spanned<RawService>>,
    pub(super) crowdsec: Option<Spanned<RawCrowdsec>>,
    pub(super) apiban: Option<Spanned<RawApiban>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCrowdsec {
    pub(super) lapi_url: Spanned<String>,
    pub(super) api_key: Option<Spanned<String>>,
    pub(super) api_key_file: Option<Spanned<String>>,
    pub(super) poll_interval: Option<Spanned<String>>,
    pub(super) metrics_interval: Option<Spanned<String>>,
    pub(super) origins: Option<Vec<Spanned<String>>>,
    pub(super) scenarios_containing: Option<Vec<Spanned<String>>>,
    pub(super) scenarios_not_containing: Option<Vec<Spanned<String>>>,
    pub(super) scope: Option<Spanned<String>>,
    pub(super) machine_id: Option<Spanned<String>>,
    pub(super) password: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApiban {
    pub(super) key: Option<Spanned<String>>,
    pub(super) key_file: Option<Spanned<String>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) set: Option<Spanned<String>>,
    pub(super) ban: Option<Spanned<String>>,
    pub(super) scope: Option<Spanned<String>>,
    pub(super) state: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGlobal {
    pub(super) mode: Option<Spanned<String>>,
    pub(super) default: Option<Spanned<String>>,
    pub(super) reply_ports: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) deny: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) trusted: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) protect: Vec<Spanned<String>>,
    pub(super) rate_ipv6_prefix: Option<Spanned<i64>>,
    pub(super) drop_samples: Option<Spanned<i64>>,
    pub(super) tracked_sources: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogwatch {
    pub(super) path: Spanned<String>,
    pub(super) patterns: Spanned<Vec<Spanned<String>>>,
    pub(super) failures: Option<Spanned<i64>>,
    pub(super) window: Option<Spanned<String>>,
    pub(super) ban: Option<Spanned<String>>,
    pub(super) scope: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAutoban {
    pub(super) enabled: Option<Spanned<bool>>,
    pub(super) failures: Option<Spanned<i64>>,
    pub(super) attempts: Option<Spanned<i64>>,
    pub(super) users: Option<Spanned<i64>>,
    pub(super) window: Option<Spanned<String>>,
    pub(super) ban: Option<Spanned<String>>,
    pub(super) scope: Option<Spanned<String>>,
    pub(super) learned_trust: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScanners {
    pub(super) enabled: Option<Spanned<bool>>,
    pub(super) user_agents: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) extra_user_agents: Vec<Spanned<String>>,
    pub(super) ban: Option<Spanned<String>>,
    pub(super) recheck: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) register: Option<Spanned<RawLimit>>,
    pub(super) invite: Option<Spanned<RawLimit>>,
    pub(super) other: Option<Spanned<RawLimit>>,
    pub(super) syn: Option<Spanned<RawLimit>>,
    pub(super) echo: Option<Spanned<RawLimit>>,
    pub(super) syn_budget: Option<Spanned<RawLimit>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimit {
    pub(super) rate: Spanned<i64>,
    pub(super) burst: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) name: Spanned<String>,
    pub(super) protocol: Spanned<RawProtocols>,
    pub(super) ports: Option<Spanned<RawPorts>>,
    pub(super) allow: Spanned<Vec<Spanned<String>>>,
    pub(super) to: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) mode: Option<Spanned<String>>,
    pub(super) sip: Option<Spanned<bool>>,
    pub(super) limits: Option<Spanned<RawLimits>>,
}

/// `protocol = "udp"` or `protocol = ["udp", "tcp"]`.
pub(super) enum RawProtocols {
    One(String),
    Many(Vec<Spanned<String>>),
}

/// `ports = 5060`, `ports = "10000-20000"` or `ports = [5060, "10000-20000"]`.
pub(super) enum RawPorts {
    One(RawPort),
    Many(Vec<Spanned<RawPort>>),
}

pub(super) enum RawPort {
    Int(i64),
    Str(String),
}

// Hand-written visitors (see the module doc).

impl<'de> Deserialize<'de> for RawProtocols {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawProtocols;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""udp", "tcp", "icmp" or an array such as ["udp", "tcp"]"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawProtocols::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element()? {
                    out.push(p);
                }
                Ok(RawProtocols::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPort;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a port number or a "LO-HI" range string"#)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawPort::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawPort::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawPort::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawPorts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPorts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a port, a "LO-HI" range, or an array of them"#)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawPorts::One(RawPort::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawPorts::One(RawPort::Int(
                    i64::try_from(v).unwrap_or(i64::MAX),
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawPorts::One(RawPort::Str(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element()? {
                    out.push(p);
                }
                Ok(RawPorts::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

//! `[scanners]`: the User-Agent fingerprints of SIP scanners and what a match costs. The
//! patterns are checked with the data plane's own table (`sipguard_common::ua::Scanners`), so
//! a list that validates always fits the map.
use std::time::Duration;

use sipguard_common::ua::{
    PatternError, Scanners, MAX_PATTERNS, MAX_PER_SLOT, PATTERN_MAX, PATTERN_MIN,
};
use toml::Spanned;

use super::Validator;
use crate::{
    config::{raw::RawScanners, ConfigError, ScannerPolicy},
    parse,
};

impl Validator<'_> {
    pub(super) fn scanners(&self, raw: &RawScanners) -> Result<ScannerPolicy, ConfigError> {
        let field = |name: &str| format!("[scanners] field `{name}`");
        let mut policy = ScannerPolicy::default();
        if let Some(e) = &raw.enabled {
            policy.enabled = *e.get_ref();
        }
        let mut listed: Vec<&Spanned<String>> = Vec::new();
        if let Some(list) = &raw.user_agents {
            policy.user_agents.clear();
            listed.extend(list);
        }
        listed.extend(&raw.extra_user_agents);
        let mut table = Scanners::default();
        for ua in &policy.user_agents {
            // The built-in list always fits.
            let _ = table.push(ua.as_bytes());
        }
        for entry in listed {
            let name = if raw
                .user_agents
                .as_ref()
                .is_some_and(|l| l.iter().any(|e| std::ptr::eq(e, entry)))
            {
                "user_agents"
            } else {
                "extra_user_agents"
            };
            let text = entry.get_ref();
            let lower = text.to_ascii_lowercase();
            if policy
                .user_agents
                .iter()
                .any(|u| u.to_ascii_lowercase() == lower)
            {
                continue;
            }
            if let Err(e) = table.push(text.as_bytes()) {
                return Err(self.at_value(&entry.span(), field(name), pattern_message(e)));
            }
            policy.user_agents.push(text.clone());
        }
        if let Some(b) = &raw.ban {
            let d = parse::duration(b.get_ref())
                .map_err(|e| self.at_value(&b.span(), field("ban"), e))?;
            if d.as_secs() > u32::MAX as u64 {
                return Err(self.at_value(&b.span(), field("ban"), "too long"));
            }
            policy.ban = (!d.is_zero()).then_some(d);
        }
        if let Some(r) = &raw.recheck {
            let d = parse::duration(r.get_ref())
                .map_err(|e| self.at_value(&r.span(), field("recheck"), e))?;
            if d > Duration::from_secs(3600) {
                return Err(self.at_value(
                    &r.span(),
                    field("recheck"),
                    "at most 1h: a source's remembered verdict must not outlive the policy",
                ));
            }
            policy.recheck = d;
        }
        Ok(policy)
    }
}

/// Why the scanner table refused a pattern, in the admin's terms.
fn pattern_message(e: PatternError) -> String {
    match e {
        PatternError::TooShort => format!(
            "too short: at least {PATTERN_MIN} characters (shorter substrings match honest phones)"
        ),
        PatternError::TooLong => format!("too long: at most {PATTERN_MAX} bytes"),
        PatternError::NotPrintableAscii => "only printable ASCII characters can be matched".into(),
        PatternError::TooMany => {
            format!("too many User-Agent patterns: at most {MAX_PATTERNS} in all")
        }
        PatternError::SlotFull => format!(
            "more than {MAX_PER_SLOT} patterns start with the same 4 letters (or share their \
             table slot): merge them into a shorter pattern"
        ),
    }
}

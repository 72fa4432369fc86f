//! `[autoban]`: bans from the PBX's own answers. A `[[logwatch]]` takes the same fields with
//! the same checks, so this validator serves both (`section` names which).
use std::time::Duration;

use toml::Spanned;

use super::Validator;
use crate::{
    config::{raw::RawAutoban, AutobanPolicy, ConfigError},
    parse,
};

impl Validator<'_> {
    /// `[autoban]`, or the same fields of a `[[logwatch]]` (`section` names which).
    pub(super) fn autoban(
        &self,
        raw: &RawAutoban,
        section: &str,
    ) -> Result<AutobanPolicy, ConfigError> {
        let field = |name: &str| format!("{section} field `{name}`");
        let mut policy = AutobanPolicy::default();
        if let Some(e) = &raw.enabled {
            policy.enabled = *e.get_ref();
        }
        if let Some(f) = &raw.failures {
            policy.failures = match u32::try_from(*f.get_ref()) {
                Ok(n @ 1..=1000) => n,
                _ => {
                    return Err(self.at_value(
                        &f.span(),
                        field("failures"),
                        "expected 1 to 1000 (failures counted toward the ban)",
                    ))
                }
            };
        }
        if let Some(u) = &raw.users {
            policy.users = match u32::try_from(*u.get_ref()) {
                Ok(n @ (0 | 2..=10000)) => n,
                _ => {
                    return Err(self.at_value(
                        &u.span(),
                        field("users"),
                        "expected 0 (off) or 2 to 10000 (SIP users a source's failures may name before it is banned)",
                    ))
                }
            };
        }
        if let Some(a) = &raw.attempts {
            policy.attempts = match u32::try_from(*a.get_ref()) {
                Ok(n @ 0..=1000) => n,
                _ => {
                    return Err(self.at_value(
                        &a.span(),
                        field("attempts"),
                        "expected 0 (off) to 1000 (requests with credentials tolerated without a 2xx back)",
                    ))
                }
            };
        }
        let duration = |raw: &Option<Spanned<String>>, name: &str, max: Duration| {
            let Some(v) = raw else {
                return Ok(None);
            };
            let d = parse::duration(v.get_ref())
                .map_err(|e| self.at_value(&v.span(), field(name), e))?;
            if d < Duration::from_secs(1) || d > max {
                return Err(self.at_value(
                    &v.span(),
                    field(name),
                    format!("expected from 1s to {}d", max.as_secs() / 86400),
                ));
            }
            Ok(Some(d))
        };
        if let Some(d) = duration(&raw.window, "window", Duration::from_secs(86400))? {
            policy.window = d;
        }
        if let Some(d) = duration(&raw.ban, "ban", Duration::from_secs(365 * 86400))? {
            policy.ban = d;
        }
        if let Some(v) = &raw.learned_trust {
            let d = parse::duration(v.get_ref())
                .map_err(|e| self.at_value(&v.span(), field("learned_trust"), e))?;
            if !d.is_zero() && (d < Duration::from_secs(1) || d > Duration::from_secs(30 * 86400)) {
                return Err(self.at_value(
                    &v.span(),
                    field("learned_trust"),
                    "expected 0s (off) or from 1s to 30d",
                ));
            }
            policy.learned_trust = d;
        }
        if let Some(s) = &raw.scope {
            policy.sip_only = match s.get_ref().as_str() {
                "all" => false,
                "sip" => true,
                _ => return Err(self.at_value(
                    &s.span(),
                    field("scope"),
                    r#"expected "all" (every packet of the source) or "sip" (SIP services only)"#,
                )),
            };
        }
        Ok(policy)
    }
}

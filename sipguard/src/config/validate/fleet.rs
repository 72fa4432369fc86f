//! `[crowdsec]` and `[apiban]`: the fleet feeds. URLs, credentials (inline or a file, never
//! both), intervals bounded by what the services allow, and the ban scope.
use std::{path::PathBuf, time::Duration};

use toml::Spanned;

use super::Validator;
use crate::{
    config::{
        raw::{RawApiban, RawCrowdsec},
        ApibanPolicy, ConfigError, CrowdsecPolicy, Secret, DEFAULT_APIBAN_STATE,
        DEFAULT_APIBAN_URL, DEFAULT_CROWDSEC_METRICS, DEFAULT_CROWDSEC_POLL,
    },
    parse,
};

/// APIBan allows 11 requests per 2 minutes and key: a feed read more often than this would
/// only meet its 429s.
const APIBAN_MIN_INTERVAL: Duration = Duration::from_secs(60);
/// APIBan's own ban life.
const APIBAN_DEFAULT_BAN: Duration = Duration::from_secs(7 * 86400);

impl Validator<'_> {
    pub(super) fn crowdsec(&self, raw: &RawCrowdsec) -> Result<CrowdsecPolicy, ConfigError> {
        let field = |name: &str| format!("[crowdsec] field `{name}`");
        let lapi_url = self.url(&raw.lapi_url, field("lapi_url"))?;
        let api_key = self.secret(&raw.api_key, &raw.api_key_file, "[crowdsec]", "api_key")?;
        let poll_interval = match &raw.poll_interval {
            Some(v) => self.bounded_duration(
                v,
                field("poll_interval"),
                Duration::from_secs(1),
                Duration::from_secs(3600),
            )?,
            None => DEFAULT_CROWDSEC_POLL,
        };
        let metrics_interval = match &raw.metrics_interval {
            // "0", "0s", ... or "off": no push.
            Some(v)
                if v.get_ref().trim() == "off"
                    || parse::duration(v.get_ref()) == Ok(Duration::ZERO) =>
            {
                None
            }
            Some(v) => Some(self.bounded_duration(
                v,
                field("metrics_interval"),
                Duration::from_secs(1),
                Duration::from_secs(86400),
            )?),
            None => Some(DEFAULT_CROWDSEC_METRICS),
        };
        let words = |list: &Option<Vec<Spanned<String>>>, name: &str| {
            let mut out = Vec::new();
            for w in list.iter().flatten() {
                let t = w.get_ref().trim().to_lowercase();
                if t.is_empty() || t.len() > 128 || t.chars().any(char::is_control) {
                    return Err(self.at_value(
                        &w.span(),
                        field(name),
                        "expected a non-empty word of at most 128 characters",
                    ));
                }
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            Ok(out)
        };
        let origins = words(&raw.origins, "origins")?;
        let scenarios_containing = words(&raw.scenarios_containing, "scenarios_containing")?;
        let scenarios_not_containing =
            words(&raw.scenarios_not_containing, "scenarios_not_containing")?;
        let sip_only = self.scope(&raw.scope, field("scope"))?;
        let password = self.secret(&raw.password, &raw.password_file, "[crowdsec]", "password")?;
        let machine = match (&raw.machine_id, password) {
            (Some(id), Some(p)) => {
                let name = id.get_ref().trim();
                if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                    return Err(self.at_value(
                        &id.span(),
                        field("machine_id"),
                        "expected the machine's name (`cscli machines add NAME`)",
                    ));
                }
                Some((name.to_owned(), p))
            }
            (Some(id), None) => {
                return Err(self.at(
                    &id.span(),
                    field("machine_id"),
                    "needs `password` or `password_file` (the machine's password)",
                ))
            }
            (None, Some(_)) => {
                let span = raw
                    .password
                    .as_ref()
                    .or(raw.password_file.as_ref())
                    .map(Spanned::span)
                    .unwrap_or_default();
                return Err(self.at(
                    &span,
                    field("password"),
                    "a password needs `machine_id` (the machine it logs in as)",
                ));
            }
            (None, None) => None,
        };
        if api_key.is_none() && machine.is_none() {
            return Err(self.at(
                &raw.lapi_url.span(),
                "[crowdsec]".into(),
                "needs `api_key`/`api_key_file` (a bouncer key: decisions in) or `machine_id` \
                 with a password (alerts out), or both",
            ));
        }
        Ok(CrowdsecPolicy {
            lapi_url,
            api_key,
            poll_interval,
            metrics_interval,
            origins,
            scenarios_containing,
            scenarios_not_containing,
            sip_only,
            machine,
        })
    }

    pub(super) fn apiban(&self, raw: &Spanned<RawApiban>) -> Result<ApibanPolicy, ConfigError> {
        let table = raw.span();
        let raw = raw.get_ref();
        let field = |name: &str| format!("[apiban] field `{name}`");
        let key = self
            .secret(&raw.key, &raw.key_file, "[apiban]", "key")?
            .ok_or_else(|| {
                self.at(
                    &table,
                    "[apiban]".into(),
                    "needs `key` or `key_file` (the APIBan key)",
                )
            })?;
        let url = match &raw.url {
            Some(u) => self.url(u, field("url"))?,
            None => DEFAULT_APIBAN_URL.to_owned(),
        };
        let interval = match &raw.interval {
            Some(v) => self.bounded_duration(
                v,
                field("interval"),
                APIBAN_MIN_INTERVAL,
                Duration::from_secs(86400),
            )?,
            None => Duration::from_secs(600),
        };
        if let Some(s) = &raw.set {
            if s.get_ref() != "sip" {
                return Err(self.at_value(
                    &s.span(),
                    field("set"),
                    r#"expected "sip" (APIBan's list of SIP attackers)"#,
                ));
            }
        }
        let ban = match &raw.ban {
            Some(v) => self.bounded_duration(
                v,
                field("ban"),
                Duration::from_secs(60),
                Duration::from_secs(365 * 86400),
            )?,
            None => APIBAN_DEFAULT_BAN,
        };
        let sip_only = self.scope(&raw.scope, field("scope"))?;
        let state = match &raw.state {
            Some(p) if p.get_ref().starts_with('/') => PathBuf::from(p.get_ref()),
            Some(p) => {
                return Err(self.at_value(&p.span(), field("state"), "expected an absolute path"))
            }
            None => PathBuf::from(DEFAULT_APIBAN_STATE),
        };
        Ok(ApibanPolicy {
            key,
            url,
            interval,
            ban,
            sip_only,
            state,
        })
    }

    /// An `http://` or `https://` URL with a host, without its trailing slash.
    fn url(&self, raw: &Spanned<String>, field: String) -> Result<String, ConfigError> {
        let u = raw.get_ref().trim();
        let rest = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("https://"));
        let ok = rest.is_some_and(|r| {
            let host = r.split('/').next().unwrap_or("");
            !host.is_empty()
                && !r.contains(['?', '#'])
                && !r.chars().any(|c| c.is_whitespace() || c.is_control())
        });
        if !ok {
            return Err(self.at_value(
                &raw.span(),
                field,
                "expected an http:// or https:// URL such as \"http://127.0.0.1:8080\"",
            ));
        }
        Ok(u.trim_end_matches('/').to_owned())
    }

    /// `NAME` inline or `NAME_file`, never both; `None` when neither is given.
    fn secret(
        &self,
        inline: &Option<Spanned<String>>,
        file: &Option<Spanned<String>>,
        section: &str,
        name: &str,
    ) -> Result<Option<Secret>, ConfigError> {
        match (inline, file) {
            (Some(_), Some(f)) => Err(self.at(
                &f.span(),
                format!("{section} field `{name}_file`"),
                format!("give `{name}` or `{name}_file`, not both"),
            )),
            (Some(s), None) if s.get_ref().trim().is_empty() => Err(self.at(
                &s.span(),
                format!("{section} field `{name}`"),
                "must not be empty",
            )),
            (Some(s), None) => Ok(Some(Secret::Inline(s.get_ref().trim().to_owned()))),
            (None, Some(f)) if f.get_ref().starts_with('/') => {
                Ok(Some(Secret::File(PathBuf::from(f.get_ref()))))
            }
            (None, Some(f)) => Err(self.at_value(
                &f.span(),
                format!("{section} field `{name}_file`"),
                "expected an absolute path",
            )),
            (None, None) => Ok(None),
        }
    }

    fn bounded_duration(
        &self,
        v: &Spanned<String>,
        field: String,
        min: Duration,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        let d =
            parse::duration(v.get_ref()).map_err(|e| self.at_value(&v.span(), field.clone(), e))?;
        if d < min || d > max {
            return Err(self.at_value(
                &v.span(),
                field,
                format!("expected from {}s to {}s", min.as_secs(), max.as_secs()),
            ));
        }
        Ok(d)
    }

    /// `scope`: `"all"` (false, the default) or `"sip"` (true).
    fn scope(&self, raw: &Option<Spanned<String>>, field: String) -> Result<bool, ConfigError> {
        match raw.as_ref().map(|s| (s, s.get_ref().as_str())) {
            None | Some((_, "all")) => Ok(false),
            Some((_, "sip")) => Ok(true),
            Some((s, _)) => Err(self.at_value(
                &s.span(),
                field,
                r#"expected "all" (every packet of the source) or "sip" (SIP services only)"#,
            )),
        }
    }
}

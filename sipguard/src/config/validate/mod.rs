//! Validation: the raw structs of [`super::raw`] checked into the types of [`super`].
//!
//! [`Validator`] holds the policy text and its file name. It turns the byte spans serde kept
//! into line and column and builds every [`ConfigError`]; each section's rules are methods on
//! it, one file per section. Validation stops at the first error, which names the field and
//! shows the value as written.
use std::ops::Range;

use super::{
    locate, raw::RawConfig, AutobanPolicy, Config, ConfigError, Global, Mode, ScannerPolicy,
};

mod autoban;
mod fleet;
mod global;
mod logwatch;
mod overlaps;
mod scanners;
mod service;

type Span = Range<usize>;

/// The policy text being validated, and the name errors give it.
pub(super) struct Validator<'a> {
    text: &'a str,
    file: &'a str,
}

impl<'a> Validator<'a> {
    pub(super) fn new(text: &'a str, file: &'a str) -> Self {
        Self { text, file }
    }
}

impl Validator<'_> {
    /// The whole policy. Sections left out get their defaults.
    pub(super) fn config(&self, raw: &RawConfig) -> Result<Config, ConfigError> {
        let global = match &raw.global {
            Some(g) => self.global(g)?,
            None => Global::default(),
        };
        let services = self.services(&raw.service)?;
        self.check_to_within_protect(&raw.service, &global.protect)?;
        let scanners = match &raw.scanners {
            Some(s) => self.scanners(s)?,
            None => ScannerPolicy::default(),
        };
        let autoban = match &raw.autoban {
            Some(a) => self.autoban(a, "[autoban]")?,
            None => AutobanPolicy::default(),
        };
        let logwatch = raw
            .logwatch
            .iter()
            .enumerate()
            .map(|(i, w)| self.logwatch(i, w.get_ref()))
            .collect::<Result<Vec<_>, _>>()?;

        let crowdsec = raw
            .crowdsec
            .as_ref()
            .map(|c| self.crowdsec(c.get_ref()))
            .transpose()?;
        let apiban = raw.apiban.as_ref().map(|a| self.apiban(a)).transpose()?;

        Ok(Config {
            crowdsec,
            apiban,
            global,
            services,
            scanners,
            autoban,
            logwatch,
            source: self.file.to_owned(),
            text: self.text.to_owned(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Positions and errors
    // -----------------------------------------------------------------------------------------

    /// 1-based line and column (in characters) of byte `offset`.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    fn line(&self, span: &Span) -> usize {
        self.line_col(span.start).0
    }

    /// The text of `span` as written, on one line and shortened if long.
    fn snippet(&self, span: &Span) -> Option<String> {
        let s = self.text.get(span.clone())?;
        if s.is_empty() {
            return None;
        }
        let s = if s.contains('\n') {
            s.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            s.to_owned()
        };
        const MAX: usize = 60;
        if s.chars().count() > MAX {
            Some(format!("{}...", s.chars().take(MAX).collect::<String>()))
        } else {
            Some(s)
        }
    }

    fn error(
        &self,
        span: &Span,
        field: String,
        value: Option<String>,
        message: String,
    ) -> ConfigError {
        let (line, column) = self.line_col(span.start);
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line,
            column,
            field,
            value,
            message,
        }
    }

    /// An error about the value at `span`.
    fn at_value(&self, span: &Span, field: String, message: impl Into<String>) -> ConfigError {
        self.error(span, field, self.snippet(span), message.into())
    }

    /// An error located at `span` without a value (a missing field, a table).
    fn at(&self, span: &Span, field: String, message: impl Into<String>) -> ConfigError {
        self.error(span, field, None, message.into())
    }

    /// Converts a TOML syntax or deserialization error, naming the field it is about.
    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let l = locate::toml_error(self.text, e);
        let value = if l.show_value {
            self.snippet(&l.span)
        } else {
            None
        };
        self.error(&l.span, l.field, value, l.message)
    }
}

/// `mode`, of `[global]` or of a service.
fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "enforce" => Ok(Mode::Enforce),
        "monitor" => Ok(Mode::Monitor),
        _ => Err(r#"expected "enforce" or "monitor""#.into()),
    }
}

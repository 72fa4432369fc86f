//! `[[logwatch]]`: a log file, its patterns (built-in sets or regexes with `<HOST>`), and the
//! `[autoban]` fields that say when a blamed address is banned, with fail2ban's usual window.
//!
//! A user regex that is not anchored to the whole line (`^...$`) is accepted, not refused:
//! refusing would break configs that worked, and such a pattern still blames nobody when it
//! matches a line twice. `sipguard check` and the daemon warn about it
//! ([`LogWatch::warnings`]), since text the remote side writes into the line can steer it.
use std::{path::PathBuf, time::Duration};

use super::Validator;
use crate::config::{
    log_rules,
    raw::{RawAutoban, RawLogwatch},
    ConfigError, LogWatch,
};

/// A watch's window when it sets none: fail2ban's `findtime` default.
const DEFAULT_WINDOW: Duration = Duration::from_secs(600);

impl Validator<'_> {
    /// The `index`-th `[[logwatch]]` (0-based; errors count from 1).
    pub(super) fn logwatch(
        &self,
        index: usize,
        raw: &RawLogwatch,
    ) -> Result<LogWatch, ConfigError> {
        let field = |name: &str| format!("[[logwatch]] #{} field `{name}`", index + 1);
        let path = raw.path.get_ref();
        if !path.starts_with('/') {
            return Err(self.at_value(
                &raw.path.span(),
                field("path"),
                "expected an absolute path",
            ));
        }
        let mut rules = Vec::new();
        for p in raw.patterns.get_ref() {
            match log_rules::builtin(p.get_ref()) {
                Some(set) => rules.extend(set),
                None => rules.push(log_rules::compile(p.get_ref()).map_err(|e| {
                    self.at_value(
                        &p.span(),
                        field("patterns"),
                        format!(
                            "neither a built-in set ({}) nor a usable regex: {e}",
                            log_rules::SETS
                                .iter()
                                .map(|s| format!("{s:?}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?),
            }
        }
        if rules.is_empty() {
            return Err(self.at(
                &raw.patterns.span(),
                field("patterns"),
                "must not be empty: name a built-in set or give regexes with <HOST>",
            ));
        }
        // The same fields and checks as [autoban].
        let autoban = self.autoban(
            &RawAutoban {
                enabled: None,
                failures: raw.failures.clone(),
                attempts: None,
                users: None,
                window: raw.window.clone(),
                ban: raw.ban.clone(),
                scope: raw.scope.clone(),
                learned_trust: None,
            },
            &format!("[[logwatch]] #{}", index + 1),
        )?;
        let window = if raw.window.is_some() {
            autoban.window
        } else {
            DEFAULT_WINDOW
        };
        Ok(LogWatch {
            path: PathBuf::from(path),
            rules,
            failures: autoban.failures,
            window,
            ban: autoban.ban,
            sip_only: autoban.sip_only,
        })
    }
}

//! `[[logwatch]]`: a log file, its patterns (built-in sets or regexes with `<HOST>`), and the
//! `[autoban]` fields that say when a blamed address is banned, with fail2ban's usual window.
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
                // The built-in sets compile: `builtin_sets_compile` in log_rules tests it.
                Some(set) => rules.extend(set.iter().filter_map(|r| log_rules::compile(r).ok())),
                None => rules.push(log_rules::compile(p.get_ref()).map_err(|e| {
                    self.at_value(
                        &p.span(),
                        field("patterns"),
                        format!(
                            "neither a built-in set (\"asterisk\", \"kamailio\", \"sshd\") nor a \
                             usable regex: {e}"
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
                window: raw.window.clone(),
                ban: raw.ban.clone(),
                scope: raw.scope.clone(),
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

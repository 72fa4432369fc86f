//! The policy file: TOML text to a validated [`Config`], as `sipguard check` and the daemon
//! read it ([`Config::from_str`] is what [`Config::from_file`] calls on the file's text).
//!
//! Any text gets a config or an error, never a panic; an error names the file, a line and a
//! column inside the text and the field, and says what is wrong; a config diffs as unchanged
//! against itself.
use crate::config::{diff::diff, Config, ConfigError};

/// What errors name as the file.
const SOURCE: &str = "fuzz.toml";

pub fn run(data: &[u8]) {
    // `from_file` reads the file as UTF-8 and refuses anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_str(text, SOURCE) {
        Ok(config) => {
            assert_eq!(config.source, SOURCE);
            let changes = diff(&config, &config);
            assert!(
                changes.is_empty(),
                "a config differs from itself: {changes:?}"
            );
        }
        Err(ConfigError::Invalid {
            file,
            line,
            column,
            field,
            value: _,
            message,
        }) => {
            assert_eq!(file, SOURCE);
            assert!(
                !field.trim().is_empty(),
                "an error naming no field: {message}"
            );
            // A line past the last is where an unterminated table or string ends.
            let lines = text.split('\n').count();
            assert!(
                (1..=lines + 1).contains(&line),
                "line {line} of a text of {lines}"
            );
            assert!(column >= 1, "column {column}");
            assert!(!message.trim().is_empty(), "an error without a message");
        }
        Err(e @ ConfigError::Io { .. }) => panic!("parsing text did I/O: {e}"),
    }
}

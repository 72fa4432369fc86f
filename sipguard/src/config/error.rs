//! [`ConfigError`]: the one error type of the config layer.
//!
//! Every rejection names the file, line, column and field, and the value as written, so that
//! an admin can fix a policy from the message alone; the daemon refuses such a policy before
//! any map is touched.

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid policy. `line` and `column` are 1-based and point at `value`
    /// (or at the key or table header when there is no value to show). `value` is the text as
    /// written in the file.
    #[error("{file}:{line}:{column}: {field}{}: {message}", value_suffix(value))]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        value: Option<String>,
        message: String,
    },
}

fn value_suffix(value: &Option<String>) -> String {
    match value {
        Some(v) => format!(" value {v}"),
        None => String::new(),
    }
}

//! The validation tests, one file per section of the policy. Each test parses a small policy
//! with [`Config::from_str`] and checks the validated value, or the error's line, column,
//! field, value and message: the error is the interface an admin sees.
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use ipnet::IpNet;

use super::*;

mod addresses;
mod autoban;
mod capacity;
mod defaults;
mod destinations;
mod errors;
mod fleet;
mod global;
mod logwatch;
mod overlaps;
mod ports;
mod rate_limits;
mod scanners;
mod services;

fn parse(text: &str) -> Config {
    match Config::from_str(text, "test.toml") {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got: {e}"),
    }
}

/// The error for `text`: (line, column, field, value, message).
fn fail(text: &str) -> (usize, usize, String, Option<String>, String) {
    match Config::from_str(text, "test.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(ConfigError::Invalid {
            file,
            line,
            column,
            field,
            value,
            message,
        }) => {
            assert_eq!(file, "test.toml");
            (line, column, field, value, message)
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn range(lo: u16, hi: u16) -> PortRange {
    PortRange { lo, hi }
}

fn err(text: &str) -> String {
    Config::from_str(text, "t.toml").unwrap_err().to_string()
}

//! FreePBX's own credentials: `/etc/freepbx.conf` (`$amp_conf['AMPDBPASS'] = '...';`) and the
//! older `/etc/amportal.conf` (`AMPDBPASS=...`): the MySQL, AMI, ARI and FOP passwords the
//! field guides tell admins to change from the shipped defaults.
use std::path::Path;

use super::{check_secret, secrets::Secret, Finding, Location, Paths, Severity};

/// Keys holding passwords, and what they protect.
const KEYS: &[(&str, &str)] = &[
    ("AMPDBPASS", "MySQL password of FreePBX's database user"),
    ("CDRDBPASS", "MySQL password of the CDR database user"),
    ("AMPMGRPASS", "AMI secret FreePBX logs in with"),
    (
        "ARI_ADMIN_PASSWORD",
        "ARI (recordings interface) admin password",
    ),
    ("FOPPASSWORD", "Flash Operator Panel password"),
];

pub fn audit(paths: &Paths, out: &mut Vec<Finding>) -> Vec<String> {
    let mut files = Vec::new();
    for path in [&paths.freepbx_conf, &paths.amportal_conf] {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        files.push(path.display().to_string());
        rules(path, &String::from_utf8_lossy(&bytes), out);
    }
    files
}

/// `(key, value, line)` of `KEY=value` and `$amp_conf["KEY"] = "value";` lines.
pub fn assignments(text: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('#') || l.starts_with("//") || l.starts_with(';') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let key = k
            .trim()
            .trim_start_matches("$amp_conf")
            .trim_matches(|c| matches!(c, '[' | ']' | '"' | '\'' | ' '));
        let value = v
            .trim()
            .trim_end_matches(';')
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !key.is_empty() {
            out.push((key.to_owned(), value.to_owned(), i + 1));
        }
    }
    out
}

pub fn rules(path: &Path, text: &str, out: &mut Vec<Finding>) {
    for (key, value, line) in assignments(text) {
        let Some(&(_, what)) = KEYS.iter().find(|(k, _)| *k == key) else {
            continue;
        };
        let user = match key.as_str() {
            "AMPDBPASS" => "AMPDBUSER",
            "CDRDBPASS" => "CDRDBUSER",
            "AMPMGRPASS" => "AMPMGRUSER",
            _ => "",
        };
        let users: Vec<String> = assignments(text)
            .into_iter()
            .filter(|(k, _, _)| k == user)
            .map(|(_, v, _)| v)
            .collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        let secret = Secret::new(value);
        let default = super::secrets::weaknesses(&secret, &users)
            .iter()
            .any(|w| matches!(w, super::secrets::Weakness::KnownDefault(_)));
        check_secret(
            out,
            if default {
                Severity::High
            } else {
                Severity::Medium
            },
            "freepbx.password",
            Location::file(path, line),
            &format!("{key} ({what})"),
            &secret,
            &users,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn historical_defaults_are_high_in_both_formats() {
        let mut out = Vec::new();
        rules(
            Path::new("/etc/freepbx.conf"),
            "<?php\n$amp_conf['AMPDBUSER'] = 'freepbxuser';\n$amp_conf['AMPDBPASS'] = 'amp109';\n",
            &mut out,
        );
        rules(
            Path::new("/etc/amportal.conf"),
            "# comment\nAMPMGRUSER=admin\nAMPMGRPASS=amp111\nAMPDBPASS=Vq7#mZp2!xLr9@Tb\n",
            &mut out,
        );
        let got: Vec<(String, Severity)> = out
            .iter()
            .map(|f| (f.location.to_string(), f.severity))
            .collect();
        assert_eq!(
            got,
            [
                ("/etc/freepbx.conf:3".into(), Severity::High),
                ("/etc/amportal.conf:3".into(), Severity::High),
            ]
        );
        assert!(out.iter().all(|f| !f.what.contains("amp1")));
    }
}

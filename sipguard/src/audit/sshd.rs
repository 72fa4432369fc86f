//! `sshd_config`: root logins with a password. sshd takes the first value of each keyword
//! (first match wins), follows `Include` (globs, relative to /etc/ssh) in place, and applies a
//! `Match` block's keywords on top of the global ones for the connections it matches.
use std::path::{Path, PathBuf};

use super::{asterisk::glob_match, Finding, Location, Paths, Severity};

/// One keyword line.
#[derive(Clone, Debug)]
struct Line {
    key: String,
    value: String,
    loc: Location,
}

/// The global keywords and each Match block, in file order.
#[derive(Debug, Default)]
pub struct SshdConfig {
    global: Vec<Line>,
    /// (condition, its header, its lines)
    matches: Vec<(String, Location, Vec<Line>)>,
    problems: Vec<(Location, String)>,
}

impl SshdConfig {
    /// The first global value of `key` (lower case).
    fn global(&self, key: &str) -> Option<&Line> {
        self.global.iter().find(|l| l.key == key)
    }
}

pub fn audit(paths: &Paths, out: &mut Vec<Finding>) -> Vec<String> {
    let path = &paths.sshd_config;
    if !path.exists() {
        return Vec::new();
    }
    let mut cfg = SshdConfig::default();
    let mut stack = Vec::new();
    let mut current = None;
    read(path, &paths.root, &mut cfg, &mut stack, &mut current, None);
    rules(&cfg, out);
    vec![path.display().to_string()]
}

/// Parses `text` (file `name`), no includes. For unit tests.
pub fn parse_str(text: &str, name: &str) -> SshdConfig {
    let mut cfg = SshdConfig::default();
    let mut current = None;
    lines(
        text,
        Path::new(name),
        Path::new("/nonexistent"),
        &mut cfg,
        &mut Vec::new(),
        &mut current,
    );
    cfg
}

fn read(
    path: &Path,
    root: &Path,
    cfg: &mut SshdConfig,
    stack: &mut Vec<PathBuf>,
    current: &mut Option<usize>,
    from: Option<&Location>,
) {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if stack.contains(&canonical) {
        if let Some(l) = from {
            cfg.problems.push((
                l.clone(),
                format!("Include loop: {} is already being read", path.display()),
            ));
        }
        return;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    stack.push(canonical);
    let saved = *current;
    lines(
        &String::from_utf8_lossy(&bytes),
        path,
        root,
        cfg,
        stack,
        current,
    );
    // A Match block in an included file ends with that file.
    if from.is_some() {
        *current = saved;
    }
    stack.pop();
}

fn lines(
    text: &str,
    path: &Path,
    root: &Path,
    cfg: &mut SshdConfig,
    stack: &mut Vec<PathBuf>,
    current: &mut Option<usize>,
) {
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (key, value) = match l.find(|c: char| c.is_whitespace() || c == '=') {
            Some(p) => (
                &l[..p],
                l[p..]
                    .trim_start_matches(|c: char| c.is_whitespace() || c == '=')
                    .trim(),
            ),
            None => (l, ""),
        };
        let key = key.to_ascii_lowercase();
        let loc = Location::file(path, i + 1);
        match key.as_str() {
            "match" => {
                cfg.matches.push((value.to_owned(), loc, Vec::new()));
                *current = Some(cfg.matches.len() - 1);
            }
            "include" => {
                for pattern in value.split_whitespace() {
                    let p = if let Some(abs) = pattern.strip_prefix('/') {
                        root.join(abs)
                    } else {
                        root.join("etc/ssh").join(pattern)
                    };
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let dir = p.parent().unwrap_or(Path::new("/")).to_path_buf();
                    let mut files: Vec<PathBuf> = if name.contains(['*', '?', '[']) {
                        std::fs::read_dir(&dir)
                            .into_iter()
                            .flatten()
                            .flatten()
                            .filter(|e| glob_match(&name, &e.file_name().to_string_lossy()))
                            .map(|e| e.path())
                            .collect()
                    } else {
                        vec![p]
                    };
                    files.sort();
                    for f in files {
                        read(&f, root, cfg, stack, current, Some(&loc));
                    }
                }
            }
            _ => {
                let line = Line {
                    key,
                    value: value.to_owned(),
                    loc,
                };
                match current {
                    Some(m) => cfg.matches[*m].2.push(line),
                    None => cfg.global.push(line),
                }
            }
        }
    }
}

fn yes(v: &str) -> bool {
    v.eq_ignore_ascii_case("yes")
}

const FIX: &str = "set `PermitRootLogin prohibit-password` (or `no`) and log in as a user with \
    sudo; then `sshd -t && systemctl reload ssh`";

pub fn rules(cfg: &SshdConfig, out: &mut Vec<Finding>) {
    for (loc, what) in &cfg.problems {
        out.push(Finding::new(
            Severity::Medium,
            "sshd.parse",
            loc.clone(),
            what.clone(),
            "remove the Include that loops",
        ));
    }
    let password = cfg.global("passwordauthentication");
    let password_on = password.is_none_or(|l| yes(&l.value));
    match cfg.global("permitrootlogin") {
        Some(l) if yes(&l.value) && password_on => {
            out.push(Finding::new(
                Severity::High,
                "sshd.root-password",
                l.loc.clone(),
                format!(
                "PermitRootLogin yes with password authentication on{}: root's password can be \
                 guessed from anywhere sshd is reachable",
                if password.is_none() { " (PasswordAuthentication's default)" } else { "" }
            ),
                FIX,
            ))
        }
        Some(l) if yes(&l.value) => out.push(Finding::new(
            Severity::Low,
            "sshd.root-login",
            l.loc.clone(),
            "PermitRootLogin yes (password authentication is off: keys only)",
            FIX,
        )),
        Some(_) => {}
        None => {
            if let Some(p) = password.filter(|p| yes(&p.value)) {
                out.push(Finding::new(
                    Severity::Medium,
                    "sshd.root-password",
                    p.loc.clone(),
                    "PermitRootLogin is not set and PasswordAuthentication is yes: OpenSSH \
                     before 7.0 lets root log in with a password by default (7.0 and later: \
                     prohibit-password)",
                    FIX,
                ));
            }
        }
    }
    for (cond, header, block) in &cfg.matches {
        let Some(l) = block.iter().find(|l| l.key == "permitrootlogin") else {
            continue;
        };
        if !yes(&l.value) {
            continue;
        }
        let pw = block
            .iter()
            .find(|l| l.key == "passwordauthentication")
            .map_or(password_on, |p| yes(&p.value));
        if !pw {
            continue;
        }
        let all = cond.trim().eq_ignore_ascii_case("all");
        out.push(Finding::new(
            if all {
                Severity::High
            } else {
                Severity::Medium
            },
            "sshd.root-password",
            l.loc.clone(),
            format!(
                "PermitRootLogin yes with password authentication for connections matching \
                 `Match {cond}` ({})",
                header
            ),
            FIX,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Vec<(&'static str, String, Severity)> {
        let mut out = Vec::new();
        rules(&parse_str(text, "sshd_config"), &mut out);
        out.into_iter()
            .map(|f| (f.check, f.location.to_string(), f.severity))
            .collect()
    }

    #[test]
    fn permit_root_login_yes_with_passwords_is_high() {
        assert_eq!(
            run("Port 22\nPermitRootLogin yes\n"),
            [("sshd.root-password", "sshd_config:2".into(), Severity::High)]
        );
    }

    #[test]
    fn the_first_value_wins() {
        assert!(run("PermitRootLogin prohibit-password\nPermitRootLogin yes\n").is_empty());
        assert_eq!(
            run("PermitRootLogin=yes\nPasswordAuthentication no\nPasswordAuthentication yes\n"),
            [("sshd.root-login", "sshd_config:1".into(), Severity::Low)]
        );
    }

    #[test]
    fn absent_with_password_authentication_yes_is_medium() {
        assert_eq!(
            run("PasswordAuthentication yes\n"),
            [(
                "sshd.root-password",
                "sshd_config:1".into(),
                Severity::Medium
            )]
        );
        assert!(run("UsePAM yes\n").is_empty());
    }

    #[test]
    fn match_blocks_apply_to_their_connections_only() {
        let f = run("PermitRootLogin no\nMatch Address 10.0.0.0/8\n  PermitRootLogin yes\nMatch all\n  X11Forwarding no\n");
        assert_eq!(
            f,
            [(
                "sshd.root-password",
                "sshd_config:3".into(),
                Severity::Medium
            )]
        );
        let f = run("PermitRootLogin no\nMatch all\n  PermitRootLogin yes\n");
        assert_eq!(f[0].2, Severity::High);
        // A keyword after a Match line belongs to the block, not to the global settings.
        assert!(
            run("Match User backup\n  PasswordAuthentication no\nPermitRootLogin yes\n").is_empty()
        );
    }
}

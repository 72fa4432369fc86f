//! `sipguard audit`: the PBX's own configuration and the host's listening sockets, judged
//! the way the field guides' checklists do by hand.
//!
//! Each product's files are parsed by a module of their own ([`asterisk`] for the `.conf`
//! dialect, [`freeswitch`] for FreeSWITCH's XML, [`sshd`] for `sshd_config`), judged by rule
//! modules ([`sip`], [`pjsip`], [`iax`], [`ami`], [`freepbx`]), and the host's sockets
//! ([`sockets`]) against the sipguard policy ([`exposure`]). Every rule returns [`Finding`]s;
//! this module collects them into a [`Report`], prints it and picks the exit code. Secrets go
//! through [`secrets::Secret`], whose every rendering is masked.
pub mod ami;
pub mod asterisk;
pub mod dialplan;
pub mod exposure;
pub mod freepbx;
pub mod freeswitch;
pub mod iax;
pub mod pjsip;
pub mod secrets;
pub mod sip;
pub mod sockets;
pub mod sshd;

use std::{
    fmt,
    path::{Path, PathBuf},
};

use crate::config::{Config, ConfigError};

/// How bad a finding is. `High` findings make the audit exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Medium,
    Low,
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        })
    }
}

/// Where a finding is: a line of a file, a whole file, a listening socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    File { path: PathBuf, line: Option<usize> },
    Socket(String),
}

impl Location {
    pub fn file(path: &Path, line: usize) -> Self {
        Location::File {
            path: path.to_path_buf(),
            line: Some(line),
        }
    }

    pub fn whole_file(path: &Path) -> Self {
        Location::File {
            path: path.to_path_buf(),
            line: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File {
                path,
                line: Some(l),
            } => write!(f, "{}:{l}", path.display()),
            Location::File { path, line: None } => write!(f, "{}", path.display()),
            Location::Socket(s) => f.write_str(s),
        }
    }
}

/// One thing wrong: how bad, where, what, and how to fix it. `what` never holds a secret,
/// only [`secrets::Secret`]'s masked form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The rule that found it, e.g. `sip.secret` (stable, for filtering in scripts).
    pub check: &'static str,
    pub location: Location,
    pub what: String,
    pub fix: String,
}

impl Finding {
    pub fn new(
        severity: Severity,
        check: &'static str,
        location: Location,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            check,
            location,
            what: what.into(),
            fix: fix.into(),
        }
    }
}

impl serde::Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Finding", 7)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("check", self.check)?;
        st.serialize_field("location", &self.location.to_string())?;
        let (file, line, socket) = match &self.location {
            Location::File { path, line } => (Some(path.display().to_string()), *line, None),
            Location::Socket(s) => (None, None, Some(s.clone())),
        };
        st.serialize_field("file", &file)?;
        st.serialize_field("line", &line)?;
        st.serialize_field("socket", &socket)?;
        st.serialize_field("what", &self.what)?;
        st.serialize_field("fix", &self.fix)?;
        st.end()
    }
}

/// Why the audit could not run at all (a finding is never an error).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("--root {0}: not a directory")]
    Root(PathBuf),
    #[error("--config: {0}")]
    Config(#[from] ConfigError),
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What to audit.
#[derive(Clone, Debug)]
pub struct Options {
    /// The tree holding `etc/` (`/` for this host).
    pub root: PathBuf,
    /// The sipguard policy to judge sockets by; `None`: the running daemon's (recorded under
    /// /run/sipguard for `pin_path`), else the built-in default.
    pub config: Option<PathBuf>,
    pub pin_path: PathBuf,
    /// Read the host's listening sockets from /proc/net.
    pub sockets: bool,
}

/// Paths of the audited files under the root.
#[derive(Clone, Debug)]
pub struct Paths {
    pub root: PathBuf,
    pub asterisk: PathBuf,
    pub freeswitch: PathBuf,
    pub sshd_config: PathBuf,
    pub amportal_conf: PathBuf,
    pub freepbx_conf: PathBuf,
}

impl Paths {
    pub fn under(root: &Path) -> Self {
        let etc = root.join("etc");
        Self {
            root: root.to_path_buf(),
            asterisk: etc.join("asterisk"),
            freeswitch: etc.join("freeswitch"),
            sshd_config: etc.join("ssh/sshd_config"),
            amportal_conf: etc.join("amportal.conf"),
            freepbx_conf: etc.join("freepbx.conf"),
        }
    }
}

/// Everything found, plus what was looked at.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// What was audited (one line each), for the text report's header.
    #[serde(skip)]
    pub scope: Vec<String>,
}

impl Report {
    /// 0 with no high finding, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.findings.iter().any(|f| f.severity == Severity::High))
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The findings as a JSON array.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.findings).expect("findings serialize") + "\n"
    }

    /// The report for a terminal: a summary line, then the findings grouped by severity.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "sipguard audit: {} high, {} medium, {} low, {} info",
            self.count(Severity::High),
            self.count(Severity::Medium),
            self.count(Severity::Low),
            self.count(Severity::Info)
        );
        for line in &self.scope {
            let _ = writeln!(out, "  {line}");
        }
        for sev in [
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ] {
            let group: Vec<&Finding> = self.findings.iter().filter(|f| f.severity == sev).collect();
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "\n{} ({})",
                sev.to_string().to_uppercase(),
                group.len()
            );
            for f in group {
                let _ = writeln!(out, "  {}  [{}]", f.location, f.check);
                let _ = writeln!(out, "      {}", f.what);
                let _ = writeln!(out, "      fix: {}", f.fix);
            }
        }
        if self.findings.is_empty() {
            let _ = writeln!(out, "\nnothing found");
        }
        out
    }
}

/// Runs every check of `opts`.
pub fn audit(opts: &Options) -> Result<Report, AuditError> {
    if !opts.root.is_dir() {
        return Err(AuditError::Root(opts.root.clone()));
    }
    let paths = Paths::under(&opts.root);
    let mut findings = Vec::new();
    let mut scope = Vec::new();

    let dialplan = dialplan::Dialplan::load(&paths, &mut findings);
    let audited = [
        sip::audit(&paths, &dialplan, &mut findings),
        pjsip::audit(&paths, &dialplan, &mut findings),
        iax::audit(&paths, &dialplan, &mut findings),
        ami::audit(&paths, &mut findings),
        freepbx::audit(&paths, &mut findings),
        freeswitch::audit(&paths, &mut findings),
        sshd::audit(&paths, &mut findings),
    ];
    let files: Vec<String> = audited.into_iter().flatten().collect();
    scope.push(if files.is_empty() {
        format!(
            "no PBX configuration found under {}",
            paths.root.join("etc").display()
        )
    } else {
        format!("read: {}", files.join(", "))
    });

    if opts.sockets {
        let (config, source) = policy_config(opts)?;
        let listeners =
            sockets::read_host().map_err(|(path, source)| AuditError::Read { path, source })?;
        let sip_ports = exposure::sip_ports(&paths);
        exposure::audit(&config, &listeners, &sip_ports, &mut findings);
        scope.push(format!(
            "{} listening sockets judged against the policy of {source}",
            listeners.len()
        ));
    }
    findings.sort_by_key(|f| {
        let (place, line) = match &f.location {
            Location::File { path, line } => (path.display().to_string(), line.unwrap_or(0)),
            Location::Socket(s) => (s.clone(), 0),
        };
        (f.severity, place, line)
    });
    findings.dedup();
    Ok(Report { findings, scope })
}

/// The policy to judge sockets by, and where it came from.
fn policy_config(opts: &Options) -> Result<(Config, String), AuditError> {
    if let Some(path) = &opts.config {
        let c = Config::from_file(path)?;
        let source = c.source.clone();
        return Ok((c, source));
    }
    match crate::control::applied::running(&opts.pin_path) {
        Ok(c) => Ok((c, "the running daemon".into())),
        Err(_) => Ok((
            Config::builtin_default(),
            "the built-in default (no running daemon recorded; --config FILE to choose)".into(),
        )),
    }
}

/// `sipguard audit`: prints the report and returns the exit code (0: no high finding, 1:
/// high findings, 2: the audit could not run).
pub fn run(opts: &Options, json: bool) -> u8 {
    match audit(opts) {
        Ok(report) => {
            if json {
                print!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            report.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// Audits one Asterisk module's configuration: `main` (with what it includes) under the
/// config directory or, where there is none, FreePBX's split `freepbx` files read on their
/// own. Each parsed file set gets its parse problems as findings under `parse_check`, then is
/// judged by `rules`. Returns the files read.
pub fn audit_module(
    paths: &Paths,
    main: &str,
    freepbx: &[&str],
    parse_check: &'static str,
    out: &mut Vec<Finding>,
    mut rules: impl FnMut(&asterisk::Conf, &mut Vec<Finding>),
) -> Vec<String> {
    let confs: Vec<asterisk::Conf> = match asterisk::load(&paths.asterisk.join(main), &paths.root) {
        Some(c) => vec![c],
        None => freepbx
            .iter()
            .filter_map(|f| asterisk::load(&paths.asterisk.join(f), &paths.root))
            .collect(),
    };
    let mut files = Vec::new();
    for conf in &confs {
        parse_findings(conf, parse_check, out);
        rules(conf, out);
        files.extend(conf.files.iter().map(|f| f.display().to_string()));
    }
    files
}

/// For the rules' unit tests: each finding as (check, location).
#[cfg(test)]
pub(crate) fn checks(f: &[Finding]) -> Vec<(&'static str, String)> {
    f.iter()
        .map(|f| (f.check, f.location.to_string()))
        .collect()
}

/// One medium finding per [`asterisk::Problem`] of `conf`.
pub fn parse_findings(conf: &asterisk::Conf, check: &'static str, out: &mut Vec<Finding>) {
    for p in &conf.problems {
        out.push(Finding::new(
            Severity::Medium,
            check,
            Location::file(&p.loc.file, p.loc.line),
            p.what.clone(),
            "fix or remove the line (`asterisk -rx \"module reload\"` then shows whether it \
             loads); the audit could not judge what Asterisk makes of it",
        ));
    }
}

/// A finding at an entry's line.
pub fn at(e: &asterisk::Entry) -> Location {
    Location::file(&e.loc.file, e.loc.line)
}

/// A finding at a section's header.
pub fn at_section(s: &asterisk::Section) -> Location {
    Location::file(&s.loc.file, s.loc.line)
}

/// Judges a secret found at `loc`; pushes one finding with every weakness, if any.
pub fn check_secret(
    out: &mut Vec<Finding>,
    severity: Severity,
    check: &'static str,
    loc: Location,
    whose: &str,
    secret: &secrets::Secret,
    users: &[&str],
) {
    let weak = secrets::weaknesses(secret, users);
    if weak.is_empty() {
        return;
    }
    out.push(Finding::new(
        severity,
        check,
        loc,
        format!("{whose}: {} {}", secret.masked(), secrets::describe(&weak)),
        SECRET_FIX,
    ));
}

/// The fix for a weak secret, shared by the rules.
pub const SECRET_FIX: &str = "replace it with a random secret of at least 16 characters \
    (e.g. `openssl rand -base64 18`), then update the device or provider that uses it";

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(sev: Severity) -> Finding {
        Finding::new(
            sev,
            "t.rule",
            Location::file(Path::new("/etc/asterisk/sip.conf"), 3),
            "what",
            "fix",
        )
    }

    #[test]
    fn exit_code_is_one_only_with_a_high_finding() {
        let mut r = Report {
            findings: vec![finding(Severity::Medium), finding(Severity::Low)],
            scope: vec![],
        };
        assert_eq!(r.exit_code(), 0);
        r.findings.push(finding(Severity::High));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn json_is_an_array_with_location_file_and_line() {
        let r = Report {
            findings: vec![finding(Severity::High)],
            scope: vec![],
        };
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let f = &v.as_array().unwrap()[0];
        assert_eq!(f["severity"], "high");
        assert_eq!(f["location"], "/etc/asterisk/sip.conf:3");
        assert_eq!(f["line"], 3);
        assert_eq!(f["check"], "t.rule");
    }

    #[test]
    fn text_groups_by_severity_high_first() {
        let r = Report {
            findings: vec![finding(Severity::Low), finding(Severity::High)],
            scope: vec![],
        };
        let t = r.to_text();
        assert!(
            t.starts_with("sipguard audit: 1 high, 0 medium, 1 low"),
            "{t}"
        );
        assert!(
            t.find("HIGH (1)").unwrap() < t.find("LOW (1)").unwrap(),
            "{t}"
        );
    }
}

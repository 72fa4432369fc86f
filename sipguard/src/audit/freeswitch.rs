//! FreeSWITCH rules: user passwords in the directory (`directory/default/*.xml`, with
//! `$${var}` expanded from `vars.xml`), the shipped `default_password=1234` of `vars.xml`, and
//! the event socket's password (`autoload_configs/event_socket.conf.xml`, `ClueCon`).
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::{check_secret, secrets::Secret, Finding, Location, Paths, Severity};

/// A `set` of vars.xml: value and where.
pub struct Var {
    pub value: String,
    pub loc: Location,
}

pub fn audit(paths: &Paths, out: &mut Vec<Finding>) -> Vec<String> {
    let mut dirs = vec![paths.freeswitch.clone()];
    dirs.push(paths.root.join("usr/local/freeswitch/conf"));
    let Some(dir) = dirs
        .into_iter()
        .find(|d| d.join("vars.xml").exists() || d.join("directory").is_dir())
    else {
        return Vec::new();
    };
    let mut files = Vec::new();
    let mut vars = BTreeMap::new();
    let vars_xml = dir.join("vars.xml");
    if let Some(text) = read(&vars_xml, &mut files, out) {
        vars = parse_vars(&vars_xml, &text, out);
    }
    if let Some(v) = vars.get("default_password") {
        check_secret(
            out,
            Severity::High,
            "freeswitch.default-password",
            v.loc.clone(),
            "default_password (every directory user that uses $${default_password})",
            &Secret::new(v.value.clone()),
            &[],
        );
    }
    let mut users: Vec<PathBuf> = std::fs::read_dir(dir.join("directory/default"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    users.sort();
    for path in users {
        if let Some(text) = read(&path, &mut files, out) {
            directory_file(&path, &text, &vars, out);
        }
    }
    let esl = dir.join("autoload_configs/event_socket.conf.xml");
    if let Some(text) = read(&esl, &mut files, out) {
        event_socket(&esl, &text, &vars, out);
    }
    files
}

fn read(path: &Path, files: &mut Vec<String>, out: &mut Vec<Finding>) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    files.push(path.display().to_string());
    match String::from_utf8(bytes) {
        Ok(t) => Some(t),
        Err(e) => {
            let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            out.push(parse_finding(path, line, "not UTF-8 text (binary data?)"));
            None
        }
    }
}

fn parse_finding(path: &Path, line: usize, what: &str) -> Finding {
    Finding::new(
        Severity::Medium,
        "freeswitch.parse",
        Location::file(path, line),
        format!("XML does not parse: {what}"),
        "fix the file (`fs_cli -x reloadxml` shows FreeSWITCH's own error); the audit could not \
         judge it",
    )
}

fn parse<'a>(
    path: &Path,
    text: &'a str,
    out: &mut Vec<Finding>,
) -> Option<roxmltree::Document<'a>> {
    match roxmltree::Document::parse(text) {
        Ok(d) => Some(d),
        Err(e) => {
            out.push(parse_finding(path, e.pos().row as usize, &e.to_string()));
            None
        }
    }
}

fn line_of(doc: &roxmltree::Document<'_>, node: roxmltree::Node<'_, '_>) -> usize {
    doc.text_pos_at(node.range().start).row as usize
}

/// `<X-PRE-PROCESS cmd="set" data="name=value"/>` lines of vars.xml.
fn parse_vars(path: &Path, text: &str, out: &mut Vec<Finding>) -> BTreeMap<String, Var> {
    let mut vars = BTreeMap::new();
    let Some(doc) = parse(path, text, out) else {
        return vars;
    };
    for n in doc
        .descendants()
        .filter(|n| n.has_tag_name("X-PRE-PROCESS"))
    {
        if n.attribute("cmd") != Some("set") {
            continue;
        }
        if let Some((k, v)) = n.attribute("data").and_then(|d| d.split_once('=')) {
            vars.insert(
                k.trim().to_owned(),
                Var {
                    value: v.to_owned(),
                    loc: Location::file(path, line_of(&doc, n)),
                },
            );
        }
    }
    vars
}

/// `$${name}` replaced by vars.xml's value; `None` for an unknown variable.
fn expand(value: &str, vars: &BTreeMap<String, Var>) -> Option<(String, Option<String>)> {
    let Some(start) = value.find("$${") else {
        return Some((value.to_owned(), None));
    };
    let end = value[start..].find('}')? + start;
    let name = &value[start + 3..end];
    let v = vars.get(name)?;
    let expanded = format!("{}{}{}", &value[..start], v.value, &value[end + 1..]);
    Some((expanded, Some(format!("$${{{name}}} from {}", v.loc))))
}

/// `<user id="1000"><params><param name="password" value="..."/>`.
pub fn directory_file(
    path: &Path,
    text: &str,
    vars: &BTreeMap<String, Var>,
    out: &mut Vec<Finding>,
) {
    let Some(doc) = parse(path, text, out) else {
        return;
    };
    for user in doc.descendants().filter(|n| n.has_tag_name("user")) {
        let id = user.attribute("id").unwrap_or("");
        let alias = user.attribute("number-alias");
        let users: Vec<&str> = [id].into_iter().chain(alias).collect();
        for p in user.descendants().filter(|n| n.has_tag_name("param")) {
            if p.attribute("name") != Some("password") {
                continue;
            }
            let Some((value, via)) = expand(p.attribute("value").unwrap_or(""), vars) else {
                continue;
            };
            check_secret(
                out,
                Severity::High,
                "freeswitch.password",
                Location::file(path, line_of(&doc, p)),
                &format!(
                    "password of user {id}{}",
                    via.map(|v| format!(" ({v})")).unwrap_or_default()
                ),
                &Secret::new(value),
                &users,
            );
        }
    }
}

/// mod_event_socket: `listen-ip` and `password`.
fn event_socket(path: &Path, text: &str, vars: &BTreeMap<String, Var>, out: &mut Vec<Finding>) {
    let Some(doc) = parse(path, text, out) else {
        return;
    };
    let param = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("param") && n.attribute("name") == Some(name))
    };
    let ip = param("listen-ip")
        .and_then(|n| n.attribute("value"))
        .unwrap_or("127.0.0.1");
    let local = ip.starts_with("127.") || ip == "::1" || ip == "localhost";
    if let Some(pw) = param("password") {
        let Some((value, _)) = expand(pw.attribute("value").unwrap_or(""), vars) else {
            return;
        };
        check_secret(
            out,
            if local {
                Severity::Medium
            } else {
                Severity::High
            },
            "freeswitch.event-socket",
            Location::file(path, line_of(&doc, pw)),
            &format!("event socket password (listen-ip {ip}: full control of FreeSWITCH)"),
            &Secret::new(value),
            &[],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> BTreeMap<String, Var> {
        parse_vars(Path::new("vars.xml"), text, &mut Vec::new())
    }

    #[test]
    fn users_with_the_default_password_are_found_through_vars() {
        let v = vars("<include>\n  <X-PRE-PROCESS cmd=\"set\" data=\"default_password=1234\"/>\n</include>\n");
        assert_eq!(v["default_password"].loc.to_string(), "vars.xml:2");
        let mut out = Vec::new();
        directory_file(
            Path::new("1000.xml"),
            "<include>\n<user id=\"1000\">\n<params>\n<param name=\"password\" value=\"$${default_password}\"/>\n</params>\n</user>\n<user id=\"1001\"><params><param name=\"password\" value=\"Vq7#mZp2!xLr9@Tb\"/></params></user>\n</include>\n",
            &v,
            &mut out,
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].location.to_string(), "1000.xml:4");
        assert!(out[0].what.contains("vars.xml:2") && out[0].what.contains("known default"));
        assert!(!out[0].what.contains("1234"), "{}", out[0].what);
    }

    #[test]
    fn broken_xml_is_a_finding_with_its_line() {
        let mut out = Vec::new();
        directory_file(
            Path::new("x.xml"),
            "<include>\n<user id=\"1\">\n<params>\n</include>\n",
            &BTreeMap::new(),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].check, "freeswitch.parse");
        assert_eq!(out[0].location.to_string(), "x.xml:4");
    }
}

//! Asterisk's `.conf` dialect, as `config.c` reads it: `[section]` headers with template
//! options (`[name](!)` a template, `[name](tpl1,tpl2)` inheriting, `[name](+)` appending),
//! `key = value` and `key => value`, `;` comments (`\;` escapes one) and `;-- --;` block
//! comments, `#include` / `#tryinclude` with paths relative to the config directory (or
//! absolute, under the audited root) and globs. Every value keeps its file and line. The
//! current section carries across an `#include`, as in Asterisk (FreePBX's
//! `sip_general_additional.conf` has no header: it is included inside `[general]`).
//!
//! Nothing here fails: what Asterisk would refuse (a truncated header, a line without `=`,
//! binary data, a missing `#include`, an include loop, an undefined template) becomes a
//! [`Problem`] at its file and line, and parsing goes on.
use std::{
    collections::HashSet,
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use super::secrets::is_secret_key;

/// Asterisk refuses includes nested deeper than this.
const MAX_INCLUDE_DEPTH: usize = 10;
/// Problems reported per file at most (a binary file would otherwise give one per line).
const MAX_PROBLEMS_PER_FILE: usize = 5;

/// A file and a 1-based line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file: Arc<PathBuf>,
    pub line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

impl fmt::Debug for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `key = value` (key in lower case, as Asterisk compares them).
#[derive(Clone)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub loc: Loc,
    /// The section it was written in (a template, for an inherited value).
    pub origin: String,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_secret_key(&self.key) {
            write!(f, "{} = <masked> ({:?})", self.key, self.loc)
        } else {
            write!(f, "{} = {:?} ({:?})", self.key, self.value, self.loc)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Section {
    pub name: String,
    /// `(!)`: a template only, not an object of its own.
    pub is_template: bool,
    /// Templates it inherits from, in order.
    pub templates: Vec<String>,
    pub entries: Vec<Entry>,
    /// The header's position.
    pub loc: Loc,
}

/// What Asterisk would refuse, or what the audit could not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub loc: Loc,
    pub what: String,
}

/// A parsed file with its includes.
#[derive(Clone, Debug, Default)]
pub struct Conf {
    pub sections: Vec<Section>,
    pub problems: Vec<Problem>,
    /// Every file read, the top one first.
    pub files: Vec<PathBuf>,
}

/// A section's entries with its templates' in front, in Asterisk's order (the last value of a
/// key wins; list keys like `permit` keep all).
pub struct Effective<'a> {
    pub entries: Vec<&'a Entry>,
}

impl<'a> Effective<'a> {
    /// The value that wins: the last one.
    pub fn get(&self, key: &str) -> Option<&'a Entry> {
        self.entries.iter().rev().find(|e| e.key == key).copied()
    }

    pub fn value(&self, key: &str) -> Option<&'a str> {
        self.get(key).map(|e| e.value.as_str())
    }

    pub fn all<'k>(&self, key: &'k str) -> impl Iterator<Item = &'a Entry> + use<'a, 'k, '_> {
        self.entries.iter().filter(move |e| e.key == key).copied()
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    /// Asterisk's `ast_true`.
    pub fn is_true(&self, key: &str) -> Option<bool> {
        self.value(key).map(is_true)
    }
}

/// `ast_true`: yes, true, y, t, 1, on.
pub fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "yes" | "true" | "y" | "t" | "1" | "on"
    )
}

impl Conf {
    /// The objects (not templates) of the file.
    pub fn objects(&self) -> impl Iterator<Item = &Section> {
        self.sections.iter().filter(|s| !s.is_template)
    }

    /// The entries of all sections named `name` (e.g. every `[general]`), in file order.
    pub fn merged(&self, name: &str) -> Effective<'_> {
        Effective {
            entries: self
                .sections
                .iter()
                .filter(|s| s.name.eq_ignore_ascii_case(name))
                .flat_map(|s| s.entries.iter())
                .collect(),
        }
    }

    pub fn first(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// `section`'s entries with its templates' in front (recursively; a cycle or a missing
    /// template contributes nothing: the parser reported it).
    pub fn effective<'a>(&'a self, section: &'a Section) -> Effective<'a> {
        let mut entries = Vec::new();
        self.collect(section, &mut entries, 0);
        Effective { entries }
    }

    fn collect<'a>(&'a self, section: &'a Section, out: &mut Vec<&'a Entry>, depth: usize) {
        if depth > MAX_INCLUDE_DEPTH {
            return;
        }
        for t in &section.templates {
            if let Some(tpl) = self.template_before(t, section) {
                self.collect(tpl, out, depth + 1);
            }
        }
        out.extend(section.entries.iter());
    }

    /// The last section named `name` defined before `section` (Asterisk resolves templates
    /// at the header, so only earlier ones count).
    fn template_before<'a>(&'a self, name: &str, section: &Section) -> Option<&'a Section> {
        let pos = self
            .sections
            .iter()
            .position(|s| std::ptr::eq(s, section))?;
        self.sections[..pos].iter().rev().find(|s| s.name == name)
    }
}

/// Loads `path` and its includes. `root` is the audited tree: absolute include paths are
/// taken under it. Relative ones are relative to the directory of `path` (Asterisk's config
/// directory). `None` when `path` does not exist.
pub fn load(path: &Path, root: &Path) -> Option<Conf> {
    if !path.exists() {
        return None;
    }
    let mut p = Parser {
        root: root.to_path_buf(),
        config_dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        stack: Vec::new(),
        conf: Conf::default(),
        current: None,
        seen: HashSet::new(),
    };
    p.file(path, None, false);
    p.check_templates();
    Some(p.conf)
}

/// Parses `text` as if it were file `name` (no includes are followed). For unit tests.
pub fn parse_str(text: &str, name: &str) -> Conf {
    let mut p = Parser {
        root: PathBuf::from("/nonexistent"),
        config_dir: PathBuf::from("/nonexistent"),
        stack: Vec::new(),
        conf: Conf::default(),
        current: None,
        seen: HashSet::new(),
    };
    let file = Arc::new(PathBuf::from(name));
    p.conf.files.push(PathBuf::from(name));
    p.text(text.as_bytes(), &file);
    p.check_templates();
    p.conf
}

struct Parser {
    root: PathBuf,
    config_dir: PathBuf,
    /// Canonical paths of the files being read (include chain), for loop detection.
    stack: Vec<PathBuf>,
    conf: Conf,
    /// Index of the section new entries go to.
    current: Option<usize>,
    /// Files already read (a file included twice, not in a loop, is read twice by Asterisk,
    /// but its findings would repeat: read once).
    seen: HashSet<PathBuf>,
}

impl Parser {
    fn problem(&mut self, loc: Loc, what: impl Into<String>) {
        let n = self
            .conf
            .problems
            .iter()
            .filter(|p| p.loc.file == loc.file)
            .count();
        if n < MAX_PROBLEMS_PER_FILE {
            self.conf.problems.push(Problem {
                loc,
                what: what.into(),
            });
        } else if n == MAX_PROBLEMS_PER_FILE {
            self.conf.problems.push(Problem {
                loc,
                what: "more lines Asterisk can't parse follow (not listed)".into(),
            });
        }
    }

    fn file(&mut self, path: &Path, from: Option<&Loc>, try_include: bool) {
        let canonical = match std::fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) => {
                if !try_include {
                    let loc = from.cloned().unwrap_or_else(|| Loc {
                        file: Arc::new(path.to_path_buf()),
                        line: 1,
                    });
                    self.problem(
                        loc,
                        format!(
                            "#include {}: {e}: Asterisk refuses to load a file whose #include is \
                             missing",
                            path.display()
                        ),
                    );
                }
                return;
            }
        };
        if let Some(pos) = self.stack.iter().position(|p| *p == canonical) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| p.display().to_string())
                .collect();
            if let Some(loc) = from {
                self.problem(loc.clone(), format!("include loop: {}", chain.join(" -> ")));
            }
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            if let Some(loc) = from {
                self.problem(
                    loc.clone(),
                    format!("includes nested deeper than {MAX_INCLUDE_DEPTH}: Asterisk stops here"),
                );
            }
            return;
        }
        if !self.seen.insert(canonical.clone()) {
            return;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                let loc = from.cloned().unwrap_or_else(|| Loc {
                    file: Arc::new(path.to_path_buf()),
                    line: 1,
                });
                self.problem(loc, format!("cannot read {}: {e}", path.display()));
                return;
            }
        };
        self.conf.files.push(path.to_path_buf());
        self.stack.push(canonical);
        let file = Arc::new(path.to_path_buf());
        self.text(&bytes, &file);
        self.stack.pop();
    }

    fn text(&mut self, bytes: &[u8], file: &Arc<PathBuf>) {
        if let Some(line) = binary_line(bytes) {
            self.problem(
                Loc {
                    file: file.clone(),
                    line,
                },
                "binary data, not a text config file: Asterisk can't parse it",
            );
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        let mut in_block_comment = false;
        // Lines after a broken header belong to no section we know.
        let mut lost = false;
        for (i, raw) in text.lines().enumerate() {
            let loc = Loc {
                file: file.clone(),
                line: i + 1,
            };
            let line = strip_comments(raw, &mut in_block_comment);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(directive) = line.strip_prefix('#') {
                self.directive(directive, &loc);
            } else if line.starts_with('[') {
                lost = !self.header(line, &loc);
            } else if lost {
                continue;
            } else {
                self.entry(line, &loc);
            }
        }
        if in_block_comment {
            self.problem(
                Loc {
                    file: file.clone(),
                    line: text.lines().count().max(1),
                },
                "block comment `;--` never closed with `--;`: the rest of the file is ignored",
            );
        }
    }

    fn directive(&mut self, directive: &str, loc: &Loc) {
        let (word, arg) = directive
            .split_once(|c: char| c.is_whitespace())
            .unwrap_or((directive, ""));
        let try_include = match word.to_ascii_lowercase().as_str() {
            "include" => false,
            "tryinclude" => true,
            "exec" => return,
            other => {
                self.problem(loc.clone(), format!("unknown directive #{other}"));
                return;
            }
        };
        let arg = arg
            .trim()
            .trim_matches(|c| c == '"' || c == '<' || c == '>')
            .trim();
        if arg.is_empty() {
            self.problem(loc.clone(), format!("#{word} without a file name"));
            return;
        }
        let path = if let Some(abs) = arg.strip_prefix('/') {
            self.root.join(abs)
        } else {
            self.config_dir.join(arg)
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains(['*', '?', '[']) {
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut matches: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| glob_match(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect();
            matches.sort();
            for m in matches {
                self.file(&m, Some(loc), try_include);
            }
        } else {
            self.file(&path, Some(loc), try_include);
        }
    }

    /// A `[name](options)` header; false when it is broken.
    fn header(&mut self, line: &str, loc: &Loc) -> bool {
        let Some(close) = line.find(']') else {
            self.problem(
                loc.clone(),
                format!(
                    "section header {:?} has no closing `]` (truncated?): Asterisk refuses the file",
                    clip(line)
                ),
            );
            self.current = None;
            return false;
        };
        let name = line[1..close].trim().to_owned();
        let rest = line[close + 1..].trim();
        if name.is_empty() {
            self.problem(loc.clone(), "empty section name `[]`");
            self.current = None;
            return false;
        }
        let mut is_template = false;
        let mut append = false;
        let mut templates = Vec::new();
        if !rest.is_empty() {
            let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
                self.problem(
                    loc.clone(),
                    format!(
                        "section [{name}]: {:?} after the header is not `(options)`",
                        clip(rest)
                    ),
                );
                self.current = None;
                return false;
            };
            for opt in inner.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                match opt {
                    "!" => is_template = true,
                    "+" => append = true,
                    t => templates.push(t.to_owned()),
                }
            }
        }
        if append {
            if let Some(i) = self.conf.sections.iter().rposition(|s| s.name == name) {
                self.current = Some(i);
                return true;
            }
        }
        self.conf.sections.push(Section {
            name,
            is_template,
            templates,
            entries: Vec::new(),
            loc: loc.clone(),
        });
        self.current = Some(self.conf.sections.len() - 1);
        true
    }

    fn entry(&mut self, line: &str, loc: &Loc) {
        let Some(eq) = line.find('=') else {
            self.problem(
                loc.clone(),
                format!(
                    "not a `key = value` line ({} characters): Asterisk refuses the file",
                    line.chars().count()
                ),
            );
            return;
        };
        let key = line[..eq].trim().to_ascii_lowercase();
        let value = line[eq + 1..].strip_prefix('>').unwrap_or(&line[eq + 1..]);
        let value = value.trim().to_owned();
        if key.is_empty() {
            self.problem(loc.clone(), "`= value` without a key");
            return;
        }
        let Some(i) = self.current else {
            self.problem(
                loc.clone(),
                format!("`{key}` outside any [section]: Asterisk refuses the file"),
            );
            return;
        };
        let origin = self.conf.sections[i].name.clone();
        self.conf.sections[i].entries.push(Entry {
            key,
            value,
            loc: loc.clone(),
            origin,
        });
    }

    /// Templates must be defined before the section that uses them.
    fn check_templates(&mut self) {
        let mut missing = Vec::new();
        for (i, s) in self.conf.sections.iter().enumerate() {
            for t in &s.templates {
                if !self.conf.sections[..i].iter().any(|e| e.name == *t) {
                    missing.push(Problem {
                        loc: s.loc.clone(),
                        what: format!(
                            "section [{}] inherits from template [{t}], which is not defined \
                             before it: Asterisk refuses the file",
                            s.name
                        ),
                    });
                }
            }
        }
        self.conf.problems.extend(missing);
    }
}

/// The line without its comments; `\;` becomes `;`. Tracks `;-- ... --;` across lines.
fn strip_comments(line: &str, in_block: &mut bool) -> String {
    let mut out = String::with_capacity(line.len());
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if *in_block {
            if line[i..].starts_with("--;") {
                *in_block = false;
                i += 3;
            } else {
                i += line[i..].chars().next().map_or(1, char::len_utf8);
            }
            continue;
        }
        if b[i] == b'\\' && b.get(i + 1) == Some(&b';') {
            out.push(';');
            i += 2;
            continue;
        }
        if b[i] == b';' {
            if line[i..].starts_with(";--") {
                *in_block = true;
                i += 3;
                continue;
            }
            break;
        }
        let c = line[i..].chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The 1-based line of the first NUL or run of control bytes, if the data looks binary.
fn binary_line(bytes: &[u8]) -> Option<usize> {
    let is_control = |b: u8| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c);
    let controls = bytes.iter().filter(|&&b| is_control(b)).count();
    if controls == 0 || (!bytes.contains(&0) && controls * 100 < bytes.len()) {
        return None;
    }
    let first = bytes.iter().position(|&b| is_control(b))?;
    Some(bytes[..first].iter().filter(|&&b| b == b'\n').count() + 1)
}

/// Shell-style `*`, `?` and `[...]` matching of one file name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return n.first() == Some(&'[') && go(&p[1..], &n[1..]);
                };
                let set = &p[1..end];
                let (neg, set) = match set.first() {
                    Some('!' | '^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let Some(&c) = n.first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[end + 1..], &n[1..])
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// At most 40 characters of `s`, for quoting a broken line.
fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        s.chars().take(40).collect::<String>() + "..."
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("sipguard-asterisk-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn sections_entries_and_line_numbers() {
        let c = parse_str(
            "; comment\n[general]\nallowguest = no ; trailing\n\n[201]\ntype=friend\nsecret => abc\\;def\n",
            "sip.conf",
        );
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let s = &c.sections[1];
        assert_eq!((s.name.as_str(), s.loc.line), ("201", 5));
        let e = c.effective(s);
        assert_eq!(e.value("secret"), Some("abc;def"));
        assert_eq!(e.get("secret").unwrap().loc.line, 7);
        assert_eq!(c.merged("general").value("allowguest"), Some("no"));
    }

    #[test]
    fn templates_are_inherited_in_order_and_the_last_value_wins() {
        let c = parse_str(
            "[phones](!)\ntype=friend\nhost=dynamic\nsecret=fromtpl\n[nat](!)\nnat=yes\n[201](phones,nat)\nsecret=own\n[202](phones)\n",
            "sip.conf",
        );
        let objects: Vec<&Section> = c.objects().collect();
        assert_eq!(objects.len(), 2);
        let e201 = c.effective(objects[0]);
        assert_eq!(e201.value("secret"), Some("own"));
        assert_eq!(e201.value("nat"), Some("yes"));
        let e202 = c.effective(objects[1]);
        let s = e202.get("secret").unwrap();
        assert_eq!((s.origin.as_str(), s.loc.line), ("phones", 4));
    }

    #[test]
    fn an_undefined_template_is_a_problem() {
        let c = parse_str("[201](nosuch)\ntype=friend\n", "sip.conf");
        assert_eq!(c.problems.len(), 1);
        assert!(c.problems[0].what.contains("nosuch"));
        assert_eq!(c.problems[0].loc.line, 1);
    }

    #[test]
    fn append_sections_continue_the_earlier_one() {
        let c = parse_str(
            "[201]\ntype=friend\n[201](+)\npermit=10.0.0.0/8\n",
            "sip.conf",
        );
        assert_eq!(c.sections.len(), 1);
        assert!(c.effective(&c.sections[0]).has("permit"));
    }

    #[test]
    fn broken_lines_are_problems_with_their_line() {
        let c = parse_str(
            "orphan=1\n[general\nx=1\n[ok]\njunk line\n;-- block\nsecret=zzz\n--; a=b\n",
            "sip.conf",
        );
        let lines: Vec<usize> = c.problems.iter().map(|p| p.loc.line).collect();
        assert_eq!(lines, [1, 2, 5], "{:?}", c.problems);
        assert_eq!(c.sections.len(), 1);
        let e = c.effective(&c.sections[0]);
        assert_eq!(e.value("a"), Some("b"));
        assert!(!e.has("secret"), "inside the block comment");
    }

    #[test]
    fn binary_data_is_one_problem() {
        let mut bytes = b"[general]\nallowguest=no\n".to_vec();
        bytes.extend((0u8..=255).cycle().take(4000));
        let d = tmp("bin");
        std::fs::write(d.join("sip.conf"), &bytes).unwrap();
        let c = load(&d.join("sip.conf"), &d).unwrap();
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert_eq!(c.problems[0].loc.line, 3);
        assert!(c.problems[0].what.contains("binary"));
    }

    #[test]
    fn includes_are_followed_relative_to_the_config_dir_with_globs() {
        let d = tmp("inc");
        std::fs::write(
            d.join("sip.conf"),
            "[general]\n#include sip_general_additional.conf\n#include \"extra_*.conf\"\n#tryinclude nothere.conf\n",
        )
        .unwrap();
        std::fs::write(d.join("sip_general_additional.conf"), "allowguest=yes\n").unwrap();
        std::fs::write(d.join("extra_a.conf"), "[201]\ntype=friend\n").unwrap();
        std::fs::write(d.join("extra_b.conf"), "[202]\ntype=friend\n").unwrap();
        let c = load(&d.join("sip.conf"), &d).unwrap();
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let g = c.merged("general");
        let e = g.get("allowguest").unwrap();
        assert!(e.loc.file.ends_with("sip_general_additional.conf"));
        assert_eq!(e.loc.line, 1);
        assert_eq!(c.objects().count(), 3);
        assert_eq!(c.files.len(), 4);
    }

    #[test]
    fn include_loops_and_missing_includes_are_problems() {
        let d = tmp("loop");
        std::fs::write(d.join("a.conf"), "[x]\n#include b.conf\n#include a.conf\n").unwrap();
        std::fs::write(
            d.join("b.conf"),
            "y=1\n#include a.conf\n#include gone.conf\n",
        )
        .unwrap();
        let c = load(&d.join("a.conf"), &d).unwrap();
        let what: Vec<String> = c
            .problems
            .iter()
            .map(|p| {
                format!(
                    "{}:{} {}",
                    p.loc.file.file_name().unwrap().to_string_lossy(),
                    p.loc.line,
                    p.what
                )
            })
            .collect();
        assert_eq!(what.len(), 3, "{what:?}");
        assert!(what[0].starts_with("b.conf:2 include loop"), "{what:?}");
        assert!(what[1].starts_with("b.conf:3 #include"), "{what:?}");
        assert!(what[2].starts_with("a.conf:3 include loop"), "{what:?}");
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match("sip_*.conf", "sip_custom.conf"));
        assert!(!glob_match("sip_*.conf", "sip.conf"));
        assert!(glob_match("a?[0-9].x", "ab7.x"));
        assert!(!glob_match("a[!0-9]", "a7"));
    }

    #[test]
    fn entry_debug_masks_secrets() {
        let c = parse_str("[201]\nsecret=hunter2hunter2\n", "sip.conf");
        let dbg = format!("{:?}", c);
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }
}

//! Naming the field a TOML error is about.
//!
//! serde reports a syntax or type error with a byte span and a message that names our private
//! `Raw*` structs. This module turns that into what validation errors say: the field as the
//! admin writes it (`[global] field `mode``, `service "sip" field `ports``), whether the text
//! at the span is a value worth showing, and a message in TOML's words. It re-parses the text
//! as a plain TOML document and finds the innermost key or value holding the error's position.
use std::ops::Range;

use toml::{
    de::{DeTable, DeValue},
    Spanned,
};

type Span = Range<usize>;

/// Where a TOML error points and what to say about it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Located {
    pub span: Span,
    /// The field, named the way validation errors name it.
    pub field: String,
    /// Whether the text at `span` is a value (shown in the error) rather than a header or key.
    pub show_value: bool,
    pub message: String,
}

/// Locates `e`, an error from deserializing `text`.
pub(super) fn toml_error(text: &str, e: &toml::de::Error) -> Located {
    let span = e.span().unwrap_or(0..0);
    // serde names our private structs; say what the user writes instead.
    let message = [
        "RawConfig",
        "RawGlobal",
        "RawService",
        "RawLimits",
        "RawLimit",
        "RawCrowdsec",
        "RawApiban",
    ]
    .iter()
    .fold(e.message().trim().to_owned(), |m, s| {
        m.replace(&format!("struct {s}"), "a table")
    })
    .replace("a sequence", "an array");
    let table = match DeTable::parse(text) {
        Ok(t) => t,
        // The text does not even parse as TOML.
        Err(syntax) => {
            return Located {
                span: syntax.span().unwrap_or(span),
                field: "TOML syntax".into(),
                show_value: false,
                message: syntax.message().trim().to_owned(),
            }
        }
    };
    let mut path = innermost_path(table.get_ref(), span.start);
    let mut show_value = true;
    let mut message = message;
    if let Some(key) = backticked(&message, "missing field `") {
        // Located at the table (header) that lacks the field.
        path.push(PathSegment::Key(key));
        show_value = false;
        message = "required field is missing".into();
    } else if let Some(key) = backticked(&message, "unknown field `") {
        if !matches!(path.last(), Some(PathSegment::Key(k)) if *k == key) {
            path.push(PathSegment::Key(key));
        }
        show_value = false;
        message = match message.split_once(", ") {
            Some((_, expected)) => format!("unknown key; {expected}"),
            None => "unknown key".into(),
        };
    } else if let Some(PathSegment::Index(_)) = path.last() {
        // A table of an array of tables: the span is its header, not a value.
        if path.len() == 2 {
            show_value = false;
        }
    }
    Located {
        span,
        field: describe(&path, table.get_ref()),
        show_value,
        message,
    }
}

/// One step of the path from the document root to a key or value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PathSegment {
    Key(String),
    Index(usize),
}

/// The text between `prefix` and the next backtick, if `message` starts with `prefix`.
fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// The path of the smallest key or value whose span holds byte `pos` (the deepest on a tie).
fn innermost_path(table: &DeTable<'_>, pos: usize) -> Vec<PathSegment> {
    fn holds(span: &Span, pos: usize) -> bool {
        span.start <= pos && (pos < span.end || span.start == span.end)
    }
    /// The innermost key or value found so far: its span's length and its path.
    struct Innermost {
        len: usize,
        path: Vec<PathSegment>,
    }
    fn consider(best: &mut Option<Innermost>, span: Span, path: &[PathSegment], pos: usize) {
        if !holds(&span, pos) {
            return;
        }
        let len = span.end - span.start;
        if best
            .as_ref()
            .is_none_or(|b| len < b.len || (len == b.len && path.len() > b.path.len()))
        {
            *best = Some(Innermost {
                len,
                path: path.to_vec(),
            });
        }
    }
    fn walk_table(
        t: &DeTable<'_>,
        pos: usize,
        path: &mut Vec<PathSegment>,
        best: &mut Option<Innermost>,
    ) {
        for (k, v) in t.iter() {
            path.push(PathSegment::Key(k.get_ref().to_string()));
            consider(best, k.span(), path, pos);
            walk_value(v, pos, path, best);
            path.pop();
        }
    }
    fn walk_value(
        v: &Spanned<DeValue<'_>>,
        pos: usize,
        path: &mut Vec<PathSegment>,
        best: &mut Option<Innermost>,
    ) {
        consider(best, v.span(), path, pos);
        match v.get_ref() {
            DeValue::Table(t) => walk_table(t, pos, path, best),
            DeValue::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    path.push(PathSegment::Index(i));
                    walk_value(e, pos, path, best);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk_table(table, pos, &mut Vec::new(), &mut best);
    best.map(|b| b.path).unwrap_or_default()
}

/// Names a path the way validation errors do: `[global] field `mode``,
/// `service "sip" field `ports``.
fn describe(path: &[PathSegment], root: &DeTable<'_>) -> String {
    fn key(s: Option<&PathSegment>) -> Option<&str> {
        match s {
            Some(PathSegment::Key(k)) => Some(k),
            _ => None,
        }
    }
    match (key(path.first()), path.get(1)) {
        (None, _) => "top level".into(),
        (Some("global"), Some(PathSegment::Key(f))) => format!("[global] field `{f}`"),
        (Some("service"), Some(PathSegment::Index(i))) => {
            let name = root
                .get("service")
                .and_then(|s| s.get_ref().get(*i))
                .and_then(|t| t.get_ref().get("name"))
                .and_then(|n| n.get_ref().as_str());
            let service = match name {
                Some(n) => format!("service {n:?}"),
                None => format!("service #{}", i + 1),
            };
            // Nested tables (`[service.limits]`) name the whole dotted path.
            let keys: Vec<&str> = path[2..].iter().map_while(|s| key(Some(s))).collect();
            if keys.is_empty() {
                service
            } else {
                format!("{service} field `{}`", keys.join("."))
            }
        }
        (Some("global"), None) => "[global]".into(),
        (Some("scanners"), Some(PathSegment::Key(f))) => format!("[scanners] field `{f}`"),
        (Some("scanners"), None) => "[scanners]".into(),
        (Some("autoban"), Some(PathSegment::Key(f))) => format!("[autoban] field `{f}`"),
        (Some("autoban"), None) => "[autoban]".into(),
        (Some(t @ ("crowdsec" | "apiban")), Some(PathSegment::Key(f))) => {
            format!("[{t}] field `{f}`")
        }
        (Some(t @ ("crowdsec" | "apiban")), None) => format!("[{t}]"),
        (Some("logwatch"), Some(PathSegment::Index(i))) => {
            let keys: Vec<&str> = path[2..].iter().map_while(|s| key(Some(s))).collect();
            match keys.first() {
                Some(k) => format!("[[logwatch]] #{} field `{k}`", i + 1),
                None => format!("[[logwatch]] #{}", i + 1),
            }
        }
        (Some(k), _) => format!("top-level key `{k}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_at(text: &str, needle: &str) -> Vec<PathSegment> {
        let table = DeTable::parse(text).expect("valid TOML");
        let pos = text.find(needle).expect("needle in text");
        innermost_path(table.get_ref(), pos)
    }

    #[test]
    fn the_innermost_value_holding_a_position_gives_the_path() {
        use PathSegment::{Index, Key};
        let text = "[[service]]\nname = \"a\"\n[[service]]\nname = \"b\"\nports = [1, \"x\"]\n";
        assert_eq!(
            path_at(text, "\"x\""),
            [
                Key("service".into()),
                Index(1),
                Key("ports".into()),
                Index(1)
            ]
        );
        assert_eq!(
            path_at(text, "\"b\""),
            [Key("service".into()), Index(1), Key("name".into())]
        );
    }

    #[test]
    fn paths_are_named_as_validation_names_fields() {
        use PathSegment::{Index, Key};
        let text = "[[service]]\nname = \"sip\"\n[service.limits]\n";
        let table = DeTable::parse(text).expect("valid TOML");
        let root = table.get_ref();
        let named = |path: &[PathSegment]| describe(path, root);
        assert_eq!(named(&[]), "top level");
        assert_eq!(
            named(&[Key("global".into()), Key("mode".into())]),
            "[global] field `mode`"
        );
        assert_eq!(
            named(&[
                Key("service".into()),
                Index(0),
                Key("limits".into()),
                Key("register".into())
            ]),
            "service \"sip\" field `limits.register`"
        );
        assert_eq!(named(&[Key("service".into()), Index(3)]), "service #4");
        assert_eq!(
            named(&[Key("logwatch".into()), Index(0), Key("path".into())]),
            "[[logwatch]] #1 field `path`"
        );
        assert_eq!(named(&[Key("globl".into())]), "top-level key `globl`");
    }

    #[test]
    fn serde_struct_names_become_toml_words() {
        let text = "global = 5\n";
        let e = toml::from_str::<toml::Table>("x = [1")
            .map(|_| ())
            .unwrap_err();
        let syntax = toml_error("x = [1", &e);
        assert_eq!(syntax.field, "TOML syntax");
        assert!(!syntax.show_value);
        let e = toml::from_str::<super::super::raw::RawConfig>(text)
            .map(|_| ())
            .unwrap_err();
        let l = toml_error(text, &e);
        assert_eq!(l.field, "[global]");
        assert_eq!(l.message, "invalid type: integer `5`, expected a table");
        assert!(l.show_value);
    }
}

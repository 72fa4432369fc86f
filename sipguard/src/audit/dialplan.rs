//! Which dialplan contexts reach outbound routes (a trunk), from `extensions.conf` and what
//! it includes (FreePBX: `extensions_additional.conf`, `extensions_custom.conf`): the
//! question behind "guests land in a context that can call out" (toll fraud).
use std::collections::{BTreeMap, BTreeSet};

use super::{asterisk, Finding, Paths};

/// Contexts and what they include.
#[derive(Debug, Default)]
pub struct Dialplan {
    /// context -> included contexts.
    includes: BTreeMap<String, Vec<String>>,
    /// Contexts that dial a trunk themselves.
    dials_out: BTreeSet<String>,
    /// Whether a dialplan was read at all (else only well-known names are judged).
    pub loaded: bool,
}

/// FreePBX's contexts that reach its outbound routes, for when no dialplan was read.
const KNOWN_OUTBOUND: &[&str] = &["from-internal", "from-internal-xfer", "outbound-allroutes"];

impl Dialplan {
    pub fn load(paths: &Paths, findings: &mut Vec<Finding>) -> Self {
        let Some(conf) = asterisk::load(&paths.asterisk.join("extensions.conf"), &paths.root)
        else {
            return Self::default();
        };
        super::parse_findings(&conf, "dialplan.parse", findings);
        Self::from_conf(&conf)
    }

    pub fn from_conf(conf: &asterisk::Conf) -> Self {
        let mut d = Dialplan {
            loaded: true,
            ..Self::default()
        };
        for s in &conf.sections {
            let name = s.name.clone();
            let inc = d.includes.entry(name.clone()).or_default();
            for e in &s.entries {
                match e.key.as_str() {
                    "include" => inc.push(
                        e.value
                            .split(['|', ','])
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_owned(),
                    ),
                    "exten" | "same" if dials_trunk(&e.value) => {
                        d.dials_out.insert(name.clone());
                    }
                    _ => {}
                }
            }
        }
        d
    }

    /// The chain of contexts from `context` to one that dials out, if there is one.
    pub fn outbound_path(&self, context: &str) -> Option<Vec<String>> {
        if !self.loaded {
            return KNOWN_OUTBOUND.contains(&context).then(|| {
                vec![format!(
                    "{context}: FreePBX's phone context; no extensions.conf read"
                )]
            });
        }
        let mut seen = BTreeSet::new();
        let mut path = Vec::new();
        self.search(context, &mut seen, &mut path).then_some(path)
    }

    fn search(&self, ctx: &str, seen: &mut BTreeSet<String>, path: &mut Vec<String>) -> bool {
        if !seen.insert(ctx.to_owned()) {
            return false;
        }
        path.push(ctx.to_owned());
        if self.dials_out.contains(ctx) || ctx == "outbound-allroutes" || ctx.starts_with("outrt-")
        {
            return true;
        }
        for inc in self.includes.get(ctx).into_iter().flatten() {
            if self.search(inc, seen, path) {
                return true;
            }
        }
        path.pop();
        false
    }
}

/// An extension line that dials a trunk: `Dial(SIP/trunk/...)`, `Dial(PJSIP/...@trunk)`,
/// IAX2, DAHDI groups, or FreePBX's dialout macro.
fn dials_trunk(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    if v.contains("dialout-trunk") || v.contains("dialout-enum") {
        return true;
    }
    let Some(i) = v.find("dial(") else {
        return false;
    };
    let args = &v[i + 5..];
    // Dialling a phone (`SIP/${EXTEN}` on a local extension) looks the same as dialling a
    // trunk with a number: a technology followed by a second path element or an @ is a trunk.
    ["sip/", "pjsip/", "iax2/", "dahdi/g", "dahdi/r"]
        .iter()
        .any(|t| {
            args.find(t).is_some_and(|j| {
                let rest = &args[j + t.len()..];
                let arg: &str = rest.split([',', ')', '&']).next().unwrap_or("");
                t.starts_with("dahdi") || arg.contains('/') || arg.contains('@')
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_reaches_outbound_through_includes() {
        let c = asterisk::parse_str(
            "[from-internal]\ninclude => from-internal-additional\n[from-internal-additional]\ninclude => outrt-1\n[outrt-1]\nexten => _X.,1,Macro(dialout-trunk,1,${EXTEN})\n[from-sip-external]\nexten => _.,1,Hangup()\n[trunkout]\nexten => _9X.,1,Dial(PJSIP/${EXTEN:1}@provider)\n[phones]\nexten => _2XX,1,Dial(PJSIP/${EXTEN})\n",
            "extensions.conf",
        );
        let d = Dialplan::from_conf(&c);
        assert_eq!(
            d.outbound_path("from-internal").unwrap(),
            ["from-internal", "from-internal-additional", "outrt-1"]
        );
        assert_eq!(d.outbound_path("from-sip-external"), None);
        assert!(d.outbound_path("trunkout").is_some());
        assert_eq!(
            d.outbound_path("phones"),
            None,
            "dialling a phone is not a trunk"
        );
    }

    #[test]
    fn without_a_dialplan_freepbx_names_are_known() {
        let d = Dialplan::default();
        assert!(d.outbound_path("from-internal").is_some());
        assert!(d.outbound_path("from-sip-external").is_none());
    }
}

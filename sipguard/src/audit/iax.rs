//! IAX2 rules (`iax.conf` and its includes; FreePBX's `iax_additional.conf`,
//! `iax_custom.conf`): the same secret checks as chan_sip, plaintext auth, dynamic peers
//! without `permit`/`deny`, a guest user reaching outbound routes, password registrations.
use super::{
    asterisk::Conf, at, at_section, audit_module, check_secret, dialplan::Dialplan,
    secrets::Secret, sip::register_line, Finding, Paths, Severity,
};

const FREEPBX_FILES: &[&str] = &[
    "iax_general_additional.conf",
    "iax_registrations.conf",
    "iax_additional.conf",
    "iax_custom.conf",
];

pub fn audit(paths: &Paths, dialplan: &Dialplan, out: &mut Vec<Finding>) -> Vec<String> {
    audit_module(
        paths,
        "iax.conf",
        FREEPBX_FILES,
        "iax.parse",
        out,
        |conf, out| rules(conf, dialplan, out),
    )
}

pub fn rules(conf: &Conf, dialplan: &Dialplan, out: &mut Vec<Finding>) {
    for e in conf.merged("general").all("register") {
        register_line(e, "iax", out);
    }
    for s in conf.objects() {
        let name = s.name.as_str();
        if name.eq_ignore_ascii_case("general") {
            continue;
        }
        let eff = conf.effective(s);
        let Some(kind) = eff.value("type").map(str::to_ascii_lowercase) else {
            continue;
        };
        let users: Vec<&str> = [name].into_iter().chain(eff.value("username")).collect();
        let secret = eff.get("secret");
        if let Some(e) = secret {
            check_secret(
                out,
                Severity::High,
                "iax.secret",
                at(e),
                &format!("secret of IAX2 {kind} [{name}]"),
                &Secret::new(e.value.clone()),
                &users,
            );
        }
        let keys = eff.has("inkeys") || eff.has("outkey");
        if let Some(e) = eff.get("auth") {
            if e.value.to_ascii_lowercase().contains("plaintext") {
                out.push(Finding::new(
                    Severity::Medium,
                    "iax.plaintext",
                    at(e),
                    format!(
                        "auth={} on [{name}]: the secret crosses the network in clear text",
                        e.value
                    ),
                    "use auth=md5 (or rsa with inkeys=)",
                ));
            }
        }
        let dynamic = eff
            .value("host")
            .is_none_or(|h| h.eq_ignore_ascii_case("dynamic"));
        let takes_calls = kind == "user" || kind == "friend";
        if takes_calls && secret.is_none() && !keys {
            let context = eff.value("context").unwrap_or("default");
            let guest = name.eq_ignore_ascii_case("guest");
            out.push(Finding::new(
                if guest {
                    Severity::Medium
                } else {
                    Severity::High
                },
                "iax.no-secret",
                at_section(s),
                format!(
                    "IAX2 {kind} [{name}] has no secret{}: anyone can call in as it, into \
                     context {context:?}",
                    if guest { " (the guest user)" } else { "" }
                ),
                "set a strong secret (or inkeys=), or remove the section",
            ));
            if let Some(path) = dialplan.outbound_path(context) {
                out.push(Finding::new(
                    Severity::High,
                    "iax.guest-outbound",
                    at_section(s),
                    format!(
                        "unauthenticated IAX2 calls as [{name}] land in context {context:?}, \
                         which reaches outbound routes ({}): toll fraud",
                        path.join(" -> ")
                    ),
                    "give it a context that only reaches your own extensions, or remove it",
                ));
            }
        }
        let acl = eff.has("permit") || eff.has("deny") || eff.has("acl");
        if (kind == "friend" || dynamic) && takes_calls && !acl {
            out.push(Finding::new(
                Severity::Medium,
                "iax.acl",
                at_section(s),
                format!("IAX2 {kind} [{name}] has no permit/deny or acl: it can connect from any address"),
                "add deny=0.0.0.0/0.0.0.0 and permit=<its network>/<mask>",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Vec<(&'static str, String, Severity)> {
        let conf = crate::audit::asterisk::parse_str(text, "iax.conf");
        let mut out = Vec::new();
        rules(&conf, &Dialplan::default(), &mut out);
        out.into_iter()
            .map(|f| (f.check, f.location.to_string(), f.severity))
            .collect()
    }

    #[test]
    fn weak_secrets_plaintext_and_missing_acl() {
        let f = run("[general]\n[301]\ntype=friend\nhost=dynamic\nsecret=301301\nauth=plaintext\n");
        assert_eq!(
            f,
            [
                ("iax.secret", "iax.conf:5".into(), Severity::High),
                ("iax.plaintext", "iax.conf:6".into(), Severity::Medium),
                ("iax.acl", "iax.conf:2".into(), Severity::Medium),
            ]
        );
    }

    #[test]
    fn a_guest_user_in_an_outbound_context_is_toll_fraud() {
        let f = run("[guest]\ntype=user\ncontext=from-internal\npermit=0.0.0.0/0.0.0.0\n");
        let c: Vec<&str> = f.iter().map(|f| f.0).collect();
        assert_eq!(c, ["iax.no-secret", "iax.guest-outbound"]);
    }

    #[test]
    fn a_strong_secret_with_permit_is_clean() {
        assert!(run("[trunk]\ntype=peer\nhost=198.51.100.7\nsecret=Vq7#mZp2!xLr9@Tb\n").is_empty());
    }
}

//! chan_pjsip rules (`pjsip.conf` and its includes: FreePBX 17's `pjsip.endpoint.conf`,
//! `pjsip.auth.conf`, `pjsip.aor.conf`, ...; and `pjsip_wizard.conf`): weak auth passwords,
//! endpoints anyone can use (no auth and no IP match), the `anonymous` endpoint and its
//! context, registering endpoints without an ACL, trunks registering with a password.
use std::collections::BTreeMap;

use super::{
    asterisk::{self, Conf, Effective, Section},
    at, at_section, check_secret,
    dialplan::Dialplan,
    parse_findings,
    secrets::Secret,
    Finding, Paths, Severity,
};

/// FreePBX's chan_pjsip files, read on their own when there is no `pjsip.conf`.
const FREEPBX_FILES: &[&str] = &[
    "pjsip.transports.conf",
    "pjsip.endpoint.conf",
    "pjsip.endpoint_custom.conf",
    "pjsip.aor.conf",
    "pjsip.aor_custom.conf",
    "pjsip.auth.conf",
    "pjsip.auth_custom.conf",
    "pjsip.identify.conf",
    "pjsip.registration.conf",
    "pjsip_custom.conf",
];

pub fn audit(paths: &Paths, dialplan: &Dialplan, out: &mut Vec<Finding>) -> Vec<String> {
    let mut confs = Vec::new();
    match asterisk::load(&paths.asterisk.join("pjsip.conf"), &paths.root) {
        Some(c) => confs.push(c),
        None => {
            // Without pjsip.conf the FreePBX files are read together, as one object set.
            let mut all = Conf::default();
            for f in FREEPBX_FILES {
                if let Some(c) = asterisk::load(&paths.asterisk.join(f), &paths.root) {
                    all.sections.extend(c.sections);
                    all.problems.extend(c.problems);
                    all.files.extend(c.files);
                }
            }
            if !all.files.is_empty() {
                confs.push(all);
            }
        }
    }
    if let Some(c) = asterisk::load(&paths.asterisk.join("pjsip_wizard.conf"), &paths.root) {
        confs.push(c);
    }
    let mut files = Vec::new();
    for conf in &confs {
        parse_findings(conf, "pjsip.parse", out);
        rules(conf, dialplan, out);
        files.extend(conf.files.iter().map(|f| f.display().to_string()));
    }
    files
}

/// The objects of one type, by name.
fn of_type<'a>(conf: &'a Conf, kind: &str) -> BTreeMap<&'a str, (&'a Section, Effective<'a>)> {
    conf.objects()
        .filter_map(|s| {
            let eff = conf.effective(s);
            eff.value("type")
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
                .then_some((s.name.as_str(), (s, eff)))
        })
        .collect()
}

fn list(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

pub fn rules(conf: &Conf, dialplan: &Dialplan, out: &mut Vec<Finding>) {
    let endpoints = of_type(conf, "endpoint");
    let auths = of_type(conf, "auth");
    let aors = of_type(conf, "aor");
    let identified: Vec<String> = of_type(conf, "identify")
        .values()
        .flat_map(|(_, e)| list(e.value("endpoint")))
        .collect();
    let global_acl = !of_type(conf, "acl").is_empty();

    // Auth objects: who uses them, inbound (auth=) or outbound only (outbound_auth=).
    for (name, (_, eff)) in &auths {
        let auth_type = eff.value("auth_type").unwrap_or("userpass");
        if !auth_type.eq_ignore_ascii_case("userpass") {
            continue;
        }
        let Some(pw) = eff.get("password") else {
            continue;
        };
        let inbound: Vec<&str> = endpoints
            .iter()
            .filter(|(_, (_, e))| list(e.value("auth")).iter().any(|a| a == name))
            .map(|(n, _)| *n)
            .collect();
        let mut users: Vec<&str> = vec![name, name.trim_end_matches("-auth")];
        users.extend(eff.value("username"));
        users.extend(inbound.iter().copied());
        let (severity, whose) = if inbound.is_empty() && !endpoints.is_empty() {
            (
                Severity::Medium,
                format!("password of outbound auth [{name}]"),
            )
        } else {
            (Severity::High, format!("password of auth [{name}]"))
        };
        check_secret(
            out,
            severity,
            "pjsip.password",
            at(pw),
            &whose,
            &Secret::new(pw.value.clone()),
            &users,
        );
    }

    for (name, (section, eff)) in &endpoints {
        let context = eff.value("context").unwrap_or("default");
        let has_auth = !list(eff.value("auth")).is_empty();
        let by_ip = identified.iter().any(|e| e == name);
        if *name == "anonymous" {
            guest(section, context, dialplan, "pjsip.anonymous", out);
        } else if !has_auth && !by_ip {
            out.push(Finding::new(
                Severity::High,
                "pjsip.no-auth",
                at_section(section),
                format!(
                    "endpoint [{name}] has no auth= and no identify (IP match): anyone who sends \
                     From: {name} is accepted into context {context:?}"
                ),
                "add auth= with a strong password, or a type=identify section matching the \
                 trunk's addresses",
            ));
        }
        // Registering endpoints: an AOR that takes contacts and has no static one.
        let registers = list(eff.value("aors")).iter().any(|a| {
            aors.get(a.as_str()).is_some_and(|(_, ae)| {
                ae.value("max_contacts")
                    .and_then(|m| m.parse::<u32>().ok())
                    .unwrap_or(0)
                    > 0
                    && !ae.has("contact")
            })
        });
        let acl = [
            "acl",
            "deny",
            "permit",
            "contact_acl",
            "contact_deny",
            "contact_permit",
        ]
        .iter()
        .any(|k| eff.has(k));
        if registers && has_auth && !acl && !global_acl {
            out.push(Finding::new(
                Severity::Medium,
                "pjsip.acl",
                at_section(section),
                format!(
                    "endpoint [{name}] registers from any address (no acl/permit/deny or \
                     contact_permit/contact_deny)"
                ),
                "add deny=0.0.0.0/0 and permit=<the phones' network> to the endpoint (FreePBX: \
                 the extension's Permit/Deny fields)",
            ));
        }
    }

    for (name, (section, _)) in of_type(conf, "registration") {
        out.push(Finding::new(
            Severity::Low,
            "pjsip.registration",
            at_section(section),
            format!("trunk [{name}] registers with a user name and password"),
            "ask the provider for IP authentication (an endpoint with a type=identify match \
             on its addresses, no registration), as the field guides advise",
        ));
    }

    for (name, (section, eff)) in of_type(conf, "wizard") {
        wizard(name, section, &eff, dialplan, out);
    }
}

fn guest(
    section: &Section,
    context: &str,
    dialplan: &Dialplan,
    check: &'static str,
    out: &mut Vec<Finding>,
) {
    out.push(Finding::new(
        Severity::Medium,
        check,
        at_section(section),
        format!(
            "endpoint [{}] takes calls from anyone, without a password, into context \
             {context:?}",
            section.name
        ),
        "remove the anonymous endpoint unless you take calls from SIP URIs (FreePBX: Settings > \
         Asterisk SIP Settings > Allow Anonymous Inbound SIP Calls = No)",
    ));
    if let Some(path) = dialplan.outbound_path(context) {
        out.push(Finding::new(
            Severity::High,
            "pjsip.guest-outbound",
            at_section(section),
            format!(
                "unauthenticated calls land in context {context:?}, which reaches outbound \
                 routes ({}): anyone can call out over your trunks (toll fraud)",
                path.join(" -> ")
            ),
            "point the anonymous endpoint's context= at one that only reaches your own \
             extensions (FreePBX: from-sip-external)",
        ));
    }
}

/// `type=wizard` (pjsip_wizard.conf): `inbound_auth/password`, `outbound_auth/password`,
/// `accepts_registrations`, `sends_registrations`, `endpoint/...` options.
fn wizard(
    name: &str,
    section: &Section,
    eff: &Effective<'_>,
    dialplan: &Dialplan,
    out: &mut Vec<Finding>,
) {
    let users: Vec<&str> = [name]
        .into_iter()
        .chain(eff.value("inbound_auth/username"))
        .chain(eff.value("outbound_auth/username"))
        .collect();
    let inbound = eff.get("inbound_auth/password");
    if let Some(pw) = inbound {
        check_secret(
            out,
            Severity::High,
            "pjsip.password",
            at(pw),
            &format!("inbound_auth/password of wizard [{name}]"),
            &Secret::new(pw.value.clone()),
            &users,
        );
    }
    if let Some(pw) = eff.get("outbound_auth/password") {
        check_secret(
            out,
            Severity::Medium,
            "pjsip.password",
            at(pw),
            &format!("outbound_auth/password of wizard [{name}]"),
            &Secret::new(pw.value.clone()),
            &users,
        );
    }
    let context = eff.value("endpoint/context").unwrap_or("default");
    let accepts_reg = eff.is_true("accepts_registrations") == Some(true);
    let has_ip = eff.has("remote_hosts") && !accepts_reg;
    if name == "anonymous" {
        guest(section, context, dialplan, "pjsip.anonymous", out);
    } else if inbound.is_none() && !has_ip {
        out.push(Finding::new(
            Severity::High,
            "pjsip.no-auth",
            at_section(section),
            format!(
                "wizard [{name}] has no inbound_auth/password and no remote_hosts: anyone who \
                 sends From: {name} is accepted into context {context:?}"
            ),
            "set accepts_auth=yes with inbound_auth/password, or remote_hosts= for a trunk",
        ));
    }
    let acl = [
        "endpoint/acl",
        "endpoint/deny",
        "endpoint/permit",
        "endpoint/contact_deny",
        "endpoint/contact_permit",
        "endpoint/contact_acl",
    ]
    .iter()
    .any(|k| eff.has(k));
    if accepts_reg && !acl {
        out.push(Finding::new(
            Severity::Medium,
            "pjsip.acl",
            at_section(section),
            format!("wizard [{name}] accepts registrations from any address"),
            "add endpoint/deny=0.0.0.0/0 and endpoint/permit=<the phones' network>",
        ));
    }
    if eff.is_true("sends_registrations") == Some(true) {
        out.push(Finding::new(
            Severity::Low,
            "pjsip.registration",
            at_section(section),
            format!("trunk [{name}] registers with a user name and password"),
            "ask the provider for IP authentication (remote_hosts=, no registration)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Vec<Finding> {
        let conf = asterisk::parse_str(text, "pjsip.conf");
        let mut out = Vec::new();
        rules(&conf, &Dialplan::default(), &mut out);
        out
    }

    use crate::audit::checks;

    const STRONG: &str = "Vq7#mZp2!xLr9@Tb";

    #[test]
    fn freepbx_extension_with_a_weak_password_is_high_at_the_password_line() {
        let f = run(&format!(
            "[201]\ntype=endpoint\naors=201\nauth=201-auth\ncontext=from-internal\ndeny=0.0.0.0/0\npermit=10.0.0.0/8\n\
             [201-auth]\ntype=auth\nauth_type=userpass\npassword=201\nusername=201\n\
             [201]\ntype=aor\nmax_contacts=1\n\
             [202]\ntype=endpoint\naors=202\nauth=202-auth\n[202-auth]\ntype=auth\npassword={STRONG}\nusername=202\n[202]\ntype=aor\nmax_contacts=1\n"
        ));
        assert_eq!(
            checks(&f),
            [
                ("pjsip.password", "pjsip.conf:11".into()),
                ("pjsip.acl", "pjsip.conf:16".into())
            ]
        );
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].what.contains("equals the user"), "{}", f[0].what);
    }

    #[test]
    fn an_endpoint_without_auth_or_identify_is_open() {
        let f = run("[lobby]\ntype=endpoint\ncontext=from-internal\n[trunk]\ntype=endpoint\ncontext=from-pstn\n[trunk]\ntype=identify\nendpoint=trunk\nmatch=198.51.100.7\n");
        assert_eq!(checks(&f), [("pjsip.no-auth", "pjsip.conf:1".into())]);
    }

    #[test]
    fn the_anonymous_endpoint_in_an_outbound_context_is_toll_fraud() {
        let f = run("[anonymous]\ntype=endpoint\ncontext=from-internal\n");
        let c: Vec<&str> = f.iter().map(|f| f.check).collect();
        assert_eq!(c, ["pjsip.anonymous", "pjsip.guest-outbound"]);
        let f = run("[anonymous]\ntype=endpoint\ncontext=from-sip-external\n");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
    }

    #[test]
    fn wizard_passwords_and_registrations() {
        let f = run(&format!(
            "[phone](!)\ntype=wizard\naccepts_auth=yes\naccepts_registrations=yes\nendpoint/context=from-internal\nendpoint/permit=10.0.0.0/8\n\
             [301](phone)\ninbound_auth/username=301\ninbound_auth/password=secret301\n\
             [302](phone)\ninbound_auth/password={STRONG}\n\
             [itsp]\ntype=wizard\nsends_auth=yes\nsends_registrations=yes\nremote_hosts=sip.example.net\noutbound_auth/username=acct\noutbound_auth/password={STRONG}\n"
        ));
        assert_eq!(
            checks(&f),
            [
                ("pjsip.password", "pjsip.conf:9".into()),
                ("pjsip.registration", "pjsip.conf:12".into())
            ]
        );
    }
}

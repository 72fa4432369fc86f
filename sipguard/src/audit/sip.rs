//! chan_sip rules (`sip.conf` and what it includes; FreePBX's `sip_additional.conf`,
//! `sip_custom.conf`, ...): weak secrets, guests, `alwaysauthreject`, `insecure` on phones,
//! phones without `permit`/`deny`, peers without a secret, guests reaching outbound routes,
//! trunks registering with a password.
use super::{
    asterisk::{self, Conf, Effective, Section},
    at, at_section, audit_module, check_secret,
    dialplan::Dialplan,
    secrets::Secret,
    Finding, Location, Paths, Severity,
};

/// FreePBX's chan_sip files, read on their own when there is no `sip.conf` to include them.
const FREEPBX_FILES: &[&str] = &[
    "sip_general_additional.conf",
    "sip_general_custom.conf",
    "sip_registrations.conf",
    "sip_registrations_custom.conf",
    "sip_additional.conf",
    "sip_custom.conf",
    "sip_custom_post.conf",
];

/// Audits the chan_sip files under `paths`; returns the files read.
pub fn audit(paths: &Paths, dialplan: &Dialplan, out: &mut Vec<Finding>) -> Vec<String> {
    audit_module(
        paths,
        "sip.conf",
        FREEPBX_FILES,
        "sip.parse",
        out,
        |conf, out| rules(conf, dialplan, out),
    )
}

/// The chan_sip rules over one parsed `sip.conf`.
pub fn rules(conf: &Conf, dialplan: &Dialplan, out: &mut Vec<Finding>) {
    let general = conf.merged("general");
    let peers: Vec<&Section> = conf
        .objects()
        .filter(|s| {
            !s.name.eq_ignore_ascii_case("general")
                && !s.name.eq_ignore_ascii_case("authentication")
        })
        .collect();
    let general_loc = conf
        .first("general")
        .map(at_section)
        .or_else(|| conf.files.first().map(|f| Location::file(f, 1)));

    // Guests: chan_sip's default is allowguest=yes.
    let guest = match general.get("allowguest") {
        Some(e) if asterisk::is_true(&e.value) => Some((at(e), "allowguest=yes")),
        Some(_) => None,
        None if !peers.is_empty() => general_loc
            .clone()
            .map(|l| (l, "allowguest is not set (chan_sip's default is yes)")),
        None => None,
    };
    if let Some((loc, why)) = guest {
        let context = general.value("context").unwrap_or("default");
        out.push(Finding::new(
            Severity::High,
            "sip.allowguest",
            loc.clone(),
            format!(
                "{why}: calls from anyone, without a password, are accepted into context \
                 {context:?}"
            ),
            "set allowguest=no in [general] (FreePBX: Settings > Asterisk SIP Settings > Allow \
             Anonymous Inbound SIP Calls = No)",
        ));
        if let Some(path) = dialplan.outbound_path(context) {
            out.push(Finding::new(
                Severity::High,
                "sip.guest-outbound",
                loc,
                format!(
                    "guests land in context {context:?}, which reaches outbound routes ({}): \
                     anyone can call out over your trunks (toll fraud)",
                    path.join(" -> ")
                ),
                "set allowguest=no, or point [general] context= at a context that only reaches \
                 your own extensions (FreePBX: from-sip-external)",
            ));
        }
    }
    if let Some(e) = general.get("alwaysauthreject") {
        if !asterisk::is_true(&e.value) {
            out.push(Finding::new(
                Severity::High,
                "sip.alwaysauthreject",
                at(e),
                "alwaysauthreject=no: a wrong extension and a wrong password get different \
                 answers, so scanners (svwar) list your extensions",
                "set alwaysauthreject=yes in [general]",
            ));
        }
    }
    for e in general.all("register") {
        register_line(e, "sip", out);
    }

    for peer in peers {
        let eff = conf.effective(peer);
        let Some(kind) = eff.value("type").map(str::to_ascii_lowercase) else {
            continue;
        };
        peer_rules(peer, &eff, &kind, out);
    }
}

fn peer_rules(peer: &Section, eff: &Effective<'_>, kind: &str, out: &mut Vec<Finding>) {
    let name = peer.name.as_str();
    let host = eff.value("host").unwrap_or("dynamic");
    let dynamic = host.eq_ignore_ascii_case("dynamic");
    let trunk = !dynamic;
    let inherited = |e: &asterisk::Entry| {
        if e.origin == name {
            String::new()
        } else {
            format!(" (inherited from template [{}])", e.origin)
        }
    };
    let users: Vec<&str> = ["username", "defaultuser", "fromuser", "authuser"]
        .iter()
        .filter_map(|k| eff.value(k))
        .chain(std::iter::once(name))
        .collect();
    let secret = eff.get("secret");
    match secret {
        Some(e) => check_secret(
            out,
            Severity::High,
            "sip.secret",
            at(e),
            &format!("secret of {kind} [{name}]{}", inherited(e)),
            &Secret::new(e.value.clone()),
            &users,
        ),
        None if dynamic && !eff.has("md5secret") && kind != "peer" => out.push(Finding::new(
            Severity::High,
            "sip.no-secret",
            at_section(peer),
            format!(
                "{kind} [{name}] has host=dynamic and no secret: anyone can register as it and \
                 call through it"
            ),
            "set a random secret of at least 16 characters, or a static host= with \
             permit/deny for a trunk",
        )),
        None => {}
    }
    if let Some(e) = eff.get("remotesecret") {
        check_secret(
            out,
            Severity::Medium,
            "sip.secret",
            at(e),
            &format!("remotesecret of [{name}]{}", inherited(e)),
            &Secret::new(e.value.clone()),
            &users,
        );
    }
    if let Some(e) = eff.get("insecure") {
        let v = e.value.to_ascii_lowercase();
        if !trunk && (v.contains("invite") || v.contains("port") || v == "very" || v == "yes") {
            out.push(Finding::new(
                Severity::Medium,
                "sip.insecure",
                at(e),
                format!(
                    "insecure={} on [{name}], which is not a trunk (host=dynamic): INVITEs \
                     {}are accepted without a password",
                    e.value,
                    if kind == "friend" {
                        "to a type=friend "
                    } else {
                        ""
                    }
                ),
                "remove insecure= from phones; it is for trunks with a static host= only",
            ));
        }
    }
    let acl = eff.has("permit") || eff.has("deny") || eff.has("acl");
    if (kind == "friend" || dynamic) && !acl {
        out.push(Finding::new(
            Severity::Medium,
            "sip.acl",
            at_section(peer),
            format!(
                "{kind} [{name}] ({}) has no permit/deny or acl: it can register and call \
                 from any address",
                if dynamic {
                    "host=dynamic"
                } else {
                    "type=friend"
                }
            ),
            "add deny=0.0.0.0/0.0.0.0 and permit=<the phone's network>/<mask> (FreePBX: the \
             extension's Permit/Deny fields)",
        ));
    }
}

/// `register => [transport://]user[@domain][:secret[:authuser]]@host[:port][/ext]`: a trunk
/// that authenticates with a password.
pub fn register_line(e: &asterisk::Entry, tech: &'static str, out: &mut Vec<Finding>) {
    let check = if tech == "sip" {
        "sip.register"
    } else {
        "iax.register"
    };
    let v = e
        .value
        .split_once("://")
        .map_or(e.value.as_str(), |(_, r)| r);
    let v = v.split_once('?').map_or(v, |(_, r)| r);
    let Some(at_pos) = v.rfind('@') else {
        return;
    };
    let userpart = &v[..at_pos];
    let mut fields = userpart.splitn(3, ':');
    let user = fields.next().unwrap_or("");
    let host = v[at_pos + 1..].split([':', '/', '~']).next().unwrap_or("");
    out.push(Finding::new(
        Severity::Low,
        check,
        at(e),
        format!("trunk registers to {host} with a user name and password"),
        "ask the provider for IP authentication (a static peer with its address, no \
         registration), as the field guides advise",
    ));
    if let Some(secret) = fields.next() {
        let user_name = user.split('@').next().unwrap_or(user);
        check_secret(
            out,
            Severity::Medium,
            check,
            at(e),
            &format!("registration secret for {host}"),
            &Secret::new(secret),
            &[user_name],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Vec<Finding> {
        let conf = asterisk::parse_str(text, "sip.conf");
        let mut out = Vec::new();
        rules(&conf, &Dialplan::default(), &mut out);
        out
    }

    use crate::audit::checks;

    #[test]
    fn allowguest_yes_and_alwaysauthreject_no_are_high_at_their_lines() {
        let f = run("[general]\nallowguest=yes\nalwaysauthreject=no\ncontext=from-sip-external\n");
        assert_eq!(
            checks(&f),
            [
                ("sip.allowguest", "sip.conf:2".into()),
                ("sip.alwaysauthreject", "sip.conf:3".into())
            ]
        );
        assert!(f.iter().all(|f| f.severity == Severity::High));
    }

    #[test]
    fn guests_in_an_outbound_context_are_toll_fraud() {
        let f = run("[general]\nallowguest=yes\ncontext=from-internal\n");
        assert!(f.iter().any(|f| f.check == "sip.guest-outbound"), "{f:?}");
    }

    #[test]
    fn allowguest_unset_counts_as_yes_when_there_are_peers() {
        let f = run("[general]\ncontext=x\n[201]\ntype=friend\nhost=dynamic\nsecret=Vq7#mZp2!xLr9@Tb\npermit=10.0.0.0/8\n");
        assert_eq!(checks(&f), [("sip.allowguest", "sip.conf:1".into())]);
        assert!(run("[general]\nallowguest=no\n").is_empty());
    }

    #[test]
    fn a_weak_inherited_secret_is_reported_at_the_templates_line() {
        let f = run(
            "[general]\nallowguest=no\n[phones](!)\ntype=friend\nhost=dynamic\nsecret=1234\ndeny=0.0.0.0/0.0.0.0\npermit=10.0.0.0/255.0.0.0\n[201](phones)\n",
        );
        assert_eq!(checks(&f), [("sip.secret", "sip.conf:6".into())]);
        assert!(f[0].what.contains("[201]") && f[0].what.contains("phones"));
        assert!(!f[0].what.contains("1234"), "{}", f[0].what);
    }

    #[test]
    fn insecure_on_a_phone_and_no_acl_are_medium_but_fine_on_a_trunk() {
        let f = run(
            "[general]\nallowguest=no\n[201]\ntype=friend\nhost=dynamic\nsecret=Vq7#mZp2!xLr9@Tb\ninsecure=port,invite\n[trunk]\ntype=peer\nhost=198.51.100.7\ninsecure=port,invite\n",
        );
        assert_eq!(
            checks(&f),
            [
                ("sip.insecure", "sip.conf:7".into()),
                ("sip.acl", "sip.conf:3".into())
            ]
        );
        assert!(f.iter().all(|f| f.severity == Severity::Medium));
    }

    #[test]
    fn a_dynamic_friend_without_a_secret_is_high() {
        let f =
            run("[general]\nallowguest=no\n[202]\ntype=friend\nhost=dynamic\npermit=10.0.0.0/8\n");
        assert_eq!(checks(&f), [("sip.no-secret", "sip.conf:3".into())]);
    }

    #[test]
    fn register_lines_suggest_ip_auth_and_judge_their_secret() {
        let f =
            run("[general]\nallowguest=no\nregister => 5551234:5551234@sip.example.net/5551234\n");
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].severity, Severity::Low);
        assert_eq!(f[1].severity, Severity::Medium);
        assert!(f.iter().all(|f| f.location.to_string() == "sip.conf:3"));
    }
}

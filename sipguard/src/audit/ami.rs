//! Asterisk Manager Interface rules (`manager.conf`, FreePBX's `manager_additional.conf` and
//! `manager_custom.conf` through its includes): enabled on all addresses, users that log in
//! from anywhere (`permit=0.0.0.0/0.0.0.0` or no ACL), default and weak secrets.
use super::{
    asterisk::Conf, at, at_section, audit_module, check_secret, secrets::Secret, Finding, Location,
    Paths, Severity,
};

/// Audits AMI's `manager.conf` (or FreePBX's split files); returns the files read.
pub fn audit(paths: &Paths, out: &mut Vec<Finding>) -> Vec<String> {
    const FREEPBX_FILES: &[&str] = &["manager_additional.conf", "manager_custom.conf"];
    audit_module(
        paths,
        "manager.conf",
        FREEPBX_FILES,
        "ami.parse",
        out,
        rules,
    )
}

fn is_any(net: &str) -> bool {
    let n = net.trim();
    n.starts_with("0.0.0.0/0") || n == "::/0" || n == "0.0.0.0"
}

pub fn rules(conf: &Conf, out: &mut Vec<Finding>) {
    let general = conf.merged("general");
    // A file without [general] (manager_additional.conf on its own) is judged as enabled on
    // Asterisk's default bindaddr.
    let has_general = conf.first("general").is_some();
    if has_general && general.is_true("enabled") != Some(true) {
        return;
    }
    let bind = general.get("bindaddr");
    let everywhere = bind.is_none_or(|b| matches!(b.value.trim(), "0.0.0.0" | "::" | "[::]" | ""));
    let port = general.value("port").unwrap_or("5038");
    if everywhere && has_general {
        let loc = bind
            .map(at)
            .or_else(|| conf.first("general").map(at_section))
            .unwrap_or_else(|| Location::file(&conf.files[0], 1));
        out.push(Finding::new(
            Severity::Medium,
            "ami.bindaddr",
            loc,
            format!(
                "AMI is enabled on all addresses (bindaddr={}, port {port}): full control of \
                 the PBX for whoever logs in",
                bind.map_or("0.0.0.0, the default", |b| b.value.as_str())
            ),
            "set bindaddr=127.0.0.1 unless remote tools need AMI, and keep port 5038 closed \
             in the firewall (sipguard's `ami` service)",
        ));
    }
    for user in conf.objects() {
        if user.name.eq_ignore_ascii_case("general") {
            continue;
        }
        let eff = conf.effective(user);
        let name = user.name.as_str();
        if let Some(secret) = eff.get("secret") {
            check_secret(
                out,
                Severity::High,
                "ami.secret",
                at(secret),
                &format!("secret of AMI user [{name}]"),
                &Secret::new(secret.value.clone()),
                &[name],
            );
        }
        let open_permit = eff.all("permit").find(|p| is_any(&p.value));
        let acl = eff.has("permit") || eff.has("deny") || eff.has("acl");
        let (loc, why) = match (open_permit, acl) {
            (Some(p), _) => (at(p), format!("permit={}", p.value)),
            (None, false) => (at_section(user), "no permit/deny or acl".to_owned()),
            (None, true) => continue,
        };
        out.push(Finding::new(
            if everywhere {
                Severity::High
            } else {
                Severity::Low
            },
            "ami.permit",
            loc,
            format!(
                "AMI user [{name}] may log in from any address ({why}){}",
                if everywhere {
                    " and AMI listens on all addresses"
                } else {
                    " (AMI is bound to a local address)"
                }
            ),
            "set deny=0.0.0.0/0.0.0.0 and permit=127.0.0.1/255.255.255.255 (plus the addresses \
             of the tools that need it)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Vec<(&'static str, String, Severity)> {
        let conf = crate::audit::asterisk::parse_str(text, "manager.conf");
        let mut out = Vec::new();
        rules(&conf, &mut out);
        out.into_iter()
            .map(|f| (f.check, f.location.to_string(), f.severity))
            .collect()
    }

    #[test]
    fn freepbx_historical_default_is_high_even_on_loopback() {
        let f = run("[general]\nenabled=yes\nbindaddr=127.0.0.1\n[admin]\nsecret=amp111\ndeny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.0\n");
        assert_eq!(f, [("ami.secret", "manager.conf:5".into(), Severity::High)]);
    }

    #[test]
    fn permit_everything_on_all_addresses_is_high() {
        let f = run("[general]\nenabled=yes\nbindaddr=0.0.0.0\n[tool]\nsecret=Vq7#mZp2!xLr9@Tb\npermit=0.0.0.0/0.0.0.0\n");
        assert_eq!(
            f,
            [
                ("ami.bindaddr", "manager.conf:3".into(), Severity::Medium),
                ("ami.permit", "manager.conf:6".into(), Severity::High),
            ]
        );
    }

    #[test]
    fn disabled_ami_is_not_judged() {
        assert!(run("[general]\nenabled=no\n[admin]\nsecret=amp111\n").is_empty());
    }
}

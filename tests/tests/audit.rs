//! `sipguard audit` end to end: the real binary over fixture trees laid out as FreePBX 17,
//! plain Asterisk and FreeSWITCH install them (planted weak and strong secrets, templates,
//! includes), over malformed files, and over listening sockets in a network namespace.
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;
use sipguard_tests::{daemon::binary, netns::Lab, privileged_test, unique};

/// A directory tree removed on drop.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new() -> Self {
        let root = std::env::temp_dir().join(unique("sipguard-audit-"));
        std::fs::create_dir_all(&root).unwrap();
        Self { root }
    }

    fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> &Self {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    /// The 1-based line of `rel` holding `needle` (fixtures name lines by content).
    fn line(&self, rel: &str, needle: &str) -> usize {
        let text = std::fs::read_to_string(self.root.join(rel)).unwrap();
        text.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{rel} has no line with {needle:?}"))
            + 1
    }

    fn at(&self, rel: &str, needle: &str) -> String {
        format!("{}:{}", self.path(rel), self.line(rel, needle))
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `sipguard audit --root ROOT --no-sockets [extra]`.
fn audit(root: &Path, extra: &[&str]) -> Output {
    Command::new(binary())
        .args(["audit", "--root"])
        .arg(root)
        .arg("--no-sockets")
        .args(extra)
        .output()
        .expect("running sipguard audit")
}

/// The JSON findings and the exit code.
fn findings(root: &Path) -> (Vec<Value>, i32) {
    let out = audit(root, &["--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        v.as_array().unwrap().clone(),
        out.status.code().unwrap_or(-1),
    )
}

/// Whether a finding of `check` with `severity` is at `location`.
fn has(f: &[Value], check: &str, severity: &str, location: &str) -> bool {
    f.iter()
        .any(|x| x["check"] == check && x["severity"] == severity && x["location"] == location)
}

fn assert_has(f: &[Value], check: &str, severity: &str, location: &str) {
    assert!(
        has(f, check, severity, location),
        "no {severity} {check} at {location}; findings:\n{}",
        serde_json::to_string_pretty(f).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Strong secrets planted in the fixtures: none may be flagged.
const STRONG: &[&str] = &[
    "Vq7#mZp2!xLr9@Tb",
    "tR4$wq9Lz!mX2vBn",
    "Hk8%pW3#nQ6!sD1z",
    "Lm2@xC9$vB5#nR8q",
];
/// Weak secrets planted that are not also a user name: none may appear in any output.
const WEAK: &[&str] = &[
    "amp111",
    "amp109",
    "Summer2024",
    "301abc",
    "5551234567",
    "password1",
    "ClueCon",
    "qwerty12",
    "1002pass",
];

/// FreePBX 17 (chan_pjsip, the split pjsip.*.conf files, manager.conf with
/// manager_additional.conf, extensions_additional.conf, /etc/freepbx.conf).
fn freepbx17() -> Tree {
    let t = Tree::new();
    let a = "etc/asterisk";
    t.write(
        &format!("{a}/pjsip.conf"),
        "; FreePBX: do not edit, use the _custom files\n\
         #include pjsip_custom.conf\n\
         #include pjsip.transports.conf\n\
         #include pjsip.transports_custom.conf\n\
         #include pjsip.endpoint.conf\n\
         #include pjsip.endpoint_custom.conf\n\
         #include pjsip.aor.conf\n\
         #include pjsip.aor_custom.conf\n\
         #include pjsip.auth.conf\n\
         #include pjsip.auth_custom.conf\n\
         #include pjsip.registration.conf\n\
         #include pjsip.registration_custom.conf\n\
         #include pjsip.identify.conf\n\
         #include pjsip.identify_custom.conf\n",
    );
    for f in [
        "pjsip_custom.conf",
        "pjsip.transports_custom.conf",
        "pjsip.endpoint_custom.conf",
        "pjsip.aor_custom.conf",
        "pjsip.auth_custom.conf",
        "pjsip.registration_custom.conf",
        "pjsip.identify_custom.conf",
    ] {
        t.write(&format!("{a}/{f}"), "");
    }
    t.write(
        &format!("{a}/pjsip.transports.conf"),
        "[0.0.0.0-udp]\ntype=transport\nprotocol=udp\nbind=0.0.0.0:5060\n",
    );
    t.write(
        &format!("{a}/pjsip.endpoint.conf"),
        "[201]\ntype=endpoint\naors=201\nauth=201-auth\ncontext=from-internal\ncallerid=Reception <201>\ndeny=0.0.0.0/0.0.0.0\npermit=192.168.1.0/255.255.255.0\n\n\
         [202]\ntype=endpoint\naors=202\nauth=202-auth\ncontext=from-internal\ndeny=0.0.0.0/0.0.0.0\npermit=192.168.1.0/255.255.255.0\n\n\
         [203]\ntype=endpoint\naors=203\nauth=203-auth\ncontext=from-internal\n\n\
         [anonymous]\ntype=endpoint\ncontext=from-internal\n\n\
         [trunk-itsp]\ntype=endpoint\naors=trunk-itsp\noutbound_auth=trunk-itsp\ncontext=from-pstn\n",
    );
    t.write(
        &format!("{a}/pjsip.auth.conf"),
        "[201-auth]\ntype=auth\nauth_type=userpass\npassword=201\nusername=201\n\n\
         [202-auth]\ntype=auth\nauth_type=userpass\npassword=Vq7#mZp2!xLr9@Tb\nusername=202\n\n\
         [203-auth]\ntype=auth\nauth_type=userpass\npassword=Summer2024\nusername=203\n\n\
         [trunk-itsp]\ntype=auth\nauth_type=userpass\npassword=tR4$wq9Lz!mX2vBn\nusername=acct77\n",
    );
    t.write(
        &format!("{a}/pjsip.aor.conf"),
        "[201]\ntype=aor\nmax_contacts=1\n\n[202]\ntype=aor\nmax_contacts=1\n\n[203]\ntype=aor\nmax_contacts=1\n\n[trunk-itsp]\ntype=aor\ncontact=sip:sip.example.net\n",
    );
    t.write(
        &format!("{a}/pjsip.registration.conf"),
        "[trunk-itsp]\ntype=registration\noutbound_auth=trunk-itsp\nserver_uri=sip:sip.example.net\nclient_uri=sip:acct77@sip.example.net\n",
    );
    t.write(
        &format!("{a}/pjsip.identify.conf"),
        "[trunk-itsp]\ntype=identify\nendpoint=trunk-itsp\nmatch=198.51.100.7\n",
    );
    t.write(
        &format!("{a}/manager.conf"),
        ";\n; AMI - The Asterisk Manager Interface\n;\n[general]\nenabled = yes\nport = 5038\nbindaddr = 0.0.0.0\ndisplayconnects=no\n\n\
         [admin]\nsecret = amp111\ndeny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.0\nread = system,call,log\nwrite = system,call,log\n\n\
         #include manager_additional.conf\n#include manager_custom.conf\n",
    );
    t.write(
        &format!("{a}/manager_additional.conf"),
        "[crm]\nsecret = Hk8%pW3#nQ6!sD1z\npermit=0.0.0.0/0.0.0.0\nread = call\n",
    );
    t.write(&format!("{a}/manager_custom.conf"), "");
    t.write(
        &format!("{a}/extensions.conf"),
        "[globals]\n#include globals_custom.conf\n\n[from-internal]\ninclude => from-internal-custom\ninclude => from-internal-additional\n\n[from-sip-external]\nexten => _.,1,Hangup()\n\n#include extensions_additional.conf\n#include extensions_custom.conf\n",
    );
    t.write(&format!("{a}/globals_custom.conf"), "");
    t.write(
        &format!("{a}/extensions_custom.conf"),
        "[from-internal-custom]\n",
    );
    t.write(
        &format!("{a}/extensions_additional.conf"),
        "[from-internal-additional]\ninclude => outbound-allroutes\n\n[outbound-allroutes]\ninclude => outrt-1\n\n[outrt-1]\nexten => _1NXXNXXXXXX,1,Macro(dialout-trunk,1,${EXTEN},,off)\n",
    );
    t.write(
        "etc/freepbx.conf",
        "<?php\n$amp_conf['AMPDBUSER'] = 'freepbxuser';\n$amp_conf['AMPDBPASS'] = 'amp109';\n$amp_conf['AMPDBHOST'] = 'localhost';\n$amp_conf['AMPDBNAME'] = 'asterisk';\nrequire_once('/var/www/html/admin/bootstrap.php');\n",
    );
    t.write(
        "etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\nKbdInteractiveAuthentication no\nUsePAM yes\n",
    );
    t.write(
        "etc/ssh/sshd_config.d/50-root.conf",
        "PermitRootLogin yes\n",
    );
    t
}

/// Plain Asterisk with chan_sip: templates, a globbed include directory, IAX2.
fn plain_asterisk() -> Tree {
    let t = Tree::new();
    let a = "etc/asterisk";
    t.write(
        &format!("{a}/sip.conf"),
        "[general]\ncontext=from-internal\nallowguest=yes\nalwaysauthreject=no\nudpbindaddr=0.0.0.0:5160\n\
         register => 5551234567:5551234567@sip.example.net/5551234567\n\n\
         [phones](!)\ntype=friend\nhost=dynamic\ncontext=from-internal\nsecret=qwerty12\ndeny=0.0.0.0/0.0.0.0\npermit=10.0.0.0/255.0.0.0\n\n\
         #include \"sip_phones/*.conf\"\n\n\
         [itsp]\ntype=peer\nhost=198.51.100.7\ninsecure=port,invite\ncontext=from-pstn\n",
    );
    t.write(&format!("{a}/sip_phones/300.conf"), "[300](phones)\n");
    t.write(
        &format!("{a}/sip_phones/301.conf"),
        "[301](phones)\nsecret=301abc\n\n[302](phones)\nsecret=Lm2@xC9$vB5#nR8q\n",
    );
    t.write(
        &format!("{a}/sip_phones/303.conf"),
        "[303]\ntype=friend\nhost=dynamic\nsecret=Hk8%pW3#nQ6!sD1z\ninsecure=port,invite\n",
    );
    t.write(
        &format!("{a}/iax.conf"),
        "[general]\nbindport=4569\n\n[401]\ntype=friend\nhost=dynamic\nsecret=password1\n\n[402]\ntype=friend\nhost=dynamic\nsecret=tR4$wq9Lz!mX2vBn\ndeny=0.0.0.0/0.0.0.0\npermit=10.0.0.0/255.0.0.0\n",
    );
    t
}

/// FreeSWITCH's vanilla configuration layout.
fn freeswitch() -> Tree {
    let t = Tree::new();
    let f = "etc/freeswitch";
    t.write(
        &format!("{f}/vars.xml"),
        "<include>\n  <!-- Preprocessor Variables -->\n  <X-PRE-PROCESS cmd=\"set\" data=\"default_password=1234\"/>\n  <X-PRE-PROCESS cmd=\"set\" data=\"domain=$${local_ip_v4}\"/>\n</include>\n",
    );
    let user = |id: &str, pw: &str| {
        format!(
            "<include>\n  <user id=\"{id}\">\n    <params>\n      <param name=\"password\" value=\"{pw}\"/>\n      <param name=\"vm-password\" value=\"{id}\"/>\n    </params>\n    <variables>\n      <variable name=\"user_context\" value=\"default\"/>\n    </variables>\n  </user>\n</include>\n"
        )
    };
    t.write(
        &format!("{f}/directory/default/1000.xml"),
        user("1000", "$${default_password}"),
    );
    t.write(
        &format!("{f}/directory/default/1001.xml"),
        user("1001", "Lm2@xC9$vB5#nR8q"),
    );
    t.write(
        &format!("{f}/directory/default/1002.xml"),
        user("1002", "1002pass"),
    );
    t.write(
        &format!("{f}/autoload_configs/event_socket.conf.xml"),
        "<configuration name=\"event_socket.conf\" description=\"Socket Client\">\n  <settings>\n    <param name=\"nat-map\" value=\"false\"/>\n    <param name=\"listen-ip\" value=\"::\"/>\n    <param name=\"listen-port\" value=\"8021\"/>\n    <param name=\"password\" value=\"ClueCon\"/>\n  </settings>\n</configuration>\n",
    );
    t
}

// ---------------------------------------------------------------------------------------------
// Fixture trees
// ---------------------------------------------------------------------------------------------

#[test]
fn freepbx17_every_planted_weakness_is_found_at_its_file_and_line() {
    let t = freepbx17();
    let (f, code) = findings(&t.root);
    let a = "etc/asterisk";
    let auth = format!("{a}/pjsip.auth.conf");
    let ep = format!("{a}/pjsip.endpoint.conf");
    assert_has(&f, "pjsip.password", "high", &t.at(&auth, "password=201"));
    assert_has(
        &f,
        "pjsip.password",
        "high",
        &t.at(&auth, "password=Summer2024"),
    );
    assert_has(&f, "pjsip.acl", "medium", &t.at(&ep, "[203]"));
    assert_has(&f, "pjsip.anonymous", "medium", &t.at(&ep, "[anonymous]"));
    assert_has(
        &f,
        "pjsip.guest-outbound",
        "high",
        &t.at(&ep, "[anonymous]"),
    );
    assert_has(
        &f,
        "pjsip.registration",
        "low",
        &t.at(&format!("{a}/pjsip.registration.conf"), "[trunk-itsp]"),
    );
    let mgr = format!("{a}/manager.conf");
    assert_has(&f, "ami.secret", "high", &t.at(&mgr, "secret = amp111"));
    assert_has(&f, "ami.bindaddr", "medium", &t.at(&mgr, "bindaddr"));
    assert_has(
        &f,
        "ami.permit",
        "high",
        &t.at(&format!("{a}/manager_additional.conf"), "permit=0.0.0.0"),
    );
    assert_has(
        &f,
        "freepbx.password",
        "high",
        &t.at("etc/freepbx.conf", "AMPDBPASS"),
    );
    assert_has(
        &f,
        "sshd.root-password",
        "high",
        &t.at("etc/ssh/sshd_config.d/50-root.conf", "PermitRootLogin"),
    );
    assert_eq!(code, 1, "high findings exit 1");
}

#[test]
fn plain_asterisk_templates_and_globbed_includes_are_followed() {
    let t = plain_asterisk();
    let (f, _) = findings(&t.root);
    let sip = "etc/asterisk/sip.conf";
    // The template's weak secret, once per phone that inherits it (300 and 301 override? 300
    // does not; 301 overrides with a weak one of its own; 302 with a strong one).
    let tpl = t.at(sip, "secret=qwerty12");
    let inherited: Vec<&Value> = f
        .iter()
        .filter(|x| x["check"] == "sip.secret" && x["location"] == tpl)
        .collect();
    assert_eq!(
        inherited.len(),
        1,
        "only [300] keeps the template's secret: {inherited:?}"
    );
    assert!(inherited[0]["what"].as_str().unwrap().contains("[300]"));
    assert_has(
        &f,
        "sip.secret",
        "high",
        &t.at("etc/asterisk/sip_phones/301.conf", "secret=301abc"),
    );
    assert!(
        f.iter().any(|x| x["location"]
            == t.at("etc/asterisk/sip_phones/301.conf", "secret=301abc")
            && x["what"].as_str().unwrap().contains("contains the user")),
        "301abc contains the extension"
    );
    assert_has(&f, "sip.allowguest", "high", &t.at(sip, "allowguest"));
    assert_has(&f, "sip.guest-outbound", "high", &t.at(sip, "allowguest"));
    assert_has(
        &f,
        "sip.alwaysauthreject",
        "high",
        &t.at(sip, "alwaysauthreject"),
    );
    assert_has(&f, "sip.register", "low", &t.at(sip, "register =>"));
    assert_has(&f, "sip.register", "medium", &t.at(sip, "register =>"));
    let p303 = "etc/asterisk/sip_phones/303.conf";
    assert_has(&f, "sip.insecure", "medium", &t.at(p303, "insecure"));
    assert_has(&f, "sip.acl", "medium", &t.at(p303, "[303]"));
    assert!(
        !f.iter()
            .any(|x| x["check"] == "sip.insecure" && x["location"] == t.at(sip, "insecure")),
        "insecure=port,invite on a trunk with a static host is fine"
    );
    assert_has(
        &f,
        "iax.secret",
        "high",
        &t.at("etc/asterisk/iax.conf", "secret=password1"),
    );
    assert_has(
        &f,
        "iax.acl",
        "medium",
        &t.at("etc/asterisk/iax.conf", "[401]"),
    );
}

#[test]
fn freeswitch_default_password_and_weak_users_are_found() {
    let t = freeswitch();
    let (f, code) = findings(&t.root);
    let fs = "etc/freeswitch";
    assert_has(
        &f,
        "freeswitch.default-password",
        "high",
        &t.at(&format!("{fs}/vars.xml"), "default_password"),
    );
    let u1000 = format!("{fs}/directory/default/1000.xml");
    assert_has(
        &f,
        "freeswitch.password",
        "high",
        &t.at(&u1000, "name=\"password\""),
    );
    let via = f
        .iter()
        .find(|x| x["location"] == t.at(&u1000, "name=\"password\""))
        .unwrap();
    assert!(
        via["what"].as_str().unwrap().contains("vars.xml:3"),
        "{via}"
    );
    assert_has(
        &f,
        "freeswitch.password",
        "high",
        &t.at(
            &format!("{fs}/directory/default/1002.xml"),
            "name=\"password\"",
        ),
    );
    assert_has(
        &f,
        "freeswitch.event-socket",
        "high",
        &t.at(
            &format!("{fs}/autoload_configs/event_socket.conf.xml"),
            "name=\"password\"",
        ),
    );
    assert_eq!(code, 1);
}

#[test]
fn no_strong_secret_is_flagged() {
    for t in [freepbx17(), plain_asterisk(), freeswitch()] {
        let (f, _) = findings(&t.root);
        // Every file:line holding a strong secret.
        let mut strong = BTreeSet::new();
        for entry in walk(&t.root) {
            let text = std::fs::read_to_string(&entry).unwrap_or_default();
            for (i, l) in text.lines().enumerate() {
                if STRONG.iter().any(|s| l.contains(s)) {
                    strong.insert(format!("{}:{}", entry.display(), i + 1));
                }
            }
        }
        assert!(!strong.is_empty());
        for x in &f {
            let loc = x["location"].as_str().unwrap();
            assert!(!strong.contains(loc), "a strong secret was flagged: {x}");
        }
    }
}

#[test]
fn no_secret_appears_in_text_or_json_output() {
    for t in [freepbx17(), plain_asterisk(), freeswitch()] {
        for args in [&[][..], &["--json"][..]] {
            let out = audit(&t.root, args);
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(all.contains("****"), "masked secrets are shown: {all}");
            for s in WEAK.iter().chain(STRONG) {
                assert!(
                    !all.contains(s),
                    "secret {s:?} in the output ({args:?}):\n{all}"
                );
            }
            // The FreeSWITCH default is short enough to hide in anything: no "1234" next to
            // a password.
            assert!(
                !all.contains("password 1234") && !all.contains("=1234"),
                "{all}"
            );
        }
    }
}

#[test]
fn text_report_groups_findings_by_severity() {
    let t = freepbx17();
    let out = audit(&t.root, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("sipguard audit: "), "{text}");
    let high = text.find("\nHIGH (").expect("a HIGH group");
    let medium = text.find("\nMEDIUM (").expect("a MEDIUM group");
    let low = text.find("\nLOW (").expect("a LOW group");
    assert!(high < medium && medium < low, "{text}");
    assert!(text.contains("fix: "), "{text}");
}

#[test]
fn a_clean_tree_exits_zero() {
    let t = Tree::new();
    t.write(
        "etc/asterisk/pjsip.conf",
        "[202]\ntype=endpoint\naors=202\nauth=202-auth\ncontext=from-internal\ndeny=0.0.0.0/0\npermit=10.0.0.0/8\n[202-auth]\ntype=auth\npassword=Vq7#mZp2!xLr9@Tb\nusername=202\n[202]\ntype=aor\nmax_contacts=1\n",
    );
    t.write(
        "etc/ssh/sshd_config",
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n",
    );
    let (f, code) = findings(&t.root);
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(code, 0);
}

#[test]
fn usage_errors_exit_two() {
    let out = Command::new(binary())
        .args(["audit", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(binary())
        .args([
            "audit",
            "--no-sockets",
            "--root",
            "/nonexistent/sipguard-audit",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

// ---------------------------------------------------------------------------------------------
// Malformed files
// ---------------------------------------------------------------------------------------------

#[test]
fn truncated_sections_are_findings_with_their_line() {
    let t = Tree::new();
    t.write(
        "etc/asterisk/sip.conf",
        "[general]\nallowguest=no\n\n[201]\ntype=friend\nhost=dynamic\nsecret=201\npermit=10.0.0.0/8\n[reception-ph",
    );
    t.write("etc/asterisk/manager.conf", "[general\nenabled=yes\n");
    let (f, code) = findings(&t.root);
    assert_has(
        &f,
        "sip.parse",
        "medium",
        &t.at("etc/asterisk/sip.conf", "[reception-ph"),
    );
    assert_has(
        &f,
        "ami.parse",
        "medium",
        &format!("{}:1", t.path("etc/asterisk/manager.conf")),
    );
    // What parsed before the truncation is still judged.
    assert_has(
        &f,
        "sip.secret",
        "high",
        &t.at("etc/asterisk/sip.conf", "secret=201"),
    );
    assert_eq!(code, 1);
}

#[test]
fn binary_garbage_is_a_finding_not_a_crash() {
    let t = Tree::new();
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    t.write("etc/asterisk/sip.conf", &garbage);
    t.write("etc/asterisk/pjsip.conf", &garbage);
    t.write("etc/freeswitch/vars.xml", &garbage);
    t.write(
        "etc/freeswitch/directory/default/1000.xml",
        "<include><user id=\"1000\"><params>",
    );
    t.write("etc/ssh/sshd_config", &garbage);
    let out = audit(&t.root, &["--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let f: Vec<Value> = serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    assert!(
        f.iter()
            .any(|x| x["check"] == "sip.parse" && x["file"] == t.path("etc/asterisk/sip.conf")),
        "{f:?}"
    );
    assert!(f.iter().any(|x| x["check"] == "pjsip.parse"), "{f:?}");
    assert!(
        f.iter()
            .any(|x| x["check"] == "freeswitch.parse"
                && x["file"] == t.path("etc/freeswitch/vars.xml")),
        "{f:?}"
    );
    assert!(
        f.iter().any(|x| x["check"] == "freeswitch.parse"
            && x["file"] == t.path("etc/freeswitch/directory/default/1000.xml")),
        "{f:?}"
    );
    assert!(
        f.iter().all(|x| x["line"].as_u64().is_some()),
        "every parse finding has a line: {f:?}"
    );
    assert_eq!(out.status.code(), Some(0), "parse findings are medium");
}

#[test]
fn include_loops_are_findings_at_the_include_line() {
    let t = Tree::new();
    t.write(
        "etc/asterisk/sip.conf",
        "[general]\nallowguest=no\n#include sip.conf\n#include sip_a.conf\n",
    );
    t.write("etc/asterisk/sip_a.conf", "#include sip_b.conf\n");
    t.write("etc/asterisk/sip_b.conf", "[201]\ntype=friend\nhost=dynamic\nsecret=Vq7#mZp2!xLr9@Tb\npermit=10.0.0.0/8\n#include sip_a.conf\n");
    t.write("etc/asterisk/iax.conf", "[general]\n#include iax.conf\n");
    let out = audit(&t.root, &["--json"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    let f: Vec<Value> = serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    assert_has(
        &f,
        "sip.parse",
        "medium",
        &t.at("etc/asterisk/sip.conf", "#include sip.conf"),
    );
    assert_has(
        &f,
        "sip.parse",
        "medium",
        &t.at("etc/asterisk/sip_b.conf", "#include sip_a.conf"),
    );
    assert_has(
        &f,
        "iax.parse",
        "medium",
        &t.at("etc/asterisk/iax.conf", "#include iax.conf"),
    );
    assert!(f
        .iter()
        .filter(|x| x["check"] == "sip.parse")
        .all(|x| x["what"].as_str().unwrap().contains("include loop")));
    assert_eq!(out.status.code(), Some(0), "{f:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Listening sockets in a network namespace
// ---------------------------------------------------------------------------------------------

/// Opens `tcp` and `udp` listeners in a fresh namespace and runs the audit there (an empty
/// tree as root, so only sockets are judged, and a pin path with no daemon so the policy is
/// `--config` or the built-in default).
fn socket_audit(tcp: &[&str], udp: &[&str], config: Option<&str>) -> (Vec<Value>, i32) {
    let lab = Lab::new(&[]).expect("namespaces");
    let tcp: Vec<String> = tcp.iter().map(|s| s.to_string()).collect();
    let udp: Vec<String> = udp.iter().map(|s| s.to_string()).collect();
    let (_tcp, _udp) = sipguard_tests::netns::in_ns(&lab.pbx, move || {
        let t: Vec<std::net::TcpListener> = tcp
            .iter()
            .map(|a| std::net::TcpListener::bind(a).expect(a))
            .collect();
        let u: Vec<std::net::UdpSocket> = udp
            .iter()
            .map(|a| std::net::UdpSocket::bind(a).expect(a))
            .collect();
        (t, u)
    })
    .expect("listeners in the namespace");
    let empty = Tree::new();
    let policy = Tree::new();
    let mut cmd = Lab::netns_command(&lab.pbx, binary()).unwrap();
    cmd.args([
        "audit",
        "--json",
        "--pin-path",
        "/nonexistent/sipguard-audit-pins",
        "--root",
    ])
    .arg(&empty.root);
    if let Some(text) = config {
        policy.write("policy.toml", text);
        cmd.arg("--config").arg(policy.root.join("policy.toml"));
    }
    let out = cmd.output().expect("sipguard audit in the namespace");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        v.as_array().unwrap().clone(),
        out.status.code().unwrap_or(-1),
    )
}

const AMI_OPEN: &str = "[global]\ndefault = \"drop\"\n[[service]]\nname = \"ami\"\nprotocol = \"tcp\"\nports = [5038]\nallow = [\"any\"]\n";

privileged_test! {
    fn ami_on_all_addresses_is_restricted_by_the_built_in_default() {
        let (f, code) = socket_audit(&["0.0.0.0:5038", "127.0.0.1:3306"], &[], None);
        assert_has(&f, "socket.admin-restricted", "info", "tcp 0.0.0.0:5038");
        assert!(
            f.iter()
                .any(|x| x["what"].as_str().unwrap().contains("192.168.0.0/16")),
            "names who may reach it: {f:?}"
        );
        assert!(
            !f.iter().any(|x| x["location"] == "tcp 127.0.0.1:3306"),
            "{f:?}"
        );
        assert_eq!(code, 0, "{f:?}");
    }
}

privileged_test! {
    fn ami_on_all_addresses_open_by_the_policy_is_high() {
        let (f, code) = socket_audit(&["0.0.0.0:5038"], &[], Some(AMI_OPEN));
        assert_has(&f, "socket.admin-open", "high", "tcp 0.0.0.0:5038");
        assert_eq!(code, 1);
    }
}

privileged_test! {
    fn a_loopback_only_listener_is_never_flagged() {
        let (f, code) = socket_audit(
            &["127.0.0.1:5038", "[::1]:3306"],
            &["127.0.0.1:69"],
            Some(AMI_OPEN),
        );
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(code, 0);
    }
}

privileged_test! {
    fn ipv6_and_udp_admin_listeners_are_judged_per_family() {
        // TFTP open to any IPv6 source only: an IPv6 socket is open, an IPv4 one is dropped.
        let policy = "[global]\ndefault = \"drop\"\n[[service]]\nname = \"tftp\"\nprotocol = \"udp\"\nports = [69]\nallow = [\"any6\"]\n";
        let (f, code) = socket_audit(&[], &["[2001:db8:1::1]:69", "192.0.2.1:69"], Some(policy));
        assert_has(&f, "socket.admin-open", "high", "udp [2001:db8:1::1]:69");
        assert!(
            !f.iter()
                .any(|x| x["location"] == "udp 192.0.2.1:69" && x["severity"] == "high"),
            "{f:?}"
        );
        assert_eq!(code, 1);
    }
}

privileged_test! {
    fn a_sip_port_the_default_does_not_cover_is_reported() {
        let (f, code) = socket_audit(&[], &["0.0.0.0:5160", "0.0.0.0:5060"], None);
        assert_has(&f, "socket.sip-uncovered", "low", "udp 0.0.0.0:5160");
        assert!(
            !f.iter().any(|x| x["location"] == "udp 0.0.0.0:5060"),
            "5060 is the sip service: {f:?}"
        );
        assert_eq!(code, 0);
    }
}

//! `[[logwatch]]`: built-in sets, regexes and the autoban fields it shares.
use super::*;

#[test]
fn logwatch_takes_built_in_sets_and_regexes() {
    let c = parse(
        "[[logwatch]]\npath = \"/var/log/asterisk/security\"\npatterns = [\"asterisk\", \"bad guy <HOST>\"]\nfailures = 2\n",
    );
    let w = &c.logwatch[0];
    assert_eq!(w.path, PathBuf::from("/var/log/asterisk/security"));
    assert_eq!(
        w.rules.len(),
        log_rules::builtin("asterisk").unwrap().len() + 1
    );
    assert_eq!(w.failures, 2);
    assert_eq!(w.window, Duration::from_secs(600));
}

#[test]
fn a_logwatch_regex_without_host_is_refused_with_its_line() {
    let (line, _, field, value, message) = fail(
        "[[logwatch]]\npath = \"/var/log/auth.log\"\npatterns = [\n  \"sshd\",\n  \"Failed password\",\n]\n",
    );
    assert_eq!(line, 5);
    assert_eq!(field, "[[logwatch]] #1 field `patterns`");
    assert_eq!(value.as_deref(), Some("\"Failed password\""));
    assert!(message.contains("<HOST>"), "{message}");
}

#[test]
fn a_bad_logwatch_threshold_names_the_logwatch() {
    let (line, _, field, _, _) =
        fail("[[logwatch]]\npath = \"/var/log/auth.log\"\npatterns = [\"sshd\"]\nfailures = 0\n");
    assert_eq!(line, 4);
    assert_eq!(field, "[[logwatch]] #1 field `failures`");
}

#[test]
fn an_unanchored_logwatch_regex_is_accepted_with_a_warning_naming_it() {
    let c = parse(
        "[[logwatch]]\npath = \"/var/log/app.log\"\npatterns = [\"sshd\", \"bad login from <HOST>\", \"^x <HOST>$\"]\n",
    );
    let warnings = c.logwatch[0].warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("[[logwatch]] /var/log/app.log: pattern \"bad login from <HOST>\""),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("not anchored"), "{}", warnings[0]);
}

#[test]
fn an_unknown_set_name_is_refused_naming_the_sets() {
    let (_, _, field, _, message) =
        fail("[[logwatch]]\npath = \"/var/log/x\"\npatterns = [\"postfix\"]\n");
    assert_eq!(field, "[[logwatch]] #1 field `patterns`");
    assert!(
        message.contains("\"asterisk\", \"kamailio\", \"sshd\""),
        "{message}"
    );
}

//! `[autoban]`: defaults, fields and bounds.
use super::*;

#[test]
fn autoban_defaults_to_five_failures_a_minute_for_an_hour() {
    let c = parse("");
    assert_eq!(c.autoban, AutobanPolicy::default());
    assert!(c.autoban.enabled);
    assert_eq!(c.autoban.failures, 5);
}

#[test]
fn autoban_takes_its_fields() {
    let c = parse("[autoban]\nfailures = 3\nwindow = \"10m\"\nban = \"1d\"\nscope = \"sip\"\n");
    assert_eq!(c.autoban.failures, 3);
    assert_eq!(c.autoban.window, Duration::from_secs(600));
    assert_eq!(c.autoban.ban, Duration::from_secs(86400));
    assert!(c.autoban.sip_only);
}

#[test]
fn a_bad_autoban_scope_is_refused_with_its_line() {
    let (line, _, field, value, message) = fail("[autoban]\nfailures = 3\nscope = \"world\"\n");
    assert_eq!(line, 3);
    assert_eq!(field, "[autoban] field `scope`");
    assert_eq!(value.as_deref(), Some("\"world\""));
    assert!(message.contains("\"sip\""), "{message}");
}

#[test]
fn autoban_attempts_default_to_ten_and_zero_turns_them_off() {
    assert_eq!(parse("").autoban.attempts, 10);
    assert_eq!(parse("[autoban]\nattempts = 0\n").autoban.attempts, 0);
    let (line, _, field, value, _) = fail("[autoban]\nattempts = -1\n");
    assert_eq!(line, 2);
    assert_eq!(field, "[autoban] field `attempts`");
    assert_eq!(value.as_deref(), Some("-1"));
}

#[test]
fn zero_autoban_failures_are_refused() {
    let (line, _, field, _, _) = fail("[autoban]\nfailures = 0\n");
    assert_eq!(line, 2);
    assert_eq!(field, "[autoban] field `failures`");
}

#[test]
fn learned_trust_defaults_to_two_hours_and_zero_turns_it_off() {
    assert_eq!(parse("").autoban.learned_trust, Duration::from_secs(7200));
    let c = parse("[autoban]\nlearned_trust = \"30m\"\n");
    assert_eq!(c.autoban.learned_trust, Duration::from_secs(1800));
    assert_eq!(
        parse("[autoban]\nlearned_trust = \"0s\"\n")
            .autoban
            .learned_trust,
        Duration::ZERO
    );
}

#[test]
fn a_learned_trust_past_thirty_days_is_refused_with_its_line() {
    let (line, _, field, value, message) =
        fail("[autoban]\nfailures = 3\nlearned_trust = \"45d\"\n");
    assert_eq!(line, 3);
    assert_eq!(field, "[autoban] field `learned_trust`");
    assert_eq!(value.as_deref(), Some("\"45d\""));
    assert!(message.contains("30d"), "{message}");
}

#[test]
fn learned_trust_is_not_a_logwatch_field() {
    let (line, _, _, _, message) = fail(
        "[[logwatch]]\npath = \"/var/log/x\"\npatterns = [\"sshd\"]\nlearned_trust = \"1h\"\n",
    );
    assert_eq!(line, 4);
    assert!(message.starts_with("unknown key"), "{message}");
}

#[test]
fn autoban_users_default_to_ten_and_zero_turns_enumeration_off() {
    assert_eq!(parse("").autoban.users, 10);
    assert_eq!(parse("[autoban]\nusers = 0\n").autoban.users, 0);
    assert_eq!(parse("[autoban]\nusers = 50\n").autoban.users, 50);
}

#[test]
fn one_user_is_no_enumeration_and_is_refused_with_its_line() {
    for bad in ["1", "-3", "10001"] {
        let (line, _, field, value, message) =
            fail(&format!("[autoban]\nfailures = 3\nusers = {bad}\n"));
        assert_eq!(line, 3);
        assert_eq!(field, "[autoban] field `users`");
        assert_eq!(value.as_deref(), Some(bad));
        assert!(message.contains("2 to 10000"), "{message}");
    }
}

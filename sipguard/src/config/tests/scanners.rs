//! `[scanners]`: the built-in list, replacing and extending it, and its times.
use super::*;

#[test]
fn scanners_default_to_the_built_in_list_drop_only() {
    let c = parse("");
    assert!(c.scanners.enabled);
    assert_eq!(
        c.scanners.user_agents.len(),
        DEFAULT_SCANNER_USER_AGENTS.len()
    );
    assert_eq!(c.scanners.ban, None);
    assert_eq!(c.scanners.recheck, Duration::from_secs(1));
}

#[test]
fn the_built_in_default_lists_the_same_scanners() {
    let c = Config::builtin_default();
    let listed: Vec<&str> = c.scanners.user_agents.iter().map(String::as_str).collect();
    assert_eq!(listed, DEFAULT_SCANNER_USER_AGENTS);
}

#[test]
fn user_agents_replace_and_extra_user_agents_extend() {
    let c = parse("[scanners]\nuser_agents = [\"EvilScan\"]\n");
    assert_eq!(c.scanners.user_agents, ["EvilScan"]);
    let c = parse("[scanners]\nextra_user_agents = [\"EvilScan\", \"FRIENDLY-SCANNER\"]\n");
    assert_eq!(
        c.scanners.user_agents.len(),
        DEFAULT_SCANNER_USER_AGENTS.len() + 1,
        "a pattern already listed (in any case) is not added twice"
    );
}

#[test]
fn scanner_ban_and_recheck_take_durations() {
    let c = parse("[scanners]\nban = \"1h\"\nrecheck = \"500ms\"\n");
    assert_eq!(c.scanners.ban, Some(Duration::from_secs(3600)));
    assert_eq!(c.scanners.recheck, Duration::from_millis(500));
    let c = parse("[scanners]\nban = \"0\"\n");
    assert_eq!(c.scanners.ban, None);
}

#[test]
fn a_short_scanner_pattern_is_refused_with_its_line() {
    let (line, _, field, value, message) =
        fail("[scanners]\nuser_agents = [\n  \"friendly-scanner\",\n  \"sip\",\n]\n");
    assert_eq!(line, 4);
    assert_eq!(field, "[scanners] field `user_agents`");
    assert_eq!(value.as_deref(), Some("\"sip\""));
    assert!(message.contains("at least 4"), "{message}");
}

#[test]
fn a_bad_ban_duration_is_refused() {
    let (line, _, field, value, message) = fail("[scanners]\nban = \"forever\"\n");
    assert_eq!(line, 2);
    assert_eq!(field, "[scanners] field `ban`");
    assert_eq!(value.as_deref(), Some("\"forever\""));
    assert!(message.contains("duration"), "{message}");
}

#[test]
fn an_unknown_scanners_key_is_named() {
    let (line, _, field, _, message) = fail("[scanners]\nbanned = \"1h\"\n");
    assert_eq!(line, 2);
    assert!(field.contains("banned"), "{field}");
    assert!(message.contains("unknown key"), "{message}");
}

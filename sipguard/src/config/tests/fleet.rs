//! `[crowdsec]` and `[apiban]`.
use super::*;

#[test]
fn crowdsec_takes_its_defaults_and_secrets_inline_or_from_a_file() {
    let c = parse("[crowdsec]\nlapi_url = \"http://127.0.0.1:8080/\"\napi_key_file = \"/etc/k\"\n");
    let cs = c.crowdsec.unwrap();
    assert_eq!(cs.lapi_url, "http://127.0.0.1:8080");
    assert_eq!(cs.api_key, Some(Secret::File(PathBuf::from("/etc/k"))));
    assert_eq!(cs.poll_interval, DEFAULT_CROWDSEC_POLL);
    assert!(cs.origins.is_empty() && !cs.sip_only && cs.machine.is_none());
    let c = parse(
        "[crowdsec]\nlapi_url = \"https://lapi:8080\"\nmachine_id = \"pbx\"\npassword = \"pw\"\n\
         origins = [\"CAPI\", \"capi\"]\nscope = \"sip\"\npoll_interval = \"2s\"\n",
    );
    let cs = c.crowdsec.unwrap();
    assert_eq!(cs.origins, ["capi"]);
    assert!(cs.sip_only);
    assert_eq!(cs.poll_interval, Duration::from_secs(2));
    assert_eq!(
        format!("{:?}", cs.machine),
        "Some((\"pbx\", <inline secret>))",
        "Debug hides it"
    );
}

#[test]
fn crowdsec_errors_name_the_field() {
    let (line, _, field, _, msg) = fail("[crowdsec]\nlapi_url = \"ftp://x\"\napi_key = \"k\"\n");
    assert_eq!(
        (line, field.as_str()),
        (2, "[crowdsec] field `lapi_url`"),
        "{msg}"
    );
    let (_, _, field, _, msg) =
        fail("[crowdsec]\nlapi_url = \"http://x\"\napi_key = \"k\"\napi_key_file = \"/k\"\n");
    assert_eq!(field, "[crowdsec] field `api_key_file`");
    assert!(msg.contains("not both"), "{msg}");
    let (_, _, field, _, _) = fail("[crowdsec]\nlapi_url = \"http://x\"\n");
    assert_eq!(field, "[crowdsec]");
    let (_, _, field, _, _) = fail("[crowdsec]\nlapi_url = \"http://x\"\nmachine_id = \"m\"\n");
    assert_eq!(field, "[crowdsec] field `machine_id`");
    let (_, _, field, _, _) =
        fail("[crowdsec]\nlapi_url = \"http://x\"\napi_key = \"k\"\npoll_interval = \"0s\"\n");
    assert_eq!(field, "[crowdsec] field `poll_interval`");
    let (_, _, field, _, _) =
        fail("[crowdsec]\nlapi_url = \"http://x\"\napi_key = \"k\"\nkey = 1\n");
    assert!(field.starts_with("[crowdsec]"), "{field}");
}

#[test]
fn apiban_takes_its_defaults_and_keeps_to_the_rate_limit() {
    let a = parse("[apiban]\nkey = \"abc\"\n").apiban.unwrap();
    assert_eq!(a.url, DEFAULT_APIBAN_URL);
    assert_eq!(a.ban, Duration::from_secs(7 * 86400));
    assert_eq!(a.state, PathBuf::from(DEFAULT_APIBAN_STATE));
    let (_, _, field, _, _) = fail("[apiban]\nkey = \"abc\"\ninterval = \"10s\"\n");
    assert_eq!(field, "[apiban] field `interval`");
    let (_, _, field, _, _) = fail("[apiban]\nkey = \"abc\"\nset = \"web\"\n");
    assert_eq!(field, "[apiban] field `set`");
    let (_, _, field, _, _) = fail("[apiban]\ninterval = \"10m\"\n");
    assert_eq!(field, "[apiban]");
}

//! `[crowdsec]` and `[apiban]`.
use super::*;

#[test]
fn crowdsec_takes_its_defaults_and_secrets_inline_or_from_a_file() {
    let c = parse("[crowdsec]\nlapi_url = \"http://127.0.0.1:8080/\"\napi_key_file = \"/etc/k\"\n");
    let cs = c.crowdsec.unwrap();
    assert_eq!(cs.lapi_url, "http://127.0.0.1:8080");
    assert_eq!(cs.api_key, Some(Secret::File(PathBuf::from("/etc/k"))));
    assert_eq!(cs.poll_interval, DEFAULT_CROWDSEC_POLL);
    assert_eq!(cs.metrics_interval, Some(DEFAULT_CROWDSEC_METRICS));
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
fn crowdsec_metrics_interval_is_a_duration_or_off() {
    let with = |v: &str| {
        format!("[crowdsec]\nlapi_url = \"http://x\"\napi_key = \"k\"\nmetrics_interval = {v}\n")
    };
    let interval = |v: &str| parse(&with(v)).crowdsec.unwrap().metrics_interval;
    assert_eq!(interval("\"30m\""), Some(Duration::from_secs(1800)));
    assert_eq!(interval("\"2s\""), Some(Duration::from_secs(2)));
    assert_eq!(interval("\"0\""), None);
    assert_eq!(interval("\"0s\""), None);
    assert_eq!(interval("\"off\""), None);
    for bad in ["\"soon\"", "\"2d\"", "\"500ms\""] {
        let (line, _, field, value, msg) = fail(&with(bad));
        assert_eq!(
            (line, field.as_str()),
            (4, "[crowdsec] field `metrics_interval`"),
            "{bad}: {msg}"
        );
        assert!(value.is_some(), "{bad}: the value is named");
    }
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

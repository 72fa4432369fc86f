//! Reading files, the error text, and errors serde finds before validation (syntax, unknown keys, wrong types, missing fields): each names the field as validation would.
use super::*;

#[test]
fn from_file_reads_and_names_the_file() {
    let path = std::env::temp_dir().join(format!("sipguard-config-{}.toml", std::process::id()));
    std::fs::write(&path, "[global]\nmode = \"bogus\"\n").unwrap();
    let err = Config::from_file(&path).unwrap_err().to_string();
    std::fs::write(&path, "[global]\nmode = \"monitor\"\n").unwrap();
    let ok = Config::from_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(
        err.starts_with(&format!("{}:2:8: ", path.display())),
        "{err}"
    );
    assert_eq!(ok.source, path.display().to_string());
}

#[test]
fn from_file_missing_is_io_error() {
    let err = Config::from_file(Path::new("/nonexistent/sipguard.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err.to_string().starts_with("/nonexistent/sipguard.toml: "));
}

#[test]
fn error_display_names_file_line_field_and_value() {
    let text = "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\n\
                allow = [\"any\", \"10.0.0.300/8\"]\n";
    let err = Config::from_str(text, "/etc/sipguard.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "/etc/sipguard.toml:5:17: service \"sip\" field `allow` value \"10.0.0.300/8\": \
         invalid CIDR: `10.0.0.300` is not an IP address"
    );
}

#[test]
fn syntax_error() {
    let (line, column, field, _, message) =
        fail("[global]\nmode = \"enforce\"\ndeny = [\"192.0.2.0/24\"\n");
    assert_eq!((line, field.as_str()), (3, "TOML syntax"));
    assert!(column > 1);
    assert!(message.contains("unclosed array"), "{message}");
}

#[test]
fn unknown_key_in_global() {
    let (line, column, field, value, message) = fail("[global]\nmode = \"enforce\"\nmodee = 1\n");
    assert_eq!((line, column), (3, 1));
    assert_eq!(field, "[global] field `modee`");
    assert_eq!(value, None);
    assert!(message.starts_with("unknown key"), "{message}");
}

#[test]
fn unknown_key_in_service() {
    let (line, _, field, _, message) = fail(
        "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = []\n\
         alow = [\"any\"]\n",
    );
    assert_eq!(line, 6);
    assert_eq!(field, "service \"sip\" field `alow`");
    assert!(message.contains("unknown key"), "{message}");
}

#[test]
fn unknown_top_level_table() {
    let (line, _, field, _, _) = fail("[global]\n\n[globl]\nmode = \"monitor\"\n");
    assert_eq!(line, 3);
    assert_eq!(field, "top-level key `globl`");
}

#[test]
fn wrong_type() {
    let (line, column, field, value, message) = fail("[global]\n\nmode = 5\n");
    assert_eq!((line, column), (3, 8));
    assert_eq!(field, "[global] field `mode`");
    assert_eq!(value.as_deref(), Some("5"));
    assert!(message.starts_with("invalid type"), "{message}");
}

#[test]
fn wrong_type_names_toml_types() {
    let (line, _, field, _, message) = fail("\nglobal = 5\n");
    assert_eq!((line, field.as_str()), (2, "[global]"));
    assert_eq!(message, "invalid type: integer `5`, expected a table");
    let (line, _, field, _, message) = fail("[global]\ndeny = \"192.0.2.1\"\n");
    assert_eq!((line, field.as_str()), (2, "[global] field `deny`"));
    assert!(message.ends_with("expected an array"), "{message}");
}

#[test]
fn wrong_type_of_port_entry() {
    let (line, _, field, value, _) = fail(
        "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [\n  5060,\n  true,\n]\n\
         allow = []\n",
    );
    assert_eq!(line, 6);
    assert_eq!(field, "service \"sip\" field `ports`");
    assert_eq!(value.as_deref(), Some("true"));
}

#[test]
fn missing_required_field() {
    let (line, _, field, value, message) =
        fail("[global]\n\n[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\n");
    assert_eq!(line, 3);
    assert_eq!(field, "service \"sip\" field `allow`");
    assert_eq!(value, None);
    assert_eq!(message, "required field is missing");
}

#[test]
fn missing_name_counts_services() {
    let ok = "[[service]]\nname = \"a\"\nprotocol = \"icmp\"\nallow = []\n";
    let (line, _, field, _, _) = fail(&format!(
        "{ok}\n[[service]]\nprotocol = \"icmp\"\nallow = []\n"
    ));
    assert_eq!(line, 6);
    assert_eq!(field, "service #2 field `name`");
}

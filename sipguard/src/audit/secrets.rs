//! Secrets: strength rules (zxcvbn with its dictionaries, plus the field guides' rules) and
//! masking. A [`Secret`] never shows its text: `Display` and `Debug` are both masked, so a
//! secret can't leak through a report, a log line, `{:?}` or a panic message.
use std::fmt;

/// Fewer characters than this is weak, whatever they are.
pub const MIN_LEN: usize = 12;

/// zxcvbn scores below this are guessable (3: more than 10^8 guesses; an online guesser at
/// 50 tries a second needs years).
const MIN_SCORE: u8 = 3;

/// A password or secret read from a config file.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The text, for the checks only: never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `2****1 (4 chars)`: first and last character of secrets of 4 or more characters,
    /// nothing of shorter ones.
    pub fn masked(&self) -> String {
        let n = self.len();
        let chars: Vec<char> = self.0.chars().collect();
        match n {
            0 => "(empty)".into(),
            1..=3 => format!("**** ({n} chars)"),
            _ => format!("{}****{} ({n} chars)", chars[0], chars[n - 1]),
        }
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

/// Why a secret is weak. The texts never contain the secret (nor the user name when it is
/// the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Weakness {
    Empty,
    /// Equal to a user input (extension, user name), case-insensitively.
    EqualsUser,
    /// Contains a user input of 3 or more characters.
    ContainsUser,
    AllDigits,
    Short(usize),
    /// zxcvbn's score (0..=4) and its warning, if any.
    Guessable {
        score: u8,
        warning: Option<String>,
    },
    /// A product's shipped default (what says whose).
    KnownDefault(&'static str),
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weakness::Empty => f.write_str("is empty"),
            Weakness::EqualsUser => f.write_str("equals the user/extension name"),
            Weakness::ContainsUser => f.write_str("contains the user/extension name"),
            Weakness::AllDigits => f.write_str("is all digits"),
            Weakness::Short(n) => write!(f, "has {n} characters (fewer than {MIN_LEN})"),
            Weakness::Guessable { score, warning } => {
                write!(f, "is guessable (zxcvbn score {score} of 4")?;
                if let Some(w) = warning {
                    write!(f, ": {}", w.trim_end_matches('.'))?;
                }
                f.write_str(")")
            }
            Weakness::KnownDefault(what) => write!(f, "is a known default ({what})"),
        }
    }
}

/// Shipped defaults the field guides tell admins to change: (secret, whose).
pub const KNOWN_DEFAULTS: &[(&str, &str)] = &[
    ("amp111", "FreePBX's historical AMI secret"),
    ("amp109", "FreePBX's historical MySQL password"),
    ("ari_password", "FreePBX's historical ARI admin password"),
    ("passw0rd", "FreePBX's historical FOP password"),
    ("1234", "FreeSWITCH's default_password"),
    ("ClueCon", "FreeSWITCH's event socket password"),
    ("mysecret", "the manager.conf sample's secret"),
    ("eLaStIx.2oo7", "Elastix's historical root/MySQL password"),
    ("palosanto", "Elastix's historical admin password"),
];

/// Everything weak about `secret`; empty when it is strong. `users` are the names it must
/// not be derived from (extension, user name, section name).
pub fn weaknesses(secret: &Secret, users: &[&str]) -> Vec<Weakness> {
    let text = secret.expose();
    if text.is_empty() {
        return vec![Weakness::Empty];
    }
    let mut out = Vec::new();
    if let Some(&(_, whose)) = KNOWN_DEFAULTS.iter().find(|(d, _)| *d == text) {
        out.push(Weakness::KnownDefault(whose));
    }
    let lower = text.to_lowercase();
    let users: Vec<String> = users
        .iter()
        .map(|u| u.trim().to_lowercase())
        .filter(|u| !u.is_empty())
        .collect();
    if users.contains(&lower) {
        out.push(Weakness::EqualsUser);
    } else if users
        .iter()
        .any(|u| u.chars().count() >= 3 && lower.contains(u.as_str()))
    {
        out.push(Weakness::ContainsUser);
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        out.push(Weakness::AllDigits);
    }
    let n = secret.len();
    if n < MIN_LEN {
        out.push(Weakness::Short(n));
    }
    let inputs: Vec<&str> = users.iter().map(String::as_str).collect();
    let entropy = zxcvbn::zxcvbn(text, &inputs);
    let score = u8::from(entropy.score());
    if score < MIN_SCORE {
        let warning = entropy
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| w.to_string());
        out.push(Weakness::Guessable { score, warning });
    }
    out
}

/// "is all digits, has 3 characters (fewer than 12)".
pub fn describe(weaknesses: &[Weakness]) -> String {
    weaknesses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Config keys whose values are secrets (lower case): masked wherever entries are shown.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("secret") || k.contains("password") || k == "register" || k.ends_with("pass")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weak(secret: &str, users: &[&str]) -> Vec<Weakness> {
        weaknesses(&Secret::new(secret), users)
    }

    #[test]
    fn the_extension_number_as_secret_is_weak_every_way() {
        let w = weak("201", &["201"]);
        assert!(w.contains(&Weakness::EqualsUser), "{w:?}");
        assert!(w.contains(&Weakness::AllDigits), "{w:?}");
        assert!(w.contains(&Weakness::Short(3)), "{w:?}");
        assert!(w.iter().any(|w| matches!(w, Weakness::Guessable { .. })));
    }

    #[test]
    fn a_secret_containing_the_user_is_weak() {
        let w = weak("Xq9!201-vR7#kPz4", &["201"]);
        assert_eq!(w, [Weakness::ContainsUser]);
    }

    #[test]
    fn long_digit_strings_are_all_digits() {
        assert!(weak("738204617395", &["1001"]).contains(&Weakness::AllDigits));
    }

    #[test]
    fn dictionary_words_are_guessable_even_when_long() {
        let w = weak("passwordpassword", &[]);
        assert!(
            w.iter().any(|w| matches!(w, Weakness::Guessable { .. })),
            "{w:?}"
        );
    }

    #[test]
    fn known_defaults_are_named() {
        assert!(weak("amp111", &["admin"])
            .iter()
            .any(|w| matches!(w, Weakness::KnownDefault(d) if d.contains("AMI"))));
    }

    #[test]
    fn random_secrets_are_strong() {
        for s in ["Vq7#mZp2!xLr9@Tb", "d882ueUee92e2Kq", "tR4$wq9Lz!mX2vBn"] {
            assert_eq!(weak(s, &["201", "phones"]), [], "{s}");
        }
    }

    #[test]
    fn masking_shows_at_most_the_first_and_last_character() {
        assert_eq!(Secret::new("2001").masked(), "2****1 (4 chars)");
        assert_eq!(Secret::new("201").masked(), "**** (3 chars)");
        assert_eq!(Secret::new("").masked(), "(empty)");
        let s = Secret::new("hunter2hunter2");
        assert!(!format!("{s} {s:?}").contains("hunter2"));
    }

    #[test]
    fn weakness_texts_never_hold_the_secret() {
        let s = "qwerty";
        for w in weak(s, &["qwerty"]) {
            assert!(!w.to_string().to_lowercase().contains(s), "{w}");
        }
    }
}

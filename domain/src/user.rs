//! Users and the credentials they present: validated newtypes built at the edge, so the rest
//! of the code never sees an unchecked username or password.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

/// A user's stable identifier (the token's `sub`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl UserId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a username was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("username must be between {min} and {max} characters long")]
    Length { min: usize, max: usize },
    #[error(
        "username may contain only letters, digits and . _ - @ +, and must start with a letter or digit"
    )]
    Characters,
}

/// A username: trimmed, NFKC-normalised, 3–64 characters.
///
/// Allowed characters are Unicode letters and digits plus `.` `_` `-` `@` `+` (so e-mail
/// addresses work), and the first character is a letter or digit. Uniqueness is
/// case-insensitive: [`Username::canonical`] is the key the store keeps unique, while
/// [`Username::as_str`] keeps the spelling the user chose.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 64;

    /// Validates and normalises a raw username.
    ///
    /// # Errors
    /// [`UsernameError`] names the rule the input breaks.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let normalised: String = raw.trim().nfkc().collect();
        // Within the bounds both as typed and after NFKC (see `Password::parse`).
        let typed = raw.chars().count();
        let chars = normalised.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars)
            || !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&typed)
        {
            return Err(UsernameError::Length {
                min: Self::MIN_CHARS,
                max: Self::MAX_CHARS,
            });
        }
        let mut it = normalised.chars();
        let first_ok = it.next().is_some_and(char::is_alphanumeric);
        let rest_ok = it.all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'));
        if !first_ok || !rest_ok {
            return Err(UsernameError::Characters);
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key uniqueness, lookups and the lockout use: NFKC, lower-cased, NFKC again
    /// (lower-casing can denormalise). Case does not matter and compatibility forms fold
    /// (`ＡＬＩＣＥ` is `alice`), but accents do (`álice` is not `alice`): they make
    /// different names in most languages. Stores MUST compare this key byte for byte
    /// (no accent- or case-insensitive collation), so it means one user on every backend.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase().nfkc().collect()
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Username").field(&self.0).finish()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Length limits for new passwords. Measured in characters after NFKC normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_chars: usize,
    pub max_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 8,
            max_chars: 128,
        }
    }
}

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {0} characters long")]
    TooShort(usize),
    #[error("password must be at most {0} characters long")]
    TooLong(usize),
    #[error("password must not contain the username")]
    ContainsUsername,
    /// zxcvbn estimates it falls within a million guesses (a common password, a
    /// dictionary word, a keyboard walk, a repetition, …); the text says which.
    #[error("password is too easy to guess: {0}")]
    TooGuessable(String),
}

/// A new password that passed the policy: NFKC-normalised, never shown by `Debug`.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Validates a password chosen for `username`.
    ///
    /// # Errors
    /// [`PasswordError`] names the rule the input breaks.
    pub fn parse(
        raw: &str,
        username: &Username,
        policy: &PasswordPolicy,
    ) -> Result<Self, PasswordError> {
        let normalised: String = raw.nfkc().collect();
        // Within the bounds both as typed and after NFKC, which can lengthen (`ﬀ` → `ff`)
        // or shorten it: the schema's `minLength`/`maxLength` count what clients send.
        let (typed, chars) = (raw.chars().count(), normalised.chars().count());
        if typed.min(chars) < policy.min_chars {
            return Err(PasswordError::TooShort(policy.min_chars));
        }
        if typed.max(chars) > policy.max_chars {
            return Err(PasswordError::TooLong(policy.max_chars));
        }
        if normalised.to_lowercase().contains(&username.canonical()) {
            return Err(PasswordError::ContainsUsername);
        }
        // zxcvbn's cost grows with length and long passphrases are strong anyway: judge
        // the first 64 characters only.
        let judged: String = normalised.chars().take(64).collect();
        let estimate = zxcvbn::zxcvbn(&judged, &[username.as_str()]);
        if estimate.score() <= zxcvbn::Score::One {
            let why = estimate
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .unwrap_or_else(|| "it could be guessed within a million tries".to_owned());
            let hint = estimate
                .feedback()
                .and_then(|f| f.suggestions().first().map(|s| format!(" {s}")))
                .unwrap_or_default();
            return Err(PasswordError::TooGuessable(
                format!("{why}.{hint}").replace("..", "."),
            ));
        }
        Ok(Self(normalised))
    }

    /// A password already proven to be the user's (it matched the stored hash): used to
    /// re-hash it under new parameters, whatever today's policy says of it.
    pub(crate) fn verified(attempt: &PasswordAttempt) -> Self {
        Self(attempt.0.clone())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password presented at login or for re-authentication: not held to the policy (an
/// old password may predate it), only bounded so hashing cost stays bounded.
#[derive(Clone)]
pub struct PasswordAttempt(String);

impl PasswordAttempt {
    /// Inputs above this many bytes are refused before any hashing happens.
    pub const MAX_BYTES: usize = 1024;

    /// Returns `None` when the input is empty or longer than [`Self::MAX_BYTES`].
    pub fn new(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > Self::MAX_BYTES {
            return None;
        }
        Some(Self(raw.nfkc().collect()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordAttempt(<redacted>)")
    }
}

impl From<Password> for PasswordAttempt {
    fn from(p: Password) -> Self {
        Self(p.0)
    }
}

/// A role name, carried in the access token's `roles` claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    pub const ADMIN: &'static str = "admin";
    pub const INTROSPECT: &'static str = "introspect";

    /// A role is 1–32 characters of `a-z 0-9 _ - :`.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=32).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-:".contains(&b));
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn admin() -> Self {
        Self(Self::ADMIN.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored password hash in PHC string format (`$argon2id$v=19$...`, or an imported
/// `$2b$...` bcrypt hash). Not secret like a password, but still kept out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A registered user as the store holds it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub password_hash: PasswordHash,
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// The account's address: the verified one, or (until one is verified) the address
    /// given at registration.
    pub email: Option<crate::email::Email>,
    /// Whether `email` was proven to be the user's; only verified addresses get mail
    /// other than a verification, and only they are unique.
    pub email_verified: bool,
}

impl User {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys_fold_case_and_width_but_keep_accents() {
        let key = |s: &str| Username::parse(s).unwrap().canonical();
        assert_eq!(key("ALICE"), "alice");
        assert_eq!(
            key("Ａｌｉｃｅ"),
            "alice",
            "fullwidth letters are the same name"
        );
        assert_ne!(key("álice"), key("alice"));
        assert_ne!(key("alicé"), key("alice"));
        assert_eq!(key("Álice"), key("álice"));
        // Composed and decomposed accents are one name.
        assert_eq!(key("a\u{0301}lice"), key("álice"));
    }

    #[test]
    fn usernames_are_trimmed_normalised_and_bounded() {
        let u = Username::parse("  Alice ").unwrap();
        assert_eq!(u.as_str(), "Alice");
        assert_eq!(u.canonical(), "alice");
        // NFKC folds the full-width form onto ASCII.
        assert_eq!(Username::parse("ＡＢＣ").unwrap().as_str(), "ABC");
        assert!(matches!(
            Username::parse("ab"),
            Err(UsernameError::Length { .. })
        ));
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert_eq!(Username::parse("bob smith"), Err(UsernameError::Characters));
        assert_eq!(Username::parse(".bob"), Err(UsernameError::Characters));
        assert!(Username::parse("bob.smith+x@example.com").is_ok());
        assert!(Username::parse("zoë_ångström").is_ok());
        // Bounded as sent, too: `ﬀa` is 2 characters though NFKC makes it `ffa`.
        assert!(matches!(
            Username::parse("\u{FB00}a"),
            Err(UsernameError::Length { .. })
        ));
    }

    #[test]
    fn passwords_follow_the_policy_and_hide_from_debug() {
        let user = Username::parse("alice").unwrap();
        let policy = PasswordPolicy::default();
        assert_eq!(
            Password::parse("short", &user, &policy).unwrap_err(),
            PasswordError::TooShort(8)
        );
        assert_eq!(
            Password::parse(&"x".repeat(129), &user, &policy).unwrap_err(),
            PasswordError::TooLong(128)
        );
        // Four ligatures are eight letters after NFKC, but four characters as sent.
        assert_eq!(
            Password::parse(&"\u{FB03}".repeat(4), &user, &policy).unwrap_err(),
            PasswordError::TooShort(8)
        );
        assert_eq!(
            Password::parse("my-ALICE-2024!", &user, &policy).unwrap_err(),
            PasswordError::ContainsUsername
        );
        for common in [
            "password",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
            "aaaaaaaaaaaa",
        ] {
            let e = Password::parse(common, &user, &policy).unwrap_err();
            assert!(
                matches!(e, PasswordError::TooGuessable(ref why) if !why.is_empty()),
                "{common}: {e:?}"
            );
        }
        assert!(Password::parse("correct horse battery", &user, &policy).is_ok());
        let p = Password::parse("correct horse battery", &user, &policy).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        assert!(!format!("{:?}", PasswordAttempt::new("hunter22").unwrap()).contains("hunter"));
    }

    #[test]
    fn attempts_are_bounded() {
        assert!(PasswordAttempt::new("").is_none());
        assert!(PasswordAttempt::new(&"a".repeat(1025)).is_none());
        assert!(PasswordAttempt::new(&"a".repeat(1024)).is_some());
    }

    #[test]
    fn roles_have_a_narrow_alphabet() {
        assert!(Role::parse("admin").is_some());
        assert!(Role::parse("Admin").is_none());
        assert!(Role::parse("").is_none());
        assert!(Role::parse("a b").is_none());
    }
}

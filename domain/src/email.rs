//! Email addresses and what is mailed to them: the validated [`Email`] newtype, the
//! single-use tokens that verification and reset links carry (stored only as hashes), the
//! messages built from the operator's templates, and the outbox's retry policy.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use unicode_normalization::UnicodeNormalization;

use crate::user::UserId;

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an email address is at most 254 characters, its local part at most 64")]
    TooLong,
    #[error("an email address is a local part, `@` and a domain such as example.com")]
    Shape,
    #[error("the domain of the email address is not a valid domain name")]
    Domain,
}

/// An email address: trimmed, its local part NFKC-normalised, its domain in ASCII
/// (IDNA: `bücher.example` is stored as `xn--bcher-kva.example`), within RFC 5321's
/// limits (254 characters in all, 64 for the local part). Uniqueness ignores case
/// ([`Email::canonical`]), the same way usernames do.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;
    pub const MAX_LOCAL_BYTES: usize = 64;

    /// Validates and normalises a raw address.
    ///
    /// # Errors
    /// [`EmailError`] names the rule the input breaks.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        // Bounded before any normalisation work, as sent.
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(EmailError::Shape)?;
        let local: String = local.nfkc().collect();
        if local.len() > Self::MAX_LOCAL_BYTES {
            return Err(EmailError::TooLong);
        }
        let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        let dot_atom = !local.is_empty()
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c == '.' || atext(c));
        if !dot_atom {
            return Err(EmailError::Shape);
        }
        let ascii = idna::domain_to_ascii(domain).map_err(|_| EmailError::Domain)?;
        let labels: Vec<&str> = ascii.split('.').collect();
        let label_ok = |l: &&str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        // A domain part with at least two labels: `alice@localhost` reaches nobody.
        if labels.len() < 2 || !labels.iter().all(label_ok) || ascii.len() > 253 {
            return Err(EmailError::Domain);
        }
        let address = format!("{local}@{ascii}");
        if address.chars().count() > Self::MAX_CHARS {
            return Err(EmailError::TooLong);
        }
        Ok(Self(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key uniqueness and lookups use: lower-cased like [`crate::user::Username::canonical`]
    /// (NFKC, lowercase, NFKC). Stores MUST compare it byte for byte.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase().nfkc().collect()
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a mailed token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTokenPurpose {
    /// Confirm that the address is the user's.
    Verify,
    /// Choose a new password.
    Reset,
}

impl EmailTokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verify" => Some(Self::Verify),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

crate::opaque::opaque_secret! {
    /// A token as mailed: 256 random bits, base64url. Never stored, never logged.
    EmailToken
}

impl EmailToken {
    /// A fresh random token.
    ///
    /// # Errors
    /// Only when the OS has no randomness to give.
    pub fn generate() -> anyhow::Result<Self> {
        crate::opaque::random().map(Self)
    }

    /// What the store keeps: BLAKE2b-256, base64url (a dump yields no usable link).
    pub fn hash(&self) -> EmailTokenHash {
        EmailTokenHash(crate::opaque::digest(&self.0))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailTokenHash(pub String);

/// A stored token. `user` is `None` for the decoy a reset request for an unknown address
/// writes (so both answers cost the same): it can never be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailTokenRecord {
    pub hash: EmailTokenHash,
    pub purpose: EmailTokenPurpose,
    pub user: Option<UserId>,
    /// The address the token was sent to: it is only good for that address.
    pub email: Email,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

impl EmailTokenRecord {
    pub fn is_redeemable(&self, purpose: EmailTokenPurpose, now: DateTime<Utc>) -> bool {
        self.purpose == purpose && self.used_at.is_none() && now < self.expires_at
    }
}

/// A message ready for the outbox.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bodies carry a live link.
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// How long mailed tokens live, and how their messages read.
#[derive(Debug, Clone)]
pub struct MailPolicy {
    pub verify_ttl: TimeDelta,
    pub reset_ttl: TimeDelta,
    /// Link templates: `{token}` is replaced by the token.
    pub verify_url: String,
    pub reset_url: String,
    pub verify_subject: String,
    pub reset_subject: String,
    /// Subject of the notice to an address's owner when another account asked for it.
    pub address_taken_subject: String,
    /// Whether the owner is mailed of each change that could keep or take the account
    /// ([`crate::notice::SecurityNotice`]).
    pub security_notices: bool,
    /// Pages a security notice points to: they open nothing by themselves.
    pub account_url: String,
    pub forgot_password_url: String,
    /// The service's name in greetings (`server.public_url`'s host, or "Tessera").
    pub product: String,
}

impl Default for MailPolicy {
    fn default() -> Self {
        Self {
            verify_ttl: TimeDelta::hours(24),
            reset_ttl: TimeDelta::minutes(30),
            verify_url: "http://127.0.0.1:8080/verify-email?token={token}".into(),
            reset_url: "http://127.0.0.1:8080/reset-password?token={token}".into(),
            verify_subject: "Confirm your email address".into(),
            reset_subject: "Reset your password".into(),
            address_taken_subject: "Your email address was given for another account".into(),
            security_notices: true,
            account_url: "http://127.0.0.1:8080/account".into(),
            forgot_password_url: "http://127.0.0.1:8080/forgot-password".into(),
            product: "Tessera".into(),
        }
    }
}

/// `&`, `<`, `>`, `"` and `'` as HTML entities (the mails' HTML parts and the pages).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn humanize(d: TimeDelta) -> String {
    let minutes = d.num_minutes();
    if minutes >= 120 && minutes % 60 == 0 {
        format!("{} hours", minutes / 60)
    } else {
        format!("{minutes} minutes")
    }
}

impl MailPolicy {
    pub fn ttl(&self, purpose: EmailTokenPurpose) -> TimeDelta {
        match purpose {
            EmailTokenPurpose::Verify => self.verify_ttl,
            EmailTokenPurpose::Reset => self.reset_ttl,
        }
    }

    /// The link a token is mailed in.
    pub fn link(&self, purpose: EmailTokenPurpose, token: &EmailToken) -> String {
        let template = match purpose {
            EmailTokenPurpose::Verify => &self.verify_url,
            EmailTokenPurpose::Reset => &self.reset_url,
        };
        template.replace("{token}", token.expose())
    }

    /// The message that carries `token` to `to`, for the account `username`.
    pub fn compose(
        &self,
        purpose: EmailTokenPurpose,
        to: &Email,
        username: &str,
        token: &EmailToken,
    ) -> OutgoingMail {
        let link = self.link(purpose, token);
        let valid = humanize(self.ttl(purpose));
        let (subject, lead, action, tail) = match purpose {
            EmailTokenPurpose::Verify => (
                &self.verify_subject,
                format!(
                    "Please confirm that {to} is the email address of your {} account \"{username}\".",
                    self.product
                ),
                "Confirm my address",
                "If you did not ask for this, ignore this message: nothing changes.",
            ),
            EmailTokenPurpose::Reset => (
                &self.reset_subject,
                format!(
                    "Someone asked to reset the password of your {} account \"{username}\".",
                    self.product
                ),
                "Choose a new password",
                "If it was not you, ignore this message: your password stays as it is.",
            ),
        };
        let text = format!(
            "Hello {username},\n\n{lead}\n\n{action}:\n{link}\n\nThe link works once, for {valid}.\n{tail}\n"
        );
        let html = format!(
            "<!doctype html>\n<html><body>\n<p>Hello {user},</p>\n<p>{lead}</p>\n\
             <p><a href=\"{href}\">{action}</a></p>\n\
             <p>Or open this address: {href}</p>\n\
             <p>The link works once, for {valid}.<br>{tail}</p>\n</body></html>\n",
            user = escape_html(username),
            lead = escape_html(&lead),
            href = escape_html(&link),
        );
        OutgoingMail {
            to: to.clone(),
            subject: subject.clone(),
            text,
            html,
        }
    }
}

impl MailPolicy {
    /// The notice to `to`, the verified address of the account `username`, that someone
    /// asked to make it another account's address. It carries no link and no token, and
    /// says nothing of who asked: the asker chose that, the owner did not.
    pub fn compose_taken_notice(&self, to: &Email, username: &str) -> OutgoingMail {
        let lead = format!(
            "Someone asked to use {to} as the email address of another {} account. \
             It stays the address of your account \"{username}\": nothing was changed and \
             no link was sent.",
            self.product
        );
        let tail = "If it was you, sign in to that account with another address. \
                    Otherwise there is nothing to do.";
        let text = format!("Hello {username},\n\n{lead}\n\n{tail}\n");
        let html = format!(
            "<!doctype html>\n<html><body>\n<p>Hello {user},</p>\n<p>{lead}</p>\n\
             <p>{tail}</p>\n</body></html>\n",
            user = escape_html(username),
            lead = escape_html(&lead),
            tail = escape_html(tail),
        );
        OutgoingMail {
            to: to.clone(),
            subject: self.address_taken_subject.clone(),
            text,
            html,
        }
    }
}

/// When a mail that could not be sent is tried again, and when the outbox gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// The wait after the first failure; it doubles with each further one.
    pub retry_base: TimeDelta,
    pub retry_max: TimeDelta,
    /// A mail still unsent this long after it was written is given up.
    pub give_up_after: TimeDelta,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            retry_base: TimeDelta::seconds(5),
            retry_max: TimeDelta::minutes(10),
            give_up_after: TimeDelta::hours(24),
        }
    }
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

impl DeliveryPolicy {
    /// After the `attempts`-th failed attempt at `now` of a mail written at `created_at`.
    pub fn after_failure(
        &self,
        attempts: u32,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> AfterFailure {
        if now - created_at >= self.give_up_after {
            return AfterFailure::GiveUp;
        }
        let factor = 2i32
            .checked_pow(attempts.saturating_sub(1).min(30))
            .unwrap_or(i32::MAX);
        let wait = self
            .retry_base
            .checked_mul(factor)
            .unwrap_or(self.retry_max)
            .min(self.retry_max);
        AfterFailure::RetryAt(now + wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_and_bounded() {
        let e = Email::parse("  Alice.Smith+tag@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Alice.Smith+tag@example.com");
        assert_eq!(e.canonical(), "alice.smith+tag@example.com");
        assert_eq!(
            Email::parse("jörg@bücher.example").unwrap().as_str(),
            "jörg@xn--bcher-kva.example"
        );
        assert_eq!(
            Email::parse("ＡＬＩＣＥ@example.com").unwrap().canonical(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "al ice@example.com",
            ".alice@example.com",
            "al..ice@example.com",
            "alice@-example.com",
            "alice@exa_mple.com",
            "alice@example..com",
            "<alice@example.com>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long_local), Err(EmailError::TooLong));
        let long = format!(
            "{}@{}.com",
            "a".repeat(64),
            "b".repeat(63) + "." + &"c".repeat(63) + "." + &"d".repeat(63)
        );
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
        assert!(Email::parse(&"x".repeat(10_000)).is_err());
    }

    #[test]
    fn tokens_are_long_hashed_and_hidden() {
        let t = EmailToken::generate().unwrap();
        assert_eq!(t.expose().len(), 43);
        assert_ne!(EmailToken::generate().unwrap(), t);
        assert!(EmailToken::from_client(t.expose()).is_some());
        assert!(EmailToken::from_client("short").is_none());
        assert!(EmailToken::from_client(&"!".repeat(43)).is_none());
        assert!(!t.hash().0.contains(t.expose()));
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn messages_carry_the_link_in_both_parts_and_escape_html() {
        let policy = MailPolicy {
            verify_url: "https://id.example/v?t={token}&x=1".into(),
            ..MailPolicy::default()
        };
        let t = EmailToken::generate().unwrap();
        let to = Email::parse("alice@example.com").unwrap();
        let m = policy.compose(EmailTokenPurpose::Verify, &to, "<alice>", &t);
        let link = format!("https://id.example/v?t={}&x=1", t.expose());
        assert!(m.text.contains(&link));
        assert!(m.html.contains(&link.replace('&', "&amp;")));
        assert!(m.html.contains("&lt;alice&gt;") && !m.html.contains("<alice>"));
        assert!(m.text.contains("24 hours"));
        assert!(!format!("{m:?}").contains(t.expose()));
        let r = policy.compose(EmailTokenPurpose::Reset, &to, "alice", &t);
        assert!(r.text.contains("30 minutes") && r.subject == "Reset your password");
    }

    #[test]
    fn the_taken_notice_carries_no_link_and_escapes_html() {
        let policy = MailPolicy::default();
        let to = Email::parse("alice@example.com").unwrap();
        let m = policy.compose_taken_notice(&to, "<alice>");
        assert_eq!(m.to, to);
        assert_eq!(m.subject, policy.address_taken_subject);
        for body in [&m.text, &m.html] {
            assert!(body.contains("alice@example.com"), "{body}");
            assert!(!body.contains("token") && !body.contains("http"), "{body}");
        }
        assert!(m.html.contains("&lt;alice&gt;") && !m.html.contains("<alice>"));
    }

    #[test]
    fn retries_back_off_and_give_up_at_the_age_limit() {
        let p = DeliveryPolicy::default();
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let at = |n, now| p.after_failure(n, t0, now);
        assert_eq!(at(1, t0), AfterFailure::RetryAt(t0 + TimeDelta::seconds(5)));
        assert_eq!(
            at(2, t0),
            AfterFailure::RetryAt(t0 + TimeDelta::seconds(10))
        );
        assert_eq!(
            at(40, t0),
            AfterFailure::RetryAt(t0 + TimeDelta::minutes(10))
        );
        assert_eq!(at(3, t0 + TimeDelta::hours(24)), AfterFailure::GiveUp);
    }
}

//! Security notices: the mail that tells an account's owner of each change that could
//! keep or take the account (a password, the address, a second factor, the recovery
//! codes) — what changed, when, from which client, and what to do if it was not them.
//! A notice carries no token, code or link that grants anything: only the addresses of
//! the sign-in and account pages.

use chrono::{DateTime, Utc};

use crate::email::{Email, MailPolicy, OutgoingMail, escape_html};
use crate::session::ClientInfo;

/// A change the owner is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityNotice {
    PasswordChanged,
    /// Through a mailed link: every session was ended.
    PasswordReset,
    /// Sent to the address the account had before: the new one is not named (whoever
    /// changed it may not be the owner).
    AddressChanged,
    AuthenticatorAppAdded,
    AuthenticatorAppRemoved,
    PasskeyAdded,
    PasskeyRemoved,
    /// An administrator removed every second factor.
    FactorsReset,
    RecoveryCodesRegenerated,
}

impl SecurityNotice {
    /// The subject, and what happened to the account `account` (a full sentence).
    fn words(self, account: &str) -> (&'static str, String) {
        match self {
            Self::PasswordChanged => (
                "Your password was changed",
                format!(
                    "The password of {account} was changed. Its other sessions were signed out."
                ),
            ),
            Self::PasswordReset => (
                "Your password was reset",
                format!(
                    "The password of {account} was reset with a link mailed to this address. \
                     Every session was signed out."
                ),
            ),
            Self::AddressChanged => (
                "Your email address was changed",
                format!(
                    "This address is no longer the email address of {account}: another \
                     address was confirmed in its place. This address gets no more mail \
                     for the account, password resets included."
                ),
            ),
            Self::AuthenticatorAppAdded => (
                "An authenticator app was added to your account",
                format!("An authenticator app was added to {account} as a second factor."),
            ),
            Self::AuthenticatorAppRemoved => (
                "An authenticator app was removed from your account",
                format!("The authenticator app of {account} was removed."),
            ),
            Self::PasskeyAdded => (
                "A passkey was added to your account",
                format!("A passkey was added to {account}: it can sign in to the account."),
            ),
            Self::PasskeyRemoved => (
                "A passkey was removed from your account",
                format!("A passkey was removed from {account}."),
            ),
            Self::FactorsReset => (
                "Your second factors were removed",
                format!(
                    "An administrator removed every second factor of {account} (authenticator \
                     app, passkeys and recovery codes). The password alone now signs in."
                ),
            ),
            Self::RecoveryCodesRegenerated => (
                "New recovery codes were made for your account",
                format!(
                    "A new set of recovery codes was made for {account}; the earlier codes no \
                     longer work."
                ),
            ),
        }
    }

    /// The words for a change the owner made.
    fn all_well(self) -> &'static str {
        match self {
            Self::FactorsReset => "If you asked for this, there is nothing to do.",
            _ => "If it was you, there is nothing to do.",
        }
    }

    /// What to do if it was not the owner.
    fn remedy(self, policy: &MailPolicy) -> String {
        match self {
            Self::AddressChanged => format!(
                "If it was not you, sign in with your password at {account} and change the \
                 address back, then change your password: that signs out every other session. \
                 If you cannot sign in, ask the service's administrator for help.",
                account = policy.account_url,
            ),
            Self::FactorsReset => format!(
                "If it was not you who asked for this, tell the service's administrator, and \
                 check the account at {account}.",
                account = policy.account_url,
            ),
            _ => format!(
                "If it was not you, someone else may be using your account: choose a new \
                 password at {forgot} (that signs out every session), then check the \
                 sign-in methods at {account} and remove any you do not know.",
                forgot = policy.forgot_password_url,
                account = policy.account_url,
            ),
        }
    }
}

/// The client as a notice names it: its address and user agent, the latter cut short and
/// stripped of control characters (the client chose it).
fn describe(client: &ClientInfo) -> String {
    let agent = client.user_agent.as_deref().map(|ua| {
        ua.chars()
            .filter(|c| !c.is_control())
            .take(160)
            .collect::<String>()
    });
    match (client.ip.as_deref(), agent.as_deref()) {
        (Some(ip), Some(ua)) if !ua.is_empty() => format!("{ip} ({ua})"),
        (Some(ip), _) => ip.to_owned(),
        (None, Some(ua)) if !ua.is_empty() => format!("an unknown address ({ua})"),
        _ => "an unknown client".to_owned(),
    }
}

impl MailPolicy {
    /// The notice to `to` that `notice` happened to the account `username` at `at`,
    /// asked for by `client`.
    pub fn compose_security_notice(
        &self,
        notice: SecurityNotice,
        to: &Email,
        username: &str,
        at: DateTime<Utc>,
        client: &ClientInfo,
    ) -> OutgoingMail {
        let account = format!("your {} account \"{username}\"", self.product);
        let (subject, what) = notice.words(&account);
        let when = at.format("%Y-%m-%d %H:%M:%S UTC");
        let from = describe(client);
        let detail = format!("When: {when}\nFrom: {from}");
        let ok = notice.all_well();
        let remedy = notice.remedy(self);
        let text = format!("Hello {username},\n\n{what}\n\n{detail}\n\n{ok}\n{remedy}\n");
        let html = format!(
            "<!doctype html>\n<html><body>\n<p>Hello {user},</p>\n<p>{what}</p>\n\
             <p>When: {when}<br>From: {from}</p>\n<p>{ok}<br>{remedy}</p>\n</body></html>\n",
            user = escape_html(username),
            what = escape_html(&what),
            from = escape_html(&from),
            remedy = escape_html(&remedy),
        );
        OutgoingMail {
            to: to.clone(),
            subject: subject.to_owned(),
            text,
            html,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_says_what_when_and_who_and_escapes_the_client() {
        let policy = MailPolicy::default();
        let to = Email::parse("alice@example.com").unwrap();
        let at = DateTime::parse_from_rfc3339("2026-12-08T10:11:12Z")
            .unwrap()
            .with_timezone(&Utc);
        let client = ClientInfo {
            ip: Some("203.0.113.7".into()),
            user_agent: Some("<script>\r\nBcc: x@evil.example".into()),
        };
        let m =
            policy.compose_security_notice(SecurityNotice::PasskeyAdded, &to, "alice", at, &client);
        assert_eq!(m.subject, "A passkey was added to your account");
        assert!(
            m.text.contains("When: 2026-12-08 10:11:12 UTC"),
            "{}",
            m.text
        );
        assert!(
            m.text
                .contains("From: 203.0.113.7 (<script>Bcc: x@evil.example)")
        );
        assert!(!m.text.contains('\r'));
        assert!(m.html.contains("&lt;script&gt;") && !m.html.contains("<script>"));
        assert!(m.text.contains(&policy.forgot_password_url));
    }

    #[test]
    fn the_address_notice_does_not_name_the_new_address_and_says_how_to_get_it_back() {
        let policy = MailPolicy::default();
        let to = Email::parse("old@example.com").unwrap();
        let m = policy.compose_security_notice(
            SecurityNotice::AddressChanged,
            &to,
            "alice",
            Utc::now(),
            &ClientInfo::default(),
        );
        assert_eq!(m.to, to);
        assert!(m.text.contains("change the address back"));
        assert!(m.text.contains("From: an unknown client"));
    }
}

//! Outbox bodies sealed at rest. A queued mail holds a live link until it is sent (its
//! bodies are wiped then), so the store sees them only sealed under the key-encryption
//! key (AES-256-GCM, bound to the recipient): a database dump opens no account, whether
//! or not mail is waiting. The domain and the SQL adapter never know — this wraps the
//! store's `EmailTokenStore` and `Outbox` in the composition root.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use tessera_domain::email::{EmailTokenHash, EmailTokenPurpose, EmailTokenRecord, OutgoingMail};
use tessera_domain::oidc::LogoutNotice;
use tessera_domain::ports::{
    EmailTokenStore, Outbox, Outgoing, QueuedMessage, RedeemError, StoreError,
};
use tessera_domain::user::{PasswordHash, UserId};
use tessera_keys::Kek;

const PREFIX: &str = "sealed:v1:";

pub struct SealedMail<S> {
    pub inner: Arc<S>,
    pub kek: Kek,
}

fn aad(recipient: &str) -> String {
    format!("tessera outbox body v1\0{recipient}")
}

impl<S> SealedMail<S> {
    fn seal(&self, body: &str, recipient: &str) -> Result<String, StoreError> {
        let sealed = self
            .kek
            .seal(body.as_bytes(), &aad(recipient))
            .map_err(StoreError::Unavailable)?;
        Ok(format!("{PREFIX}{}", STANDARD.encode(sealed)))
    }

    /// `mail` with its bodies sealed for its recipient.
    fn sealed(&self, mail: &OutgoingMail) -> Result<OutgoingMail, StoreError> {
        let to = mail.to.as_str();
        Ok(OutgoingMail {
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            text: self.seal(&mail.text, to)?,
            html: self.seal(&mail.html, to)?,
        })
    }

    fn open(&self, stored: &str, recipient: &str) -> anyhow::Result<String> {
        // Rows written before sealing existed, and wiped bodies, are plain.
        let Some(b64) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let plain = self.kek.open(&STANDARD.decode(b64)?, &aad(recipient))?;
        Ok(String::from_utf8(plain)?)
    }
}

#[async_trait]
impl<S: EmailTokenStore + Outbox> EmailTokenStore for SealedMail<S> {
    async fn issue(
        &self,
        token: &EmailTokenRecord,
        mail: &OutgoingMail,
        deliver: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sealed = self.sealed(mail)?;
        self.inner.issue(token, &sealed, deliver, now).await
    }

    async fn queue_mail(&self, mail: &OutgoingMail, now: DateTime<Utc>) -> Result<(), StoreError> {
        let sealed = self.sealed(mail)?;
        self.inner.queue_mail(&sealed, now).await
    }

    /// The logout token is sealed for its client as a mail's body for its recipient.
    async fn queue_logout(
        &self,
        notice: &LogoutNotice,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sealed = LogoutNotice {
            token: self.seal(&notice.token, &notice.client.to_string())?,
            ..notice.clone()
        };
        self.inner.queue_logout(&sealed, now).await
    }

    async fn find_token(
        &self,
        hash: &EmailTokenHash,
    ) -> Result<Option<EmailTokenRecord>, StoreError> {
        self.inner.find_token(hash).await
    }

    async fn redeem_verification(
        &self,
        token: &EmailTokenRecord,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), RedeemError> {
        self.inner.redeem_verification(token, user, now).await
    }

    async fn redeem_reset(
        &self,
        token: &EmailTokenRecord,
        user: UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<(), RedeemError> {
        self.inner.redeem_reset(token, user, hash, now).await
    }

    async fn withdraw(
        &self,
        user: UserId,
        purpose: EmailTokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.withdraw(user, purpose, now).await
    }

    async fn purge_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_tokens(before).await
    }
}

#[async_trait]
impl<S: EmailTokenStore + Outbox> Outbox for SealedMail<S> {
    async fn claim_due(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: u64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        let claimed = self.inner.claim_due(claimer, now, lease, limit).await?;
        let mut open = Vec::with_capacity(claimed.len());
        for mut queued in claimed {
            let opened = match &mut queued.message {
                Outgoing::Mail(mail) => {
                    let to = mail.to.as_str().to_owned();
                    self.open(&mail.text, &to)
                        .and_then(|text| Ok((text, self.open(&mail.html, &to)?)))
                        .map(|(text, html)| {
                            mail.text = text;
                            mail.html = html;
                        })
                }
                Outgoing::Logout(notice) => self
                    .open(&notice.token, &notice.client.to_string())
                    .map(|token| notice.token = token),
            };
            match opened {
                Ok(()) => open.push(queued),
                Err(e) => {
                    // Sealed under another key (the KEK was replaced): it can never be
                    // sent, so it is given up rather than claimed again forever.
                    tracing::warn!(id = queued.id, error = %e, "outbox body cannot be opened");
                    let why = "cannot open the body: sealed under another key-encryption key";
                    self.inner.give_up(queued.id, claimer, now, why).await?;
                }
            }
        }
        Ok(open)
    }

    async fn mark_sent(
        &self,
        id: i64,
        claimer: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.mark_sent(id, claimer, now).await
    }

    async fn retry_at(
        &self,
        id: i64,
        claimer: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner.retry_at(id, claimer, at, error).await
    }

    async fn give_up(
        &self,
        id: i64,
        claimer: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner.give_up(id, claimer, now, error).await
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        self.inner.pending().await
    }

    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_finished(before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_open_only_for_their_recipient_and_plain_ones_pass() {
        let sealed = SealedMail {
            inner: Arc::new(()),
            kek: Kek::generate().unwrap(),
        };
        let blob = sealed
            .seal("https://x/reset?token=SECRET", "a@example.com")
            .unwrap();
        assert!(blob.starts_with(PREFIX) && !blob.contains("SECRET"));
        assert_eq!(
            sealed.open(&blob, "a@example.com").unwrap(),
            "https://x/reset?token=SECRET"
        );
        assert!(sealed.open(&blob, "b@example.com").is_err());
        assert_eq!(sealed.open("", "a@example.com").unwrap(), "");
    }
}

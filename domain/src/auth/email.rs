//! The email lifecycle: verification mails (at registration and for a change of
//! address), redeeming them, self-service password reset, and an administrator's
//! "verified". Every mail is written to the outbox in the transaction that stores its
//! token; nothing here waits on SMTP.

use crate::email::{Email, EmailToken, EmailTokenPurpose, EmailTokenRecord};
use crate::notice::SecurityNotice;
use crate::ports::{RedeemError, StoreError};
use crate::throttle::{ClientAction, LimitError, account_key};
use crate::user::{Password, PasswordPolicy};

use super::*;

/// The email lifecycle: verification, change of address, password reset, and an
/// administrator's "verified".
#[derive(Clone)]
pub struct EmailFlows {
    core: Core,
}

impl EmailFlows {
    pub fn new(core: Core) -> Self {
        Self { core }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Withdraws the user's outstanding verification links and mails a new one for
    /// `email`, bound to that address.
    async fn send_verification(&self, user: &User, email: &Email) -> Result<(), Unavailable> {
        let now = self.core.now();
        self.core
            .deps()
            .email_tokens
            .withdraw(user.id, EmailTokenPurpose::Verify, now)
            .await?;
        self.issue(EmailTokenPurpose::Verify, Some(user), email, now)
            .await
    }

    /// Stores a new token for `email` and queues its mail, in one transaction. Without a
    /// user it is a decoy: the same statements, no mail sent, and a token that can never
    /// be redeemed.
    async fn issue(
        &self,
        purpose: EmailTokenPurpose,
        user: Option<&User>,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<(), Unavailable> {
        // Without OS randomness nothing can be issued: answered like an outage (503).
        let token = EmailToken::generate().map_err(|e| Unavailable::Store(e.context("token")))?;
        let username = user.map_or("", |u| u.username.as_str());
        let mail = self.core.mail().compose(purpose, email, username, &token);
        let record = EmailTokenRecord {
            hash: token.hash(),
            purpose,
            user: user.map(|u| u.id),
            email: email.clone(),
            created_at: now,
            expires_at: now + self.core.mail().ttl(purpose),
            used_at: None,
        };
        Ok(self
            .core
            .deps()
            .email_tokens
            .issue(&record, &mail, user.is_some(), now)
            .await?)
    }

    /// The token of a link, if it is live for `purpose` at `now`, with its enabled user.
    async fn redeemable(
        &self,
        raw_token: &str,
        purpose: EmailTokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<(EmailTokenRecord, User)>, StoreError> {
        let Some(token) = EmailToken::from_client(raw_token) else {
            return Ok(None);
        };
        let found = self
            .core
            .deps()
            .email_tokens
            .find_token(&token.hash())
            .await?;
        let Some(record) = found.filter(|r| r.is_redeemable(purpose, now)) else {
            return Ok(None);
        };
        let Some(id) = record.user else {
            return Ok(None); // a decoy
        };
        let user = self.core.deps().users.find_by_id(id).await?;
        Ok(user.filter(|u| !u.is_disabled()).map(|u| (record, u)))
    }

    /// Whether another mail may go to `email` now (a per-address bucket, whoever asks).
    async fn mail_allowed(&self, email: &Email) -> Result<(), LimitError> {
        self.core
            .deps()
            .limiter
            .check_client(ClientAction::MailToAddress, &email.canonical())
            .await
    }

    /// After registering `user` with an address: its verification mail. Best effort — the
    /// account exists either way, and the owner can ask again with `POST /v1/me/email`.
    pub(crate) async fn welcome(&self, user: &User) {
        if let Some(email) = &user.email
            && self.mail_allowed(email).await.is_ok()
        {
            let _ = self.send_verification(user, email).await;
        }
    }

    /// Mails a verification link to a new address for the signed-in user. Their current
    /// address (verified or not) stays until the new one is verified.
    ///
    /// The answer is the same whether or not the address is free, so nobody learns which
    /// addresses other accounts have verified: for an address another account verified
    /// no link goes out, the asker's earlier links are withdrawn all the same, and that
    /// account's owner is told by a notice (under the same per-address limit) instead.
    ///
    /// # Errors
    /// [`EmailChangeError::Throttled`] when this account asked for too many changes
    /// lately, or this address got too many mails, whoever it belongs to;
    /// [`EmailChangeError::ReauthenticationRequired`] for a sign-in older than the
    /// reauthentication window (a stolen session must not redirect the account's mail,
    /// and with it the password reset).
    pub async fn request_email_change(
        &self,
        claims: &Claims,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<(), EmailChangeError> {
        if !self.core.signed_in_recently(claims) {
            return Err(EmailChangeError::ReauthenticationRequired);
        }
        let per_account = self
            .core
            .deps()
            .limiter
            .check_client(ClientAction::EmailChange, &account_key(claims.sub))
            .await;
        change_limited(per_account)?;
        let user = self
            .core
            .enabled_user(claims.sub)
            .await?
            .ok_or(EmailChangeError::AccountGone)?;
        change_limited(self.mail_allowed(email).await)?;
        let owner = self
            .core
            .deps()
            .users
            .find_by_email(email)
            .await?
            .filter(|owner| owner.id != user.id);
        match owner {
            None => self.send_verification(&user, email).await?,
            Some(owner) => self.tell_owner(&user, &owner).await?,
        }
        self.core
            .audit(AuditEvent::EmailChangeRequested { user: user.id }, client)
            .await;
        Ok(())
    }

    /// `user` asked for the verified address of `owner`: no link, but the asker's earlier
    /// links are withdrawn as for a free address (an older link that still worked would
    /// tell them), and the owner gets a notice, with no link, at their address on file.
    async fn tell_owner(&self, user: &User, owner: &User) -> Result<(), Unavailable> {
        let now = self.core.now();
        let tokens = &self.core.deps().email_tokens;
        tokens
            .withdraw(user.id, EmailTokenPurpose::Verify, now)
            .await?;
        let Some(to) = owner.email.as_ref().filter(|_| !owner.is_disabled()) else {
            return Ok(());
        };
        let notice = self
            .core
            .mail()
            .compose_taken_notice(to, owner.username.as_str());
        Ok(tokens.queue_mail(&notice, now).await?)
    }

    /// `user` (as it was) now has `new` for address: a verified address it had before is
    /// told, since it no longer gets the account's mail (a thief's first move).
    async fn tell_old_address(
        &self,
        user: &User,
        new: &Email,
        client: &ClientInfo,
    ) -> Result<(), Unavailable> {
        match user.email.as_ref().filter(|_| user.email_verified) {
            Some(old) if old.canonical() != new.canonical() => {
                self.core
                    .notify_at(old, user, SecurityNotice::AddressChanged, client)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// Redeems a verification link: its address becomes the user's verified one.
    ///
    /// # Errors
    /// [`VerifyEmailError::InvalidToken`] for every kind of bad link;
    /// [`VerifyEmailError::EmailTaken`] when another account verified the address first.
    pub async fn verify_email(
        &self,
        raw_token: &str,
        client: &ClientInfo,
    ) -> Result<(), VerifyEmailError> {
        let now = self.core.now();
        let (record, user) = self
            .redeemable(raw_token, EmailTokenPurpose::Verify, now)
            .await?
            .ok_or(VerifyEmailError::InvalidToken)?;
        match self
            .core
            .deps()
            .email_tokens
            .redeem_verification(&record, user.id, now)
            .await
        {
            Ok(()) => {}
            Err(RedeemError::Used) => return Err(VerifyEmailError::InvalidToken),
            Err(RedeemError::EmailTaken) => return Err(VerifyEmailError::EmailTaken),
            Err(RedeemError::Store(e)) => return Err(e.into()),
        }
        // Reset links mailed to the old address die with it.
        self.core.withdraw_mailed_links(user.id).await?;
        self.core
            .audit(AuditEvent::EmailVerified { user: user.id }, client)
            .await;
        self.tell_old_address(&user, &record.email, client).await?;
        Ok(())
    }

    /// Mails a reset link if `email` is the verified address of an enabled account, to
    /// that address as it is on file (never as typed: a mail system may tell `Alice@`
    /// from `alice@`). The caller cannot tell: an unknown address costs the same lookup,
    /// token and write (a decoy token that no link carries) and is audited the same way.
    ///
    /// # Errors
    /// [`ResetRequestError::Throttled`] when this address was asked for too often,
    /// known or not.
    pub async fn request_password_reset(
        &self,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<(), ResetRequestError> {
        match self.mail_allowed(email).await {
            Ok(()) => {}
            Err(LimitError::Throttled(secs)) => return Err(ResetRequestError::Throttled(secs)),
            Err(LimitError::Unavailable(e)) => return Err(Unavailable::Limiter(e).into()),
        }
        let now = self.core.now();
        let user = self
            .core
            .deps()
            .users
            .find_by_email(email)
            .await?
            .filter(|u| !u.is_disabled() && u.email_verified);
        let to = user
            .as_ref()
            .and_then(|u| u.email.clone())
            .unwrap_or_else(|| email.clone());
        self.issue(EmailTokenPurpose::Reset, user.as_ref(), &to, now)
            .await?;
        self.core
            .audit(
                AuditEvent::PasswordResetRequested {
                    user: user.map(|u| u.id),
                },
                client,
            )
            .await;
        Ok(())
    }

    /// Sets a new password with a reset link: every session of the user ends (refresh
    /// and access tokens, like logout-all) and the account's lockout is cleared.
    ///
    /// # Errors
    /// [`ResetError::InvalidToken`] for every kind of bad link (and when the address it
    /// was sent to is no longer the account's verified one); [`ResetError::WeakPassword`]
    /// when the new password breaks `policy` — the link stays good for another try.
    pub async fn reset_password(
        &self,
        raw_token: &str,
        new_password: &str,
        policy: &PasswordPolicy,
        client: &ClientInfo,
    ) -> Result<(), ResetError> {
        let now = self.core.now();
        let (record, user) = self
            .redeemable(raw_token, EmailTokenPurpose::Reset, now)
            .await?
            .filter(|(record, user)| {
                // Bound to the address: a reset link dies when the address changes.
                user.email_verified
                    && user.email.as_ref().map(Email::canonical) == Some(record.email.canonical())
            })
            .ok_or(ResetError::InvalidToken)?;
        let password = Password::parse(new_password, &user.username, policy)?;
        let hash = self.core.deps().hasher.hash(&password).await?;
        match self
            .core
            .deps()
            .email_tokens
            .redeem_reset(&record, user.id, &hash, now)
            .await
        {
            Ok(()) => {}
            Err(RedeemError::Used | RedeemError::EmailTaken) => {
                return Err(ResetError::InvalidToken);
            }
            Err(RedeemError::Store(e)) => return Err(e.into()),
        }
        // Its other reset links went in the same transaction; verification links go too.
        self.core.withdraw_mailed_links(user.id).await?;
        let sessions = self.core.end_sessions_of(user.id, None).await?;
        // Whoever was guessing the old password has nothing left to guess: the owner
        // proved control of the address, so the lock goes.
        let _ = self
            .core
            .deps()
            .limiter
            .record_success(&user.username.canonical())
            .await;
        self.core
            .audit(
                AuditEvent::PasswordReset {
                    user: user.id,
                    sessions,
                },
                client,
            )
            .await;
        self.core
            .notify(&user, SecurityNotice::PasswordReset, client)
            .await?;
        Ok(())
    }

    /// An administrator vouches for an address: `email`, or the user's current one.
    ///
    /// # Errors
    /// [`MarkVerifiedError::UserNotFound`], [`MarkVerifiedError::NoEmail`], or
    /// [`MarkVerifiedError::EmailTaken`] when another account has it verified.
    pub async fn mark_email_verified(
        &self,
        id: UserId,
        email: Option<Email>,
        client: &ClientInfo,
    ) -> Result<User, MarkVerifiedError> {
        let user = self
            .core
            .deps()
            .users
            .find_by_id(id)
            .await?
            .ok_or(MarkVerifiedError::UserNotFound)?;
        let email = email
            .or_else(|| user.email.clone())
            .ok_or(MarkVerifiedError::NoEmail)?;
        if !self
            .core
            .deps()
            .users
            .set_verified_email(id, &email, self.core.now())
            .await?
        {
            return Err(MarkVerifiedError::UserNotFound);
        }
        self.core
            .audit(AuditEvent::EmailVerified { user: id }, client)
            .await;
        self.tell_old_address(&user, &email, client).await?;
        Ok(User {
            email: Some(email),
            email_verified: true,
            ..user
        })
    }

    /// Deletes mailed tokens that expired before `now` (used or not, they open nothing).
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn purge_mail_tokens(&self, now: DateTime<Utc>) -> Result<u64, Unavailable> {
        Ok(self.core.deps().email_tokens.purge_tokens(now).await?)
    }
}

/// A refusal of a limiter as a change of address's error.
fn change_limited(admitted: Result<(), LimitError>) -> Result<(), EmailChangeError> {
    match admitted {
        Ok(()) => Ok(()),
        Err(LimitError::Throttled(secs)) => Err(EmailChangeError::Throttled(secs)),
        Err(LimitError::Unavailable(e)) => Err(Unavailable::Limiter(e).into()),
    }
}

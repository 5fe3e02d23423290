//! The signed-in caller's account: token checks, profile, sessions, logout (one, all,
//! retried), password change, and disabling an account.

use crate::notice::SecurityNotice;
use crate::password::Verification;
use crate::session::RefreshTokenState;
use crate::throttle::LimitError;
use crate::token::TokenError;
use crate::user::Password;
use crate::user::PasswordAttempt;

use super::*;

impl Accounts {
    /// Verifies an access token and checks it against the revocation list.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] with the failed check, [`AuthError::Revoked`], or
    /// `Unavailable` when revocation state cannot be trusted (fail closed).
    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.authenticate_for_any_audience(token).await?;
        if !self.core.tokens().is_for_tessera(&claims.aud) {
            return Err(TokenError::WrongAudience.into());
        }
        Ok(claims)
    }

    /// [`Self::authenticate`] without the audience: for RFC 7662 introspection, which
    /// answers resource servers about tokens for them, not for Tessera.
    ///
    /// # Errors
    /// As [`Self::authenticate`], but for the audience.
    pub(crate) async fn authenticate_for_any_audience(
        &self,
        token: &str,
    ) -> Result<Claims, AuthError> {
        let now = self.core.now();
        let claims = self.core.deps().verifier.verify(token, now).await?;
        if self.core.deps().revocations.is_revoked(&claims, now)? {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    /// Verifies the access token of a logout. Like [`Self::authenticate`], except that a
    /// token whose own session has already ended in the store still passes: a logout
    /// that answered 503 halfway (the session ended, a rule not yet published) or whose
    /// answer was lost can be retried and completes what it started.
    ///
    /// # Errors
    /// As [`Self::authenticate`].
    pub async fn authenticate_for_logout(&self, token: &str) -> Result<Claims, AuthError> {
        let now = self.core.now();
        let claims = self.core.deps().verifier.verify(token, now).await?;
        if !self.core.tokens().is_for_tessera(&claims.aud) {
            return Err(TokenError::WrongAudience.into());
        }
        if !self.core.deps().revocations.is_revoked(&claims, now)? {
            return Ok(claims);
        }
        match self.core.deps().sessions.find(claims.sid).await? {
            Some(session) if session.user_id == claims.sub && session.revoked_at.is_some() => {
                Ok(claims)
            }
            _ => Err(AuthError::Revoked),
        }
    }

    /// The signed-in principal of a hosted page: the browser holds its session's refresh
    /// token in an HttpOnly cookie, and the pages act for the session that token still
    /// opens. The token is only looked up, never rotated: presenting it here is not a
    /// refresh, so the session lasts its idle lifetime from sign-in, and a token rotated
    /// through the API (or a session ended by logout, logout-all, a password change or an
    /// administrator) signs the browser out.
    ///
    /// # Errors
    /// [`AuthError::Revoked`] when the token opens no live session of an enabled user;
    /// `Unavailable` when the store or the revocation list cannot answer (fail closed).
    pub async fn browser_session(&self, refresh_token: &str) -> Result<Claims, AuthError> {
        let now = self.core.now();
        let token = RefreshToken::from_client(refresh_token).ok_or(AuthError::Revoked)?;
        let found = self
            .core
            .deps()
            .sessions
            .find_for_refresh(&RefreshTokenMint::hash(&token))
            .await?;
        let Some((session, RefreshTokenState::Current, Some(user))) = found else {
            return Err(AuthError::Revoked);
        };
        // A registered client's session never signs a browser in to the pages.
        if !session.is_live(now) || user.is_disabled() || session.oauth.is_some() {
            return Err(AuthError::Revoked);
        }
        let claims = self.core.tokens().claims_for(&user, &session, now);
        if self.core.deps().revocations.is_revoked(&claims, now)? {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    /// The caller's account.
    ///
    /// # Errors
    /// [`AccountError::AccountGone`] when the account was deleted or disabled.
    pub async fn me(&self, claims: &Claims) -> Result<User, AccountError> {
        self.core
            .enabled_user(claims.sub)
            .await?
            .ok_or(AccountError::AccountGone)
    }

    /// Ends the caller's session: its refresh token and every access token it issued.
    ///
    /// # Errors
    /// `Unavailable` when the session or revocation store cannot be written.
    pub async fn logout(&self, claims: &Claims, client: &ClientInfo) -> Result<(), Unavailable> {
        let now = self.core.now();
        if let Some(session) = self.core.deps().sessions.find(claims.sid).await? {
            self.core.end_session(&session, now).await?;
        } else {
            self.core
                .revoke_rule(Revocation::Session(claims.sid), now)
                .await?;
        }
        self.core
            .audit(
                AuditEvent::Logout {
                    user: claims.sub,
                    session: claims.sid,
                },
                client,
            )
            .await;
        Ok(())
    }

    /// Ends every session of the caller, and withdraws their outstanding reset and
    /// verification links.
    ///
    /// # Errors
    /// `Unavailable` when the session or revocation store cannot be written.
    pub async fn logout_all(
        &self,
        claims: &Claims,
        client: &ClientInfo,
    ) -> Result<(), Unavailable> {
        // Every access token carries its session, so ending every session that may still
        // have a live access token ends them all.
        let ended = self.core.end_sessions_of(claims.sub, None).await?;
        // A mailed link that leaked would otherwise outlive the sign-out.
        self.core.withdraw_mailed_links(claims.sub).await?;
        self.core
            .audit(
                AuditEvent::LogoutAll {
                    user: claims.sub,
                    sessions: ended,
                },
                client,
            )
            .await;
        Ok(())
    }

    /// The caller's live sessions.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn sessions(&self, claims: &Claims) -> Result<Vec<Session>, Unavailable> {
        Ok(self
            .core
            .deps()
            .sessions
            .list_live(claims.sub, self.core.now())
            .await?)
    }

    /// Ends one of the caller's sessions.
    ///
    /// # Errors
    /// [`AccountError::SessionNotFound`] when the id is not one of the caller's live
    /// sessions.
    pub async fn end_own_session(
        &self,
        claims: &Claims,
        id: SessionId,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let now = self.core.now();
        let session = self
            .core
            .deps()
            .sessions
            .find(id)
            .await?
            // A session that lapsed moments ago may still have a live access token.
            .filter(|s| {
                s.user_id == claims.sub
                    && s.revoked_at.is_none()
                    && s.idle_expires_at.min(s.absolute_expires_at) > self.core.lapsed_after(now)
            })
            .ok_or(AccountError::SessionNotFound)?;
        self.core.end_session(&session, now).await?;
        self.core
            .audit(
                AuditEvent::SessionRevoked {
                    user: claims.sub,
                    session: id,
                },
                client,
            )
            .await;
        Ok(())
    }

    /// Changes the caller's password, ends every other session of theirs and withdraws
    /// their outstanding reset and verification links.
    ///
    /// # Errors
    /// [`AccountError::WrongPassword`] when `current` does not match.
    pub async fn change_password(
        &self,
        claims: &Claims,
        current: &PasswordAttempt,
        new: &Password,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let user = self.me(claims).await?;
        // A current-password check is a login attempt: same failure budget, same lock.
        let account = user.username.canonical();
        let lock = match self.core.reserve_attempt(&account).await {
            Ok(lock) => lock,
            Err(LimitError::Throttled(secs)) => return Err(AccountError::Throttled(secs)),
            Err(LimitError::Unavailable(e)) => return Err(Unavailable::Limiter(e).into()),
        };
        let verdict = self
            .core
            .deps()
            .hasher
            .verify(current, &user.password_hash)
            .await?;
        if verdict == Verification::Mismatch {
            let event = AuditEvent::PasswordChangeFailed { user: user.id };
            self.core
                .failed_attempt(event, &account, lock, client)
                .await;
            return Err(AccountError::WrongPassword);
        }
        let _ = self.core.deps().limiter.record_success(&account).await;
        let hash = self.core.deps().hasher.hash(new).await?;
        self.core
            .deps()
            .users
            .update_password_hash(user.id, &hash)
            .await?;
        self.core.end_sessions_of(user.id, Some(claims.sid)).await?;
        self.core.withdraw_mailed_links(user.id).await?;
        self.core
            .audit(AuditEvent::PasswordChanged { user: user.id }, client)
            .await;
        self.core
            .notify(&user, SecurityNotice::PasswordChanged, client)
            .await?;
        Ok(())
    }
}

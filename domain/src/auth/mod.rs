//! The use cases the HTTP edge calls, one file per flow: [`credentials`] (register,
//! login, import), [`refresh`] (rotation with reuse detection), [`account`] (the caller's
//! account and sessions, logout, password change, disabling users), [`oauth`] (RFC 7009
//! revocation and RFC 7662 introspection), [`admin`] (accounts and the audit trail, for
//! administrators). Each has its own small error enum
//! ([`errors`]); storage failures surface as [`Unavailable`]. This file holds the
//! service, what it depends on, and the steps several flows share.

mod account;
mod admin;
mod credentials;
mod email;
mod errors;
mod mfa;
mod oauth;
mod oidc;

pub use oidc::{Authorization, AuthorizeRequest, OidcDeps, OidcTokens, UserInfo};

pub use mfa::FactorStatus;
mod refresh;
#[cfg(test)]
mod tests;

pub use errors::{
    AccountError, AuthError, AuthorizeError, ClientError, EmailChangeError, FactorError,
    LoginError, MarkVerifiedError, OAuthError, RefreshError, RegisterError, ResetError,
    ResetRequestError, SecondStepError, Unavailable, VerifyEmailError,
};

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::email::MailPolicy;
use crate::mfa::{
    ChallengeStore, ChallengeToken, FactorStore, MfaPolicy, SecondFactor, SecretSealer,
    TotpAlgorithm, WebAuthn,
};
use crate::password::PasswordHasher;
use crate::ports::{
    AuditEvent, AuditLog, AuditSink, EmailTokenStore, SessionRepository, UserRepository,
};
use crate::revocation::{Revocation, RevocationEntry, RevocationList};
use crate::session::{
    ClientInfo, RefreshToken, RefreshTokenMint, Session, SessionId, SessionPolicy,
};
use crate::throttle::RateLimiter;
use crate::token::{AccessTokenSigner, AccessTokenVerifier, Claims, SignError, TokenPolicy};
use crate::user::{PasswordAttempt, PasswordHash, User, UserId};

/// What a successful login or refresh hands out (RFC 6749 §5.1 shape, minus the type).
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
    pub refresh_expires_in: i64,
    pub session_id: SessionId,
    /// The scopes granted, for a registered client's session.
    pub scope: Option<String>,
}

/// What a right password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// No second factor is enrolled: the session has started.
    Tokens(TokenPair),
    /// A second factor is enrolled: the login continues at `POST /v1/auth/mfa`.
    SecondStep(SecondStepChallenge),
}

/// An open second step: the token that continues it and the ways to complete it.
#[derive(Debug, Clone)]
pub struct SecondStepChallenge {
    pub token: ChallengeToken,
    pub methods: Vec<SecondFactor>,
    pub expires_in: i64,
}

/// What a proof of the second step is.
#[derive(Debug, Clone)]
pub enum SecondStepProof {
    /// A TOTP code from the authenticator app.
    Totp(String),
    RecoveryCode(String),
    /// A WebAuthn assertion (`PublicKeyCredential` JSON) answering
    /// [`AuthService::second_step_webauthn_options`].
    Webauthn(serde_json::Value),
}

/// Proof, asked again, that the signed-in caller is the account's owner.
pub enum Reauthentication {
    /// A current TOTP code.
    Code(String),
    Password(PasswordAttempt),
}

/// What the second factors depend on, wired once by the composition root.
#[derive(Clone)]
pub struct SecondFactorDeps {
    pub factors: Arc<dyn FactorStore>,
    pub challenges: Arc<dyn ChallengeStore>,
    pub totp: Arc<dyn TotpAlgorithm>,
    pub webauthn: Arc<dyn WebAuthn>,
    /// Seals TOTP secrets at rest.
    pub sealer: Arc<dyn SecretSealer>,
    pub policy: MfaPolicy,
}

/// What RFC 7662 introspection learns about a token.
#[derive(Debug, Clone)]
pub enum Introspection {
    Inactive,
    Access(Claims),
    Refresh { session: Session },
}

/// Everything the use cases need, wired once by the composition root.
#[derive(Clone)]
pub struct AuthDeps {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub signer: Arc<dyn AccessTokenSigner>,
    pub verifier: Arc<dyn AccessTokenVerifier>,
    pub revocations: Arc<dyn RevocationList>,
    pub audit: Arc<dyn AuditSink>,
    pub audit_log: Arc<dyn AuditLog>,
    pub limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    /// Mailed tokens and, in the same transaction, the outbox.
    pub email_tokens: Arc<dyn EmailTokenStore>,
}

/// The authentication service.
#[derive(Clone)]
pub struct AuthService {
    deps: AuthDeps,
    tokens: TokenPolicy,
    sessions: SessionPolicy,
    mint: RefreshTokenMint,
    mail: MailPolicy,
    /// Second factors; without them (the domain's own tests) no login asks for one.
    factors: Option<SecondFactorDeps>,
    /// The OpenID provider: registered clients, codes, consent, ID tokens.
    oidc: Option<OidcDeps>,
}

impl AuthService {
    pub fn new(
        deps: AuthDeps,
        tokens: TokenPolicy,
        sessions: SessionPolicy,
        mint: RefreshTokenMint,
    ) -> Self {
        Self {
            deps,
            tokens,
            sessions,
            mint,
            mail: MailPolicy::default(),
            factors: None,
            oidc: None,
        }
    }

    /// TOTP, recovery codes and passkeys.
    #[must_use]
    pub fn with_second_factors(mut self, factors: SecondFactorDeps) -> Self {
        self.factors = Some(factors);
        self
    }

    /// The OpenID provider.
    #[must_use]
    pub fn with_oidc(mut self, oidc: OidcDeps) -> Self {
        self.oidc = Some(oidc);
        self
    }

    /// Mailed links and their lifetimes ([`MailPolicy::default`] until set).
    #[must_use]
    pub fn with_mail(mut self, mail: MailPolicy) -> Self {
        self.mail = mail;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    fn pair(
        &self,
        user: &User,
        session: &Session,
        refresh: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, SignError> {
        let claims = self.tokens.claims_for(user, session, now);
        let access_token = self.deps.signer.sign(&claims)?;
        Ok(TokenPair {
            access_token,
            expires_in: self.tokens.access_ttl.num_seconds(),
            refresh_token: refresh,
            refresh_expires_in: (session.idle_expires_at - now).num_seconds().max(0),
            session_id: session.id,
            scope: claims.scope,
        })
    }

    async fn end_session(&self, session: &Session, now: DateTime<Utc>) -> Result<(), Unavailable> {
        // The store first: it is the durable truth refresh consults, so once this write
        // lands the refresh token is dead whatever happens to the rule. The rule then
        // stops the session's access tokens; if it fails, the client retries the logout
        // (see `authenticate_for_logout`) and this runs again.
        self.deps.sessions.revoke(session.id, now).await?;
        self.revoke_rule(Revocation::Session(session.id), now)
            .await?;
        Ok(())
    }

    /// Ends every session of `user` but `except` in one store statement, then revokes
    /// their access tokens. Sessions that lapsed recently are included: a refresh just
    /// before the absolute limit leaves an access token that outlives its session.
    async fn end_sessions_of(
        &self,
        user: UserId,
        except: Option<SessionId>,
    ) -> Result<usize, Unavailable> {
        let now = self.now();
        let ended = self
            .deps
            .sessions
            .revoke_all(user, except, now, self.lapsed_after(now))
            .await?;
        for id in &ended {
            self.revoke_rule(Revocation::Session(*id), now).await?;
        }
        Ok(ended.len())
    }

    /// Sessions that lapsed after this instant may still have a live access token (a
    /// refresh just before the absolute limit mints one that outlives its session).
    fn lapsed_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - (self.tokens.acceptance_horizon(now) - now)
    }

    async fn revoke_rule(
        &self,
        revocation: Revocation,
        now: DateTime<Utc>,
    ) -> Result<(), Unavailable> {
        let entry = RevocationEntry {
            revocation,
            expires_at: self.tokens.acceptance_horizon(now),
        };
        Ok(self.deps.revocations.revoke(entry).await?)
    }

    async fn audit(&self, event: AuditEvent, client: &ClientInfo) {
        self.deps.audit.record(event, self.now(), client).await;
    }
}

//! The use cases the HTTP edge calls: register, login, refresh, authenticate, logout,
//! password change, session management, and the OAuth revoke/introspect primitives.
//! Each has its own small error enum; storage failures surface as `Unavailable`.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::password::{HashError, PasswordHasher, Verification};
use crate::ports::{
    AuditEvent, AuditSink, CreateUserError, SessionRepository, StoreError, UserRepository,
};
use crate::revocation::{Revocation, RevocationEntry, RevocationError, RevocationList};
use crate::session::{
    ClientInfo, RefreshToken, RefreshTokenMint, RefreshTokenState, RotateOutcome, Session,
    SessionId, SessionPolicy,
};
use crate::throttle::{LimitError, RateLimiter, retry_secs};
use crate::token::{
    AccessTokenSigner, AccessTokenVerifier, Claims, SignError, TokenError, TokenPolicy,
};
use crate::user::{Password, PasswordAttempt, PasswordHash, Role, User, UserId, Username};

/// What a successful login or refresh hands out (RFC 6749 §5.1 shape, minus the type).
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
    pub refresh_expires_in: i64,
    pub session_id: SessionId,
}

/// Something the use cases depend on could not answer: the edge says 503.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("password hashing is saturated")]
    HashingBusy,
    #[error("store unavailable")]
    Store(#[source] anyhow::Error),
    #[error("revocation state unavailable")]
    Revocation(#[source] anyhow::Error),
    #[error("no signing key is active")]
    NoSigningKey,
    #[error("rate-limit state unavailable")]
    Limiter(#[source] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or disabled account: deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Too many failures for this username: retry after this many seconds.
    #[error("too many failed attempts")]
    Throttled(u64),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired, revoked or reused refresh token (RFC 6749 `invalid_grant`).
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidGrant,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    InvalidToken(#[from] TokenError),
    #[error("the token has been revoked")]
    Revoked,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The caller's account no longer exists or is disabled.
    #[error("the account is not available")]
    AccountGone,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("no such session")]
    SessionNotFound,
    /// Too many wrong passwords for this account: retry after this many seconds.
    #[error("too many failed attempts")]
    Throttled(u64),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<StoreError> for Unavailable {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => Self::Store(e),
            StoreError::Conflict => Self::Store(anyhow::anyhow!("unexpected conflict")),
        }
    }
}

impl From<RevocationError> for Unavailable {
    fn from(e: RevocationError) -> Self {
        match e {
            RevocationError::Unavailable(e) => Self::Revocation(e),
        }
    }
}

/// Hashing failures: saturation is a 503, anything else a bug or a corrupt hash.
enum HashFailure {
    Busy,
    Other(anyhow::Error),
}

impl From<HashError> for HashFailure {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            HashError::Unknown(e) => Self::Other(e),
        }
    }
}

macro_rules! impl_from_lower {
    ($($err:ident),*) => {$(
        impl From<StoreError> for $err {
            fn from(e: StoreError) -> Self { Self::Unavailable(e.into()) }
        }
        impl From<RevocationError> for $err {
            fn from(e: RevocationError) -> Self { Self::Unavailable(e.into()) }
        }
        impl From<HashFailure> for $err {
            fn from(e: HashFailure) -> Self {
                match e {
                    HashFailure::Busy => Self::Unavailable(Unavailable::HashingBusy),
                    HashFailure::Other(e) => Self::Unknown(e),
                }
            }
        }
        impl From<SignError> for $err {
            fn from(e: SignError) -> Self {
                match e {
                    SignError::NoActiveKey => Self::Unavailable(Unavailable::NoSigningKey),
                    SignError::Unknown(e) => Self::Unknown(e),
                }
            }
        }
    )*};
}
impl_from_lower!(RegisterError, LoginError, RefreshError, AccountError);

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.into())
    }
}

impl From<RevocationError> for AuthError {
    fn from(e: RevocationError) -> Self {
        Self::Unavailable(e.into())
    }
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
    pub limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
}

/// The authentication service.
#[derive(Clone)]
pub struct AuthService {
    deps: AuthDeps,
    tokens: TokenPolicy,
    sessions: SessionPolicy,
    mint: RefreshTokenMint,
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
        }
    }

    pub fn token_policy(&self) -> &TokenPolicy {
        &self.tokens
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    /// Creates an account with the given roles.
    ///
    /// # Errors
    /// [`RegisterError::UsernameTaken`] when the (case-insensitive) name exists.
    pub async fn register(
        &self,
        username: Username,
        password: Password,
        roles: Vec<Role>,
        client: &ClientInfo,
    ) -> Result<User, RegisterError> {
        let hash = self
            .deps
            .hasher
            .hash(&password)
            .await
            .map_err(HashFailure::from)?;
        self.create_user(username, hash, roles, client).await
    }

    /// Stores a new account and records its registration.
    async fn create_user(
        &self,
        username: Username,
        password_hash: PasswordHash,
        roles: Vec<Role>,
        client: &ClientInfo,
    ) -> Result<User, RegisterError> {
        let user = User {
            id: UserId::new_random(),
            username,
            password_hash,
            roles,
            created_at: self.now(),
            disabled_at: None,
        };
        match self.deps.users.create(&user).await {
            Ok(()) => {}
            Err(CreateUserError::UsernameTaken) => return Err(RegisterError::UsernameTaken),
            Err(CreateUserError::Store(e)) => return Err(e.into()),
        }
        self.audit(AuditEvent::Registered { user: user.id }, client)
            .await;
        Ok(user)
    }

    /// Checks a username and password and starts a session.
    ///
    /// An unknown or malformed username costs the same hashing work as a wrong password.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] for every kind of wrong input.
    pub async fn login(
        &self,
        username: &str,
        attempt: &PasswordAttempt,
        client: &ClientInfo,
    ) -> Result<TokenPair, LoginError> {
        let parsed = Username::parse(username);
        // Throttled by the name as typed (canonicalised when valid), whether or not such
        // a user exists: a 429 must not reveal which accounts are real.
        let account = match &parsed {
            Ok(name) => name.canonical(),
            Err(_) => username
                .trim()
                .chars()
                .take(64)
                .collect::<String>()
                .to_lowercase(),
        };
        let lock = match self.reserve_attempt(&account).await {
            Ok(lock) => lock,
            Err(LimitError::Throttled(secs)) => return Err(LoginError::Throttled(secs)),
            Err(LimitError::Unavailable(e)) => return Err(Unavailable::Limiter(e).into()),
        };
        let found = match &parsed {
            Ok(name) => self.deps.users.find_by_username(name).await?,
            Err(_) => None,
        };
        let verdict = match found.as_ref().filter(|u| !u.is_disabled()) {
            Some(user) => self
                .deps
                .hasher
                .verify(attempt, &user.password_hash)
                .await
                .map_err(HashFailure::from)?,
            None => {
                self.deps
                    .hasher
                    .verify_dummy(attempt)
                    .await
                    .map_err(HashFailure::from)?;
                Verification::Mismatch
            }
        };
        let user = match (verdict, found) {
            (Verification::Match { needs_rehash }, Some(user)) => {
                if needs_rehash {
                    self.rehash(&user, attempt).await;
                }
                user
            }
            _ => {
                let event = AuditEvent::LoginFailed {
                    username: account.clone(),
                };
                self.failed_attempt(event, &account, lock, client).await;
                return Err(LoginError::InvalidCredentials);
            }
        };
        // Forgetting past failures is bookkeeping: if the limiter cannot do it now, the
        // right password still logs in.
        let _ = self.deps.limiter.record_success(&account).await;
        let now = self.now();
        let session = Session::start(user.id, client.clone(), &self.sessions, now);
        let refresh = self.mint.first()?;
        self.deps
            .sessions
            .create(&session, &RefreshTokenMint::hash(&refresh))
            .await?;
        self.audit(
            AuditEvent::LoginSucceeded {
                user: user.id,
                session: session.id,
            },
            client,
        )
        .await;
        Ok(self.pair(&user, &session, refresh, now)?)
    }

    /// Admits one password check for `account`, counted as a failure until it succeeds
    /// (see [`RateLimiter::reserve_attempt`]): the lock it started, if any.
    async fn reserve_attempt(
        &self,
        account: &str,
    ) -> Result<Option<chrono::TimeDelta>, LimitError> {
        self.deps.limiter.reserve_attempt(account, self.now()).await
    }

    /// Records a wrong password: the failure was already counted by the reservation, so
    /// this only audits it and the lock it started.
    async fn failed_attempt(
        &self,
        event: AuditEvent,
        account: &str,
        lock: Option<chrono::TimeDelta>,
        client: &ClientInfo,
    ) {
        self.audit(event, client).await;
        if let Some(lock) = lock {
            self.audit(
                AuditEvent::Lockout {
                    username: account.to_owned(),
                    seconds: retry_secs(lock),
                },
                client,
            )
            .await;
        }
    }

    /// Imports an account whose password hash comes from another system (bcrypt, as the
    /// Express tutorial's bcryptjs writes it). It logs in with its old password and is
    /// upgraded to argon2id on that login.
    ///
    /// # Errors
    /// [`RegisterError::UsernameTaken`] when the name exists (imports are idempotent:
    /// callers count these as skipped).
    pub async fn import_user(
        &self,
        username: Username,
        hash: PasswordHash,
        client: &ClientInfo,
    ) -> Result<User, RegisterError> {
        self.create_user(username, hash, Vec::new(), client).await
    }

    /// Upgrades a hash made under older parameters; a failure only costs the upgrade.
    async fn rehash(&self, user: &User, attempt: &PasswordAttempt) {
        let password = Password::verified(attempt);
        if let Ok(hash) = self.deps.hasher.hash(&password).await {
            let _ = self.deps.users.update_password_hash(user.id, &hash).await;
        }
    }

    /// Exchanges a refresh token for a new pair (rotation with reuse detection).
    ///
    /// # Errors
    /// [`RefreshError::InvalidGrant`] for unknown, expired, revoked or reused tokens; a
    /// reuse outside the grace window also revokes the whole session.
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, RefreshError> {
        let presented = RefreshToken::from_client(presented).ok_or(RefreshError::InvalidGrant)?;
        let presented_hash = RefreshTokenMint::hash(&presented);
        let now = self.now();
        let Some((session, state)) = self.deps.sessions.find_by_refresh(&presented_hash).await?
        else {
            return Err(RefreshError::InvalidGrant);
        };
        if !session.is_live(now) {
            return Err(RefreshError::InvalidGrant);
        }
        let user = self
            .deps
            .users
            .find_by_id(session.user_id)
            .await?
            .filter(|u| !u.is_disabled())
            .ok_or(RefreshError::InvalidGrant)?;
        let child = self.mint.child_of(&presented)?;
        let outcome = match state {
            RefreshTokenState::Current => {
                self.deps
                    .sessions
                    .rotate(
                        &presented_hash,
                        &RefreshTokenMint::hash(&child),
                        now,
                        session.renewed_idle_expiry(&self.sessions, now),
                    )
                    .await?
            }
            RefreshTokenState::RotatedAt(at) => RotateOutcome::AlreadyRotated(at),
        };
        match outcome {
            RotateOutcome::Rotated => {}
            RotateOutcome::AlreadyRotated(at) if now - at <= self.sessions.reuse_grace => {}
            RotateOutcome::AlreadyRotated(_) => {
                self.end_session(&session, now).await?;
                self.audit(
                    AuditEvent::RefreshReuse {
                        user: session.user_id,
                        session: session.id,
                    },
                    client,
                )
                .await;
                return Err(RefreshError::InvalidGrant);
            }
            RotateOutcome::Unknown => return Err(RefreshError::InvalidGrant),
        }
        let mut renewed = session;
        renewed.idle_expires_at = renewed.renewed_idle_expiry(&self.sessions, now);
        Ok(self.pair(&user, &renewed, child, now)?)
    }

    /// Verifies an access token and checks it against the revocation list.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] with the failed check, [`AuthError::Revoked`], or
    /// `Unavailable` when revocation state cannot be trusted (fail closed).
    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let now = self.now();
        let claims = self.deps.verifier.verify(token, now).await?;
        if self.deps.revocations.is_revoked(&claims, now)? {
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
        let now = self.now();
        let claims = self.deps.verifier.verify(token, now).await?;
        if !self.deps.revocations.is_revoked(&claims, now)? {
            return Ok(claims);
        }
        match self.deps.sessions.find(claims.sid).await? {
            Some(session) if session.user_id == claims.sub && session.revoked_at.is_some() => {
                Ok(claims)
            }
            _ => Err(AuthError::Revoked),
        }
    }

    /// The caller's account.
    ///
    /// # Errors
    /// [`AccountError::AccountGone`] when the account was deleted or disabled.
    pub async fn me(&self, claims: &Claims) -> Result<User, AccountError> {
        self.deps
            .users
            .find_by_id(claims.sub)
            .await?
            .filter(|u| !u.is_disabled())
            .ok_or(AccountError::AccountGone)
    }

    /// Ends the caller's session: its refresh token and every access token it issued.
    ///
    /// # Errors
    /// `Unavailable` when the session or revocation store cannot be written.
    pub async fn logout(&self, claims: &Claims, client: &ClientInfo) -> Result<(), AccountError> {
        let now = self.now();
        if let Some(session) = self.deps.sessions.find(claims.sid).await? {
            self.end_session(&session, now).await?;
        } else {
            self.revoke_rule(Revocation::Session(claims.sid), now)
                .await?;
        }
        self.audit(
            AuditEvent::Logout {
                user: claims.sub,
                session: claims.sid,
            },
            client,
        )
        .await;
        Ok(())
    }

    /// Ends every session of the caller.
    ///
    /// # Errors
    /// `Unavailable` when the session or revocation store cannot be written.
    pub async fn logout_all(
        &self,
        claims: &Claims,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        // Every access token carries its session, so ending every session that may still
        // have a live access token ends them all.
        let ended = self.end_sessions_of(claims.sub, None).await?;
        self.audit(
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
    pub async fn sessions(&self, claims: &Claims) -> Result<Vec<Session>, AccountError> {
        Ok(self.deps.sessions.list_live(claims.sub, self.now()).await?)
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
        let now = self.now();
        let session = self
            .deps
            .sessions
            .find(id)
            .await?
            // A session that lapsed moments ago may still have a live access token.
            .filter(|s| {
                let lapsed_after = now - (self.tokens.acceptance_horizon(now) - now);
                s.user_id == claims.sub
                    && s.revoked_at.is_none()
                    && s.idle_expires_at.min(s.absolute_expires_at) > lapsed_after
            })
            .ok_or(AccountError::SessionNotFound)?;
        self.end_session(&session, now).await?;
        self.audit(
            AuditEvent::SessionRevoked {
                user: claims.sub,
                session: id,
            },
            client,
        )
        .await;
        Ok(())
    }

    /// Changes the caller's password and ends every other session of theirs.
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
        let lock = match self.reserve_attempt(&account).await {
            Ok(lock) => lock,
            Err(LimitError::Throttled(secs)) => return Err(AccountError::Throttled(secs)),
            Err(LimitError::Unavailable(e)) => return Err(Unavailable::Limiter(e).into()),
        };
        let verdict = self
            .deps
            .hasher
            .verify(current, &user.password_hash)
            .await
            .map_err(HashFailure::from)?;
        if verdict == Verification::Mismatch {
            let event = AuditEvent::PasswordChangeFailed { user: user.id };
            self.failed_attempt(event, &account, lock, client).await;
            return Err(AccountError::WrongPassword);
        }
        let _ = self.deps.limiter.record_success(&account).await;
        let hash = self
            .deps
            .hasher
            .hash(new)
            .await
            .map_err(HashFailure::from)?;
        self.deps.users.update_password_hash(user.id, &hash).await?;
        self.end_sessions_of(user.id, Some(claims.sid)).await?;
        self.audit(AuditEvent::PasswordChanged { user: user.id }, client)
            .await;
        Ok(())
    }

    /// Disables an account: it can no longer log in or refresh, and every access token
    /// it holds stops working at once (a "user before now" revocation).
    ///
    /// # Errors
    /// [`AccountError::AccountGone`] when no such user exists.
    pub async fn disable_user(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let now = self.now();
        if self.deps.users.find_by_id(user).await?.is_none() {
            return Err(AccountError::AccountGone);
        }
        // Revocation first: once it is durable no token of the user passes, whatever
        // happens to the writes after it.
        self.revoke_rule(Revocation::UserBefore(user, now), now)
            .await?;
        self.deps.users.disable(user, now).await?;
        self.end_sessions_of(user, None).await?;
        self.audit(AuditEvent::UserDisabled { user }, client).await;
        Ok(())
    }

    /// A page of accounts, for administrators.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn list_users(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<User>, u64), AccountError> {
        Ok(self.deps.users.list(offset, limit).await?)
    }

    /// Records a security event that happened outside these use cases (key operations).
    pub async fn record(&self, event: AuditEvent, client: &ClientInfo) {
        self.audit(event, client).await;
    }

    /// RFC 7009: revokes an access token (by `jti`) or a refresh token (its whole
    /// session). Tokens that are unknown, invalid or expired are silently accepted.
    ///
    /// # Errors
    /// Only `Unavailable`.
    pub async fn revoke_token(&self, token: &str, client: &ClientInfo) -> Result<(), AccountError> {
        let now = self.now();
        if let Some(refresh) = RefreshToken::from_client(token) {
            // An ended session needs no second ending: a long-dead token costs one read.
            if let Some((session, _)) = self
                .deps
                .sessions
                .find_by_refresh(&RefreshTokenMint::hash(&refresh))
                .await?
                .filter(|(s, _)| s.revoked_at.is_none())
            {
                self.end_session(&session, now).await?;
                self.audit(
                    AuditEvent::TokenRevoked {
                        user: session.user_id,
                    },
                    client,
                )
                .await;
            }
            return Ok(());
        }
        if let Ok(claims) = self.deps.verifier.verify(token, now).await {
            self.revoke_rule(Revocation::Token(claims.jti), now).await?;
            self.audit(AuditEvent::TokenRevoked { user: claims.sub }, client)
                .await;
        }
        Ok(())
    }

    /// RFC 7662: what a token is, if it is active.
    ///
    /// # Errors
    /// Only `Unavailable`.
    pub async fn introspect(&self, token: &str) -> Result<Introspection, AccountError> {
        let now = self.now();
        if let Some(refresh) = RefreshToken::from_client(token) {
            let found = self
                .deps
                .sessions
                .find_by_refresh(&RefreshTokenMint::hash(&refresh))
                .await?;
            return Ok(match found {
                Some((session, RefreshTokenState::Current)) if session.is_live(now) => {
                    Introspection::Refresh { session }
                }
                _ => Introspection::Inactive,
            });
        }
        match self.authenticate(token).await {
            Ok(claims) => Ok(Introspection::Access(claims)),
            Err(AuthError::Unavailable(e)) => Err(e.into()),
            Err(_) => Ok(Introspection::Inactive),
        }
    }

    fn pair(
        &self,
        user: &User,
        session: &Session,
        refresh: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, SignError> {
        let claims = self.tokens.claims_for(user, session.id, now);
        let access_token = self.deps.signer.sign(&claims)?;
        Ok(TokenPair {
            access_token,
            expires_in: self.tokens.access_ttl.num_seconds(),
            refresh_token: refresh,
            refresh_expires_in: (session.idle_expires_at - now).num_seconds().max(0),
            session_id: session.id,
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
        let token_life = self.tokens.acceptance_horizon(now) - now;
        let ended = self
            .deps
            .sessions
            .revoke_all(user, except, now, now - token_life)
            .await?;
        for id in &ended {
            self.revoke_rule(Revocation::Session(*id), now).await?;
        }
        Ok(ended.len())
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

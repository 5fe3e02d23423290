//! [`Core`]: what every capability shares, and the steps several of them take —
//! starting, rotating and ending sessions, counting password attempts, auditing.

use chrono::TimeDelta;

use crate::email::{Email, EmailTokenPurpose};
use crate::mfa::AuthMethod;
use crate::notice::SecurityNotice;
use crate::oidc::OAuthClient;
use crate::ports::StoreError;
use crate::session::{RefreshTokenState, RotateOutcome};
use crate::throttle::{LimitError, retry_secs};

use super::*;

/// How recent a sign-in must be for a sensitive change, unless configured.
pub const DEFAULT_REAUTHENTICATION_WINDOW: TimeDelta = TimeDelta::minutes(5);

/// How long a logout token is good for: long enough for the outbox's first attempts.
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;

/// The shared core of the use cases: the ports of [`AuthDeps`], the token, session and
/// mail policies, and the refresh-token mint. Cheap to clone (one `Arc`): every service
/// holds one.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Parts>,
}

#[derive(Clone)]
struct Parts {
    deps: AuthDeps,
    tokens: TokenPolicy,
    sessions: SessionPolicy,
    mint: RefreshTokenMint,
    mail: MailPolicy,
    /// How recent a sign-in must be for a change that could keep or take the account.
    reauthentication_window: TimeDelta,
    /// How registered clients hear that their sessions ended; `None` until set.
    logout_notices: Option<LogoutNotices>,
}

/// What the core needs to tell a registered client that a session of it ended (OpenID
/// Connect Back-Channel Logout 1.0): the client's registration, and the key that signs
/// its ID tokens (and so its logout tokens).
#[derive(Clone)]
pub struct LogoutNotices {
    pub clients: Arc<dyn crate::oidc::ClientStore>,
    pub id_tokens: Arc<dyn crate::token::IdTokenSigner>,
}

impl Core {
    pub fn new(
        deps: AuthDeps,
        tokens: TokenPolicy,
        sessions: SessionPolicy,
        mint: RefreshTokenMint,
    ) -> Self {
        Self {
            inner: Arc::new(Parts {
                deps,
                tokens,
                sessions,
                mint,
                mail: MailPolicy::default(),
                reauthentication_window: DEFAULT_REAUTHENTICATION_WINDOW,
                logout_notices: None,
            }),
        }
    }

    /// Mailed links and their lifetimes ([`MailPolicy::default`] until set).
    #[must_use]
    pub fn with_mail(mut self, mail: MailPolicy) -> Self {
        Arc::make_mut(&mut self.inner).mail = mail;
        self
    }

    /// How recent a sign-in must be for a sensitive change ([`Self::signed_in_recently`];
    /// 5 minutes until set).
    #[must_use]
    pub fn with_reauthentication_window(mut self, window: TimeDelta) -> Self {
        Arc::make_mut(&mut self.inner).reauthentication_window = window;
        self
    }

    /// Registered clients with a back-channel logout URI are told when a session of
    /// theirs ends (nothing is sent until set).
    #[must_use]
    pub fn with_logout_notices(mut self, notices: LogoutNotices) -> Self {
        Arc::make_mut(&mut self.inner).logout_notices = Some(notices);
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.inner.deps.clock.now()
    }

    /// Whether the caller's sign-in (`auth_time`) lies within the reauthentication window.
    /// Changes that would let a session's holder keep or take the account — adding,
    /// confirming or removing a second factor, new recovery codes, another email address
    /// — ask for it: a stolen token, refresh token or page cookie is old by the time it
    /// is used, and cannot add a factor of its own or redirect the account's mail.
    pub fn signed_in_recently(&self, claims: &Claims) -> bool {
        self.now().timestamp() - claims.auth_time
            <= self.inner.reauthentication_window.num_seconds()
    }

    /// The issuer: `iss` of every token, and the base of the discovery document.
    pub fn issuer(&self) -> &str {
        &self.inner.tokens.issuer
    }

    pub(crate) fn deps(&self) -> &AuthDeps {
        &self.inner.deps
    }

    pub(crate) fn tokens(&self) -> &TokenPolicy {
        &self.inner.tokens
    }

    pub(crate) fn session_policy(&self) -> &SessionPolicy {
        &self.inner.sessions
    }

    pub(crate) fn mint(&self) -> &RefreshTokenMint {
        &self.inner.mint
    }

    pub(crate) fn mail(&self) -> &MailPolicy {
        &self.inner.mail
    }

    /// The account `id`, if it exists and is enabled.
    pub(crate) async fn enabled_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self
            .deps()
            .users
            .find_by_id(id)
            .await?
            .filter(|u| !u.is_disabled()))
    }

    pub(crate) fn pair(
        &self,
        user: &User,
        session: &Session,
        refresh: RefreshToken,
        now: DateTime<Utc>,
        app: Option<&OAuthClient>,
    ) -> Result<TokenPair, SignError> {
        let claims = match app {
            None => self.tokens().claims_for(user, session, now),
            Some(app) => self.tokens().claims_for_app(user, session, app, now),
        };
        let access_token = self.deps().signer.sign(&claims)?;
        Ok(TokenPair {
            access_token,
            expires_in: self.tokens().access_ttl.num_seconds(),
            refresh_token: refresh,
            refresh_expires_in: (session.idle_expires_at - now).num_seconds().max(0),
            session_id: session.id,
            scope: claims.scope,
        })
    }

    /// Starts a session for a user who just proved who they are, and hands out its first
    /// pair. `checked_hash` is the password hash a password step checked, if one did.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] when the account changed under the login.
    pub(crate) async fn start_session(
        &self,
        user: &User,
        checked_hash: Option<&PasswordHash>,
        amr: Vec<AuthMethod>,
        client: &ClientInfo,
    ) -> Result<TokenPair, LoginError> {
        let now = self.now();
        let session = Session::start(user.id, client.clone(), amr, self.session_policy(), now);
        let refresh = self.mint().first()?;
        self.deps()
            .sessions
            .create(&session, &RefreshTokenMint::hash(&refresh))
            .await?;
        // The password was checked against a hash read before the session existed. A
        // password change, reset or disable that landed since ended every session it
        // could see — not this one, if it was created after. Reading the account again
        // now closes the gap: whatever wrote after this read sees the session and ends
        // it; whatever wrote before it, this read sees.
        let still = self.deps().users.find_by_id(user.id).await?;
        let unchanged = still.is_some_and(|u| {
            !u.is_disabled() && checked_hash.is_none_or(|h| &u.password_hash == h)
        });
        if !unchanged {
            self.deps().sessions.revoke(session.id, now).await?;
            return Err(LoginError::InvalidCredentials);
        }
        self.audit(
            AuditEvent::LoginSucceeded {
                user: user.id,
                session: session.id,
            },
            client,
        )
        .await;
        Ok(self.pair(user, &session, refresh, now, None)?)
    }

    /// Exchanges a refresh token for a new pair, for the sessions of `oauth_client` only
    /// (`None`: Tessera's own): a registered client's refresh token works at the token
    /// endpoint, with that client's authentication, and nowhere else. One conditional
    /// rotation in the store; a token presented again within the grace window gets the
    /// same child, after it the whole session ends.
    ///
    /// # Errors
    /// [`RefreshError::InvalidGrant`] for unknown, expired, revoked, reused or foreign
    /// tokens.
    pub(crate) async fn refresh_session(
        &self,
        presented: &str,
        oauth_client: Option<&OAuthClient>,
        client: &ClientInfo,
    ) -> Result<TokenPair, RefreshError> {
        let presented = RefreshToken::from_client(presented).ok_or(RefreshError::InvalidGrant)?;
        let presented_hash = RefreshTokenMint::hash(&presented);
        let now = self.now();
        // Token, session and user in one lookup: the refresh path is a handful of
        // statements, and each one is a round trip.
        let Some((session, state, user)) = self
            .deps()
            .sessions
            .find_for_refresh(&presented_hash)
            .await?
        else {
            return Err(RefreshError::InvalidGrant);
        };
        if !session.is_live(now)
            || session.oauth.as_ref().map(|o| o.client) != oauth_client.map(|c| c.id)
        {
            return Err(RefreshError::InvalidGrant);
        }
        let user = user
            .filter(|u| !u.is_disabled())
            .ok_or(RefreshError::InvalidGrant)?;
        let child = self.mint().child_of(&presented)?;
        let outcome = match state {
            RefreshTokenState::Current => {
                self.deps()
                    .sessions
                    .rotate(
                        session.id,
                        &presented_hash,
                        &RefreshTokenMint::hash(&child),
                        now,
                        session.renewed_idle_expiry(self.session_policy(), now),
                    )
                    .await?
            }
            RefreshTokenState::RotatedAt(at) => RotateOutcome::AlreadyRotated(at),
        };
        match outcome {
            RotateOutcome::Rotated => {}
            RotateOutcome::AlreadyRotated(at) if now - at <= self.session_policy().reuse_grace => {}
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
        renewed.idle_expires_at = renewed.renewed_idle_expiry(self.session_policy(), now);
        Ok(self.pair(&user, &renewed, child, now, oauth_client)?)
    }

    pub(crate) async fn end_session(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<(), Unavailable> {
        // The store first: it is the durable truth refresh consults, so once this write
        // lands the refresh token is dead whatever happens to the rule. The rule then
        // stops the session's access tokens; if it fails, the client retries the logout
        // (see `authenticate_for_logout`) and this runs again.
        self.deps().sessions.revoke(session.id, now).await?;
        self.revoke_rule(Revocation::Session(session.id), now)
            .await?;
        self.tell_client_ended(session, now).await
    }

    /// Tells the client of `session`, if it registered a back-channel logout URI, that
    /// the session ended: a logout token (§2.4: `iss`, `aud`, `iat`, `exp`, `jti`, `sub`,
    /// `sid`, `events`; never a `nonce`) queued in the outbox, which POSTs it with
    /// retries. Tessera's own sessions have no client to tell.
    async fn tell_client_ended(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<(), Unavailable> {
        let (Some(notices), Some(grant)) = (&self.inner.logout_notices, &session.oauth) else {
            return Ok(());
        };
        let Some(client) = notices.clients.find_client(grant.client).await? else {
            return Ok(());
        };
        let Some(uri) = client.backchannel_logout_uri else {
            return Ok(());
        };
        let iat = now.timestamp();
        let claims = serde_json::json!({
            "iss": self.tokens().issuer,
            "aud": client.id,
            "iat": iat,
            "exp": iat + LOGOUT_TOKEN_TTL_SECS,
            "jti": uuid::Uuid::new_v4(),
            "sub": session.user_id,
            "sid": session.id,
            "events": { crate::oidc::BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        let token = notices
            .id_tokens
            .sign_logout_token(&claims)
            .map_err(|e| match e {
                SignError::NoActiveKey => Unavailable::NoSigningKey,
                SignError::Unknown(e) => Unavailable::Store(e),
            })?;
        let notice = crate::oidc::LogoutNotice {
            client: client.id,
            uri,
            token,
        };
        Ok(self.deps().email_tokens.queue_logout(&notice, now).await?)
    }

    /// [`Self::tell_client_ended`] for sessions ended in bulk, known by id.
    async fn tell_clients_ended(
        &self,
        ended: &[SessionId],
        now: DateTime<Utc>,
    ) -> Result<(), Unavailable> {
        if self.inner.logout_notices.is_none() {
            return Ok(());
        }
        for id in ended {
            if let Some(session) = self.deps().sessions.find(*id).await? {
                self.tell_client_ended(&session, now).await?;
            }
        }
        Ok(())
    }

    /// Ends every session of `user` but `except` in one store statement, then revokes
    /// their access tokens. Sessions that lapsed recently are included: a refresh just
    /// before the absolute limit leaves an access token that outlives its session.
    pub(crate) async fn end_sessions_of(
        &self,
        user: UserId,
        except: Option<SessionId>,
    ) -> Result<usize, Unavailable> {
        let now = self.now();
        let ended = self
            .deps()
            .sessions
            .revoke_all(user, except, now, self.lapsed_after(now))
            .await?;
        for id in &ended {
            self.revoke_rule(Revocation::Session(*id), now).await?;
        }
        self.tell_clients_ended(&ended, now).await?;
        Ok(ended.len())
    }

    /// Ends the sessions of the registered `client` (of `user` only, when given) in one
    /// store statement, then revokes their access tokens: what taking back an app's
    /// access or deleting the app means.
    pub(crate) async fn end_client_sessions(
        &self,
        client: crate::oidc::ClientId,
        user: Option<UserId>,
    ) -> Result<usize, Unavailable> {
        let now = self.now();
        let ended = self
            .deps()
            .sessions
            .revoke_client_sessions(client, user, now, self.lapsed_after(now))
            .await?;
        for id in &ended {
            self.revoke_rule(Revocation::Session(*id), now).await?;
        }
        self.tell_clients_ended(&ended, now).await?;
        Ok(ended.len())
    }

    /// Withdraws every outstanding reset and verification link of `user`: what the
    /// owner does against a thief (a password change or reset, signing out everywhere, a
    /// new address) or an administrator's disabling must leave no mailed link that opens
    /// the account, or redirects its mail, afterwards.
    pub(crate) async fn withdraw_mailed_links(&self, user: UserId) -> Result<(), Unavailable> {
        let now = self.now();
        for purpose in [EmailTokenPurpose::Reset, EmailTokenPurpose::Verify] {
            self.deps()
                .email_tokens
                .withdraw(user, purpose, now)
                .await?;
        }
        Ok(())
    }

    /// Sessions that lapsed after this instant may still have a live access token (a
    /// refresh just before the absolute limit mints one that outlives its session).
    pub(crate) fn lapsed_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - (self.tokens().acceptance_horizon(now) - now)
    }

    pub(crate) async fn revoke_rule(
        &self,
        revocation: Revocation,
        now: DateTime<Utc>,
    ) -> Result<(), Unavailable> {
        let entry = RevocationEntry {
            revocation,
            expires_at: self.tokens().acceptance_horizon(now),
        };
        Ok(self.deps().revocations.revoke(entry).await?)
    }

    /// Admits one password check for `account`, counted as a failure until it succeeds
    /// (see [`RateLimiter::reserve_attempt`]): the lock it started, if any.
    pub(crate) async fn reserve_attempt(
        &self,
        account: &str,
    ) -> Result<Option<chrono::TimeDelta>, LimitError> {
        self.deps()
            .limiter
            .reserve_attempt(account, self.now())
            .await
    }

    /// Records a wrong password: the failure was already counted by the reservation, so
    /// this only audits it and the lock it started.
    pub(crate) async fn failed_attempt(
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

    pub(crate) async fn audit(&self, event: AuditEvent, client: &ClientInfo) {
        self.deps().audit.record(event, self.now(), client).await;
    }

    /// Tells `user` of a change to their account, at their verified address (an
    /// unverified one may not be theirs), through the outbox — unless the operator
    /// turned security notices off.
    pub(crate) async fn notify(
        &self,
        user: &User,
        notice: SecurityNotice,
        client: &ClientInfo,
    ) -> Result<(), Unavailable> {
        match user.email.as_ref().filter(|_| user.email_verified) {
            Some(to) => self.notify_at(to, user, notice, client).await,
            None => Ok(()),
        }
    }

    /// [`Self::notify`] at `to`: the address the account had before a change of address.
    pub(crate) async fn notify_at(
        &self,
        to: &Email,
        user: &User,
        notice: SecurityNotice,
        client: &ClientInfo,
    ) -> Result<(), Unavailable> {
        if !self.mail().security_notices || user.is_disabled() {
            return Ok(());
        }
        let now = self.now();
        let mail =
            self.mail()
                .compose_security_notice(notice, to, user.username.as_str(), now, client);
        Ok(self.deps().email_tokens.queue_mail(&mail, now).await?)
    }
}

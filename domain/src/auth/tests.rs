//! The use cases against in-memory fakes of every port: the decisions that matter, in
//! milliseconds, without HTTP, SQL, RSA or argon2. The fakes keep a shared journal of
//! the writes, so tests can assert their order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::email::{Email, EmailTokenHash, EmailTokenPurpose, EmailTokenRecord, OutgoingMail};
use crate::password::{HashError, PasswordHasher, Verification};
use crate::ports::{AuditLog, AuditRecord, CreateUserError, RedeemError, StoreError};
use crate::revocation::{RevocationEntry, RevocationError};
use crate::session::{RefreshTokenHash, RefreshTokenState, RotateOutcome};
use crate::throttle::NoLimits;
use crate::token::{SignError, TokenError};
use crate::user::{Password, PasswordAttempt, PasswordHash, PasswordPolicy, Username};

type Journal = Arc<Mutex<Vec<String>>>;

fn note(journal: &Journal, what: impl Into<String>) {
    journal.lock().unwrap().push(what.into());
}

/// The users; `.1`, when set, is a hash written right after the next lookup by name —
/// a password change landing while a login checks the old password.
#[derive(Default)]
struct Users(Mutex<Vec<User>>, Mutex<Option<PasswordHash>>);

#[async_trait]
impl UserRepository for Users {
    async fn create(&self, user: &User) -> Result<(), CreateUserError> {
        let mut users = self.0.lock().unwrap();
        if users
            .iter()
            .any(|u| u.username.canonical() == user.username.canonical())
        {
            return Err(CreateUserError::UsernameTaken);
        }
        users.push(user.clone());
        Ok(())
    }
    async fn find_by_username(&self, name: &Username) -> Result<Option<User>, StoreError> {
        let mut users = self.0.lock().unwrap();
        let found = users
            .iter_mut()
            .find(|u| u.username.canonical() == name.canonical());
        let seen = found.as_ref().map(|u| (*u).clone());
        if let (Some(user), Some(changed)) = (found, self.1.lock().unwrap().take()) {
            user.password_hash = changed;
        }
        Ok(seen)
    }
    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let mut users = self.0.lock().unwrap();
        let user = users
            .iter_mut()
            .find(|u| u.id == id && &u.password_hash == expected);
        Ok(user.is_some_and(|u| {
            u.password_hash = new.clone();
            true
        }))
    }
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.0.lock().unwrap().iter().find(|u| u.id == id).cloned())
    }
    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
    ) -> Result<(), StoreError> {
        for u in self.0.lock().unwrap().iter_mut().filter(|u| u.id == id) {
            u.password_hash = hash.clone();
        }
        Ok(())
    }
    async fn list(&self, offset: u64, limit: u64) -> Result<(Vec<User>, u64), StoreError> {
        let users = self.0.lock().unwrap();
        let page = users
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        Ok((page, users.len() as u64))
    }
    async fn disable(&self, id: UserId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut users = self.0.lock().unwrap();
        let user = users.iter_mut().find(|u| u.id == id);
        Ok(user.is_some_and(|u| u.disabled_at.replace(at).is_none()))
    }
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let users = self.0.lock().unwrap();
        Ok(users
            .iter()
            .find(|u| {
                u.email_verified
                    && u.email.as_ref().map(Email::canonical) == Some(email.canonical())
            })
            .cloned())
    }
    async fn set_verified_email(
        &self,
        id: UserId,
        email: &Email,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut users = self.0.lock().unwrap();
        let taken = users.iter().any(|u| {
            u.id != id
                && u.email_verified
                && u.email.as_ref().map(Email::canonical) == Some(email.canonical())
        });
        if taken {
            return Err(StoreError::Conflict);
        }
        let user = users.iter_mut().find(|u| u.id == id);
        Ok(user.is_some_and(|u| {
            u.email = Some(email.clone());
            u.email_verified = true;
            true
        }))
    }
}

/// Tokens and the outbox in memory; the mails are kept so tests can read their links.
struct Mails {
    tokens: Mutex<Vec<EmailTokenRecord>>,
    outbox: Mutex<Vec<OutgoingMail>>,
    users: Arc<Users>,
}

#[async_trait]
impl EmailTokenStore for Mails {
    async fn issue(
        &self,
        token: &EmailTokenRecord,
        mail: &OutgoingMail,
        deliver: bool,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tokens.lock().unwrap().push(token.clone());
        if deliver {
            self.outbox.lock().unwrap().push(mail.clone());
        }
        Ok(())
    }
    async fn find_token(
        &self,
        hash: &EmailTokenHash,
    ) -> Result<Option<EmailTokenRecord>, StoreError> {
        let tokens = self.tokens.lock().unwrap();
        Ok(tokens.iter().find(|t| &t.hash == hash).cloned())
    }
    async fn redeem_verification(
        &self,
        token: &EmailTokenRecord,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), RedeemError> {
        self.claim(token, now)?;
        match self.users.set_verified_email(user, &token.email, now).await {
            Err(StoreError::Conflict) => Err(RedeemError::EmailTaken),
            other => other.map(|_| ()).map_err(RedeemError::Store),
        }
    }
    async fn redeem_reset(
        &self,
        token: &EmailTokenRecord,
        user: UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<(), RedeemError> {
        self.claim(token, now)?;
        self.users.update_password_hash(user, hash).await?;
        self.withdraw(user, EmailTokenPurpose::Reset, now).await?;
        Ok(())
    }
    async fn withdraw(
        &self,
        user: UserId,
        purpose: EmailTokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for t in self.tokens.lock().unwrap().iter_mut() {
            if t.user == Some(user) && t.purpose == purpose && t.used_at.is_none() {
                t.used_at = Some(now);
            }
        }
        Ok(())
    }
    async fn purge_tokens(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }
}

impl Mails {
    fn claim(&self, token: &EmailTokenRecord, now: DateTime<Utc>) -> Result<(), RedeemError> {
        let mut tokens = self.tokens.lock().unwrap();
        let t = tokens
            .iter_mut()
            .find(|t| t.hash == token.hash && t.used_at.is_none())
            .ok_or(RedeemError::Used)?;
        t.used_at = Some(now);
        Ok(())
    }

    /// The token in the last mail to `to`.
    fn last_token_to(&self, to: &str) -> String {
        let outbox = self.outbox.lock().unwrap();
        let mail = outbox.iter().rev().find(|m| m.to.as_str() == to).unwrap();
        let at = mail.text.find("token=").unwrap() + "token=".len();
        mail.text[at..at + 43].to_owned()
    }
}

/// A refresh token's session and when it was rotated, by token hash.
type TokenChain = HashMap<String, (SessionId, Option<DateTime<Utc>>)>;

/// Sessions and refresh tokens.
struct Sessions {
    sessions: Mutex<Vec<Session>>,
    tokens: Mutex<TokenChain>,
    users: Arc<Users>,
    journal: Journal,
}

#[async_trait]
impl SessionRepository for Sessions {
    async fn create(&self, session: &Session, token: &RefreshTokenHash) -> Result<(), StoreError> {
        self.sessions.lock().unwrap().push(session.clone());
        let mut tokens = self.tokens.lock().unwrap();
        tokens.insert(token.0.clone(), (session.id, None));
        Ok(())
    }
    async fn find_by_refresh(
        &self,
        token: &RefreshTokenHash,
    ) -> Result<Option<(Session, RefreshTokenState)>, StoreError> {
        let Some((sid, rotated)) = self.tokens.lock().unwrap().get(&token.0).copied() else {
            return Ok(None);
        };
        let session = self.find(sid).await?;
        Ok(session.map(|s| {
            let state = rotated.map_or(RefreshTokenState::Current, RefreshTokenState::RotatedAt);
            (s, state)
        }))
    }
    async fn find_for_refresh(
        &self,
        token: &RefreshTokenHash,
    ) -> Result<Option<(Session, RefreshTokenState, Option<User>)>, StoreError> {
        let Some((session, state)) = self.find_by_refresh(token).await? else {
            return Ok(None);
        };
        let user = self.users.find_by_id(session.user_id).await?;
        Ok(Some((session, state, user)))
    }
    async fn rotate(
        &self,
        _: SessionId,
        presented: &RefreshTokenHash,
        child: &RefreshTokenHash,
        now: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        let mut tokens = self.tokens.lock().unwrap();
        let Some((sid, rotated)) = tokens.get(&presented.0).copied() else {
            return Ok(RotateOutcome::Unknown);
        };
        if let Some(at) = rotated {
            return Ok(RotateOutcome::AlreadyRotated(at));
        }
        let mut sessions = self.sessions.lock().unwrap();
        let Some(session) = sessions
            .iter_mut()
            .find(|s| s.id == sid && s.revoked_at.is_none())
        else {
            return Ok(RotateOutcome::Unknown);
        };
        session.last_used_at = now;
        session.idle_expires_at = idle_expires_at;
        tokens.insert(presented.0.clone(), (sid, Some(now)));
        tokens.insert(child.0.clone(), (sid, None));
        Ok(RotateOutcome::Rotated)
    }
    async fn find(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let sessions = self.sessions.lock().unwrap();
        Ok(sessions.iter().find(|s| s.id == id).cloned())
    }
    async fn list_live(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        let sessions = self.sessions.lock().unwrap();
        Ok(sessions
            .iter()
            .filter(|s| s.user_id == user && s.is_live(now))
            .cloned()
            .collect())
    }
    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        note(&self.journal, "store: session ended");
        let mut sessions = self.sessions.lock().unwrap();
        let s = sessions.iter_mut().find(|s| s.id == id);
        Ok(s.is_some_and(|s| s.revoked_at.replace(now).is_none()))
    }
    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        lapsed_after: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError> {
        note(&self.journal, "store: sessions ended");
        let mut ended = Vec::new();
        for s in self.sessions.lock().unwrap().iter_mut() {
            if s.user_id == user
                && Some(s.id) != except
                && s.revoked_at.is_none()
                && s.idle_expires_at.min(s.absolute_expires_at) > lapsed_after
            {
                s.revoked_at = Some(now);
                ended.push(s.id);
            }
        }
        Ok(ended)
    }
}

/// Rules in a vector; `fail` makes the next writes fail (an outage of the list).
struct Rules {
    rules: Mutex<Vec<RevocationEntry>>,
    fail: std::sync::atomic::AtomicBool,
    journal: Journal,
}

#[async_trait]
impl RevocationList for Rules {
    async fn revoke(&self, entry: RevocationEntry) -> Result<(), RevocationError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(RevocationError::Unavailable(anyhow::anyhow!("down")));
        }
        note(&self.journal, format!("rule: {}", entry.revocation.kind()));
        self.rules.lock().unwrap().push(entry);
        Ok(())
    }
    fn is_revoked(&self, claims: &Claims, now: DateTime<Utc>) -> Result<bool, RevocationError> {
        let rules = self.rules.lock().unwrap();
        Ok(rules
            .iter()
            .any(|r| r.expires_at > now && r.revocation.covers(claims)))
    }
    async fn check_ready(&self) -> Result<(), RevocationError> {
        Ok(())
    }
    async fn sync(&self, _: DateTime<Utc>) -> Result<(), RevocationError> {
        Ok(())
    }
}

/// "Hashes" are the password in clear with a prefix; counts dummy verifications; can
/// say it is saturated.
#[derive(Default)]
struct PlainHasher {
    dummies: AtomicUsize,
    saturated: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        Ok(PasswordHash::new(format!("plain:{}", password.expose())))
    }
    async fn verify(
        &self,
        attempt: &PasswordAttempt,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        Ok(if hash.as_str() == format!("plain:{}", attempt.expose()) {
            Verification::Match {
                needs_rehash: false,
            }
        } else {
            Verification::Mismatch
        })
    }
    async fn verify_dummy(&self, _: &PasswordAttempt) -> Result<(), HashError> {
        self.dummies.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn is_saturated(&self) -> bool {
        self.saturated.load(Ordering::SeqCst)
    }
}

/// Tokens are their claims as JSON; verification checks only expiry.
struct JsonTokens;

impl AccessTokenSigner for JsonTokens {
    fn sign(&self, claims: &Claims) -> Result<String, SignError> {
        serde_json::to_string(claims).map_err(|e| SignError::Unknown(e.into()))
    }
}

#[async_trait]
impl AccessTokenVerifier for JsonTokens {
    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let claims: Claims = serde_json::from_str(token).map_err(|_| TokenError::Malformed)?;
        if claims.exp < now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[derive(Default)]
struct Audit(Mutex<Vec<AuditEvent>>);

#[async_trait]
impl AuditSink for Audit {
    async fn record(&self, event: AuditEvent, _: DateTime<Utc>, _: &ClientInfo) {
        self.0.lock().unwrap().push(event);
    }
}

#[async_trait]
impl AuditLog for Audit {
    async fn list(
        &self,
        _: Option<UserId>,
        _: Option<&str>,
        _: u64,
        _: u64,
    ) -> Result<(Vec<AuditRecord>, u64), StoreError> {
        Ok((Vec::new(), 0))
    }
    async fn purge_before(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }
}

struct World {
    auth: AuthService,
    clock: Arc<ManualClock>,
    hasher: Arc<PlainHasher>,
    rules: Arc<Rules>,
    audit: Arc<Audit>,
    journal: Journal,
    mails: Arc<Mails>,
    users: Arc<Users>,
}

const PASSWORD: &str = "correct horse battery staple";

fn world() -> World {
    let journal: Journal = Arc::default();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let hasher = Arc::new(PlainHasher::default());
    let rules = Arc::new(Rules {
        rules: Mutex::default(),
        fail: Default::default(),
        journal: Arc::clone(&journal),
    });
    let audit = Arc::new(Audit::default());
    let users = Arc::new(Users::default());
    let users_handle = users.clone();
    let mails = Arc::new(Mails {
        tokens: Mutex::default(),
        outbox: Mutex::default(),
        users: users.clone(),
    });
    let deps = AuthDeps {
        email_tokens: mails.clone(),
        users: users.clone(),
        sessions: Arc::new(Sessions {
            sessions: Mutex::default(),
            tokens: Mutex::default(),
            users,
            journal: Arc::clone(&journal),
        }),
        hasher: hasher.clone(),
        signer: Arc::new(JsonTokens),
        verifier: Arc::new(JsonTokens),
        revocations: rules.clone(),
        audit: audit.clone(),
        audit_log: audit.clone(),
        limiter: Arc::new(NoLimits),
        clock: clock.clone(),
    };
    let tokens = TokenPolicy {
        issuer: "tessera".into(),
        audience: "tessera".into(),
        access_ttl: TimeDelta::minutes(15),
        leeway: TimeDelta::seconds(30),
    };
    let auth = AuthService::new(
        deps,
        tokens,
        SessionPolicy::default(),
        RefreshTokenMint::new([7; 32]),
    );
    World {
        auth,
        clock,
        hasher,
        rules,
        audit,
        journal,
        mails,
        users: users_handle,
    }
}

impl World {
    async fn user(&self, name: &str) -> User {
        let name = Username::parse(name).unwrap();
        let password = Password::parse(PASSWORD, &name, &PasswordPolicy::default()).unwrap();
        let client = ClientInfo::default();
        self.auth
            .register(name, password, Vec::new(), None, &client)
            .await
            .unwrap()
    }

    async fn login(&self, name: &str) -> TokenPair {
        let attempt = PasswordAttempt::new(PASSWORD).unwrap();
        let client = ClientInfo::default();
        match self.auth.login(name, &attempt, &client).await.unwrap() {
            LoginOutcome::Tokens(pair) => pair,
            LoginOutcome::SecondStep(_) => panic!("no second factor is enrolled"),
        }
    }

    async fn claims(&self, pair: &TokenPair) -> Claims {
        self.auth.authenticate(&pair.access_token).await.unwrap()
    }

    fn events(&self) -> Vec<String> {
        let events = self.audit.0.lock().unwrap();
        events.iter().map(|e| e.name().to_owned()).collect()
    }
}

#[tokio::test]
async fn a_refresh_token_presented_again_within_the_grace_gets_the_same_child() {
    let w = world();
    w.user("alice").await;
    let pair = w.login("alice").await;
    let client = ClientInfo::default();
    let presented = pair.refresh_token.expose().to_owned();
    let first = w.auth.refresh(&presented, &client).await.unwrap();
    w.clock.advance(TimeDelta::seconds(5));
    let again = w.auth.refresh(&presented, &client).await.unwrap();
    assert_eq!(first.refresh_token.expose(), again.refresh_token.expose());
    assert!(!w.events().contains(&"refresh_reuse".to_owned()));
}

#[tokio::test]
async fn reuse_after_the_grace_ends_the_whole_session() {
    let w = world();
    w.user("alice").await;
    let pair = w.login("alice").await;
    let client = ClientInfo::default();
    let presented = pair.refresh_token.expose().to_owned();
    let child = w.auth.refresh(&presented, &client).await.unwrap();
    w.clock.advance(TimeDelta::seconds(11));
    let reused = w.auth.refresh(&presented, &client).await;
    assert!(matches!(reused, Err(RefreshError::InvalidGrant)));
    assert!(w.events().contains(&"refresh_reuse".to_owned()));
    // The legitimate holder's child is dead too, and so is every access token.
    let child_refresh = w.auth.refresh(child.refresh_token.expose(), &client).await;
    assert!(matches!(child_refresh, Err(RefreshError::InvalidGrant)));
    assert!(matches!(
        w.auth.authenticate(&child.access_token).await,
        Err(AuthError::Revoked)
    ));
}

#[tokio::test]
async fn an_unknown_user_costs_a_dummy_verification_and_the_usual_answer() {
    let w = world();
    let attempt = PasswordAttempt::new(PASSWORD).unwrap();
    let client = ClientInfo::default();
    let r = w.auth.login("nobody", &attempt, &client).await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)));
    assert_eq!(w.hasher.dummies.load(Ordering::SeqCst), 1);
    // A malformed name too: same work, same answer.
    let r = w.auth.login("!!", &attempt, &client).await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)));
    assert_eq!(w.hasher.dummies.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn logout_ends_the_session_in_the_store_before_revoking_its_tokens() {
    let w = world();
    w.user("alice").await;
    let pair = w.login("alice").await;
    let claims = w.claims(&pair).await;
    let client = ClientInfo::default();
    // The rule cannot be written: the logout fails, but refresh is already refused.
    w.rules.fail.store(true, Ordering::SeqCst);
    assert!(w.auth.logout(&claims, &client).await.is_err());
    let refreshed = w.auth.refresh(pair.refresh_token.expose(), &client).await;
    assert!(matches!(refreshed, Err(RefreshError::InvalidGrant)));
    assert_eq!(*w.journal.lock().unwrap(), ["store: session ended"]);
    // The retry completes it: the token passes the logout check and gets its rule.
    w.rules.fail.store(false, Ordering::SeqCst);
    let claims = w
        .auth
        .authenticate_for_logout(&pair.access_token)
        .await
        .unwrap();
    w.auth.logout(&claims, &client).await.unwrap();
    assert!(matches!(
        w.auth.authenticate(&pair.access_token).await,
        Err(AuthError::Revoked)
    ));
    // Forgiven once its own session has ended — not before.
    let other = w.login("alice").await;
    let other_claims = w.claims(&other).await;
    w.rules
        .revoke(RevocationEntry {
            revocation: Revocation::Token(other_claims.jti),
            expires_at: w.auth.now() + TimeDelta::minutes(16),
        })
        .await
        .unwrap();
    assert!(matches!(
        w.auth.authenticate_for_logout(&other.access_token).await,
        Err(AuthError::Revoked)
    ));
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_but_the_callers() {
    let w = world();
    w.user("alice").await;
    let mine = w.login("alice").await;
    let phone = w.login("alice").await;
    let laptop = w.login("alice").await;
    let claims = w.claims(&mine).await;
    let current = PasswordAttempt::new(PASSWORD).unwrap();
    let name = Username::parse("alice").unwrap();
    let new = Password::parse(
        "a completely new pass phrase",
        &name,
        &PasswordPolicy::default(),
    )
    .unwrap();
    let client = ClientInfo::default();
    w.auth
        .change_password(&claims, &current, &new, &client)
        .await
        .unwrap();
    for other in [&phone, &laptop] {
        assert!(matches!(
            w.auth.authenticate(&other.access_token).await,
            Err(AuthError::Revoked)
        ));
    }
    assert!(w.auth.authenticate(&mine.access_token).await.is_ok());
    // The old password no longer logs in.
    let old = PasswordAttempt::new(PASSWORD).unwrap();
    let r = w.auth.login("alice", &old, &client).await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)));
    // A wrong current password changes nothing and is audited.
    let wrong = PasswordAttempt::new("not it at all").unwrap();
    let r = w.auth.change_password(&claims, &wrong, &new, &client).await;
    assert!(matches!(r, Err(AccountError::WrongPassword)));
    assert!(w.events().contains(&"password_change_failed".to_owned()));
}

#[tokio::test]
async fn disabling_a_user_revokes_every_token_and_ends_every_session() {
    let w = world();
    let alice = w.user("alice").await;
    let a = w.login("alice").await;
    let b = w.login("alice").await;
    w.auth
        .disable_user(alice.id, &ClientInfo::default())
        .await
        .unwrap();
    for pair in [&a, &b] {
        assert!(matches!(
            w.auth.authenticate(&pair.access_token).await,
            Err(AuthError::Revoked)
        ));
        let r = w
            .auth
            .refresh(pair.refresh_token.expose(), &ClientInfo::default())
            .await;
        assert!(matches!(r, Err(RefreshError::InvalidGrant)));
    }
    let journal = w.journal.lock().unwrap().clone();
    assert_eq!(journal.first().map(String::as_str), Some("rule: user"));
    assert!(journal.contains(&"store: sessions ended".to_owned()));
    let attempt = PasswordAttempt::new(PASSWORD).unwrap();
    let r = w
        .auth
        .login("alice", &attempt, &ClientInfo::default())
        .await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)));
}

impl World {
    /// Registers `name` with `email` and returns the verification link's token.
    async fn user_with_email(&self, name: &str, email: &str) -> (User, String) {
        let username = Username::parse(name).unwrap();
        let password = Password::parse(PASSWORD, &username, &PasswordPolicy::default()).unwrap();
        let email = Email::parse(email).unwrap();
        let user = self
            .auth
            .register(
                username,
                password,
                Vec::new(),
                Some(email.clone()),
                &ClientInfo::default(),
            )
            .await
            .unwrap();
        (user, self.mails.last_token_to(email.as_str()))
    }
}

#[tokio::test]
async fn verification_links_work_once_for_the_address_they_were_sent_to() {
    let w = world();
    let (alice, token) = w.user_with_email("alice", "alice@example.com").await;
    assert!(!alice.email_verified);
    let client = ClientInfo::default();
    w.auth.verify_email(&token, &client).await.unwrap();
    assert!(matches!(
        w.auth.verify_email(&token, &client).await,
        Err(VerifyEmailError::InvalidToken)
    ));
    let pair = w.login("alice").await;
    let me = w.auth.me(&w.claims(&pair).await).await.unwrap();
    assert!(me.email_verified);
    // Bob may hold the address unverified, but cannot verify it: alice has it.
    let (_, bobs) = w.user_with_email("bob", "ALICE@example.com").await;
    assert!(matches!(
        w.auth.verify_email(&bobs, &client).await,
        Err(VerifyEmailError::EmailTaken)
    ));
    assert!(matches!(
        w.auth.verify_email("not-a-token", &client).await,
        Err(VerifyEmailError::InvalidToken)
    ));
}

#[tokio::test]
async fn an_unknown_address_costs_a_decoy_token_and_gets_no_mail() {
    let w = world();
    let (_, token) = w.user_with_email("alice", "alice@example.com").await;
    let client = ClientInfo::default();
    let unverified = Email::parse("alice@example.com").unwrap();
    w.auth
        .request_password_reset(&unverified, &client)
        .await
        .unwrap();
    assert_eq!(
        w.mails.outbox.lock().unwrap().len(),
        1,
        "unverified: no reset mail"
    );
    w.auth.verify_email(&token, &client).await.unwrap();
    let unknown = Email::parse("nobody@example.com").unwrap();
    w.auth
        .request_password_reset(&unknown, &client)
        .await
        .unwrap();
    let decoys = w
        .mails
        .tokens
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.user.is_none())
        .count();
    assert_eq!(decoys, 2, "both unanswerable requests wrote a token");
    assert_eq!(w.mails.outbox.lock().unwrap().len(), 1);
    w.auth
        .request_password_reset(&unverified, &client)
        .await
        .unwrap();
    assert_eq!(
        w.mails.outbox.lock().unwrap().len(),
        2,
        "verified: a reset mail"
    );
}

#[tokio::test]
async fn a_reset_ends_every_session_and_its_link_works_once() {
    let w = world();
    let (_, token) = w.user_with_email("alice", "alice@example.com").await;
    let client = ClientInfo::default();
    w.auth.verify_email(&token, &client).await.unwrap();
    let pair = w.login("alice").await;
    let email = Email::parse("alice@example.com").unwrap();
    w.auth
        .request_password_reset(&email, &client)
        .await
        .unwrap();
    let reset = w.mails.last_token_to("alice@example.com");
    let policy = PasswordPolicy::default();
    assert!(matches!(
        w.auth
            .reset_password(&reset, "password", &policy, &client)
            .await,
        Err(ResetError::WeakPassword(_))
    ));
    let new = "plaid tortoise juggles quietly";
    w.auth
        .reset_password(&reset, new, &policy, &client)
        .await
        .unwrap();
    assert!(matches!(
        w.auth.authenticate(&pair.access_token).await,
        Err(AuthError::Revoked)
    ));
    assert!(matches!(
        w.auth.reset_password(&reset, new, &policy, &client).await,
        Err(ResetError::InvalidToken)
    ));
    let attempt = PasswordAttempt::new(new).unwrap();
    assert!(w.auth.login("alice", &attempt, &client).await.is_ok());
    // Expired links are refused.
    w.auth
        .request_password_reset(&email, &client)
        .await
        .unwrap();
    let late = w.mails.last_token_to("alice@example.com");
    w.clock.advance(TimeDelta::minutes(31));
    assert!(matches!(
        w.auth
            .reset_password(&late, PASSWORD, &policy, &client)
            .await,
        Err(ResetError::InvalidToken)
    ));
}

#[tokio::test]
async fn a_login_that_checked_the_old_password_does_not_survive_the_change() {
    let w = world();
    let alice = w.user("alice").await;
    // The change lands while the login's password check is running.
    *w.users.1.lock().unwrap() = Some(PasswordHash::new("plain:a new password".into()));
    let attempt = PasswordAttempt::new(PASSWORD).unwrap();
    let r = w
        .auth
        .login("alice", &attempt, &ClientInfo::default())
        .await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)), "{r:?}");
    let now = w.clock.now();
    let live = w.auth.deps.sessions.list_live(alice.id, now).await.unwrap();
    assert!(live.is_empty(), "the login's session was ended: {live:?}");
}

#[tokio::test]
async fn a_saturated_hasher_turns_logins_away_before_any_lookup() {
    let w = world();
    w.user("alice").await;
    w.hasher.saturated.store(true, Ordering::SeqCst);
    let attempt = PasswordAttempt::new(PASSWORD).unwrap();
    let client = ClientInfo::default();
    for name in ["alice", "nobody"] {
        let r = w.auth.login(name, &attempt, &client).await;
        assert!(
            matches!(r, Err(LoginError::Unavailable(Unavailable::HashingBusy))),
            "{r:?}"
        );
    }
    assert_eq!(
        w.hasher.dummies.load(Ordering::SeqCst),
        0,
        "no hash was asked for"
    );
    assert!(!w.events().contains(&"login_failed".to_owned()));
    w.hasher.saturated.store(false, Ordering::SeqCst);
    w.login("alice").await;
}

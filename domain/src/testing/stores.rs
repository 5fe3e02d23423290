//! Users, sessions, mailed tokens with their outbox, revocation rules and the audit
//! trail, in memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Journal, note};
use crate::email::{Email, EmailTokenHash, EmailTokenPurpose, EmailTokenRecord, OutgoingMail};
use crate::mfa::AuthMethod;
use crate::ports::{
    AuditEvent, AuditLog, AuditRecord, AuditSink, CreateUserError, EmailTokenStore, RedeemError,
    SessionRepository, StoreError, UserRepository,
};
use crate::revocation::{RevocationEntry, RevocationError, RevocationList};
use crate::session::{
    ClientInfo, RefreshTokenHash, RefreshTokenState, RotateOutcome, Session, SessionId,
};
use crate::token::Claims;
use crate::user::{PasswordHash, User, UserId, Username};

/// The users, unique by canonical name and by verified address.
#[derive(Default)]
pub struct Users {
    users: Mutex<Vec<User>>,
    /// A hash written right after the next lookup by name.
    change_after_lookup: Mutex<Option<PasswordHash>>,
}

impl Users {
    /// Makes the next lookup by name answer the account as it is, then write `hash`
    /// over its password: a password change landing while a login checks the old one.
    pub fn change_password_after_next_lookup(&self, hash: PasswordHash) {
        *self.change_after_lookup.lock().unwrap() = Some(hash);
    }

    /// Every account, in creation order.
    pub fn all(&self) -> Vec<User> {
        self.users.lock().unwrap().clone()
    }
}

#[async_trait]
impl UserRepository for Users {
    async fn create(&self, user: &User) -> Result<(), CreateUserError> {
        let mut users = self.users.lock().unwrap();
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
        let mut users = self.users.lock().unwrap();
        let found = users
            .iter_mut()
            .find(|u| u.username.canonical() == name.canonical());
        let seen = found.as_ref().map(|u| (*u).clone());
        if let (Some(user), Some(changed)) =
            (found, self.change_after_lookup.lock().unwrap().take())
        {
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
        let mut users = self.users.lock().unwrap();
        let user = users
            .iter_mut()
            .find(|u| u.id == id && &u.password_hash == expected);
        Ok(user.is_some_and(|u| {
            u.password_hash = new.clone();
            true
        }))
    }
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self
            .users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.id == id)
            .cloned())
    }
    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
    ) -> Result<(), StoreError> {
        for u in self.users.lock().unwrap().iter_mut().filter(|u| u.id == id) {
            u.password_hash = hash.clone();
        }
        Ok(())
    }
    async fn list(&self, offset: u64, limit: u64) -> Result<(Vec<User>, u64), StoreError> {
        let users = self.users.lock().unwrap();
        let page = users
            .iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect();
        Ok((page, users.len() as u64))
    }
    async fn disable(&self, id: UserId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut users = self.users.lock().unwrap();
        let user = users.iter_mut().find(|u| u.id == id);
        Ok(user.is_some_and(|u| u.disabled_at.replace(at).is_none()))
    }
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let users = self.users.lock().unwrap();
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
        let mut users = self.users.lock().unwrap();
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

/// Mailed tokens and the outbox; the mails are kept so tests can read their links.
pub struct Mails {
    tokens: Mutex<Vec<EmailTokenRecord>>,
    outbox: Mutex<Vec<OutgoingMail>>,
    logouts: Mutex<Vec<crate::oidc::LogoutNotice>>,
    users: Arc<Users>,
}

impl Mails {
    /// Redeeming a token writes to `users`, as the real store does in one transaction.
    pub fn new(users: Arc<Users>) -> Self {
        Self {
            tokens: Mutex::default(),
            outbox: Mutex::default(),
            logouts: Mutex::default(),
            users,
        }
    }

    /// Every mail queued for delivery (decoys are not).
    pub fn outbox(&self) -> Vec<OutgoingMail> {
        self.outbox.lock().unwrap().clone()
    }

    /// Every logout token queued for a client's back-channel logout URI.
    pub fn logouts(&self) -> Vec<crate::oidc::LogoutNotice> {
        self.logouts.lock().unwrap().clone()
    }

    /// Every token issued, decoys included.
    pub fn tokens(&self) -> Vec<EmailTokenRecord> {
        self.tokens.lock().unwrap().clone()
    }

    /// The token in the link of the last mail to `to`.
    ///
    /// # Panics
    /// When no mail with a link went to `to`.
    pub fn last_token_to(&self, to: &str) -> String {
        let outbox = self.outbox.lock().unwrap();
        let mail = outbox.iter().rev().find(|m| m.to.as_str() == to).unwrap();
        let at = mail.text.find("token=").unwrap() + "token=".len();
        mail.text[at..at + 43].to_owned()
    }

    fn claim(&self, token: &EmailTokenRecord, now: DateTime<Utc>) -> Result<(), RedeemError> {
        let mut tokens = self.tokens.lock().unwrap();
        let t = tokens
            .iter_mut()
            .find(|t| t.hash == token.hash && t.used_at.is_none())
            .ok_or(RedeemError::Used)?;
        t.used_at = Some(now);
        Ok(())
    }
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
    async fn queue_mail(&self, mail: &OutgoingMail, _: DateTime<Utc>) -> Result<(), StoreError> {
        self.outbox.lock().unwrap().push(mail.clone());
        Ok(())
    }
    async fn queue_logout(
        &self,
        notice: &crate::oidc::LogoutNotice,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.logouts.lock().unwrap().push(notice.clone());
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
    async fn purge_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tokens = self.tokens.lock().unwrap();
        let was = tokens.len();
        tokens.retain(|t| t.expires_at >= before);
        Ok((was - tokens.len()) as u64)
    }
}

/// A refresh token's session and when it was rotated, by token hash.
type TokenChain = HashMap<String, (SessionId, Option<DateTime<Utc>>)>;

/// Sessions and their refresh-token chains. Ending sessions is journalled.
pub struct Sessions {
    sessions: Mutex<Vec<Session>>,
    tokens: Mutex<TokenChain>,
    users: Arc<Users>,
    journal: Journal,
}

impl Sessions {
    /// A refresh answers the session's user from `users`, as the real store's join does.
    pub fn new(users: Arc<Users>, journal: Journal) -> Self {
        Self {
            sessions: Mutex::default(),
            tokens: Mutex::default(),
            users,
            journal,
        }
    }

    /// Every session, ended or not, in creation order.
    pub fn all(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }
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
            .rev()
            .filter(|s| s.user_id == user && s.is_live(now))
            .cloned()
            .collect())
    }
    async fn reauthenticated(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        amr: &[AuthMethod],
    ) -> Result<bool, StoreError> {
        let mut sessions = self.sessions.lock().unwrap();
        let s = sessions
            .iter_mut()
            .find(|s| s.id == id && s.revoked_at.is_none());
        Ok(s.is_some_and(|s| {
            s.authenticated_at = at;
            s.amr = amr.to_vec();
            true
        }))
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

    async fn revoke_client_sessions(
        &self,
        client: crate::oidc::ClientId,
        user: Option<UserId>,
        now: DateTime<Utc>,
        lapsed_after: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError> {
        note(&self.journal, "store: client sessions ended");
        let mut ended = Vec::new();
        for s in self.sessions.lock().unwrap().iter_mut() {
            if s.oauth.as_ref().is_some_and(|o| o.client == client)
                && user.is_none_or(|u| u == s.user_id)
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

/// Revocation rules in a vector. Writes are journalled (`"rule: <kind>"`), and
/// [`Rules::fail_writes`] makes them fail: an outage of the list.
pub struct Rules {
    rules: Mutex<Vec<RevocationEntry>>,
    fail: AtomicBool,
    journal: Journal,
}

impl Rules {
    pub fn new(journal: Journal) -> Self {
        Self {
            rules: Mutex::default(),
            fail: AtomicBool::new(false),
            journal,
        }
    }

    /// While `true`, every write fails as an unavailable list.
    pub fn fail_writes(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    /// Every rule written, in order.
    pub fn all(&self) -> Vec<RevocationEntry> {
        self.rules.lock().unwrap().clone()
    }
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

/// The audit trail: the events recorded, in order. Reading it back lists nothing.
#[derive(Default)]
pub struct Audit(Mutex<Vec<AuditEvent>>);

impl Audit {
    pub fn events(&self) -> Vec<AuditEvent> {
        self.0.lock().unwrap().clone()
    }

    /// The events' names (`"login_succeeded"`, …), in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(AuditEvent::name)
            .collect()
    }
}

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

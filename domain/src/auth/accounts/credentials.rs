//! Who may have an account and prove it: registration, import of foreign hashes, login
//! (with the failure budget counted before the password is checked), hash upgrades.

use crate::email::Email;
use crate::mfa::AuthMethod;
use crate::password::Verification;
use crate::ports::CreateUserError;
use crate::throttle::LimitError;
use crate::user::Password;
use crate::user::PasswordAttempt;
use crate::user::PasswordHash;
use crate::user::Role;
use crate::user::Username;

use super::*;

impl Accounts {
    /// Creates an account with the given roles and, optionally, an email address, which
    /// is mailed a verification link (it is the account's, unverified, until redeemed).
    ///
    /// # Errors
    /// [`RegisterError::UsernameTaken`] when the (case-insensitive) name exists.
    pub async fn register(
        &self,
        username: Username,
        password: Password,
        roles: Vec<Role>,
        email: Option<Email>,
        client: &ClientInfo,
    ) -> Result<User, RegisterError> {
        if self.core.deps().hasher.is_saturated() {
            return Err(Unavailable::HashingBusy.into());
        }
        let hash = self.core.deps().hasher.hash(&password).await?;
        let user = self
            .create_user(username, hash, roles, email, client)
            .await?;
        self.email.welcome(&user).await;
        Ok(user)
    }

    /// A person creates their own account on the hosted pages and is signed in to it at
    /// once: [`Self::register`] without roles, then a session started on the password
    /// just hashed (no second hash to check it).
    ///
    /// # Errors
    /// As [`Self::register`]; [`RegisterError::Unknown`] if the account changed before
    /// its session started (it was disabled in between).
    pub async fn sign_up(
        &self,
        username: Username,
        password: Password,
        email: Option<Email>,
        client: &ClientInfo,
    ) -> Result<(User, TokenPair), RegisterError> {
        let user = self
            .register(username, password, Vec::new(), email, client)
            .await?;
        let pair = match self
            .core
            .start_session(
                &user,
                Some(&user.password_hash),
                vec![AuthMethod::Pwd],
                client,
            )
            .await
        {
            Ok(pair) => pair,
            Err(LoginError::Unavailable(e)) => return Err(e.into()),
            Err(e) => return Err(anyhow::anyhow!("the new account's session: {e}").into()),
        };
        Ok((user, pair))
    }

    /// Stores a new account and records its registration.
    async fn create_user(
        &self,
        username: Username,
        password_hash: PasswordHash,
        roles: Vec<Role>,
        email: Option<Email>,
        client: &ClientInfo,
    ) -> Result<User, RegisterError> {
        let user = User {
            id: UserId::new_random(),
            username,
            password_hash,
            roles,
            created_at: self.core.now(),
            disabled_at: None,
            email,
            email_verified: false,
        };
        match self.core.deps().users.create(&user).await {
            Ok(()) => {}
            Err(CreateUserError::UsernameTaken) => return Err(RegisterError::UsernameTaken),
            Err(CreateUserError::Store(e)) => return Err(e.into()),
        }
        self.core
            .audit(AuditEvent::Registered { user: user.id }, client)
            .await;
        Ok(user)
    }

    /// Checks a username and password and starts a session.
    ///
    /// An unknown or malformed username costs the same hashing work as a wrong password.
    ///
    /// With a second factor enrolled, a right password opens a second step
    /// ([`LoginOutcome::SecondStep`]) instead: no token is issued before it is completed.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] for every kind of wrong input.
    pub async fn login(
        &self,
        username: &str,
        attempt: &PasswordAttempt,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, LoginError> {
        // A flood is turned away before it costs a lookup or a count against anybody's
        // budget: every login ends in a hash, so none could finish now.
        if self.core.deps().hasher.is_saturated() {
            return Err(Unavailable::HashingBusy.into());
        }
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
        let lock = match self.core.reserve_attempt(&account).await {
            Ok(lock) => lock,
            Err(LimitError::Throttled(secs)) => return Err(LoginError::Throttled(secs)),
            Err(LimitError::Unavailable(e)) => return Err(Unavailable::Limiter(e).into()),
        };
        let found = match &parsed {
            Ok(name) => self.core.deps().users.find_by_username(name).await?,
            Err(_) => None,
        };
        let verdict = match found.as_ref().filter(|u| !u.is_disabled()) {
            Some(user) => {
                self.core
                    .deps()
                    .hasher
                    .verify(attempt, &user.password_hash)
                    .await?
            }
            None => {
                self.core.deps().hasher.verify_dummy(attempt).await?;
                Verification::Mismatch
            }
        };
        let (user, verified_hash) = match (verdict, found) {
            (Verification::Match { needs_rehash }, Some(user)) => {
                let hash = if needs_rehash {
                    self.rehash(&user, attempt).await
                } else {
                    user.password_hash.clone()
                };
                (user, hash)
            }
            _ => {
                let event = AuditEvent::LoginFailed {
                    username: account.clone(),
                };
                self.core
                    .failed_attempt(event, &account, lock, client)
                    .await;
                return Err(LoginError::InvalidCredentials);
            }
        };
        let summary = self.factors.summary(user.id).await?;
        if summary.requires_second_step() {
            // The password's reservation stays counted until the second step succeeds:
            // the budget spans both steps.
            let challenge = self
                .factors
                .open_second_step(&user, &verified_hash, summary, client)
                .await?;
            return Ok(LoginOutcome::SecondStep(challenge));
        }
        // Forgetting past failures is bookkeeping: if the limiter cannot do it now, the
        // right password still logs in.
        let _ = self.core.deps().limiter.record_success(&account).await;
        let pair = self
            .core
            .start_session(&user, Some(&verified_hash), vec![AuthMethod::Pwd], client)
            .await?;
        Ok(LoginOutcome::Tokens(pair))
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
        self.create_user(username, hash, Vec::new(), None, client)
            .await
    }

    /// Upgrades a hash made under older parameters, unless the password changed since it
    /// was read; returns the hash now stored as far as this login knows. A failure only
    /// costs the upgrade.
    async fn rehash(&self, user: &User, attempt: &PasswordAttempt) -> PasswordHash {
        let password = Password::verified(attempt);
        if let Ok(hash) = self.core.deps().hasher.hash(&password).await
            && let Ok(true) = self
                .core
                .deps()
                .users
                .replace_password_hash(user.id, &user.password_hash, &hash)
                .await
        {
            return hash;
        }
        user.password_hash.clone()
    }
}

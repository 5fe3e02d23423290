//! [`World`]: every service wired to the fakes, with handles on the fakes and the
//! clock, and the few steps most tests begin with.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    Audit, Challenges, Clients, Factors, FakeIdTokens, FakeSealer, FakeTotp, Journal, JsonTokens,
    Mails, PlainHasher, Rules, ScriptedWebAuthn, Sessions, Users,
};
use crate::auth::{
    Accounts, AuthDeps, Core, EmailFlows, LoginOutcome, OidcDeps, OidcProvider, SecondFactorDeps,
    SecondFactors, SecondStepChallenge, TokenPair,
};
use crate::clock::{Clock, ManualClock};
use crate::email::{Email, MailPolicy};
use crate::mfa::{
    MfaPolicy, PasskeyName, PasskeyRecord, RecoveryCode, RecoveryCodeKey, SecretSealer,
    totp_seal_context,
};
use crate::session::{ClientInfo, RefreshTokenMint, SessionPolicy};
use crate::throttle::{NoLimits, RateLimiter};
use crate::token::{Claims, TokenPolicy};
use crate::user::{Password, PasswordAttempt, PasswordPolicy, User, UserId, Username};

/// The password [`World::user`] registers accounts with.
pub const PASSWORD: &str = "correct horse battery staple";

/// What to change in a [`World`] before it is built.
pub struct WorldBuilder {
    start: DateTime<Utc>,
    tokens: TokenPolicy,
    sessions: SessionPolicy,
    mail: MailPolicy,
    mfa: MfaPolicy,
    limiter: Arc<dyn RateLimiter>,
}

impl Default for WorldBuilder {
    fn default() -> Self {
        Self {
            // The start of a TOTP step (2026-01-01T00:00:00Z): 30 seconds on is the next.
            start: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
            tokens: TokenPolicy {
                issuer: "tessera".into(),
                audience: "tessera".into(),
                access_ttl: TimeDelta::minutes(15),
                leeway: TimeDelta::seconds(30),
            },
            sessions: SessionPolicy::default(),
            mail: MailPolicy::default(),
            mfa: MfaPolicy::new(RecoveryCodeKey::new([9; 32])),
            limiter: Arc::new(NoLimits),
        }
    }
}

impl WorldBuilder {
    /// The clock's first instant.
    #[must_use]
    pub fn start(mut self, at: DateTime<Utc>) -> Self {
        self.start = at;
        self
    }

    #[must_use]
    pub fn tokens(mut self, tokens: TokenPolicy) -> Self {
        self.tokens = tokens;
        self
    }

    #[must_use]
    pub fn sessions(mut self, sessions: SessionPolicy) -> Self {
        self.sessions = sessions;
        self
    }

    #[must_use]
    pub fn mail(mut self, mail: MailPolicy) -> Self {
        self.mail = mail;
        self
    }

    #[must_use]
    pub fn mfa(mut self, mfa: MfaPolicy) -> Self {
        self.mfa = mfa;
        self
    }

    /// [`NoLimits`] unless set.
    #[must_use]
    pub fn limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }

    pub fn build(self) -> World {
        let journal: Journal = Arc::default();
        let clock = Arc::new(ManualClock::new(self.start));
        let hasher = Arc::new(PlainHasher::default());
        let rules = Arc::new(Rules::new(Arc::clone(&journal)));
        let audit = Arc::new(Audit::default());
        let users = Arc::new(Users::default());
        let mails = Arc::new(Mails::new(Arc::clone(&users)));
        let sessions = Arc::new(Sessions::new(Arc::clone(&users), Arc::clone(&journal)));
        let factor_store = Arc::new(Factors::default());
        let challenges = Arc::new(Challenges::default());
        let webauthn = Arc::new(ScriptedWebAuthn::default());
        let clients = Arc::new(Clients::default());
        let id_tokens = Arc::new(FakeIdTokens::default());
        let core = Core::new(
            AuthDeps {
                users: users.clone(),
                sessions: sessions.clone(),
                hasher: hasher.clone(),
                signer: Arc::new(JsonTokens),
                verifier: Arc::new(JsonTokens),
                revocations: rules.clone(),
                audit: audit.clone(),
                audit_log: audit.clone(),
                limiter: self.limiter,
                clock: clock.clone(),
                email_tokens: mails.clone(),
            },
            self.tokens,
            self.sessions,
            RefreshTokenMint::new([7; 32]),
        )
        .with_mail(self.mail)
        .with_logout_notices(crate::auth::LogoutNotices {
            clients: clients.clone(),
            id_tokens: id_tokens.clone(),
        });
        let email = EmailFlows::new(core.clone());
        let factors = SecondFactors::new(
            core.clone(),
            SecondFactorDeps {
                factors: factor_store.clone(),
                challenges: challenges.clone(),
                totp: Arc::new(FakeTotp),
                webauthn: webauthn.clone(),
                sealer: Arc::new(FakeSealer),
                policy: self.mfa,
            },
        );
        let accounts = Accounts::new(core.clone(), factors.clone(), email.clone());
        let oidc = OidcProvider::new(
            core.clone(),
            OidcDeps {
                clients: clients.clone(),
                id_tokens: id_tokens.clone(),
            },
        );
        World {
            core,
            accounts,
            email,
            factors,
            oidc,
            clock,
            journal,
            hasher,
            rules,
            audit,
            users,
            mails,
            sessions,
            factor_store,
            challenges,
            webauthn,
            clients,
            id_tokens,
        }
    }
}

/// Every service wired to in-memory fakes, and handles on the fakes.
pub struct World {
    pub core: Core,
    pub accounts: Accounts,
    pub email: EmailFlows,
    pub factors: SecondFactors,
    pub oidc: OidcProvider,
    pub clock: Arc<ManualClock>,
    pub journal: Journal,
    pub hasher: Arc<PlainHasher>,
    pub rules: Arc<Rules>,
    pub audit: Arc<Audit>,
    pub users: Arc<Users>,
    pub mails: Arc<Mails>,
    pub sessions: Arc<Sessions>,
    pub factor_store: Arc<Factors>,
    pub challenges: Arc<Challenges>,
    pub webauthn: Arc<ScriptedWebAuthn>,
    pub clients: Arc<Clients>,
    pub id_tokens: Arc<FakeIdTokens>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// The defaults: 15-minute access tokens, default session, mail and MFA policies, no
    /// rate limits, a clock at the start of a TOTP step.
    pub fn new() -> Self {
        WorldBuilder::default().build()
    }

    pub fn builder() -> WorldBuilder {
        WorldBuilder::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The journal's entries so far.
    pub fn journal(&self) -> Vec<String> {
        self.journal.lock().unwrap().clone()
    }

    /// The audit trail's event names, in order.
    pub fn events(&self) -> Vec<&'static str> {
        self.audit.names()
    }

    /// How many times `name` was audited.
    pub fn event_count(&self, name: &str) -> usize {
        self.events().iter().filter(|e| **e == name).count()
    }

    /// Registers `name` with [`PASSWORD`].
    pub async fn user(&self, name: &str) -> User {
        let name = Username::parse(name).unwrap();
        let password = Password::parse(PASSWORD, &name, &PasswordPolicy::default()).unwrap();
        self.accounts
            .register(name, password, Vec::new(), None, &ClientInfo::default())
            .await
            .unwrap()
    }

    /// Registers `name` with `email` and returns the verification link's token.
    pub async fn user_with_email(&self, name: &str, email: &str) -> (User, String) {
        let username = Username::parse(name).unwrap();
        let password = Password::parse(PASSWORD, &username, &PasswordPolicy::default()).unwrap();
        let email = Email::parse(email).unwrap();
        let user = self
            .accounts
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

    /// Logs `name` in with [`PASSWORD`].
    ///
    /// # Panics
    /// When the login fails or asks for a second step.
    pub async fn login(&self, name: &str) -> TokenPair {
        match self.password_step(name).await {
            LoginOutcome::Tokens(pair) => pair,
            LoginOutcome::SecondStep(_) => panic!("{name} has a second factor enrolled"),
        }
    }

    /// Logs `name` in with [`PASSWORD`], expecting a second step.
    ///
    /// # Panics
    /// When the login fails or needs no second step.
    pub async fn second_step(&self, name: &str) -> SecondStepChallenge {
        match self.password_step(name).await {
            LoginOutcome::SecondStep(challenge) => challenge,
            LoginOutcome::Tokens(_) => panic!("{name} has no second factor enrolled"),
        }
    }

    async fn password_step(&self, name: &str) -> LoginOutcome {
        let attempt = PasswordAttempt::new(PASSWORD).unwrap();
        self.accounts
            .login(name, &attempt, &ClientInfo::default())
            .await
            .unwrap()
    }

    /// The claims of a pair's access token.
    pub async fn claims(&self, pair: &TokenPair) -> Claims {
        self.accounts
            .authenticate(&pair.access_token)
            .await
            .unwrap()
    }

    /// The current TOTP step.
    pub fn step(&self) -> i64 {
        FakeTotp::step_at(self.now())
    }

    /// The code of `step` for the user's TOTP enrollment (pending or confirmed), from
    /// its sealed secret.
    pub fn totp_code(&self, user: UserId, step: i64) -> String {
        let enrollment = self.factor_store.totp_of(user).unwrap();
        let secret = FakeSealer
            .open(&enrollment.sealed_secret, &totp_seal_context(user))
            .unwrap();
        FakeTotp::code(&secret, step)
    }

    /// Enrolls and confirms an authenticator app for the caller (its code of the
    /// current step confirms it); returns the recovery codes.
    pub async fn enroll_totp(&self, claims: &Claims) -> Vec<RecoveryCode> {
        self.factors.begin_totp(claims).await.unwrap();
        let code = self.totp_code(claims.sub, self.step());
        self.factors
            .confirm_totp(claims, &code, &ClientInfo::default())
            .await
            .unwrap()
    }

    /// Registers a passkey of the caller with credential id `credential_id`.
    pub async fn add_passkey(&self, claims: &Claims, credential_id: &str) -> PasskeyRecord {
        let options = self
            .factors
            .passkey_registration_options(claims)
            .await
            .unwrap();
        let credential = ScriptedWebAuthn::credential(&options, credential_id, claims.sub, true);
        let name = PasskeyName::parse(credential_id).unwrap();
        self.factors
            .add_passkey(claims, name, &credential, &ClientInfo::default())
            .await
            .unwrap()
            .passkey
    }
}

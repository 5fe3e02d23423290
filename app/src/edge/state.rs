//! The state every inbound adapter reaches through the request: the use cases, the
//! limiter and the password door, the outbox's wake, and the pages' keys. One shared
//! allocation, so a clone per request is one reference count.

use std::sync::Arc;

use tessera_domain::auth::{Accounts, EmailFlows, OidcProvider, SecondFactors};
use tessera_domain::ports::HealthCheck;
use tessera_domain::revocation::{RevocationList, RevocationStore};
use tessera_domain::throttle::RateLimiter;
use tessera_domain::user::PasswordPolicy;
use tessera_keys::KeyRingHandle;

/// What every handler can reach. poem clones request data into every request, so the
/// state is one shared allocation and a clone is one reference count, not a copy of every
/// adapter handle and policy string (measured: `AppState::clone` and the copies it made
/// were a visible share of the protected route's time).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The state behind [`AppState`].
pub struct SharedState {
    /// Sign-up, sign-in, sessions, the caller's account, administration of users.
    pub accounts: Accounts,
    /// Mailed links: address verification and password reset.
    pub emails: EmailFlows,
    /// TOTP, recovery codes and passkeys.
    pub factors: SecondFactors,
    /// The OpenID provider: clients, codes, consent, ID tokens.
    pub oidc: OidcProvider,
    /// Signing-key operations (rotate, revoke, maintenance), audited one way.
    pub keys_admin: crate::keys_admin::KeyAdmin,
    /// The key ring itself, for reloads and gauges.
    pub keys: Arc<KeyRingHandle>,
    /// Whether the store answers (readiness).
    pub store_health: Arc<dyn HealthCheck>,
    /// The durable revocation rules, for the hourly purge.
    pub revocation_store: Arc<dyn RevocationStore>,
    pub revocations: Arc<dyn RevocationList>,
    pub limiter: Arc<dyn RateLimiter>,
    /// Places for requests that may end in a password hash (login, registration):
    /// twice as many as the hashing pool admits. A request that finds none is answered
    /// 503 at once, before it reads the database or holds memory while it waits.
    pub password_door: Arc<tokio::sync::Semaphore>,
    pub password_policy: PasswordPolicy,
    pub jwks_max_age_secs: u64,
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// IPv6 clients share buckets per prefix of this many bits.
    pub ipv6_prefix: u8,
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    pub mail: MailState,
    /// The hosted pages' cookies and CSRF key.
    pub pages: super::browser::PagesConfig,
    /// Whether people may create their own accounts (`registration.enabled`).
    pub registration_open: bool,
    /// `server.public_url` (else `http://<listen>`), without a trailing slash: where the
    /// device flow sends people (`/device`).
    pub public_base: String,
}

/// The outbox's sender, and how a request that queued mail wakes it.
#[derive(Clone)]
pub struct MailState {
    pub delivery: tessera_domain::delivery::MailDelivery,
    /// Notified after a request may have queued mail, so it goes out now rather than at
    /// the next `mail.send_interval`.
    pub wake: Arc<tokio::sync::Notify>,
    /// How long sent and given-up mails are kept.
    pub retention: std::time::Duration,
}

impl MailState {
    /// Wakes the sender (cheap, never blocks).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

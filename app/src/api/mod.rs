//! The HTTP surface (poem-openapi): shared state, the bearer security scheme, the schemas
//! every operation shares, and the assembly of the OpenAPI service.

/// `Debug` for bodies that carry secrets: the fields after `;` print as `<redacted>`, so
/// no `?body` in a log line can leak a password or a token.
macro_rules! debug_redacted {
    ($ty:ident { $($shown:ident),* ; $($hidden:ident),* }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($hidden), &"<redacted>"))*
                    .finish()
            }
        }
    };
}

pub mod responses;
pub mod text;

mod account;
mod admin;
mod auth;
mod email;
mod examples;
mod health;
mod mfa;
mod oauth;
mod wellknown;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::{Object, OpenApiService, SecurityScheme, Tags};
use tessera_domain::auth::AuthService;
use tessera_domain::ports::HealthCheck;
use tessera_domain::revocation::{RevocationList, RevocationStore};
use tessera_domain::session::ClientInfo;
use tessera_domain::throttle::{ClientAction, LimitError, RateLimiter, client_key};
use tessera_domain::token::Claims;
use tessera_domain::user::PasswordPolicy;
use tessera_keys::KeyRingHandle;
use uuid::Uuid;

use crate::problem::ApiError;

pub(crate) use mfa::{count_second_factor, passkey_name, passkey_refusal};
pub use responses::RETRY_AFTER_SECS;

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
    pub auth: AuthService,
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
    pub pages: crate::pages::PagesConfig,
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

#[derive(Tags)]
pub enum ApiTags {
    /// Register, log in, refresh and log out.
    Auth,
    /// The signed-in user's account and sessions.
    Account,
    /// OAuth 2.0 token revocation (RFC 7009) and introspection (RFC 7662).
    #[oai(rename = "OAuth")]
    OAuth,
    /// Public keys for verifying access tokens.
    Keys,
    /// Signing keys and users, for the `admin` role.
    Admin,
    /// Liveness and readiness.
    Health,
}

/// A bearer access token (RS256 JWT, `typ: at+jwt`) from `POST /v1/auth/login`.
#[derive(SecurityScheme)]
#[oai(
    rename = "bearerAuth",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_bearer"
)]
pub struct BearerAuth(pub Claims);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    verified_bearer(req, &bearer.token, false).await
}

/// Verifies a bearer token against the revocation list (for logout, forgiving the
/// token's own ended session) and notes its user for the access log.
async fn verified_bearer(req: &Request, token: &str, for_logout: bool) -> poem::Result<Claims> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::unavailable("not ready", RETRY_AFTER_SECS))?;
    let verified = if for_logout {
        state.auth.authenticate_for_logout(token).await
    } else {
        state.auth.authenticate(token).await
    };
    let claims = verified.map_err(ApiError::from)?;
    if claims.client_id.is_some()
        && !state
            .auth
            .takes_for_account_api(&claims)
            .await
            .map_err(ApiError::from)?
    {
        return Err(ApiError::invalid_token(
            "invalid_token",
            "this token was issued to a third-party application: Tessera's own API takes \
             tokens of its own sessions and first-party applications",
        )
        .into());
    }
    crate::observe::note_user(&claims.sub);
    Ok(claims)
}

// The same `bearerAuth` scheme for logout (its doc comment is the scheme's description
// in the spec, so it must match `BearerAuth`'s). It also accepts a token whose own
// session has already ended, so a logout that answered 503 halfway can be retried
// (`AuthService::authenticate_for_logout`).
/// A bearer access token (RS256 JWT, `typ: at+jwt`) from `POST /v1/auth/login`.
#[derive(SecurityScheme)]
#[oai(
    rename = "bearerAuth",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_logout_bearer"
)]
pub struct LogoutBearerAuth(pub Claims);

async fn check_logout_bearer(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    verified_bearer(req, &bearer.token, true).await
}

/// The client's address: the socket peer, or — only when the peer is a trusted proxy —
/// the right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
///
/// Hops are read right to left, as the proxies appended them. A hop may carry a port
/// (`192.0.2.1:443`, `[2001:db8::1]:443`, as some gateways write it); a hop that is no
/// address at all ends the walk and the peer is the client: skipping it would make the
/// attacker-written part to its left "the client".
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
    let trusted = req
        .data::<AppState>()
        .map(|s| Arc::clone(&s.trusted_proxies))
        .unwrap_or_default();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let headers: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    let hops: Vec<&str> = headers.iter().flat_map(|v| v.split(',')).collect();
    for hop in hops.into_iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(&ip) => continue,
            Some(ip) => return Some(ip),
            None => return Some(peer),
        }
    }
    Some(peer)
}

/// One `X-Forwarded-For` entry: an address, with or without a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// The per-client bucket for `action`: `Err` carries the 429 or 503 to answer.
pub async fn check_client(req: &Request, action: ClientAction) -> Result<(), ApiError> {
    let Some(state) = req.data::<AppState>() else {
        return Ok(());
    };
    let key = client_ip(req)
        .map(|ip| client_key(ip, state.ipv6_prefix))
        .unwrap_or_default();
    state.limiter.check_client(action, &key).await.map_err(|e| {
        if let LimitError::Throttled(_) = e {
            note_rate_limited(state, &format!("{action:?}").to_lowercase());
        }
        ApiError::from(e)
    })
}

/// Counts a 429 by what was limited (`login`, `login_account`, …).
/// A place at the password door (see [`AppState::password_door`]), held until the
/// request is answered.
///
/// # Errors
/// 503 `service_unavailable` with `Retry-After` when every place is taken.
pub fn password_slot(
    req: &Request,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, tessera_domain::auth::Unavailable> {
    let Some(state) = req.data::<AppState>() else {
        return Ok(None);
    };
    Arc::clone(&state.password_door)
        .try_acquire_owned()
        .map(Some)
        .map_err(|_| tessera_domain::auth::Unavailable::HashingBusy)
}

pub fn note_rate_limited(state: &AppState, action: &str) {
    state.telemetry.metrics.rate_limited.add(
        1,
        &[opentelemetry::KeyValue::new("action", action.to_owned())],
    );
}

pub fn client_info(req: &Request) -> ClientInfo {
    ClientInfo {
        ip: client_ip(req).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}

/// A user account.
#[derive(Debug, Clone, Object)]
#[oai(rename = "User", example)]
pub struct UserView {
    /// The user's id (the token's `sub`).
    pub id: Uuid,
    pub username: String,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The account's address: the verified one, or until one is verified, the address
    /// given at registration. Absent when there is none.
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    /// Whether `email` has been verified.
    pub email_verified: bool,
}

impl From<tessera_domain::user::User> for UserView {
    fn from(u: tessera_domain::user::User) -> Self {
        Self {
            id: u.id.0,
            username: u.username.as_str().to_owned(),
            roles: u.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            created_at: u.created_at,
            email: u.email.map(|e| e.as_str().to_owned()),
            email_verified: u.email_verified,
        }
    }
}

pub type Apis = (
    auth::AuthApi,
    mfa::MfaAuthApi,
    email::MailAuthApi,
    account::AccountApi,
    mfa::MfaAccountApi,
    email::MailAccountApi,
    oauth::OAuthApi,
    wellknown::KeysApi,
    admin::AdminApi,
    health::HealthApi,
);

/// Builds the OpenAPI service with every operation. Handlers find [`AppState`] in the
/// request data, so the spec can be rendered without a running server (`tessera openapi`).
pub fn service(public_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            mfa::MfaAuthApi,
            email::MailAuthApi,
            account::AccountApi,
            mfa::MfaAccountApi,
            email::MailAccountApi,
            oauth::OAuthApi,
            wellknown::KeysApi,
            admin::AdminApi,
            health::HealthApi,
        ),
        "Tessera",
        crate::VERSION,
    )
    .summary("Token authentication: RS256 access tokens, JWKS, rotating refresh tokens.")
    .description(
        "Register, log in for a short-lived RS256 access token and a rotating refresh \
         token, and call protected routes with `Authorization: Bearer <access_token>`. \
         Resource servers verify access tokens offline from `/.well-known/jwks.json`. \
         Every error is `application/problem+json` (RFC 9457) with a stable `code`.",
    )
    .license(
        poem_openapi::LicenseObject::new("Apache-2.0")
            .url("https://www.apache.org/licenses/LICENSE-2.0"),
    )
    .server(public_url.to_owned())
}

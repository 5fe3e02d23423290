//! The JSON API (poem-openapi): the bearer security schemes, the schemas every operation
//! shares, and the assembly of the OpenAPI service. What it shares with the hosted pages
//! and the OpenID endpoints (state, client identity, the gate, refusals) is `crate::edge`.

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
mod security;
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

pub use security::{AdminAuth, BearerAuth, LogoutBearerAuth};

use chrono::{DateTime, Utc};
use poem_openapi::{Object, OpenApiService, Tags};
use uuid::Uuid;

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

/// Names every API group once: the tuple type the service is built from, and its value.
macro_rules! apis {
    ($($api:path),+ $(,)?) => {
        /// Every API group, in the order the spec lists their operations.
        pub type Apis = ($($api,)+);

        fn apis() -> Apis {
            ($($api,)+)
        }
    };
}

apis!(
    auth::AuthApi,
    mfa::MfaAuthApi,
    mfa::StepUpApi,
    email::MailAuthApi,
    account::AccountApi,
    mfa::MfaAccountApi,
    mfa::PasskeysApi,
    email::MailAccountApi,
    oauth::OAuthApi,
    wellknown::KeysApi,
    admin::AdminKeysApi,
    admin::AdminUsersApi,
    admin::AdminAuditApi,
    admin::AdminClientsApi,
    health::HealthApi,
);

/// Builds the OpenAPI service with every operation. Handlers find [`AppState`] in the
/// request data, so the spec can be rendered without a running server (`tessera openapi`).
pub fn service(public_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(apis(), "Tessera", crate::VERSION)
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

//! `/v1/auth/*`: register, login, refresh, logout, logout-all.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tessera_domain::auth::{
    LoginError, LoginOutcome, RefreshError, SecondStepChallenge, TokenPair,
};
use tessera_domain::email::Email;
use tessera_domain::user::{Password, PasswordAttempt, Username};

use super::responses::{NO_STORE, admitted, answer, answers, bad_request, refusals};
use super::text::Text;
use super::{ApiTags, BearerAuth, LogoutBearerAuth, UserView};
use crate::edge::{AppState, client_info};
use crate::problem::Problem;

pub struct AuthApi;

/// A new account's username and password.
#[derive(Object)]
#[oai(example)]
pub struct Registration {
    /// 3–64 characters: letters, digits and `. _ - @ +`, starting with a letter or digit.
    /// Unique ignoring case and character width; NFKC-normalised and trimmed.
    pub username: Text,
    /// 8–128 characters after NFKC (configurable), not containing the username, and
    /// not among the million easiest guesses.
    pub password: Text,
    /// Optional. A verification link is mailed to it; it becomes the account's verified
    /// address when redeemed (`POST /v1/auth/verify-email`).
    pub email: Option<Text>,
}

impl poem_openapi::types::Example for Registration {
    fn example() -> Self {
        Self {
            username: "alice".into(),
            password: "correct horse battery staple".into(),
            email: Some("alice@example.com".into()),
        }
    }
}

debug_redacted!(Registration { username, email; password });

/// A username and password to log in with.
#[derive(Object)]
#[oai(example)]
pub struct Credentials {
    /// 3–64 characters: letters, digits and `. _ - @ +`, starting with a letter or digit.
    /// Case-insensitively unique.
    pub username: Text,
    /// The account's password, as it was chosen.
    pub password: Text,
}

impl poem_openapi::types::Example for Credentials {
    fn example() -> Self {
        Self {
            username: "alice".into(),
            password: "correct horse battery staple".into(),
        }
    }
}

/// A refresh-token grant.
#[derive(Object)]
#[oai(example)]
pub struct RefreshRequest {
    /// The refresh token from the latest login or refresh.
    pub refresh_token: Text,
}

/// An access token and a refresh token (RFC 6749 §5.1).
#[derive(Object)]
#[oai(rename = "TokenPair", example)]
pub struct TokenPairView {
    /// RS256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    /// Opaque, single-use: exchange it at `/v1/auth/refresh` and keep the new one.
    pub refresh_token: String,
    /// Seconds until `refresh_token` lapses if unused.
    pub refresh_expires_in: i64,
}

debug_redacted!(Credentials { username; password });
debug_redacted!(RefreshRequest { ; refresh_token });
debug_redacted!(TokenPairView { token_type, expires_in, refresh_expires_in; access_token, refresh_token });

impl From<TokenPair> for TokenPairView {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            token_type: "Bearer".into(),
            expires_in: p.expires_in,
            refresh_token: p.refresh_token.expose().to_owned(),
            refresh_expires_in: p.refresh_expires_in,
        }
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    RegisterResponse {
        /// The account was created.
        #[oai(status = 201)]
        Created(Json<UserView>),
    }
    problems {
        /// The body is not valid JSON of the expected shape (`invalid_request`).
        400 BadRequest,
        /// Self-service sign-up is off on this service (`registration_closed`): an
        /// administrator creates accounts.
        403 Forbidden,
        /// The username is taken, ignoring case (`username_taken`).
        409 Conflict,
        /// The username, password or email address breaks a rule (`invalid_username`,
        /// `weak_password`, `invalid_email`); `detail` says which and how to fix it.
        422 Unprocessable,
        /// Too many registrations from this address (`rate_limited`).
        429 TooManyRequests,
        /// Password hashing is saturated or the store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    TokenResponse {
        /// A new token pair. Never cache it.
        tokens Ok,
    }
    problems {
        /// The body is not valid JSON of the expected shape (`invalid_request`).
        400 BadRequest,
        /// The refresh token is unknown, expired, revoked or was already used
        /// (`invalid_grant`).
        401 Unauthorized plain,
        /// Too many refreshes from this address (`rate_limited`).
        429 TooManyRequests,
        down Unavailable,
    }
}

/// `403 mfa_required` with its extension members.
fn mfa_required(challenge: &SecondStepChallenge) -> Problem {
    let mut p = Problem::new(
        poem::http::StatusCode::FORBIDDEN,
        "mfa_required",
        "a second factor is required to complete this login",
    );
    p.mfa_token = Some(challenge.token.expose().to_owned());
    p.methods = Some(
        challenge
            .methods
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect(),
    );
    p.expires_in = Some(challenge.expires_in);
    p
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_request")]
pub enum LoginResponse {
    /// A new token pair. Never cache it.
    #[oai(status = 200)]
    Ok(
        Json<TokenPairView>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// The body is not valid JSON of the expected shape (`invalid_request`).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Wrong username or password, or a disabled account (`invalid_credentials`).
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The password is right and the account has a second factor (`mfa_required`):
    /// continue at `POST /v1/auth/mfa` with `mfa_token`. No token is issued yet.
    #[oai(status = 403, content_type = "application/problem+json")]
    MfaRequired(Json<Problem>, #[oai(header = "Cache-Control")] String),
    /// Too many attempts from this address, or too many failed logins for this
    /// username (`rate_limited`). Unknown usernames are throttled exactly like real ones.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Password hashing is saturated or a store is down (`service_unavailable`).
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

answers! {
    LogoutResponse {
        /// The session has ended.
        #[oai(status = 204)]
        Done,
    }
    problems {
        bearer Unauthorized,
        /// A store is down; the logout did not happen (`service_unavailable`).
        503 Unavailable,
    }
}

refusals!(LoginResponse {
    400 => BadRequest,
    401 => Unauthorized plain,
    429 => TooManyRequests,
    503 => Unavailable,
});

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register a user
    ///
    /// Creates an account. The password is hashed with argon2id; the username keeps
    /// its spelling but is unique ignoring case. With an email address, a verification
    /// link is mailed to it.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<Registration>,
    ) -> poem::Result<RegisterResponse> {
        if !state.registration_open {
            return answer(crate::edge::refusal::registration_closed());
        }
        let _admitted = admitted!(req, Register);
        let username = match Username::parse(&body.username) {
            Ok(u) => u,
            Err(e) => return answer(e),
        };
        let password = match Password::parse(&body.password, &username, &state.password_policy) {
            Ok(p) => p,
            Err(e) => return answer(e),
        };
        let email = match body.email.as_deref().map(Email::parse).transpose() {
            Ok(e) => e,
            Err(e) => return answer(e),
        };
        let result = state
            .accounts
            .register(username, password, Vec::new(), email, &client_info(req))
            .await;
        if matches!(&result, Ok(user) if user.email.is_some()) {
            state.mail.wake();
        }
        match result {
            Ok(user) => Ok(RegisterResponse::Created(Json(user.into()))),
            Err(e) => answer(e),
        }
    }

    /// Log in
    ///
    /// Exchanges a username and password for an access token and a refresh token, and
    /// starts a session. Unknown users and wrong passwords get the same answer in the
    /// same time. With a second factor enrolled, a right password answers 403
    /// `mfa_required` with an `mfa_token` for `POST /v1/auth/mfa` instead.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<Credentials>,
    ) -> poem::Result<LoginResponse> {
        let _admitted = admitted!(req, Login);
        let Some(attempt) = PasswordAttempt::new(&body.password) else {
            return answer(LoginError::InvalidCredentials);
        };
        match state
            .accounts
            .login(&body.username, &attempt, &client_info(req))
            .await
        {
            Ok(LoginOutcome::Tokens(pair)) => Ok(LoginResponse::Ok(
                Json(pair.into()),
                NO_STORE.into(),
                "no-cache".into(),
            )),
            Ok(LoginOutcome::SecondStep(challenge)) => Ok(LoginResponse::MfaRequired(
                Json(mfa_required(&challenge)),
                NO_STORE.into(),
            )),
            Err(e) => answer(e),
        }
    }

    /// Refresh tokens
    ///
    /// Exchanges a refresh token for a new pair; the presented token is used up. Two
    /// requests with the same token within the grace window (default 10 s) both succeed
    /// and receive the same new refresh token; a used token presented later ends the
    /// whole session.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<RefreshRequest>,
    ) -> poem::Result<TokenResponse> {
        let _admitted = admitted!(req, Refresh);
        let result = state
            .accounts
            .refresh(&body.refresh_token, &client_info(req))
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(RefreshError::InvalidGrant) => "invalid_grant",
            Err(_) => "error",
        };
        state
            .telemetry
            .metrics
            .refreshes
            .add(1, &[opentelemetry::KeyValue::new("outcome", outcome)]);
        match result {
            Ok(pair) => Ok(TokenResponse::tokens(pair)),
            Err(e) => answer(e),
        }
    }

    /// Log out
    ///
    /// Ends the caller's session: its refresh token and every access token it issued
    /// (this one included) stop working now.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: LogoutBearerAuth,
    ) -> poem::Result<LogoutResponse> {
        match state.accounts.logout(&auth.0, &client_info(req)).await {
            Ok(()) => Ok(LogoutResponse::Done),
            Err(e) => answer(e),
        }
    }

    /// Log out everywhere
    ///
    /// Ends every session of the caller, on every device.
    #[oai(path = "/logout-all", method = "post", operation_id = "logoutAll")]
    async fn logout_all(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
    ) -> poem::Result<LogoutResponse> {
        match state.accounts.logout_all(&auth.0, &client_info(req)).await {
            Ok(()) => Ok(LogoutResponse::Done),
            Err(e) => answer(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_with_secrets_never_debug_print_them() {
        let shown = format!(
            "{:?} {:?} {:?}",
            Credentials {
                username: "alice".into(),
                password: "hunter2-secret".into(),
            },
            RefreshRequest {
                refresh_token: "rt-secret".into(),
            },
            TokenPairView {
                access_token: "at-secret".into(),
                token_type: "Bearer".into(),
                expires_in: 900,
                refresh_token: "rt-secret".into(),
                refresh_expires_in: 60,
            },
        );
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.contains("alice") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}

//! RFC 9457 problem details: the one error body every failure answers with, whether it
//! comes from a handler, the bearer check, or the framework (unknown route, bad JSON, …).

use std::future::Future;
use std::sync::Arc;

use poem::Response;
use poem::http::{HeaderValue, StatusCode, header};
use poem_openapi::Object;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document. One type for every error, so that SDK generators see
/// one error type per operation; `mfa_required` adds its extension members.
#[derive(Clone, Object)]
#[oai(example)]
pub struct Problem {
    /// A URI naming the problem type: a page on this server describing it.
    #[oai(rename = "type")]
    pub ty: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// A stable snake_case code for programs to branch on.
    pub code: String,
    /// With `mfa_required` only: send it to `POST /v1/auth/mfa` with one proof. Single
    /// use, 5 attempts.
    #[oai(skip_serializing_if_is_none)]
    pub mfa_token: Option<String>,
    /// With `mfa_required` only: the ways to complete the login (`totp`, `webauthn`,
    /// `recovery_code`).
    #[oai(skip_serializing_if_is_none)]
    pub methods: Option<Vec<String>>,
    /// With `mfa_required` only: seconds until `mfa_token` expires.
    #[oai(skip_serializing_if_is_none)]
    pub expires_in: Option<i64>,
}

impl std::fmt::Debug for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Problem")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("detail", &self.detail)
            .field("mfa_token", &self.mfa_token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

tokio::task_local! {
    /// The public base URL of the server answering the current request: problem types
    /// are documentation pages it serves itself (RFC 9457 §3.1.1).
    static PUBLIC_URL: Arc<str>;
}

/// Runs `f` (one request) with problem types resolved against `public_url`.
pub async fn with_public_url<F: Future>(public_url: Arc<str>, f: F) -> F::Output {
    PUBLIC_URL.scope(public_url, f).await
}

/// The `type` of a problem with this code: `<public URL>/problems/<code>`, the page
/// describing it (relative outside a request).
pub fn type_uri(code: &str) -> String {
    PUBLIC_URL
        .try_with(|base| format!("{base}/problems/{code}"))
        .unwrap_or_else(|_| format!("/problems/{code}"))
}

/// Every problem `code` Tessera answers with, and what it means: the page each
/// problem's `type` points at, and the examples of the spec.
pub const CATALOG: &[(&str, &str)] = &[
    (
        "invalid_request",
        "The request is malformed: a body that is not the expected JSON or form, or a parameter of the wrong type or outside its bounds. The detail says what.",
    ),
    (
        "invalid_credentials",
        "The username or password is wrong, or the account is disabled. Which one is deliberately not said.",
    ),
    (
        "invalid_token",
        "The bearer token is missing, malformed, expired, not yet valid, or not signed by a key this server publishes. Log in again.",
    ),
    (
        "token_revoked",
        "The bearer token was valid but has been revoked: its session ended (logout, logout everywhere, a password change, reuse of a used refresh token) or its user was disabled.",
    ),
    (
        "invalid_grant",
        "The refresh token is unknown, expired, revoked or already used (RFC 6749 section 5.2). Log in again.",
    ),
    (
        "insufficient_role",
        "The bearer token is valid but lacks the role this operation needs (admin, or introspect for token introspection).",
    ),
    (
        "registration_closed",
        "This service does not take sign-ups (`registration.enabled = false`): an administrator creates accounts.",
    ),
    (
        "username_taken",
        "Another account has this username (usernames are compared ignoring case and character width).",
    ),
    (
        "invalid_username",
        "The username breaks a rule: 3 to 64 letters, digits or . _ - @ +, starting with a letter or digit.",
    ),
    (
        "weak_password",
        "The new password breaks a rule: too short or too long, containing the username, or too easy to guess. The detail says which and how to fix it.",
    ),
    (
        "rate_limited",
        "Too many attempts from this address, or too many wrong passwords for this account. Retry after the seconds in Retry-After.",
    ),
    (
        "service_unavailable",
        "A dependency (the database, the revocation backend, password hashing) cannot answer right now. Retry after the seconds in Retry-After.",
    ),
    (
        "session_not_found",
        "No live session of the caller has this id.",
    ),
    ("user_not_found", "No user has this id."),
    (
        "client_not_found",
        "No registered OAuth client has this id.",
    ),
    (
        "invalid_client_metadata",
        "The OAuth client description breaks a rule (RFC 7591 §3.2.2): a redirect URI that is not https or loopback http or has a fragment, an unknown scope or grant type, a public client with client_credentials. The detail says which.",
    ),
    (
        "invalid_email",
        "The email address is not one: a local part, @ and a domain such as example.com, at most 254 characters (64 before the @).",
    ),
    (
        "email_taken",
        "Another account has verified this email address. Told only to a signed-in user changing their own address, or to the holder of a verification link.",
    ),
    (
        "invalid_email_token",
        "The link's token is unknown, malformed, already used, replaced by a newer one, or expired; or the address it was sent to is no longer the account's. Ask for a new link.",
    ),
    (
        "no_email",
        "The user has no email address to mark verified.",
    ),
    (
        "mfa_required",
        "The password was right and the account has a second factor: complete the login at POST /v1/auth/mfa with the mfa_token of this answer (5 minutes, 5 attempts) and one of its methods.",
    ),
    (
        "invalid_mfa_token",
        "The mfa_token is unknown, malformed, used, expired, out of attempts, or from another client, or the account changed since the password was checked. Log in again.",
    ),
    (
        "invalid_code",
        "The code, recovery code or passkey assertion is wrong, or the code was used already (each code works once).",
    ),
    (
        "no_passkey",
        "The account has no passkey to ask for: complete the second step with another of its methods.",
    ),
    (
        "invalid_passkey",
        "The passkey assertion was not accepted, or its ceremony is unknown, used or expired. Start again with new options.",
    ),
    (
        "invalid_credential",
        "The WebAuthn credential does not parse or verify (wrong origin or challenge, bad signature), or no registration is pending. Start the registration again.",
    ),
    ("passkey_exists", "This credential is registered already."),
    ("passkey_not_found", "No passkey of the caller has this id."),
    (
        "invalid_name",
        "A passkey name is 1 to 64 characters without control characters.",
    ),
    (
        "totp_already_enabled",
        "An authenticator app is enrolled already: disable it before enrolling another.",
    ),
    (
        "mfa_not_enrolled",
        "No such second factor is enrolled (nothing pending to confirm, nothing to disable or recover).",
    ),
    (
        "reauthentication_required",
        "A change that could keep or take the account (adding, confirming or removing a second factor, new recovery codes, another email address) needs a recent sign-in, within `security.reauthentication_window` (5 minutes by default): sign in again (with the second step, if the account has one), then retry.",
    ),
    ("key_not_found", "No published signing key has this kid."),
    (
        "keys_externally_managed",
        "Signing keys come from files (keys.source = files): the operator rotates them, not the API.",
    ),
    ("not_found", "No such resource."),
    (
        "method_not_allowed",
        "The resource exists, but not with this method: the Allow header lists the methods it accepts.",
    ),
    (
        "unsupported_media_type",
        "The request body's Content-Type is not one this operation accepts.",
    ),
    (
        "payload_too_large",
        "The request body is larger than the server accepts (server.body_limit).",
    ),
    (
        "headers_too_large",
        "The request headers are larger than the server accepts (server.max_header_bytes).",
    ),
    (
        "request_timeout",
        "The request body did not arrive in time (server.read_timeout).",
    ),
    (
        "internal_error",
        "The server failed unexpectedly; the details are in its logs, never in the answer.",
    ),
];

/// What a code means, if it is one of Tessera's.
pub fn describe(code: &str) -> Option<&'static str> {
    CATALOG.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            ty: type_uri(code),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            mfa_token: None,
            methods: None,
            expires_in: None,
        }
    }
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "invalid username or password",
        )
    }
}

/// A problem as a `poem::Error`, for the paths that cannot return a typed response (the
/// bearer check, middleware, the framework's own errors).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub problem: Problem,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.problem.code, self.problem.detail)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            problem: Problem::new(status, code, detail),
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3).
    pub fn invalid_token(code: &str, detail: &str) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, code, detail);
        e.www_authenticate = Some(www_authenticate(detail));
        e
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(detail: &str, retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            detail,
        );
        e.retry_after = Some(retry_after);
        e
    }
}

/// The RFC 6750 challenge for a refused bearer token.
pub fn www_authenticate(detail: &str) -> String {
    let safe: String = detail.chars().filter(|c| *c != '"' && *c != '\\').collect();
    format!(r#"Bearer error="invalid_token", error_description="{safe}""#)
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn as_response(&self) -> Response {
        let body = serde_json::json!({
            "type": self.problem.ty,
            "title": self.problem.title,
            "status": self.problem.status,
            "detail": self.problem.detail,
            "code": self.problem.code,
        });
        let mut resp = Response::builder()
            .status(self.status())
            .content_type(PROBLEM_JSON)
            .body(body.to_string());
        if let Some(h) = self
            .www_authenticate
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, h);
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Turns any error that escaped a handler into problem+json. Our own errors render as
/// they are; the framework's are given a stable code by status; 5xx never leak their text.
pub async fn render_error(err: poem::Error) -> Response {
    // Keep the matched route template for metrics and spans.
    let pattern = err.data::<poem::PathPattern>().cloned();
    let mut resp = render(err);
    if let Some(p) = pattern {
        resp.set_data(p);
    }
    resp
}

fn render(err: poem::Error) -> Response {
    if err.is::<ApiError>() {
        return err.into_response();
    }
    let status = err.status();
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this method is not allowed on this resource".to_owned(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", err.to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is too large".to_owned(),
        ),
        StatusCode::UNAUTHORIZED => {
            let e = ApiError::invalid_token("invalid_token", "a bearer token is required");
            return poem::error::ResponseError::as_response(&e);
        }
        s if s.is_client_error() => ("invalid_request", err.to_string()),
        _ => {
            tracing::error!(error = %err, "unhandled error");
            (
                "internal_error",
                "the server could not handle this request".to_owned(),
            )
        }
    };
    poem::error::ResponseError::as_response(&ApiError::new(status, code, detail))
}

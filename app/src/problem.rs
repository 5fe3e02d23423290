//! RFC 9457 problem details: the one error body every failure answers with, whether it
//! comes from a handler, the bearer check, or the framework (unknown route, bad JSON, …).

use poem::Response;
use poem::http::{HeaderValue, StatusCode, header};
use poem_openapi::Object;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct Problem {
    /// A URI naming the problem type.
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
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            ty: format!("https://tessera.dev/problems/{}", code.replace('_', "-")),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
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

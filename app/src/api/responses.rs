//! How an operation answers a refusal: one set of domain-error-to-problem mappings and
//! one conversion from any refusal into the operation's own typed response.
//!
//! An operation declares its answers as a poem-openapi `ApiResponse` enum — that enum,
//! with a `///` per status, is the spec — and names its problem variants once with
//! [`refusals!`]. That gives the enum `From<ApiError>`: a refusal (from the bearer
//! check, a limiter, a domain error) lands in the variant of its status, carrying its
//! `WWW-Authenticate` or `Retry-After`. The same conversion backs every
//! `bad_request_handler` ([`bad_request`]), so a malformed parameter or body is the
//! documented 400 while the bearer check keeps its 401 and 503. A handler's error arm is
//! `Err(e) => answer(e)`: which status and code a domain error gets is decided here, once.
//!
//! The smallest authenticated endpoint, `getDashboard`, is its enum (200, 401, 503),
//! `refusals!(DashboardResponse { 401 => Unauthorized, 503 => Unavailable })`, and a
//! handler that returns the 200: the bearer check's refusals arrive converted.

use poem::http::StatusCode;

use crate::problem::ApiError;

/// Gives a response enum `From<ApiError>`, dispatching on the refusal's status to the
/// variant listed for it. 401 variants carry the `WWW-Authenticate` challenge and 429/503
/// variants `Retry-After`, unless marked `plain` (a 401 that is no bearer challenge, such
/// as a wrong password). A refusal of a status the operation does not declare is a bug:
/// it is logged and answered as the operation's 503.
macro_rules! refusals {
    ($ty:ident $(<$t:ident>)? { $($status:tt => $variant:ident $($plain:ident)?),+ $(,)? }) => {
        impl $(<$t: poem_openapi::types::ToJSON + Send + Sync>)? From<$crate::problem::ApiError>
            for $ty $(<$t>)?
        {
            fn from(e: $crate::problem::ApiError) -> Self {
                match e.problem.status {
                    $($status => $crate::api::responses::refusal_variant!(
                        $status $($plain)?, Self::$variant, e
                    ),)+
                    other => {
                        tracing::error!(status = other, code = %e.problem.code, "undeclared answer");
                        let e = $crate::problem::ApiError::unavailable(
                            "the service is temporarily unavailable, retry shortly",
                            $crate::edge::RETRY_AFTER_SECS,
                        );
                        Self::Unavailable(
                            poem_openapi::payload::Json(e.problem),
                            $crate::edge::RETRY_AFTER_SECS,
                        )
                    }
                }
            }
        }
    };
}
pub(crate) use refusals;

/// The constructor call for one status's variant (see [`refusals!`]).
macro_rules! refusal_variant {
    (401, $v:path, $e:ident) => {
        $v(
            poem_openapi::payload::Json($e.problem.clone()),
            $e.www_authenticate
                .clone()
                .unwrap_or_else(|| $crate::problem::www_authenticate(&$e.problem.detail)),
        )
    };
    (429, $v:path, $e:ident) => {
        $v(
            poem_openapi::payload::Json($e.problem),
            $e.retry_after.unwrap_or($crate::edge::RETRY_AFTER_SECS),
        )
    };
    (503, $v:path, $e:ident) => {
        $v(
            poem_openapi::payload::Json($e.problem),
            $e.retry_after.unwrap_or($crate::edge::RETRY_AFTER_SECS),
        )
    };
    ($s:literal $($plain:ident)?, $v:path, $e:ident) => {
        $v(poem_openapi::payload::Json($e.problem))
    };
}
pub(crate) use refusal_variant;

/// The `bad_request_handler` of every operation with parameters or a body: the bearer
/// check's 401 and 503 keep their meaning; anything else the framework could not parse
/// is 400 `invalid_request`.
pub fn bad_request<R: From<ApiError>>(err: poem::Error) -> R {
    R::from(request_error(err))
}

/// A refusal from request parsing, as a problem.
pub fn request_error(err: poem::Error) -> ApiError {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone();
    }
    if err.status() == StatusCode::UNAUTHORIZED {
        return ApiError::invalid_token("invalid_token", "a bearer token is required");
    }
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", err.to_string())
}

/// A handler's answer to a refusal: the operation's typed problem, or — for a failure
/// nobody declared (a bug) — a logged, bare 500.
///
/// # Errors
/// The 500, for the framework to render.
pub fn answer<R: From<ApiError>>(e: impl Into<ApiError>) -> poem::Result<R> {
    let e = e.into();
    if e.problem.status == StatusCode::INTERNAL_SERVER_ERROR.as_u16() {
        Err(e.into())
    } else {
        Ok(R::from(e))
    }
}

/// Admits the request through the edge's gate for an [`Action`](crate::edge::Action), or
/// returns the operation's 429/503 from the handler: `let _admitted = admitted!(req,
/// Login);` Hold the admission until the answer: it may keep a place at the password door.
macro_rules! admitted {
    ($req:expr, $action:ident) => {
        match $crate::edge::admit($req, $crate::edge::Action::$action).await {
            Ok(admission) => admission,
            Err(e) => return $crate::api::responses::answer(e),
        }
    };
}
pub(crate) use admitted;

//! How an operation declares its answers and answers a refusal.
//!
//! Every operation declares its answers with [`answers!`]: the success variants as
//! written, then its problems by status with a `///` each (that enum, with its docs, is
//! the spec); `bearer` and `admin` add the 401 and 403 authenticated operations share.
//! The macro gives the enum `From<ApiError>` ([`refusals!`]): a refusal — from the bearer
//! check, the gate ([`admitted!`]), a domain error (mapped once in `crate::edge::refusal`)
//! — lands in the variant of its status with its `WWW-Authenticate` or `Retry-After`. The
//! same conversion backs every `bad_request_handler` ([`bad_request`]), so a malformed
//! parameter or body is the documented 400 while the bearer check keeps its 401 and 503.
//! A handler's error arm is `Err(e) => answer(e)`.
//!
//! The smallest authenticated operation, `listPasskeys`, is an [`answers!`] block with its
//! 200, `bearer Unauthorized` and its 503, and a handler that calls one use case.

use poem::http::StatusCode;

use crate::problem::ApiError;

/// `Cache-Control` of an answer that carries tokens or secrets (RFC 6749 §5.1).
pub const NO_STORE: &str = "no-store";

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

/// Declares an operation's answers, the one way every operation does: the success
/// variants as written, then the problems it can give, each by status with the `///` that
/// documents it in the spec. A problem's body and headers follow from its status — 401
/// carries `WWW-Authenticate` (unless marked `plain`: a 401 that is no bearer challenge),
/// 429 and 503 `Retry-After` — and the enum gets `From<ApiError>` ([`refusals!`]). Flags
/// add what operations share, with their standard words: `bearer V` (401 for a missing,
/// invalid, expired or revoked token), `admin V` (403 `insufficient_role`, from
/// [`AdminAuth`](super::AdminAuth)), `busy V` (503: a store, the limiter or hashing) and
/// `down V` (503: a store). A first success variant written `tokens V,` is the token pair
/// with `Cache-Control: no-store` and `Pragma: no-cache`, built by `Self::tokens(pair)`.
///
/// ```ignore
/// answers! {
///     ListPasskeysResponse {
///         /// The passkeys.
///         #[oai(status = 200)]
///         Ok(Json<Vec<PasskeyView>>),
///     }
///     problems {
///         bearer Unauthorized,
///         /// A store is down (`service_unavailable`).
///         503 Unavailable,
///     }
/// }
/// ```
macro_rules! answers {
    (
        $(#[$meta:meta])*
        $name:ident { $(#[doc = $d:literal])* tokens $v:ident, $($ok:tt)* }
        problems { $($problems:tt)* }
    ) => {
        $crate::api::responses::answers!(@munch [$(#[$meta])*] [$name] [
            $(#[doc = $d])*
            #[oai(status = 200)]
            $v(
                Json<$crate::api::auth::TokenPairView>,
                #[oai(header = "Cache-Control")] String,
                #[oai(header = "Pragma")] String,
            ),
            $($ok)*
        ] [] $($problems)*);

        impl $name {
            /// The token pair, never to be cached (RFC 6749 §5.1).
            pub(crate) fn tokens(pair: tessera_domain::auth::TokenPair) -> Self {
                Self::$v(
                    Json(pair.into()),
                    $crate::api::responses::NO_STORE.into(),
                    "no-cache".into(),
                )
            }
        }
    };
    (
        $(#[$meta:meta])*
        $name:ident $(<$t:ident>)? { $($ok:tt)* }
        problems { $($problems:tt)* }
    ) => {
        $crate::api::responses::answers!(@munch
            [$(#[$meta])*] [$name $(<$t>)?] [$($ok)*] [] $($problems)*
        );
    };
    (@munch $meta:tt $head:tt [$($body:tt)*] [$($map:tt)*] bearer $v:ident, $($rest:tt)*) => {
        $crate::api::responses::answers!(@munch $meta $head [$($body)*
            /// Missing, invalid, expired or revoked access token (`invalid_token`,
            /// `token_revoked`).
            #[oai(status = 401, content_type = "application/problem+json")]
            $v(Json<$crate::problem::Problem>, #[oai(header = "WWW-Authenticate")] String),
        ] [$($map)* 401 => $v,] $($rest)*);
    };
    (@munch $meta:tt $head:tt [$($body:tt)*] [$($map:tt)*] busy $v:ident, $($rest:tt)*) => {
        $crate::api::responses::answers!(@munch $meta $head [$($body)*
            /// A store, the rate limiter or password hashing cannot answer now
            /// (`service_unavailable`).
            #[oai(status = 503, content_type = "application/problem+json")]
            $v(Json<$crate::problem::Problem>, #[oai(header = "Retry-After")] u64),
        ] [$($map)* 503 => $v,] $($rest)*);
    };
    (@munch $meta:tt $head:tt [$($body:tt)*] [$($map:tt)*] down $v:ident, $($rest:tt)*) => {
        $crate::api::responses::answers!(@munch $meta $head [$($body)*
            /// A store is down (`service_unavailable`).
            #[oai(status = 503, content_type = "application/problem+json")]
            $v(Json<$crate::problem::Problem>, #[oai(header = "Retry-After")] u64),
        ] [$($map)* 503 => $v,] $($rest)*);
    };
    (@munch $meta:tt $head:tt [$($body:tt)*] [$($map:tt)*] admin $v:ident, $($rest:tt)*) => {
        $crate::api::responses::answers!(@munch $meta $head [$($body)*
            /// The caller lacks the `admin` role (`insufficient_role`).
            #[oai(status = 403, content_type = "application/problem+json")]
            $v(Json<$crate::problem::Problem>),
        ] [$($map)* 403 => $v,] $($rest)*);
    };
    (@munch $meta:tt $head:tt [$($body:tt)*] [$($map:tt)*]
        $(#[doc = $d:literal])* 401 $v:ident plain, $($rest:tt)*) => {
        $crate::api::responses::answers!(@munch $meta $head [$($body)*
            $(#[doc = $d])*
            #[oai(status = 401, content_type = "application/problem+json")]
            $v(Json<$crate::problem::Problem>),
        ] [$($map)* 401 => $v plain,] $($rest)*);
    };
    (@munch $meta:tt $head:tt [$($body:tt)*] [$($map:tt)*]
        $(#[doc = $d:literal])* 401 $v:ident, $($rest:tt)*) => {
        $crate::api::responses::answers!(@munch $meta $head [$($body)*
            $(#[doc = $d])*
            #[oai(status = 401, content_type = "application/problem+json")]
            $v(Json<$crate::problem::Problem>, #[oai(header = "WWW-Authenticate")] String),
        ] [$($map)* 401 => $v,] $($rest)*);
    };
    (@munch $meta:tt $head:tt [$($body:tt)*] [$($map:tt)*]
        $(#[doc = $d:literal])* 429 $v:ident, $($rest:tt)*) => {
        $crate::api::responses::answers!(@munch $meta $head [$($body)*
            $(#[doc = $d])*
            #[oai(status = 429, content_type = "application/problem+json")]
            $v(Json<$crate::problem::Problem>, #[oai(header = "Retry-After")] u64),
        ] [$($map)* 429 => $v,] $($rest)*);
    };
    (@munch $meta:tt $head:tt [$($body:tt)*] [$($map:tt)*]
        $(#[doc = $d:literal])* 503 $v:ident, $($rest:tt)*) => {
        $crate::api::responses::answers!(@munch $meta $head [$($body)*
            $(#[doc = $d])*
            #[oai(status = 503, content_type = "application/problem+json")]
            $v(Json<$crate::problem::Problem>, #[oai(header = "Retry-After")] u64),
        ] [$($map)* 503 => $v,] $($rest)*);
    };
    (@munch $meta:tt $head:tt [$($body:tt)*] [$($map:tt)*]
        $(#[doc = $d:literal])* $s:literal $v:ident, $($rest:tt)*) => {
        $crate::api::responses::answers!(@munch $meta $head [$($body)*
            $(#[doc = $d])*
            #[oai(status = $s, content_type = "application/problem+json")]
            $v(Json<$crate::problem::Problem>),
        ] [$($map)* $s => $v,] $($rest)*);
    };
    (@munch [$($meta:tt)*] [$name:ident $(<$t:ident>)?] [$($body:tt)*] [$($map:tt)*]) => {
        #[derive(poem_openapi::ApiResponse)]
        $($meta)*
        pub enum $name $(<$t: poem_openapi::types::ToJSON + Send + Sync>)? {
            $($body)*
        }
        $crate::api::responses::refusals!($name $(<$t>)? { $($map)* });
    };
}
pub(crate) use answers;

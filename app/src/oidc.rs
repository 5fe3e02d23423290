//! The OpenID provider's machine endpoints: discovery (OIDC Discovery 1.0, RFC 8414),
//! the token endpoint (RFC 6749 §3.2: `authorization_code` with PKCE, `refresh_token`,
//! `client_credentials`; client authentication `client_secret_basic`,
//! `client_secret_post` or `none`) and UserInfo (OIDC Core §5.3). Errors here are RFC 6749
//! §5.2 JSON (`error`, `error_description`), which every OAuth client library reads,
//! not problem+json. The browser's endpoints are hosted pages (`pages/authorize.rs`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use poem::http::{HeaderValue, StatusCode, header};
use poem::web::{Data, Form};
use poem::{Request, Response, Route, handler};
use tessera_domain::auth::{OAuthError, OidcTokens};
use tessera_domain::oidc::{GrantType, SCOPES};

use crate::edge::{Action, AppState, RETRY_AFTER_SECS, admit, client_info};
use crate::problem::ApiError;

/// The routes, for `http::routes`.
pub fn routes(route: Route) -> Route {
    route
        .at("/.well-known/openid-configuration", poem::get(discovery))
        .at(
            "/.well-known/oauth-authorization-server",
            poem::get(discovery),
        )
        .at("/oauth2/token", poem::post(token_endpoint))
        .at(
            "/oauth2/device_authorization",
            poem::post(device_authorization),
        )
        .at("/oauth2/userinfo", poem::get(userinfo).post(userinfo))
}

/// What the provider implements, and nothing more: `prompt=create` only while people
/// may sign up.
pub fn metadata(issuer: &str, registration_open: bool) -> serde_json::Value {
    let mut prompts = vec!["none", "login", "consent", "select_account"];
    if registration_open {
        prompts.push("create");
    }
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "device_authorization_endpoint": format!("{issuer}/oauth2/device_authorization"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        // Back-Channel Logout 1.0: a client that registered a URI gets a logout token,
        // with `sid`, whenever a session of it ends.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // RFC 7009 revocation: possession of the token is the authorisation. Introspection
        // is left out: it takes a bearer with a role, not an OAuth client authentication
        // RFC 8414 can name.
        "revocation_endpoint": format!("{issuer}/v1/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": SCOPES,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "sid", "preferred_username", "email", "email_verified"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "prompt_values_supported": prompts,
        // Request objects are not read: by value or by reference (Discovery 1.0 §3
        // makes an omitted request_uri_parameter_supported mean true).
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    })
}

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
#[handler]
pub fn discovery(state: Data<&AppState>) -> Response {
    let mut resp = Response::builder()
        .content_type("application/json")
        .body(metadata(state.oidc.issuer(), state.registration_open).to_string());
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

/// An RFC 6749 §5.2 error answer.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut resp = Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string());
    no_store(&mut resp);
    resp
}

fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A refusal of the use cases, in RFC 6749 terms. `basic`: the client authenticated
/// with HTTP Basic, so a 401 names that scheme (RFC 6749 §5.2).
fn refusal(e: OAuthError, basic: bool) -> Response {
    match e {
        OAuthError::InvalidRequest(why) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &why)
        }
        OAuthError::InvalidClient => {
            let mut resp = oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            );
            let scheme = if basic {
                "Basic realm=\"tessera\""
            } else {
                "Bearer realm=\"tessera\""
            };
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
            resp
        }
        OAuthError::InvalidGrant(why) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why),
        OAuthError::UnauthorizedClient => oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "this client may not use this grant type",
        ),
        OAuthError::InvalidScope(why) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &why)
        }
        OAuthError::AuthorizationPending => oauth_error(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            "the person has not approved the request yet",
        ),
        OAuthError::SlowDown => oauth_error(
            StatusCode::BAD_REQUEST,
            "slow_down",
            "poll more slowly: add 5 seconds to the interval",
        ),
        OAuthError::AccessDenied => oauth_error(
            StatusCode::BAD_REQUEST,
            "access_denied",
            "the person denied the request",
        ),
        OAuthError::ExpiredToken => oauth_error(
            StatusCode::BAD_REQUEST,
            "expired_token",
            "the device code has expired: start again",
        ),
        OAuthError::Unavailable(e) => {
            tracing::warn!(error = ?e, "token endpoint: dependency unavailable");
            let mut resp = oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service is temporarily unavailable, retry shortly",
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            resp
        }
        OAuthError::Unknown(e) => {
            tracing::error!(error = ?e, "token endpoint failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the request could not be completed",
            )
        }
    }
}

#[derive(Default)]
pub struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// RFC 8707: the resource the token is for.
    resource: Option<String>,
    /// RFC 8628 §3.4.
    device_code: Option<String>,
}

impl TokenRequest {
    /// The form's parameters, each at most once (RFC 6749 §3.2); unknown ones are
    /// ignored (§3.1).
    #[allow(clippy::result_large_err)] // the refusal is answered at once, never carried
    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, Response> {
        let mut r = Self::default();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "grant_type" => &mut r.grant_type,
                "code" => &mut r.code,
                "redirect_uri" => &mut r.redirect_uri,
                "code_verifier" => &mut r.code_verifier,
                "refresh_token" => &mut r.refresh_token,
                "scope" => &mut r.scope,
                "client_id" => &mut r.client_id,
                "client_secret" => &mut r.client_secret,
                "resource" => &mut r.resource,
                "device_code" => &mut r.device_code,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!("{key} is given more than once"),
                ));
            }
        }
        Ok(r)
    }
}

/// The client's credentials (and whether they came as HTTP Basic), or the answer that
/// refuses them: HTTP Basic (RFC 6749 §2.3.1, each part form-urlencoded),
/// or `client_id` (and `client_secret`) in the body. Both at once is a malformed request.
#[allow(clippy::result_large_err)] // the refusal is answered at once, never carried
fn credentials(
    req: &Request,
    body: &TokenRequest,
) -> Result<(String, Option<String>, bool), Response> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let Some(encoded) = basic else {
        return match &body.client_id {
            Some(id) => Ok((id.clone(), body.client_secret.clone(), false)),
            None => Err(refusal(OAuthError::InvalidClient, false)),
        };
    };
    if body.client_secret.is_some() {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "authenticate the client one way, not with Basic and a client_secret both",
        ));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Err(refusal(OAuthError::InvalidClient, true));
    };
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (id, secret) = (decode(id), decode(secret));
    if body.client_id.as_ref().is_some_and(|b| *b != id) {
        return Err(refusal(OAuthError::InvalidClient, true));
    }
    Ok((id, Some(secret), true))
}

fn tokens_response(t: OidcTokens) -> Response {
    let mut body = serde_json::json!({
        "access_token": t.access_token,
        "token_type": "Bearer",
        "expires_in": t.expires_in,
    });
    if let Some(map) = body.as_object_mut() {
        if !t.scope.is_empty() {
            map.insert("scope".into(), t.scope.into());
        }
        if let Some(r) = t.refresh_token {
            map.insert("refresh_token".into(), r.expose().to_owned().into());
        }
        if let Some(id) = t.id_token {
            map.insert("id_token".into(), id.into());
        }
    }
    let mut resp = Response::builder()
        .content_type("application/json")
        .body(body.to_string());
    no_store(&mut resp);
    resp
}

/// The gate's refusal in the token endpoint's words, with `Retry-After`: 429 `slow_down`
/// when the client's bucket is empty, 503 `temporarily_unavailable` when the limiter
/// cannot be reached or the request cannot be admitted for another reason.
fn gate_refusal(e: &ApiError) -> Response {
    let (status, code) = if e.problem.status == StatusCode::TOO_MANY_REQUESTS.as_u16() {
        (StatusCode::TOO_MANY_REQUESTS, "slow_down")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
    };
    let mut resp = oauth_error(status, code, &e.problem.detail);
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(e.retry_after.unwrap_or(RETRY_AFTER_SECS)),
    );
    resp
}

/// A request to the token or the device authorization endpoint: its parameters, its
/// place through the gate (held until answered), and the client's credentials.
#[allow(clippy::result_large_err)] // the refusal is answered at once, never carried
async fn admitted_request(
    req: &Request,
    pairs: Vec<(String, String)>,
) -> Result<
    (
        TokenRequest,
        crate::edge::Admission,
        (String, Option<String>, bool),
    ),
    Response,
> {
    let body = TokenRequest::from_pairs(pairs)?;
    let admitted = admit(req, Action::TokenEndpoint)
        .await
        .map_err(|e| gate_refusal(&e))?;
    let credentials = credentials(req, &body)?;
    Ok((body, admitted, credentials))
}

/// `POST /oauth2/token`.
#[handler]
pub async fn token_endpoint(
    state: Data<&AppState>,
    req: &Request,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (body, _admitted, (id, secret, basic)) = match admitted_request(req, pairs).await {
        Ok(parts) => parts,
        Err(resp) => return resp,
    };
    let grant = body.grant_type.as_deref().unwrap_or("");
    let Some(grant) = GrantType::parse(grant) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            if grant.is_empty() {
                "invalid_request"
            } else {
                "unsupported_grant_type"
            },
            "grant_type is authorization_code, refresh_token, client_credentials or \
             urn:ietf:params:oauth:grant-type:device_code",
        );
    };
    let client = match state.oidc.authenticate_client(&id, secret.as_deref()).await {
        Ok(c) => c,
        Err(e) => return refusal(e, basic),
    };
    // RFC 8707 §2: a resource the client's tokens are not for is refused, not ignored.
    if let Some(resource) = &body.resource
        && !state.oidc.serves_resource(&client, resource)
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "this client's tokens are not for that resource",
        );
    }
    let info = client_info(req);
    let result = match grant {
        GrantType::AuthorizationCode => {
            let Some(code) = body.code.as_deref() else {
                return missing("code");
            };
            state
                .oidc
                .exchange_code(
                    &client,
                    code,
                    body.redirect_uri.as_deref(),
                    body.code_verifier.as_deref(),
                    &info,
                )
                .await
        }
        GrantType::RefreshToken => {
            let Some(refresh) = body.refresh_token.as_deref() else {
                return missing("refresh_token");
            };
            state.oidc.refresh_for_client(&client, refresh, &info).await
        }
        GrantType::ClientCredentials => {
            state
                .oidc
                .client_credentials(&client, body.scope.as_deref())
                .await
        }
        GrantType::DeviceCode => {
            let Some(device_code) = body.device_code.as_deref() else {
                return missing("device_code");
            };
            state.oidc.poll_device(&client, device_code, &info).await
        }
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(OAuthError::Unavailable(_) | OAuthError::Unknown(_)) => "error",
        Err(_) => "refused",
    };
    state.telemetry.metrics.oauth_tokens.add(
        1,
        &[
            opentelemetry::KeyValue::new("grant", grant.as_str()),
            opentelemetry::KeyValue::new("outcome", outcome),
        ],
    );
    match result {
        Ok(tokens) => tokens_response(tokens),
        Err(e) => refusal(e, basic),
    }
}

/// `POST /oauth2/device_authorization` (RFC 8628 §3.1–3.2): a device asks for a device
/// code and a user code. The client authenticates as at the token endpoint.
#[handler]
pub async fn device_authorization(
    state: Data<&AppState>,
    req: &Request,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (body, _admitted, (id, secret, basic)) = match admitted_request(req, pairs).await {
        Ok(parts) => parts,
        Err(resp) => return resp,
    };
    let client = match state.oidc.authenticate_client(&id, secret.as_deref()).await {
        Ok(c) => c,
        Err(e) => return refusal(e, basic),
    };
    let start = match state
        .oidc
        .start_device_authorization(&client, body.scope.as_deref())
        .await
    {
        Ok(start) => start,
        Err(e) => return refusal(e, basic),
    };
    let shown = start.user_code.display();
    let verification_uri = format!("{}/device", state.public_base);
    let complete = format!("{verification_uri}?user_code={shown}");
    let answer = serde_json::json!({
        "device_code": start.device_code,
        "user_code": shown,
        "verification_uri": verification_uri,
        "verification_uri_complete": complete,
        "expires_in": start.expires_in,
        "interval": start.interval,
    });
    let mut resp = Response::builder()
        .content_type("application/json")
        .body(answer.to_string());
    no_store(&mut resp);
    resp
}

/// 400 `invalid_request` for a parameter the grant needs.
fn missing(param: &str) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &format!("{param} is missing"),
    )
}

/// A Bearer refusal at UserInfo (RFC 6750 §3).
fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = oauth_error(status, error, description);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer realm=\"tessera\", error=\"{error}\", error_description=\"{description}\""
    )) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The access token of a UserInfo request: the `Authorization` header (RFC 6750 §2.1;
/// the scheme's name in any case, RFC 7235 §2.1), or an `access_token` in a POST's form
/// body (§2.2, pyoidc's default) — never both, and never the query string (§2.3, which
/// leaks tokens into logs).
async fn userinfo_token(req: &Request, body: poem::Body) -> Result<Option<String>, Response> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let form = req.method() == poem::http::Method::POST
        && req
            .content_type()
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok(header);
    }
    let Ok(bytes) = body.into_bytes_limit(8 * 1024).await else {
        return Err(bearer_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the form body could not be read",
        ));
    };
    let mut in_body = url::form_urlencoded::parse(&bytes)
        .filter(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned());
    let (first, second) = (in_body.next(), in_body.next());
    match (header, first, second) {
        (h, None, _) => Ok(h),
        (None, Some(t), None) => Ok(Some(t)),
        _ => Err(bearer_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the access token once: in the Authorization header or the form body",
        )),
    }
}

/// `GET` or `POST /oauth2/userinfo` with a Bearer access token granted `openid`.
#[handler]
pub async fn userinfo(state: Data<&AppState>, req: &Request, body: poem::Body) -> Response {
    let token = match userinfo_token(req, body).await {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "send the access token as a Bearer token",
        );
    };
    let claims = match state.accounts.authenticate(&token).await {
        Ok(c) => c,
        Err(tessera_domain::auth::AuthError::Unavailable(e)) => {
            return refusal(OAuthError::Unavailable(e), false);
        }
        Err(_) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid, expired or revoked",
            );
        }
    };
    match state.oidc.userinfo(&claims).await {
        Ok(Some(info)) => {
            let mut body = serde_json::json!({"sub": info.sub});
            if let Some(map) = body.as_object_mut() {
                if let Some(name) = info.preferred_username {
                    map.insert("preferred_username".into(), name.into());
                }
                if let Some((email, verified)) = info.email {
                    map.insert("email".into(), email.into());
                    map.insert("email_verified".into(), verified.into());
                }
            }
            let mut resp = Response::builder()
                .content_type("application/json")
                .body(body.to_string());
            no_store(&mut resp);
            resp
        }
        Ok(None) => bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token was not granted the openid scope",
        ),
        Err(e) => refusal(OAuthError::Unavailable(e), false),
    }
}

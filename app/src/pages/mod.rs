//! The hosted pages: sign-in (`/login`, its second step, passkeys, sign-out), the
//! self-service account (`/account`), and the landing pages of mailed links
//! (`/verify-email`, `/reset-password`, `/forgot-password`). Server-rendered HTML from
//! askama templates compiled into the binary, one stylesheet and one small script (the
//! WebAuthn ceremony) served from here; nothing from another origin.
//!
//! This file owns what every page shares: the browser session and its cookie, CSRF
//! tokens, the headers every page carries, and turning a use case's refusal into words.
//!
//! **The browser session** is a Tessera session like any other (it is listed, ended and
//! revoked with the rest). Its cookie carries the session's refresh token, which the
//! store knows only as a hash; the pages look the token up
//! ([`tessera_domain::auth::AuthService::browser_session`]) and never rotate it. The
//! cookie is HttpOnly and SameSite=Lax, and behind https `Secure` with the `__Host-`
//! prefix, so no script and no other site can read it, and no subdomain can plant one.
//!
//! **CSRF**: every form carries a token that is a MAC, under a key derived from the
//! key-encryption key, of the cookie that identifies the visitor: the session cookie once
//! signed in, before that a random form cookie (so a login form cannot be posted from
//! another site either). A post whose token does not match is refused with 403 before any
//! use case runs.

// A page's refusal is the page to answer with: returned early and rendered at once, so
// boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

/// The value of a step that may already have decided the answer: `answered!(step)` is
/// what `step` gave, or returns the page it decided on.
macro_rules! answered {
    ($step:expr) => {
        match $step {
            Ok(value) => value,
            Err(resp) => return resp,
        }
    };
}

mod account;
mod authorize;
mod device;
mod links;
mod login;
mod register;

use askama::Template;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Request, Response, Route, handler};
use tessera_domain::auth::AuthError;
use tessera_domain::token::Claims;

use crate::edge::AppState;
use crate::problem::ApiError;

pub use links::{
    forgot_password_page, forgot_password_submit, reset_password_page, reset_password_submit,
    verify_email_page, verify_email_submit,
};

/// The three routes of the pages' own files and every page, for `http::routes`.
pub fn routes(route: Route) -> Route {
    route
        .at(STYLESHEET_PATH, poem::get(stylesheet))
        .at(SCRIPT_PATH, poem::get(script))
        .at("/login", poem::get(login::sign_in_form).post(login::submit))
        .at("/login/second-step", poem::post(login::second_step))
        .at(
            "/login/second-step/options",
            poem::post(login::second_step_options),
        )
        .at("/login/passkey", poem::post(login::passkey))
        .at("/login/passkey/options", poem::post(login::passkey_options))
        .at("/logout", poem::post(login::logout))
        .at(
            "/oauth2/authorize",
            poem::get(authorize::authorize).post(authorize::authorize_post),
        )
        .at(
            "/login/confirm",
            poem::get(authorize::confirm_form).post(authorize::confirm),
        )
        .at("/oauth2/consent", poem::post(authorize::consent))
        .at(
            "/oauth2/logout",
            poem::get(authorize::logout).post(authorize::logout_post),
        )
        .at("/account", poem::get(account::show))
        .at("/account/email", poem::post(account::email))
        .at("/account/password", poem::post(account::password))
        .at("/account/sessions/end", poem::post(account::end_session))
        .at("/account/sessions/end-all", poem::post(account::end_all))
        .at(
            "/account/totp",
            poem::get(account::totp_page).post(account::totp_begin),
        )
        .at("/account/totp/confirm", poem::post(account::totp_confirm))
        .at("/account/totp/disable", poem::post(account::totp_disable))
        .at(
            "/account/recovery-codes",
            poem::post(account::recovery_codes),
        )
        .at(
            "/account/passkeys/options",
            poem::post(account::passkey_options),
        )
        .at("/account/passkeys", poem::post(account::passkey_add))
        .at(
            "/account/passkeys/rename",
            poem::post(account::passkey_rename),
        )
        .at(
            "/account/passkeys/delete",
            poem::post(account::passkey_delete),
        )
        .at("/account/apps/revoke", poem::post(account::app_revoke))
        .at(
            "/verify-email",
            poem::get(verify_email_page).post(verify_email_submit),
        )
        .at(
            "/reset-password",
            poem::get(reset_password_page).post(reset_password_submit),
        )
        .at(
            "/register",
            poem::get(register::show).post(register::submit),
        )
        .at("/device", poem::get(device::show).post(device::lookup))
        .at("/device/decision", poem::post(device::decide))
        .at(
            "/forgot-password",
            poem::get(forgot_password_page).post(forgot_password_submit),
        )
}

/// The pages' one stylesheet: no inline style anywhere, so the policy forbids it.
pub const STYLE: &str = include_str!("../../static/pages.css");
pub const STYLESHEET_PATH: &str = "/pages.css";
/// The WebAuthn ceremony, the only script: the pages work without it except passkeys.
pub const SCRIPT: &str = include_str!("../../static/pages.js");
pub const SCRIPT_PATH: &str = "/pages.js";

/// Every page's policy: nothing from another origin, no inline script or style, no
/// framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = Response::builder().content_type(content_type).body(body);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

/// `GET /pages.css`.
#[handler]
pub fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /pages.js`.
#[handler]
pub fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// Who is asking: the signed-in session's principal, if any, and the cookies that
/// identify the browser.
pub(crate) struct Visitor {
    pub claims: Option<Claims>,
    session_cookie: Option<String>,
    form_cookie: Option<String>,
    /// A session cookie came that opens no live session: clear it.
    stale_session: bool,
}

impl Visitor {
    /// Reads the visitor's cookies and looks the session up.
    ///
    /// # Errors
    /// The 503 page when the store or the revocation list cannot answer: a page must not
    /// show an account whose session may have been ended.
    async fn of(state: &AppState, req: &Request) -> Result<Self, Response> {
        let session_cookie = cookie(req, state.pages.session_cookie());
        let form_cookie = cookie(req, state.pages.form_cookie());
        let (claims, stale_session) = match &session_cookie {
            None => (None, false),
            Some(token) => match state.accounts.browser_session(token).await {
                Ok(claims) => {
                    crate::observe::note_user(&claims.sub);
                    (Some(claims), false)
                }
                Err(AuthError::Unavailable(e)) => {
                    return Err(unavailable(ApiError::from(e)));
                }
                Err(_) => (None, true),
            },
        };
        Ok(Self {
            claims,
            session_cookie,
            form_cookie,
            stale_session,
        })
    }

    /// The cookie forms are bound to: the session once signed in, else the form cookie.
    fn binding(&self) -> Option<&str> {
        match self.claims {
            Some(_) => self.session_cookie.as_deref(),
            None => self.form_cookie.as_deref(),
        }
    }

    /// Whether a posted form's `csrf` field is the one this visitor's forms carry.
    fn csrf_ok(&self, state: &AppState, presented: &str) -> bool {
        self.binding().is_some_and(|b| {
            let expected = state.pages.csrf_for(b);
            !expected.is_empty() && tessera_domain::opaque::same(&expected, presented)
        })
    }
}

/// The visitor, the answer under way and the CSRF token of its forms, or the answer
/// already decided: 403 for a posted form (`posted`: its `csrf` field) whose token does
/// not match, 503 when the session store cannot answer.
pub(crate) async fn visit(
    state: &AppState,
    req: &Request,
    posted: Option<&str>,
) -> Result<(Visitor, Reply, String), Response> {
    let visitor = Visitor::of(state, req).await?;
    if let Some(csrf) = posted
        && !visitor.csrf_ok(state, csrf)
    {
        return Err(forged());
    }
    let (reply, csrf) = Reply::to(state, &visitor)?;
    Ok((visitor, reply, csrf))
}

/// The value of cookie `name` in the request, if it came.
fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A page answer under construction: its cookies go out whatever the status.
pub(crate) struct Reply {
    cookies: Vec<String>,
}

impl Reply {
    /// Starts the answer to `visitor`: clears a stale session cookie, and gives a visitor
    /// who has neither cookie a form cookie so that the forms on the page can be posted.
    /// Returns the CSRF token those forms carry.
    fn to(state: &AppState, visitor: &Visitor) -> Result<(Self, String), Response> {
        let mut cookies = Vec::new();
        if visitor.stale_session {
            cookies.push(clear_cookie(state, state.pages.session_cookie()));
        }
        let binding = match visitor.binding() {
            Some(b) => b.to_owned(),
            None => {
                let fresh = tessera_domain::opaque::random().map_err(|e| {
                    tracing::warn!(error = ?e, "no randomness for a form cookie");
                    unavailable(ApiError::unavailable(
                        "the service is temporarily unavailable, retry shortly",
                        crate::edge::RETRY_AFTER_SECS,
                    ))
                })?;
                cookies.push(state.pages.cookie(state.pages.form_cookie(), &fresh, None));
                fresh
            }
        };
        let csrf = state.pages.csrf_for(&binding);
        Ok((Self { cookies }, csrf))
    }

    /// An answer that sets no cookie.
    fn empty() -> Self {
        Self {
            cookies: Vec::new(),
        }
    }

    fn with_cookie(mut self, cookie: String) -> Self {
        self.cookies.push(cookie);
        self
    }

    /// A rendered template.
    fn page(self, status: StatusCode, template: &impl Template) -> Response {
        let html = match template.render() {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(error = %e, "a page template failed to render");
                return finish(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Response::builder().body("the page could not be rendered"),
                    &self.cookies,
                );
            }
        };
        let resp = Response::builder()
            .content_type("text/html; charset=utf-8")
            .body(html);
        finish(status, resp, &self.cookies)
    }

    /// `303 See Other` to a path of ours.
    fn see_other(self, location: &str) -> Response {
        let mut resp = Response::builder().body(());
        if let Ok(v) = HeaderValue::from_str(location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        finish(StatusCode::SEE_OTHER, resp, &self.cookies)
    }
}

fn clear_cookie(state: &AppState, name: &str) -> String {
    state.pages.cookie(name, "", Some(0))
}

/// The headers every page answer carries, whatever it is.
fn finish(status: StatusCode, mut resp: Response, cookies: &[String]) -> Response {
    resp.set_status(status);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    // Pages show secrets (recovery codes, a TOTP key, tokens of mailed links): never
    // cached, never named in a Referer.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// A page that only says something.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct Message<'a> {
    title: &'a str,
    class: &'a str,
    text: &'a str,
    link: Option<(&'a str, &'a str)>,
}

fn message(status: StatusCode, title: &str, class: &str, text: &str) -> Response {
    message_with_link(status, title, class, text, None)
}

/// A page that says something and offers one way on (`href`, label).
fn message_with_link(
    status: StatusCode,
    title: &str,
    class: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    let page = Message {
        title,
        class,
        text,
        link,
    };
    Reply::empty().page(status, &page)
}

/// The 503 page, with `Retry-After`.
fn unavailable(e: ApiError) -> Response {
    let mut resp = message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        "error",
        &say(&e),
    );
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(e.retry_after.unwrap_or(crate::edge::RETRY_AFTER_SECS)),
    );
    resp
}

/// A form whose CSRF token does not match: nothing was done.
fn forged() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "error",
        "Nothing was changed. Go back, reload the page and try again.",
    )
}

/// The status a page answers for a refusal: the API's, except that a page has no HTTP
/// authentication scheme to name in the `WWW-Authenticate` a 401 requires.
fn page_status(e: &ApiError) -> StatusCode {
    match StatusCode::from_u16(e.problem.status) {
        Ok(StatusCode::UNAUTHORIZED) => StatusCode::BAD_REQUEST,
        Ok(s) => s,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// A refusal in words for the person at the page (the API's `detail` is for programs).
fn say(e: &ApiError) -> String {
    let wait = e.retry_after.unwrap_or(60);
    match e.problem.code.as_str() {
        "invalid_credentials" => "The username or the password is wrong.".to_owned(),
        "rate_limited" => {
            format!("Too many attempts. Wait {wait} seconds before you try again.")
        }
        "invalid_code" => "That code is not right. Enter the one your app shows now.".to_owned(),
        "invalid_mfa_token" => {
            "This sign-in took too long or was already used. Please start again.".to_owned()
        }
        "invalid_passkey" => "The passkey was not accepted. Please try again.".to_owned(),
        "reauthentication_required" => {
            "For your safety this change needs a recent sign-in. Sign out, sign in again, and \
             then make the change within a few minutes."
                .to_owned()
        }
        "service_unavailable" => {
            "The service is busy or unavailable. Nothing was changed; try again in a moment."
                .to_owned()
        }
        _ => {
            let mut d = e.problem.detail.clone();
            if let Some(first) = d.get(..1) {
                let upper = first.to_uppercase();
                d.replace_range(..1, &upper);
            }
            if !d.ends_with('.') {
                d.push('.');
            }
            d
        }
    }
}

/// Adds `Retry-After` when the refusal names one.
fn retry_after(mut resp: Response, e: &ApiError) -> Response {
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The longest path a sign-in comes back to: an authorization request at the longest
/// its parameters may be (state, nonce and the redirect URI at 512 bytes each, every
/// byte percent-encoded, then encoded again as `return_to`) fits (F8).
const MAX_RETURN_TO: usize = 12 * 1024;

/// `uri` with `params` added to its query (empty values left out).
pub(crate) fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().filter(|(_, v)| !v.is_empty()))
        .finish();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

/// A page of ours that sends the browser on to `return_to` afterwards: `path` alone when
/// there is nowhere particular to go.
fn with_return_to(path: &str, return_to: &str) -> String {
    if return_to.is_empty() || return_to == "/account" {
        path.to_owned()
    } else {
        with_query(path, &[("return_to", return_to)])
    }
}

/// Where to go after signing in: a path on this server, never another site (an open
/// redirect would let a link to our login page forward the signed-in user anywhere).
pub(crate) fn local_path(raw: &str) -> &str {
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.starts_with("/\\")
        && raw.len() <= MAX_RETURN_TO
        && !raw.chars().any(|c| c.is_control() || c == '\\');
    if ok { raw } else { "/account" }
}

/// A JSON answer for the ceremony script (WebAuthn options), with the page headers.
fn json(value: &serde_json::Value) -> Response {
    let resp = Response::builder()
        .content_type("application/json")
        .body(value.to_string());
    finish(StatusCode::OK, resp, &[])
}

/// A use case's answer to the ceremony script: its JSON, or its refusal as the API
/// would answer it.
fn for_script<E: Into<ApiError>>(result: Result<serde_json::Value, E>) -> Response {
    match result {
        Ok(value) => json(&value),
        Err(e) => json_refusal(e.into()),
    }
}

/// A refusal for the ceremony script: problem+json, as the API answers.
fn json_refusal(e: ApiError) -> Response {
    use poem::error::ResponseError as _;
    let resp = e.as_response();
    let status = resp.status();
    finish(status, resp, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::browser::PagesConfig;

    #[test]
    fn only_paths_of_ours_are_followed_after_sign_in() {
        assert_eq!(local_path("/account"), "/account");
        assert_eq!(
            local_path("/oauth2/authorize?x=1&y=2"),
            "/oauth2/authorize?x=1&y=2"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/a\\b",
            "javascript:alert(1)",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), "/account", "{bad:?}");
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_cookie_and_the_key() {
        let pages = PagesConfig::new(false, [1; 32]);
        let a = pages.csrf_for("cookie-a");
        assert_eq!(a.len(), 43);
        assert_eq!(a, pages.csrf_for("cookie-a"));
        assert_ne!(a, pages.csrf_for("cookie-b"));
        assert_ne!(a, PagesConfig::new(false, [2; 32]).csrf_for("cookie-a"));
    }

    #[test]
    fn cookies_are_host_only_and_secure_behind_https() {
        let plain = PagesConfig::new(false, [1; 32]);
        assert_eq!(plain.session_cookie(), "tessera_session");
        assert_eq!(
            plain.cookie("tessera_session", "v", Some(60)),
            "tessera_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        let tls = PagesConfig::new(true, [1; 32]);
        assert_eq!(tls.session_cookie(), "__Host-tessera_session");
        assert_eq!(
            tls.cookie(tls.form_cookie(), "v", None),
            "__Host-tessera_form=v; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
    }
}

//! The two pages mailed links open: `/verify-email` and `/reset-password`. Server-rendered
//! HTML, no JavaScript, no external assets, a strict Content-Security-Policy. Opening a
//! link changes nothing (mail scanners fetch links); the page's form does, by POSTing the
//! token back to the same path, which calls the same use cases as the JSON API.

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use tessera_domain::auth::{ResetError, VerifyEmailError};
use tessera_domain::email::{EmailToken, escape_html};
use tessera_domain::throttle::ClientAction;

use crate::api::{AppState, check_client, client_info};

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// The pages' one stylesheet, served at [`STYLESHEET_PATH`] so the policy can forbid
/// inline styles as well as scripts.
pub const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}\
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}.ok{color:#060}";

pub const STYLESHEET_PATH: &str = "/pages.css";

/// `GET /pages.css`.
#[handler]
pub fn stylesheet() -> Response {
    let mut resp = Response::builder()
        .content_type("text/css; charset=utf-8")
        .body(STYLE);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}

/// A whole page, with the headers every one of them carries.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\"></head>\n\
         <body>\n<h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape_html(title),
    );
    let mut resp = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(html);
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    // The token is in the URL: keep it out of caches and of Referer headers.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

fn message(status: StatusCode, title: &str, class: &str, text: &str) -> Response {
    page(
        status,
        title,
        &format!("<p class=\"{class}\">{}</p>", escape_html(text)),
    )
}

const BAD_LINK: &str =
    "This link is invalid, already used or expired. Ask for a new one and use the latest mail.";

fn with_retry_after(mut resp: Response, secs: u64) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

fn refused(e: &crate::problem::ApiError) -> Response {
    let status = StatusCode::from_u16(e.problem.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let resp = message(status, "Please wait", "error", &e.problem.detail);
    match e.retry_after {
        Some(secs) => with_retry_after(resp, secs),
        None => resp,
    }
}

fn unavailable() -> Response {
    let resp = message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        "error",
        "The service is temporarily unavailable. Nothing was changed; please try again in a moment.",
    );
    with_retry_after(resp, crate::api::RETRY_AFTER_SECS)
}

/// `GET /verify-email?token=…`: a button that confirms.
#[handler]
pub fn verify_email_page(Query(q): Query<TokenQuery>) -> Response {
    if EmailToken::from_client(&q.token).is_none() {
        return message(
            StatusCode::BAD_REQUEST,
            "Confirm your email address",
            "error",
            BAD_LINK,
        );
    }
    page(
        StatusCode::OK,
        "Confirm your email address",
        &format!(
            "<form method=\"post\" action=\"/verify-email\">\
             <input type=\"hidden\" name=\"token\" value=\"{}\">\
             <p>Confirm that this address is yours.</p>\
             <button type=\"submit\">Confirm my address</button></form>",
            escape_html(&q.token)
        ),
    )
}

/// `POST /verify-email` (form): redeems the token.
#[handler]
pub async fn verify_email_submit(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<VerifyForm>,
) -> Response {
    if let Err(e) = check_client(req, ClientAction::PasswordReset).await {
        return refused(&e);
    }
    let title = "Confirm your email address";
    match state
        .auth
        .verify_email(&form.token, &client_info(req))
        .await
    {
        Ok(()) => message(
            StatusCode::OK,
            title,
            "ok",
            "Thank you: your email address is verified.",
        ),
        Err(VerifyEmailError::InvalidToken) => {
            message(StatusCode::BAD_REQUEST, title, "error", BAD_LINK)
        }
        Err(VerifyEmailError::EmailTaken) => message(
            StatusCode::CONFLICT,
            title,
            "error",
            "Another account has already verified this address.",
        ),
        Err(e) => {
            tracing::warn!(error = ?e, "verification page failed");
            unavailable()
        }
    }
}

fn reset_form(token: &str, error: Option<&str>, min: usize, max: usize) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape_html(e)))
        .unwrap_or_default();
    format!(
        "{error}<form method=\"post\" action=\"/reset-password\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label for=\"new_password\">New password ({min}–{max} characters)</label>\
         <input type=\"password\" id=\"new_password\" name=\"new_password\" autocomplete=\"new-password\" required minlength=\"{min}\" maxlength=\"{max}\">\
         <label for=\"confirm_password\">The same again</label>\
         <input type=\"password\" id=\"confirm_password\" name=\"confirm_password\" autocomplete=\"new-password\" required>\
         <button type=\"submit\">Set the new password</button></form>\
         <p>Every device signed in to your account will be signed out.</p>",
        token = escape_html(token),
    )
}

/// `GET /reset-password?token=…`: the new-password form.
#[handler]
pub fn reset_password_page(state: Data<&AppState>, Query(q): Query<TokenQuery>) -> Response {
    let title = "Choose a new password";
    if EmailToken::from_client(&q.token).is_none() {
        return message(StatusCode::BAD_REQUEST, title, "error", BAD_LINK);
    }
    let p = state.password_policy;
    page(
        StatusCode::OK,
        title,
        &reset_form(&q.token, None, p.min_chars, p.max_chars),
    )
}

/// `POST /reset-password` (form): sets the password.
#[handler]
pub async fn reset_password_submit(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ResetForm>,
) -> Response {
    if let Err(e) = check_client(req, ClientAction::PasswordReset).await {
        return refused(&e);
    }
    let title = "Choose a new password";
    let p = state.password_policy;
    if EmailToken::from_client(&form.token).is_none() {
        return message(StatusCode::BAD_REQUEST, title, "error", BAD_LINK);
    }
    if form.new_password != form.confirm_password {
        let body = reset_form(
            &form.token,
            Some("The two passwords differ."),
            p.min_chars,
            p.max_chars,
        );
        return page(StatusCode::UNPROCESSABLE_ENTITY, title, &body);
    }
    match state
        .auth
        .reset_password(&form.token, &form.new_password, &p, &client_info(req))
        .await
    {
        Ok(()) => message(
            StatusCode::OK,
            title,
            "ok",
            "Your password is changed, and every device was signed out. Sign in with the new password.",
        ),
        Err(ResetError::InvalidToken) => message(StatusCode::BAD_REQUEST, title, "error", BAD_LINK),
        Err(ResetError::WeakPassword(e)) => {
            let body = reset_form(&form.token, Some(&e.to_string()), p.min_chars, p.max_chars);
            page(StatusCode::UNPROCESSABLE_ENTITY, title, &body)
        }
        Err(e) => {
            tracing::warn!(error = ?e, "reset page failed");
            unavailable()
        }
    }
}

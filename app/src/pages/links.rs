//! The pages mailed links open — `/verify-email` and `/reset-password` — and the page
//! that asks for a reset link, `/forgot-password`. Opening a link changes nothing (mail
//! scanners fetch links); the page's form does, by posting the token back, which calls
//! the same use cases as the JSON API. Like every form of the pages, each carries a CSRF
//! token bound to the browser.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use tessera_domain::auth::{ResetError, VerifyEmailError};
use tessera_domain::email::{Email, EmailToken};

use super::{Reply, message_with_link, page_status, retry_after, say, unavailable, visit};
use crate::edge::{Action, AppState, admit, client_info};
use crate::problem::ApiError;

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyPage<'a> {
    title: &'a str,
    csrf: &'a str,
    token: &'a str,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage<'a> {
    title: &'a str,
    csrf: &'a str,
    token: &'a str,
    error: Option<String>,
    min: usize,
    max: usize,
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPage<'a> {
    title: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<String>,
}

const VERIFY_TITLE: &str = "Confirm your email address";
const RESET_TITLE: &str = "Choose a new password";
const FORGOT_TITLE: &str = "Forgot your password?";

const BAD_LINK: &str =
    "This link is invalid, already used or expired. Ask for a new one and use the latest mail.";

fn bad_link(title: &str) -> Response {
    message_with_link(
        StatusCode::BAD_REQUEST,
        title,
        "error",
        BAD_LINK,
        Some(("/forgot-password", "Ask for a new reset link")),
    )
}

/// A refusal of a per-client bucket: the words and `Retry-After`.
fn refused(title: &str, e: &ApiError) -> Response {
    let resp = message_with_link(page_status(e), title, "error", &say(e), None);
    retry_after(resp, e)
}

/// The answer under way and its forms' CSRF token ([`visit`]).
async fn browser(
    state: &AppState,
    req: &Request,
    posted: Option<&str>,
) -> Result<(Reply, String), Response> {
    visit(state, req, posted)
        .await
        .map(|(_, reply, csrf)| (reply, csrf))
}

/// `GET /verify-email?token=…`: a button that confirms.
#[handler]
pub async fn verify_email_page(
    state: Data<&AppState>,
    req: &Request,
    Query(q): Query<TokenQuery>,
) -> Response {
    if EmailToken::from_client(&q.token).is_none() {
        return message_with_link(
            StatusCode::BAD_REQUEST,
            VERIFY_TITLE,
            "error",
            BAD_LINK,
            None,
        );
    }
    let (reply, csrf) = answered!(browser(&state, req, None).await);
    let page = VerifyPage {
        title: VERIFY_TITLE,
        csrf: &csrf,
        token: &q.token,
    };
    reply.page(StatusCode::OK, &page)
}

/// `POST /verify-email` (form): redeems the token.
#[handler]
pub async fn verify_email_submit(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<VerifyForm>,
) -> Response {
    if let Err(resp) = browser(&state, req, Some(&form.csrf)).await {
        return resp;
    }
    let _admitted = match admit(req, Action::MailedLink).await {
        Ok(admission) => admission,
        Err(e) => return refused(VERIFY_TITLE, &e),
    };
    match state
        .emails
        .verify_email(&form.token, &client_info(req))
        .await
    {
        Ok(()) => message_with_link(
            StatusCode::OK,
            VERIFY_TITLE,
            "ok",
            "Thank you: your email address is verified.",
            Some(("/account", "Go to your account")),
        ),
        Err(VerifyEmailError::InvalidToken) => message_with_link(
            StatusCode::BAD_REQUEST,
            VERIFY_TITLE,
            "error",
            BAD_LINK,
            None,
        ),
        Err(VerifyEmailError::EmailTaken) => message_with_link(
            StatusCode::CONFLICT,
            VERIFY_TITLE,
            "error",
            "Another account has already verified this address.",
            None,
        ),
        Err(e) => unavailable(e.into()),
    }
}

fn reset_page(
    state: &AppState,
    (reply, csrf): (Reply, String),
    status: StatusCode,
    token: &str,
    error: Option<String>,
) -> Response {
    let p = state.password_policy;
    let page = ResetPage {
        title: RESET_TITLE,
        csrf: &csrf,
        token,
        error,
        min: p.min_chars,
        max: p.max_chars,
    };
    reply.page(status, &page)
}

/// `GET /reset-password?token=…`: the new-password form.
#[handler]
pub async fn reset_password_page(
    state: Data<&AppState>,
    req: &Request,
    Query(q): Query<TokenQuery>,
) -> Response {
    if EmailToken::from_client(&q.token).is_none() {
        return bad_link(RESET_TITLE);
    }
    match browser(&state, req, None).await {
        Ok(b) => reset_page(&state, b, StatusCode::OK, &q.token, None),
        Err(resp) => resp,
    }
}

/// `POST /reset-password` (form): sets the password; every session of the account ends.
#[handler]
pub async fn reset_password_submit(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ResetForm>,
) -> Response {
    let b = answered!(browser(&state, req, Some(&form.csrf)).await);
    let _admitted = match admit(req, Action::ResetPassword).await {
        Ok(admission) => admission,
        Err(e) => return refused(RESET_TITLE, &e),
    };
    if EmailToken::from_client(&form.token).is_none() {
        return bad_link(RESET_TITLE);
    }
    if form.new_password != form.confirm_password {
        let error = Some("The two passwords differ.".to_owned());
        return reset_page(
            &state,
            b,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form.token,
            error,
        );
    }
    match state
        .emails
        .reset_password(
            &form.token,
            &form.new_password,
            &state.password_policy,
            &client_info(req),
        )
        .await
    {
        Ok(()) => message_with_link(
            StatusCode::OK,
            RESET_TITLE,
            "ok",
            "Your password is changed, and every device was signed out. Sign in with the new password.",
            Some(("/login", "Sign in")),
        ),
        Err(ResetError::InvalidToken) => bad_link(RESET_TITLE),
        Err(ResetError::WeakPassword(e)) => {
            let error = Some(say(&ApiError::from(e)));
            reset_page(
                &state,
                b,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form.token,
                error,
            )
        }
        Err(e) => unavailable(e.into()),
    }
}

/// `GET /forgot-password`: asks for the address to send a reset link to.
#[handler]
pub async fn forgot_password_page(state: Data<&AppState>, req: &Request) -> Response {
    let (reply, csrf) = answered!(browser(&state, req, None).await);
    let page = ForgotPage {
        title: FORGOT_TITLE,
        csrf: &csrf,
        email: "",
        error: None,
    };
    reply.page(StatusCode::OK, &page)
}

/// `POST /forgot-password`: the same answer whether or not the address is known, as
/// `POST /v1/auth/password-reset` gives.
#[handler]
pub async fn forgot_password_submit(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ForgotForm>,
) -> Response {
    let (reply, csrf) = answered!(browser(&state, req, Some(&form.csrf)).await);
    let outcome = async {
        let _admitted = admit(req, Action::MailedLink).await?;
        let email = Email::parse(&form.email).map_err(ApiError::from)?;
        state
            .emails
            .request_password_reset(&email, &client_info(req))
            .await
            .map_err(ApiError::from)?;
        state.mail.wake();
        Ok::<_, ApiError>(())
    };
    match outcome.await {
        Ok(()) => message_with_link(
            StatusCode::OK,
            FORGOT_TITLE,
            "ok",
            crate::edge::RESET_ACCEPTED,
            Some(("/login", "Back to sign-in")),
        ),
        Err(e) if e.problem.status == 503 => unavailable(e),
        Err(e) => {
            let page = ForgotPage {
                title: FORGOT_TITLE,
                csrf: &csrf,
                email: &form.email,
                error: Some(say(&e)),
            };
            retry_after(reply.page(page_status(&e), &page), &e)
        }
    }
}

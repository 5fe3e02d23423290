//! Signing up on the hosted pages: `/register`, linked from `/login`. The form calls the
//! same use case as `POST /v1/auth/register`, behind the same per-client bucket and
//! password door, and signs the new account in at once; the rules of a username and a
//! password are said beside their fields before anything is refused, and a refusal is
//! shown beside the field it is about. `registration.enabled = false` closes it.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use tessera_domain::auth::RegisterError;
use tessera_domain::email::Email;
use tessera_domain::user::{Password, Username};

use super::{Reply, Visitor, local_path, page_status, retry_after, say, visit};
use crate::edge::{Action, AppState, admit, client_info};
use crate::problem::ApiError;

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage<'a> {
    title: &'a str,
    csrf: &'a str,
    return_to: &'a str,
    login_href: String,
    closed: bool,
    username: &'a str,
    email: &'a str,
    min_password: usize,
    max_password: usize,
    /// Which field the error is about: `username`, `password`, `email` or `form`.
    error_for: &'a str,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct RegisterQuery {
    #[serde(default)]
    return_to: String,
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    email: String,
}

const TITLE: &str = "Create an account";

/// The form, with what was typed (never the password) and the error beside its field.
struct Filled<'a> {
    username: &'a str,
    email: &'a str,
    error_for: &'a str,
    error: Option<String>,
}

fn page(
    state: &AppState,
    reply: Reply,
    status: StatusCode,
    csrf: &str,
    return_to: &str,
    filled: Filled<'_>,
) -> Response {
    let login_href = super::with_return_to("/login", return_to);
    let page = RegisterPage {
        title: TITLE,
        csrf,
        return_to,
        login_href,
        closed: !state.registration_open,
        username: filled.username,
        email: filled.email,
        min_password: state.password_policy.min_chars,
        max_password: state.password_policy.max_chars,
        error_for: filled.error_for,
        error: filled.error,
    };
    reply.page(status, &page)
}

/// `GET /register`: the form, or straight on for a browser already signed in.
#[handler]
pub async fn show(
    state: Data<&AppState>,
    req: &Request,
    Query(q): Query<RegisterQuery>,
) -> Response {
    let visitor = answered!(Visitor::of(&state, req).await);
    let (reply, csrf) = answered!(Reply::to(&state, &visitor));
    let return_to = local_path(&q.return_to);
    if visitor.claims.is_some() {
        return reply.see_other(return_to);
    }
    let status = if state.registration_open {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    let blank = Filled {
        username: "",
        email: "",
        error_for: "",
        error: None,
    };
    page(&state, reply, status, &csrf, return_to, blank)
}

/// `POST /register`: creates the account and signs it in, then on to `return_to`.
#[handler]
pub async fn submit(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<RegisterForm>,
) -> Response {
    let (_, reply, csrf) = answered!(visit(&state, req, Some(&form.csrf)).await);
    let return_to = local_path(&form.return_to);
    let refuse = |reply: Reply, field: &'static str, e: ApiError| {
        let filled = Filled {
            username: &form.username,
            email: &form.email,
            error_for: field,
            error: Some(say(&e)),
        };
        let resp = page(&state, reply, page_status(&e), &csrf, return_to, filled);
        retry_after(resp, &e)
    };
    if !state.registration_open {
        return refuse(reply, "form", crate::edge::refusal::registration_closed());
    }
    let _admitted = match admit(req, Action::Register).await {
        Ok(admission) => admission,
        Err(e) => return refuse(reply, "form", e),
    };
    let username = match Username::parse(&form.username) {
        Ok(u) => u,
        Err(e) => return refuse(reply, "username", e.into()),
    };
    let password = match Password::parse(&form.password, &username, &state.password_policy) {
        Ok(p) => p,
        Err(e) => return refuse(reply, "password", e.into()),
    };
    let email = match Some(form.email.trim())
        .filter(|e| !e.is_empty())
        .map(Email::parse)
        .transpose()
    {
        Ok(e) => e,
        Err(e) => return refuse(reply, "email", e.into()),
    };
    match state
        .accounts
        .sign_up(username, password, email, &client_info(req))
        .await
    {
        Ok((user, pair)) => {
            if user.email.is_some() {
                state.mail.wake();
            }
            super::login::signed_in(&state, reply, &pair, return_to)
        }
        Err(e @ RegisterError::UsernameTaken) => refuse(reply, "username", e.into()),
        Err(e) => refuse(reply, "form", e.into()),
    }
}

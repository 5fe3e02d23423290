//! Signing in and out on the hosted pages: the password form, the second step (a code,
//! a recovery code or a passkey), passwordless sign-in with a passkey, and sign-out.
//! Every step calls the same use cases as `POST /v1/auth/login`, `/v1/auth/mfa` and
//! `/v1/auth/passkey`, behind the same per-client buckets, password door, account
//! lockout, audit and metrics; a page only trades the token pair for a session cookie.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use tessera_domain::auth::{LoginOutcome, SecondStepChallenge, SecondStepProof, TokenPair};
use tessera_domain::mfa::SecondFactor;
use tessera_domain::user::PasswordAttempt;

use super::{
    Reply, Visitor, clear_cookie, for_script, forged, json_refusal, local_path, page_status,
    retry_after, say, unavailable, visit,
};
use crate::edge::factors::{count_second_factor, passkey_refusal};
use crate::edge::{Action, AppState, admit, client_info};
use crate::problem::ApiError;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    title: &'a str,
    csrf: &'a str,
    return_to: &'a str,
    username: &'a str,
    notice: Option<&'a str>,
    error: Option<String>,
    /// The sign-up link, when sign-up is open, with the same way back.
    registration_open: bool,
    register_href: String,
}

#[derive(Template)]
#[template(path = "second_step.html")]
struct SecondStepPage<'a> {
    title: &'a str,
    csrf: &'a str,
    return_to: &'a str,
    mfa_token: &'a str,
    /// The challenge's methods, carried with the form so an error can show them again.
    methods: &'a str,
    totp: bool,
    recovery: bool,
    webauthn: bool,
    /// Which form the error belongs to: `code`, `recovery` or `passkey`.
    error_for: &'a str,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    notice: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub struct SecondStepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    mfa_token: String,
    #[serde(default)]
    methods: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
    #[serde(default)]
    credential: String,
}

#[derive(Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    challenge_id: String,
    #[serde(default)]
    credential: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

const TITLE: &str = "Sign in";

/// Notices another page may ask the login page to show (a fixed set: a query string
/// never puts words on the page).
fn notice(key: &str) -> Option<&'static str> {
    match key {
        "signed_out" => Some("You are signed out."),
        "signed_out_everywhere" => Some("You are signed out on every device."),
        "password_reset" => Some("Your password is changed. Sign in with the new one."),
        "session_ended" => Some("Your session has ended. Please sign in again."),
        _ => None,
    }
}

fn login_page(
    state: &AppState,
    reply: Reply,
    status: StatusCode,
    csrf: &str,
    return_to: &str,
    username: &str,
    error: Option<String>,
) -> Response {
    let page = LoginPage {
        title: TITLE,
        csrf,
        return_to,
        username,
        notice: None,
        error,
        registration_open: state.registration_open,
        register_href: super::with_return_to("/register", return_to),
    };
    reply.page(status, &page)
}

/// Signs the browser in: the session's refresh token becomes its cookie, and the
/// browser goes where it was going.
pub(super) fn signed_in(
    state: &AppState,
    reply: Reply,
    pair: &TokenPair,
    return_to: &str,
) -> Response {
    let cookie = state.pages.cookie(
        state.pages.session_cookie(),
        pair.refresh_token.expose(),
        Some(pair.refresh_expires_in),
    );
    reply.with_cookie(cookie).see_other(local_path(return_to))
}

/// `GET /login`: the sign-in form, or straight on for a browser already signed in.
#[handler]
pub async fn sign_in_form(
    state: Data<&AppState>,
    req: &Request,
    Query(q): Query<LoginQuery>,
) -> Response {
    let visitor = answered!(Visitor::of(&state, req).await);
    let (reply, csrf) = answered!(Reply::to(&state, &visitor));
    if visitor.claims.is_some() {
        return reply.see_other(local_path(&q.return_to));
    }
    let return_to = local_path(&q.return_to);
    let page = LoginPage {
        title: TITLE,
        csrf: &csrf,
        return_to,
        username: "",
        notice: notice(&q.notice),
        error: None,
        registration_open: state.registration_open,
        register_href: super::with_return_to("/register", return_to),
    };
    reply.page(StatusCode::OK, &page)
}

/// `POST /login`: checks the password; opens the second step when the account has one.
#[handler]
pub async fn submit(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<LoginForm>,
) -> Response {
    let (_, reply, csrf) = answered!(visit(&state, req, Some(&form.csrf)).await);
    let return_to = local_path(&form.return_to);
    let refuse = |reply: Reply, e: ApiError| {
        let resp = login_page(
            &state,
            reply,
            page_status(&e),
            &csrf,
            return_to,
            &form.username,
            Some(say(&e)),
        );
        retry_after(resp, &e)
    };
    let _admitted = match admit(req, Action::Login).await {
        Ok(admission) => admission,
        Err(e) => return refuse(reply, e),
    };
    let Some(attempt) = PasswordAttempt::new(&form.password) else {
        return refuse(
            reply,
            tessera_domain::auth::LoginError::InvalidCredentials.into(),
        );
    };
    match state
        .accounts
        .login(&form.username, &attempt, &client_info(req))
        .await
    {
        Ok(LoginOutcome::Tokens(pair)) => signed_in(&state, reply, &pair, return_to),
        Ok(LoginOutcome::SecondStep(challenge)) => second_step_page(
            reply,
            StatusCode::OK,
            &csrf,
            return_to,
            &challenge_view(&challenge),
            "",
            None,
        ),
        Err(e) => refuse(reply, e.into()),
    }
}

/// What the second-step page needs of an open challenge.
struct Challenge {
    token: String,
    methods: String,
    totp: bool,
    recovery: bool,
    webauthn: bool,
}

fn challenge_view(c: &SecondStepChallenge) -> Challenge {
    challenge(c.token.expose(), &c.methods)
}

fn challenge(token: &str, methods: &[SecondFactor]) -> Challenge {
    Challenge {
        token: token.to_owned(),
        methods: methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        totp: methods.contains(&SecondFactor::Totp),
        recovery: methods.contains(&SecondFactor::RecoveryCode),
        webauthn: methods.contains(&SecondFactor::Webauthn),
    }
}

fn second_step_page(
    reply: Reply,
    status: StatusCode,
    csrf: &str,
    return_to: &str,
    c: &Challenge,
    error_for: &str,
    error: Option<String>,
) -> Response {
    let page = SecondStepPage {
        title: "Confirm it is you",
        csrf,
        return_to,
        mfa_token: &c.token,
        methods: &c.methods,
        totp: c.totp,
        recovery: c.recovery,
        webauthn: c.webauthn,
        error_for,
        error,
    };
    reply.page(status, &page)
}

/// `POST /login/second-step`: one proof — a code, a recovery code, or a passkey
/// assertion the script put in `credential`.
#[handler]
pub async fn second_step(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<SecondStepForm>,
) -> Response {
    let (_, reply, csrf) = answered!(visit(&state, req, Some(&form.csrf)).await);
    let return_to = local_path(&form.return_to);
    let (proof, method, error_for) = if !form.credential.is_empty() {
        let credential = serde_json::from_str(&form.credential).unwrap_or(serde_json::Value::Null);
        (SecondStepProof::Webauthn(credential), "webauthn", "passkey")
    } else if !form.recovery_code.trim().is_empty() {
        (
            SecondStepProof::RecoveryCode(form.recovery_code.clone()),
            "recovery_code",
            "recovery",
        )
    } else {
        (
            SecondStepProof::Totp(form.code.trim().to_owned()),
            "totp",
            "code",
        )
    };
    let refuse = |reply: Reply, e: ApiError| {
        if e.problem.code == "invalid_mfa_token" {
            // The challenge is gone: only a new sign-in helps.
            let resp = login_page(
                &state,
                reply,
                page_status(&e),
                &csrf,
                return_to,
                "",
                Some(say(&e)),
            );
            return retry_after(resp, &e);
        }
        // The form again, with the same challenge: it allows a few attempts.
        let methods: Vec<SecondFactor> = [
            SecondFactor::Totp,
            SecondFactor::RecoveryCode,
            SecondFactor::Webauthn,
        ]
        .into_iter()
        .filter(|m| form.methods.split_whitespace().any(|w| w == m.as_str()))
        .collect();
        let c = challenge(&form.mfa_token, &methods);
        let resp = second_step_page(
            reply,
            page_status(&e),
            &csrf,
            return_to,
            &c,
            error_for,
            Some(say(&e)),
        );
        retry_after(resp, &e)
    };
    let _admitted = match admit(req, Action::SecondFactor).await {
        Ok(admission) => admission,
        Err(e) => return refuse(reply, e),
    };
    let result = state
        .factors
        .complete_second_step(&form.mfa_token, proof, &client_info(req))
        .await;
    count_second_factor(&state, method, &result);
    match result {
        Ok(pair) => signed_in(&state, reply, &pair, return_to),
        Err(e) => refuse(reply, e.into()),
    }
}

/// The checks before a ceremony's options go to the script: the form's CSRF token (403
/// page), then the client's sign-in bucket (problem+json, which the script reads).
async fn ceremony_call(state: &AppState, req: &Request, csrf: &str) -> Result<(), Response> {
    let visitor = Visitor::of(state, req).await?;
    if !visitor.csrf_ok(state, csrf) {
        return Err(forged());
    }
    admit(req, Action::SecondFactor)
        .await
        .map(drop)
        .map_err(json_refusal)
}

/// `POST /login/second-step/options` (the script): WebAuthn request options for the
/// open challenge, as `POST /v1/auth/mfa/webauthn/options` answers them.
#[handler]
pub async fn second_step_options(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<SecondStepForm>,
) -> Response {
    answered!(ceremony_call(&state, req, &form.csrf).await);
    for_script(
        state
            .factors
            .second_step_webauthn_options(&form.mfa_token, &client_info(req))
            .await,
    )
}

/// `POST /login/passkey/options` (the script): options for passwordless sign-in and
/// the id of the ceremony.
#[handler]
pub async fn passkey_options(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<CsrfForm>,
) -> Response {
    answered!(ceremony_call(&state, req, &form.csrf).await);
    // The ceremony's id travels with its options.
    for_script(
        state
            .factors
            .passkey_sign_in_options()
            .await
            .map(|(challenge, mut options)| {
                if let Some(o) = options.as_object_mut() {
                    o.insert(
                        "challenge_id".to_owned(),
                        serde_json::Value::String(challenge.expose().to_owned()),
                    );
                }
                options
            }),
    )
}

/// `POST /login/passkey`: passwordless sign-in with the assertion the script made.
#[handler]
pub async fn passkey(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<PasskeyForm>,
) -> Response {
    let (_, reply, csrf) = answered!(visit(&state, req, Some(&form.csrf)).await);
    let return_to = local_path(&form.return_to);
    let refuse = |reply: Reply, e: ApiError| {
        let resp = login_page(
            &state,
            reply,
            page_status(&e),
            &csrf,
            return_to,
            "",
            Some(say(&e)),
        );
        retry_after(resp, &e)
    };
    let _admitted = match admit(req, Action::SecondFactor).await {
        Ok(admission) => admission,
        Err(e) => return refuse(reply, e),
    };
    let credential = serde_json::from_str(&form.credential).unwrap_or(serde_json::Value::Null);
    let result = state
        .factors
        .passkey_sign_in(&form.challenge_id, &credential, &client_info(req))
        .await;
    count_second_factor(&state, "passkey", &result);
    match result {
        Ok(pair) => signed_in(&state, reply, &pair, return_to),
        Err(e) => refuse(reply, passkey_refusal(e)),
    }
}

/// `POST /logout`: ends this browser's session — its refresh token and every access
/// token it issued — and forgets the cookie.
#[handler]
pub async fn logout(state: Data<&AppState>, req: &Request, Form(form): Form<CsrfForm>) -> Response {
    let visitor = answered!(Visitor::of(&state, req).await);
    let Some(claims) = &visitor.claims else {
        let reply = Reply {
            cookies: vec![clear_cookie(&state, state.pages.session_cookie())],
        };
        return reply.see_other("/login?notice=signed_out");
    };
    if !visitor.csrf_ok(&state, &form.csrf) {
        return forged();
    }
    if let Err(e) = state.accounts.logout(claims, &client_info(req)).await {
        return unavailable(e.into());
    }
    let reply = Reply {
        cookies: vec![clear_cookie(&state, state.pages.session_cookie())],
    };
    reply.see_other("/login?notice=signed_out")
}

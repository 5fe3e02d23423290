//! The person's side of the device authorization grant (RFC 8628 §3.3): `/device`, where
//! someone signed in (any way, any factor) types the code a device shows, sees which app
//! asks for what, and allows or denies it. A link with `?user_code=` fills the code in;
//! it is still confirmed on the page, never decided by the link. Codes typed draw from
//! the login bucket of the client's address (guessing), and a decision is a
//! CSRF-protected form, good once.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use tessera_domain::oidc::UserCode;

use super::authorize::describe;
use super::{
    Reply, Visitor, message, page_status, retry_after, say, unavailable, visit, with_query,
};
use crate::edge::{Action, AppState, admit, client_info};

#[derive(Template)]
#[template(path = "device.html")]
struct CodePage<'a> {
    title: &'a str,
    csrf: &'a str,
    username: &'a str,
    user_code: &'a str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage<'a> {
    title: &'a str,
    csrf: &'a str,
    client: &'a str,
    username: &'a str,
    user_code: &'a str,
    scopes: Vec<&'static str>,
}

#[derive(Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    user_code: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    decision: String,
}

const TITLE: &str = "Sign in a device";

/// `GET /device`: the code form; a visitor not signed in signs in first and comes back.
#[handler]
pub async fn show(state: Data<&AppState>, req: &Request, Query(q): Query<CodeQuery>) -> Response {
    let visitor = answered!(Visitor::of(&state, req).await);
    let (reply, csrf) = answered!(Reply::to(&state, &visitor));
    let Some(claims) = &visitor.claims else {
        let back = with_query("/device", &[("user_code", &q.user_code)]);
        return reply.see_other(&with_query("/login", &[("return_to", &back)]));
    };
    let typed: String = q.user_code.chars().take(16).collect();
    let page = CodePage {
        title: TITLE,
        csrf: &csrf,
        username: &claims.username,
        user_code: &typed,
        error: None,
    };
    reply.page(StatusCode::OK, &page)
}

/// `POST /device`: the code typed; the request it names, to allow or deny.
#[handler]
pub async fn lookup(state: Data<&AppState>, req: &Request, Form(form): Form<CodeForm>) -> Response {
    let (visitor, reply, csrf) = answered!(visit(&state, req, Some(&form.csrf)).await);
    let Some(claims) = &visitor.claims else {
        return reply.see_other("/login?return_to=%2Fdevice");
    };
    let typed: String = form.user_code.chars().take(16).collect();
    let refuse = |reply: Reply, status: StatusCode, error: String| {
        let page = CodePage {
            title: TITLE,
            csrf: &csrf,
            username: &claims.username,
            user_code: &typed,
            error: Some(error),
        };
        reply.page(status, &page)
    };
    if let Err(e) = admit(req, Action::UserCode).await {
        let resp = refuse(reply, page_status(&e), say(&e));
        return retry_after(resp, &e);
    }
    let unknown = "This code is not valid, or it has expired or been used. Check the device \
                   and type the code it shows now.";
    let Some(code) = UserCode::parse(&form.user_code) else {
        return refuse(reply, StatusCode::BAD_REQUEST, unknown.into());
    };
    let request = match state.oidc.device_request(&code).await {
        Ok(Some(request)) => request,
        Ok(None) => return refuse(reply, StatusCode::BAD_REQUEST, unknown.into()),
        Err(e) => return unavailable(e.into()),
    };
    let shown = request.user_code.display();
    let page = ConfirmPage {
        title: "Allow this device?",
        csrf: &csrf,
        client: &request.client.name,
        username: &claims.username,
        user_code: &shown,
        scopes: request.scopes.iter().map(describe).collect(),
    };
    reply.page(StatusCode::OK, &page)
}

/// `POST /device/decision`: allow or deny, once.
#[handler]
pub async fn decide(state: Data<&AppState>, req: &Request, Form(form): Form<CodeForm>) -> Response {
    let (visitor, reply, _) = answered!(visit(&state, req, Some(&form.csrf)).await);
    let Some(claims) = &visitor.claims else {
        return reply.see_other("/login?return_to=%2Fdevice");
    };
    // The decision names a code as the lookup does: guesses through it draw from the
    // same bucket, or the form would be a way round the limit.
    if let Err(e) = admit(req, Action::UserCode).await {
        let resp = message(page_status(&e), "Too many codes tried", "error", &say(&e));
        return retry_after(resp, &e);
    }
    let Some(code) = UserCode::parse(&form.user_code) else {
        return message(
            StatusCode::BAD_REQUEST,
            "This code does not work",
            "error",
            "The code is not valid. Type the code the device shows on /device.",
        );
    };
    let allow = form.decision == "allow";
    match state
        .oidc
        .decide_device_request(claims, &code, allow, &client_info(req))
        .await
    {
        Ok(true) if allow => message(
            StatusCode::OK,
            "Device signed in",
            "ok",
            "The device is signed in with your account. You can go back to it now.",
        ),
        Ok(true) => message(
            StatusCode::OK,
            "Device not signed in",
            "ok",
            "You denied the request: the device is not signed in.",
        ),
        Ok(false) => message(
            StatusCode::BAD_REQUEST,
            "This code does not work any more",
            "error",
            "The request was already answered, or it expired. Start again on the device.",
        ),
        Err(e) => unavailable(e.into()),
    }
}

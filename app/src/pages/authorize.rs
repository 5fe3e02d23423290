//! The browser's side of the OpenID provider: `GET /oauth2/authorize` (through the
//! hosted `/login` when nobody is signed in, then the consent page for a third-party
//! client), `POST /oauth2/consent`, and RP-initiated logout, `GET /oauth2/logout`.
//!
//! An error the client should hear about goes back to its redirect URI (RFC 6749
//! §4.1.2.1); an unknown client or redirect URI is a page here, never a redirect. Every
//! answer that goes back carries `iss` (RFC 9207), so a client can tell which provider
//! answered.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use tessera_domain::auth::{Authorization, AuthorizeError, AuthorizeRequest};
use tessera_domain::token::Claims;

use super::{Message, Reply, Visitor, clear_cookie, forged, message, unavailable, with_query};
use crate::edge::{AppState, client_info};
use crate::problem::ApiError;

/// An authorization request's parameters, from the query or the consent form.
#[derive(Deserialize, Default, Clone)]
pub struct AuthorizeParams {
    #[serde(default)]
    csrf: String,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// OIDC Core §3.1.2.1, space-separated: `none` (answer without a page), `login`
    /// (sign in again), `consent` (ask again), `select_account` (refused:
    /// `account_selection_required`, a browser holds one account).
    prompt: Option<String>,
    /// The longest a sign-in may be ago, in seconds; an older one is confirmed again.
    max_age: Option<String>,
    /// Set by Tessera on the way back from confirming a sign-in: the instant (Unix
    /// seconds) a sign-in must be no older than for `prompt=login` or `max_age` to be
    /// satisfied. A client that sets it itself only waives its own demand.
    tessera_signed_in_after: Option<i64>,
    /// On the consent form: `allow` or `deny`.
    decision: Option<String>,
}

/// What `prompt` asks for (OIDC Core §3.1.2.1; `create`: Initiating User Registration
/// via OpenID Connect 1.0).
#[derive(Default)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
    select_account: bool,
    create: bool,
}

impl Prompt {
    /// `None` for a value the spec does not define, or `none` with another.
    fn parse(raw: Option<&str>) -> Option<Self> {
        let mut p = Self::default();
        for word in raw.unwrap_or("").split(' ').filter(|w| !w.is_empty()) {
            match word {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                "select_account" => p.select_account = true,
                "create" => p.create = true,
                _ => return None,
            }
        }
        let others = p.login || p.consent || p.select_account || p.create;
        (!(p.none && others)).then_some(p)
    }
}

impl AuthorizeParams {
    fn request(&self) -> AuthorizeRequest {
        AuthorizeRequest {
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            response_type: self.response_type.clone(),
            scope: self.scope.clone(),
            state: self.state.clone(),
            nonce: self.nonce.clone(),
            code_challenge: self.code_challenge.clone(),
            code_challenge_method: self.code_challenge_method.clone(),
        }
    }

    /// The fields the consent form carries back, as (name, value).
    fn hidden(&self) -> Vec<(&'static str, String)> {
        [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("response_type", &self.response_type),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }

    /// The request again, as a path to come back to after signing in: only the
    /// parameters Tessera reads, so its length is bounded by theirs (F8) whatever else
    /// the client sent, and a POSTed request comes back as one that can be followed.
    fn back(&self, signed_in_after: Option<i64>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(self.hidden());
        // `create` is asked once: the way back from sign-up does not ask again.
        let prompt = self.prompt.as_deref().map(|p| {
            p.split(' ')
                .filter(|w| !w.is_empty() && *w != "create")
                .collect::<Vec<_>>()
                .join(" ")
        });
        if let Some(p) = prompt.filter(|p| !p.is_empty()) {
            query.append_pair("prompt", &p);
        }
        if let Some(v) = &self.max_age {
            query.append_pair("max_age", v);
        }
        if let Some(t) = signed_in_after.or(self.tessera_signed_in_after) {
            query.append_pair("tessera_signed_in_after", &t.to_string());
        }
        format!("/oauth2/authorize?{}", query.finish())
    }
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    title: &'a str,
    csrf: &'a str,
    client: &'a str,
    username: &'a str,
    scopes: Vec<&'static str>,
    hidden: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "continue.html")]
struct ContinuePage<'a> {
    title: &'a str,
    href: &'a str,
    client: &'a str,
}

/// What a scope lets the client know, in words.
pub(super) fn describe(scope: &str) -> &'static str {
    match scope {
        "openid" => "that it is you who signs in (your account's id)",
        "profile" => "your username",
        "email" => "your email address, and whether it is verified",
        _ => "something Tessera does not grant",
    }
}

/// Sends the browser back to the client. A navigation that came through one of our own
/// forms (sign-in, consent) gets a page that moves on by itself rather than a redirect:
/// the forms' `form-action 'self'` would stop a redirect chain that ends at the client.
fn to_client(req: &Request, reply: Reply, href: &str, client: &str) -> Response {
    let from_our_form = req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v == "same-origin");
    if !from_our_form {
        return reply.see_other(href);
    }
    let page = ContinuePage {
        title: "Signing you in",
        href,
        client,
    };
    reply.page(StatusCode::OK, &page)
}

fn issuer(state: &AppState) -> String {
    state.oidc.issuer().to_owned()
}

/// Answers a refused authorization request: at the client's redirect URI when it can
/// be trusted, else on a page here.
fn refuse(state: &AppState, req: &Request, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::NotRedirectable(why) => message(
            StatusCode::BAD_REQUEST,
            "This sign-in link does not work",
            "error",
            why,
        ),
        AuthorizeError::Redirect {
            redirect_uri,
            state: st,
            error,
            description,
        } => {
            let iss = issuer(state);
            let href = with_query(
                &redirect_uri,
                &[
                    ("error", error),
                    ("error_description", &description),
                    ("state", st.as_deref().unwrap_or("")),
                    ("iss", &iss),
                ],
            );
            to_client(req, Reply::empty(), &href, "the application")
        }
        AuthorizeError::Unavailable(e) => unavailable(ApiError::from(e)),
    }
}

/// Issues the code and sends the browser back with it.
async fn grant(
    state: &AppState,
    req: &Request,
    reply: Reply,
    claims: &Claims,
    auth: &Authorization,
) -> Response {
    let code = match state.oidc.issue_code(claims, auth).await {
        Ok(code) => code,
        Err(e) => return unavailable(e.into()),
    };
    let iss = issuer(state);
    let href = with_query(
        &auth.redirect_uri,
        &[
            ("code", &code),
            ("state", auth.state.as_deref().unwrap_or("")),
            ("iss", &iss),
        ],
    );
    to_client(req, reply, &href, &auth.client.name)
}

fn redirect_error(auth: &Authorization, error: &'static str, description: &str) -> AuthorizeError {
    AuthorizeError::Redirect {
        redirect_uri: auth.redirect_uri.clone(),
        state: auth.state.clone(),
        error,
        description: description.to_owned(),
    }
}

/// `GET /oauth2/authorize`.
#[handler]
pub async fn authorize(
    state: Data<&AppState>,
    req: &Request,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    authorize_with(&state, req, params).await
}

/// `POST /oauth2/authorize`: the same request as a form (OIDC Core §3.1.2.1: both
/// methods MUST be supported).
#[handler]
pub async fn authorize_post(
    state: Data<&AppState>,
    req: &Request,
    Form(params): Form<AuthorizeParams>,
) -> Response {
    authorize_with(&state, req, params).await
}

async fn authorize_with(state: &AppState, req: &Request, params: AuthorizeParams) -> Response {
    let auth = match state.oidc.check_authorization(&params.request()).await {
        Ok(auth) => auth,
        Err(e) => return refuse(state, req, e),
    };
    let Some(prompt) = Prompt::parse(params.prompt.as_deref()) else {
        let e = redirect_error(
            &auth,
            "invalid_request",
            "prompt is none alone, or any of login, consent, select_account and create",
        );
        return refuse(state, req, e);
    };
    let max_age = match params.max_age.as_deref().map(str::parse::<u32>) {
        None => None,
        Some(Ok(secs)) => Some(i64::from(secs)),
        Some(Err(_)) => {
            let e = redirect_error(&auth, "invalid_request", "max_age is a number of seconds");
            return refuse(state, req, e);
        }
    };
    if prompt.create && !state.registration_open {
        let e = redirect_error(
            &auth,
            "invalid_request",
            "this service does not take sign-ups",
        );
        return refuse(state, req, e);
    }
    let visitor = answered!(Visitor::of(state, req).await);
    let (reply, csrf) = answered!(Reply::to(state, &visitor));
    let Some(claims) = &visitor.claims else {
        if prompt.create {
            let back = params.back(None);
            return reply.see_other(&with_query("/register", &[("return_to", &back)]));
        }
        if prompt.none {
            let e = redirect_error(&auth, "login_required", "nobody is signed in");
            return refuse(state, req, e);
        }
        let back = params.back(None);
        return reply.see_other(&with_query("/login", &[("return_to", &back)]));
    };
    if prompt.select_account {
        let e = redirect_error(
            &auth,
            "account_selection_required",
            "a browser is signed in to one account here: sign out to use another",
        );
        return refuse(state, req, e);
    }
    // prompt=login and max_age: a sign-in older than asked is confirmed again, in this
    // session (the step-up), unless it was confirmed on the way here.
    let now = state.oidc.core().now().timestamp();
    let confirmed = params
        .tessera_signed_in_after
        .is_some_and(|t| claims.auth_time >= t);
    let too_old = max_age.is_some_and(|max| now - claims.auth_time > max);
    if (prompt.login || too_old) && !confirmed {
        if prompt.none {
            let e = redirect_error(&auth, "login_required", "the sign-in is older than asked");
            return refuse(state, req, e);
        }
        let back = params.back(Some(now));
        return reply.see_other(&with_query("/login/confirm", &[("return_to", &back)]));
    }
    let ask = match state.oidc.needs_consent(claims, &auth).await {
        Ok(needed) => needed || prompt.consent,
        Err(e) => return unavailable(e.into()),
    };
    if !ask {
        return grant(state, req, reply, claims, &auth).await;
    }
    if prompt.none {
        let e = redirect_error(
            &auth,
            "consent_required",
            "the user has not allowed this client",
        );
        return refuse(state, req, e);
    }
    let page = ConsentPage {
        title: "Allow this application?",
        csrf: &csrf,
        client: &auth.client.name,
        username: &claims.username,
        scopes: auth.scopes.iter().map(describe).collect(),
        hidden: params.hidden(),
    };
    reply.page(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    title: &'a str,
    csrf: &'a str,
    return_to: &'a str,
    username: &'a str,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    password: String,
}

/// `GET /login/confirm`: the signed-in person confirms it is them with the password,
/// before an application that asked for a fresh sign-in (`prompt=login`, `max_age`) goes
/// on. Nobody signed in: the sign-in form.
#[handler]
pub async fn confirm_form(
    state: Data<&AppState>,
    req: &Request,
    Query(q): Query<ConfirmForm>,
) -> Response {
    let visitor = answered!(Visitor::of(&state, req).await);
    let (reply, csrf) = answered!(Reply::to(&state, &visitor));
    let return_to = super::local_path(&q.return_to);
    let Some(claims) = &visitor.claims else {
        return reply.see_other(&with_query("/login", &[("return_to", return_to)]));
    };
    let page = ConfirmPage {
        title: "Confirm it is you",
        csrf: &csrf,
        return_to,
        username: &claims.username,
        error: None,
    };
    reply.page(StatusCode::OK, &page)
}

/// `POST /login/confirm`: the password steps the browser's session up (its sign-in is
/// now), counted like a login attempt; then on to where the browser was going.
#[handler]
pub async fn confirm(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let (visitor, reply, csrf) = answered!(super::visit(&state, req, Some(&form.csrf)).await);
    let return_to = super::local_path(&form.return_to);
    let Some(claims) = &visitor.claims else {
        return reply.see_other(&with_query("/login", &[("return_to", return_to)]));
    };
    let refused = |reply: Reply, e: ApiError| {
        let status = StatusCode::from_u16(e.problem.status).unwrap_or(StatusCode::BAD_REQUEST);
        let page = ConfirmPage {
            title: "Confirm it is you",
            csrf: &csrf,
            return_to,
            username: &claims.username,
            error: Some(e.problem.detail.clone()),
        };
        reply.page(status, &page)
    };
    if let Err(e) = crate::edge::admit(req, crate::edge::Action::PasswordCheck).await {
        return refused(reply, e);
    }
    let Some(attempt) = tessera_domain::user::PasswordAttempt::new(&form.password) else {
        return refused(
            reply,
            tessera_domain::auth::FactorError::WrongPassword.into(),
        );
    };
    let proof = tessera_domain::auth::Reauthentication::Password(attempt);
    match state
        .factors
        .step_up(claims, proof, &client_info(req))
        .await
    {
        Ok(_) => reply.see_other(return_to),
        Err(e) => refused(reply, e.into()),
    }
}

/// `POST /oauth2/consent`: the person's answer. The request is checked again from the
/// posted fields: the form is only trusted for the decision.
#[handler]
pub async fn consent(
    state: Data<&AppState>,
    req: &Request,
    Form(params): Form<AuthorizeParams>,
) -> Response {
    let visitor = answered!(Visitor::of(&state, req).await);
    let Some(claims) = visitor.claims.clone() else {
        return Reply::empty().see_other("/login?notice=session_ended");
    };
    if !visitor.csrf_ok(&state, &params.csrf) {
        return forged();
    }
    let auth = match state.oidc.check_authorization(&params.request()).await {
        Ok(auth) => auth,
        Err(e) => return refuse(&state, req, e),
    };
    if params.decision.as_deref() != Some("allow") {
        let e = redirect_error(&auth, "access_denied", "the user did not allow the request");
        return refuse(&state, req, e);
    }
    if let Err(e) = state
        .oidc
        .grant_consent(&claims, &auth, &client_info(req))
        .await
    {
        return unavailable(e.into());
    }
    grant(&state, req, Reply::empty(), &claims, &auth).await
}

#[derive(Deserialize, Default)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

/// `GET /oauth2/logout` (OpenID Connect RP-Initiated Logout 1.0). The browser's session
/// ends when the hint — an ID token this provider signed — names the person signed in
/// here, together with the session that ID token came from; the browser then returns to
/// a registered post-logout URI. Without a matching hint nothing ends on a mere link
/// (a forged one must not sign people out): the page offers the sign-out button.
#[handler]
pub async fn logout(
    state: Data<&AppState>,
    req: &Request,
    Query(params): Query<LogoutParams>,
) -> Response {
    logout_with(&state, req, params).await
}

/// `POST /oauth2/logout`: the same as a form (RP-Initiated Logout 1.0 §2).
#[handler]
pub async fn logout_post(
    state: Data<&AppState>,
    req: &Request,
    Form(params): Form<LogoutParams>,
) -> Response {
    logout_with(&state, req, params).await
}

async fn logout_with(state: &AppState, req: &Request, params: LogoutParams) -> Response {
    let hint = params
        .id_token_hint
        .as_deref()
        .and_then(|t| state.oidc.id_token_hint(t));
    let hinted_client = hint
        .as_ref()
        .and_then(|h| h.get("aud"))
        .and_then(|a| a.as_str())
        .map(str::to_owned);
    // RP-Initiated Logout 1.0 §2: with both, the client MUST be the one the ID token was
    // issued to.
    if let (Some(given), Some(hinted)) = (&params.client_id, &hinted_client)
        && given != hinted
    {
        return message(
            StatusCode::BAD_REQUEST,
            "This sign-out link does not work",
            "error",
            "The application named is not the one the sign-in was for.",
        );
    }
    let client_id = params.client_id.clone().or(hinted_client);
    // Where to go afterwards: only a URI the client registered.
    let back = match (&params.post_logout_redirect_uri, client_id) {
        (None, _) => None,
        (Some(uri), Some(id)) => match state.oidc.client(&id).await {
            Ok(Some(c)) if c.post_logout_redirect_uris.contains(uri) => Some((uri.clone(), c.name)),
            Ok(_) => None,
            Err(e) => return unavailable(e.into()),
        },
        (Some(_), None) => None,
    };
    if params.post_logout_redirect_uri.is_some() && back.is_none() {
        return message(
            StatusCode::BAD_REQUEST,
            "This sign-out link does not work",
            "error",
            "The application asked to send you to an address it did not register.",
        );
    }
    let visitor = answered!(Visitor::of(state, req).await);
    let mut reply = Reply::empty();
    if let Some(claims) = &visitor.claims {
        let hinted_sub = hint
            .as_ref()
            .and_then(|h| h.get("sub"))
            .and_then(|s| s.as_str());
        if hinted_sub != Some(claims.sub.to_string().as_str()) {
            // Ask: the sign-out button on the account page is a CSRF-protected form.
            let page = Message {
                title: "Sign out?",
                class: "",
                text: "An application asked to sign you out of Tessera.",
                link: Some(("/account", "Go to your account to sign out")),
            };
            return reply.page(StatusCode::OK, &page);
        }
        let info = client_info(req);
        if let Err(e) = state.accounts.logout(claims, &info).await {
            return unavailable(e.into());
        }
        if let Some(sid) = hint
            .as_ref()
            .and_then(|h| h.get("sid"))
            .and_then(|s| s.as_str())
            .and_then(|s| s.parse::<uuid::Uuid>().ok())
        {
            // The client's own session, which the ID token came from; already ended or
            // unknown is fine.
            let _ = state
                .accounts
                .end_own_session(claims, tessera_domain::session::SessionId(sid), &info)
                .await;
        }
        reply = reply.with_cookie(clear_cookie(state, state.pages.session_cookie()));
    }
    match back {
        Some((uri, _)) => {
            let href = with_query(&uri, &[("state", params.state.as_deref().unwrap_or(""))]);
            reply.see_other(&href)
        }
        None => reply.see_other("/login?notice=signed_out"),
    }
}

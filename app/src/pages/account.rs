//! `/account`: the signed-in person's own account — email, password, sessions, the
//! authenticator app (with its QR code drawn here as SVG), recovery codes and passkeys.
//! Each form posts to its own path, calls the use case the matching `/v1/me/…`
//! operation calls, and comes back to the page (303) with a notice; a refusal shows the
//! page again with the words next to the form it concerns. Secrets shown once (a TOTP
//! key, recovery codes) are rendered directly in the answer to the post, never kept.

use askama::Template;
use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use tessera_domain::auth::{AccountError, FactorError, Reauthentication};
use tessera_domain::email::Email;
use tessera_domain::mfa::RecoveryCode;
use tessera_domain::session::SessionId;
use tessera_domain::token::Claims;
use tessera_domain::user::{Password, PasswordAttempt};

use super::{
    Reply, Visitor, clear_cookie, for_script, forged, page_status, retry_after, say, unavailable,
};
use crate::edge::factors::passkey_name;
use crate::edge::{Action, AppState, admit, client_info};
use crate::problem::ApiError;

const TITLE: &str = "Your account";

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    title: &'a str,
    csrf: &'a str,
    notice: Option<&'a str>,
    /// The section a refusal belongs to (`email`, `password`, `sessions`, `totp`,
    /// `recovery`, `passkeys`) and what it says.
    error_in: &'a str,
    error: String,
    username: String,
    email: Option<String>,
    email_verified: bool,
    min_password: usize,
    max_password: usize,
    sessions: Vec<SessionRow>,
    totp: bool,
    totp_pending: bool,
    recovery_left: u32,
    passkeys: Vec<PasskeyRow>,
    apps: Vec<AppRow>,
    /// The sign-in is older than the reauthentication window: the forms of changes that
    /// need a recent one ask for the password inline.
    stale: bool,
}

/// An application the person allowed to sign them in.
struct AppRow {
    id: String,
    name: String,
    scopes: String,
    granted: String,
}

struct SessionRow {
    id: String,
    current: bool,
    started: String,
    last_used: String,
    client: String,
}

struct PasskeyRow {
    id: String,
    name: String,
    added: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "totp_setup.html")]
struct TotpSetupPage<'a> {
    title: &'a str,
    csrf: &'a str,
    qr_svg: String,
    secret: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    title: &'a str,
    lead: &'a str,
    codes: Vec<String>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
    /// The password, asked inline once the sign-in is older than the reauthentication
    /// window: the session steps up with it before the change.
    #[serde(default)]
    recent_password: String,
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    /// The password, asked inline once the sign-in is older than the reauthentication
    /// window: the session steps up with it before the change.
    #[serde(default)]
    recent_password: String,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

#[derive(Deserialize)]
pub struct SessionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    session_id: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub struct ProofForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    current_password: String,
}

#[derive(Deserialize)]
pub struct AppForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    client_id: String,
}

#[derive(Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    credential: String,
    /// The password, asked inline once the sign-in is older than the reauthentication
    /// window: the session steps up with it before the change.
    #[serde(default)]
    recent_password: String,
}

/// The notices a completed form comes back with (a fixed set: a query string never
/// puts words on the page).
fn notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "email_sent" => {
            "We mailed a link to the new address, unless another account uses it (its owner is told instead). It takes effect once you follow it."
        }
        "password_changed" => "Your password is changed. Your other sessions were ended.",
        "session_ended" => "The session is ended.",
        "totp_disabled" => "The authenticator app is removed.",
        "totp_cancelled" => "The authenticator app setup is cancelled.",
        "passkey_added" => "The passkey is added.",
        "passkey_renamed" => "The passkey is renamed.",
        "passkey_removed" => "The passkey is removed.",
        "app_removed" => "The application must ask you again before it signs you in.",
        _ => return None,
    })
}

/// The signed-in visitor and the answer under way, or the answer already decided: the
/// sign-in page for a visitor without a session, 403 for a form whose CSRF token does
/// not match (`csrf` is `None` for a page view).
async fn signed_in(
    state: &AppState,
    req: &Request,
    csrf: Option<&str>,
) -> Result<(Claims, Reply, String), Response> {
    let visitor = Visitor::of(state, req).await?;
    let (reply, token) = Reply::to(state, &visitor)?;
    let Some(claims) = visitor.claims.clone() else {
        let to = if visitor.stale_session {
            "/login?return_to=/account&notice=session_ended"
        } else {
            "/login?return_to=/account"
        };
        return Err(reply.see_other(to));
    };
    if let Some(presented) = csrf
        && !visitor.csrf_ok(state, presented)
    {
        return Err(forged());
    }
    Ok((claims, reply, token))
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The account page, with a notice or a refusal in one section.
async fn account_page(
    state: &AppState,
    claims: &Claims,
    reply: Reply,
    csrf: &str,
    notice: Option<&str>,
    refusal: Option<(&str, ApiError)>,
) -> Response {
    let loaded = async {
        let user = state.accounts.me(claims).await.map_err(ApiError::from)?;
        let sessions = state
            .accounts
            .sessions(claims)
            .await
            .map_err(ApiError::from)?;
        let factors = state
            .factors
            .factor_status(claims)
            .await
            .map_err(ApiError::from)?;
        let passkeys = state
            .factors
            .passkeys(claims)
            .await
            .map_err(ApiError::from)?;
        let apps = state.oidc.consents(claims).await.map_err(ApiError::from)?;
        Ok::<_, ApiError>((user, sessions, factors, passkeys, apps))
    };
    let (user, sessions, factors, passkeys, apps) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) if e.problem.status == 503 => return unavailable(e),
        // The account went away (disabled) between the session check and now.
        Err(_) => return reply.see_other("/login?notice=session_ended"),
    };
    let (status, error_in, error) = match &refusal {
        Some((section, e)) => (page_status(e), *section, say(e)),
        None => (StatusCode::OK, "", String::new()),
    };
    let page = AccountPage {
        title: TITLE,
        csrf,
        notice,
        error_in,
        error,
        stale: !state.factors.core().signed_in_recently(claims),
        username: user.username.as_str().to_owned(),
        email: user.email.as_ref().map(|e| e.as_str().to_owned()),
        email_verified: user.email_verified,
        min_password: state.password_policy.min_chars,
        max_password: state.password_policy.max_chars,
        sessions: sessions
            .iter()
            .map(|s| SessionRow {
                id: s.id.to_string(),
                current: s.id == claims.sid,
                started: when(s.created_at),
                last_used: when(s.last_used_at),
                client: match (&s.client.user_agent, &s.client.ip) {
                    (Some(ua), Some(ip)) => format!("{ua} — {ip}"),
                    (Some(ua), None) => ua.clone(),
                    (None, Some(ip)) => ip.clone(),
                    (None, None) => "unknown device".to_owned(),
                },
            })
            .collect(),
        totp: factors.summary.totp,
        totp_pending: factors.totp_pending,
        recovery_left: factors.summary.recovery_codes_left,
        passkeys: passkeys
            .iter()
            .map(|p| PasskeyRow {
                id: p.id.to_string(),
                name: p.name.as_str().to_owned(),
                added: when(p.created_at),
                last_used: p
                    .last_used_at
                    .map(when)
                    .unwrap_or_else(|| "never".to_owned()),
            })
            .collect(),
        apps: apps
            .iter()
            .map(|c| AppRow {
                id: c.client.to_string(),
                name: c.client_name.clone(),
                scopes: c.scopes.join(),
                granted: when(c.granted_at),
            })
            .collect(),
    };
    let resp = reply.page(status, &page);
    match &refusal {
        Some((_, e)) => retry_after(resp, e),
        None => resp,
    }
}

/// Runs a form's use case; success comes back to the page with `done`, a refusal shows
/// the page with the words in `section`.
async fn after(
    state: &AppState,
    claims: &Claims,
    reply: Reply,
    csrf: &str,
    section: &str,
    outcome: Result<&str, ApiError>,
) -> Response {
    match outcome {
        Ok(done) => reply.see_other(&format!("/account?notice={done}")),
        Err(e) if e.problem.status == 503 => unavailable(e),
        Err(e) => account_page(state, claims, reply, csrf, None, Some((section, e))).await,
    }
}

/// `GET /account`.
#[handler]
pub async fn show(state: Data<&AppState>, req: &Request, Query(q): Query<NoticeQuery>) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, None).await);
    account_page(&state, &claims, reply, &csrf, notice(&q.notice), None).await
}

/// `POST /account/email`: mails a verification link to a new address.
#[handler]
pub async fn email(state: Data<&AppState>, req: &Request, Form(form): Form<EmailForm>) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let outcome = async {
        let _admitted = admit(req, Action::EmailChange).await?;
        let email = Email::parse(&form.email).map_err(ApiError::from)?;
        let claims = recent(&state, req, &claims, &form.recent_password).await?;
        state
            .emails
            .request_email_change(&claims, &email, &client_info(req))
            .await
            .map_err(ApiError::from)?;
        state.mail.wake();
        Ok("email_sent")
    };
    after(&state, &claims, reply, &csrf, "email", outcome.await).await
}

/// `POST /account/password`: changes the password; the other sessions end.
#[handler]
pub async fn password(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<PasswordForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let outcome = async {
        let _admitted = admit(req, Action::PasswordCheck).await?;
        if form.new_password != form.confirm_password {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                "the two new passwords differ",
            ));
        }
        let current =
            PasswordAttempt::new(&form.current_password).ok_or(AccountError::WrongPassword)?;
        let user = state.accounts.me(&claims).await?;
        let new = Password::parse(&form.new_password, &user.username, &state.password_policy)?;
        match state
            .accounts
            .change_password(&claims, &current, &new, &client_info(req))
            .await
        {
            Ok(()) => Ok("password_changed"),
            Err(e) => Err(e.into()),
        }
    };
    after(&state, &claims, reply, &csrf, "password", outcome.await).await
}

/// `POST /account/sessions/end`: ends one session; ending this browser's own signs out.
#[handler]
pub async fn end_session(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<SessionForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let Ok(id) = form.session_id.parse::<uuid::Uuid>().map(SessionId) else {
        let e: ApiError = AccountError::SessionNotFound.into();
        return account_page(&state, &claims, reply, &csrf, None, Some(("sessions", e))).await;
    };
    let outcome = state
        .accounts
        .end_own_session(&claims, id, &client_info(req))
        .await
        .map_err(ApiError::from);
    if outcome.is_ok() && id == claims.sid {
        return reply
            .with_cookie(clear_cookie(&state, state.pages.session_cookie()))
            .see_other("/login?notice=signed_out");
    }
    after(
        &state,
        &claims,
        reply,
        &csrf,
        "sessions",
        outcome.map(|()| "session_ended"),
    )
    .await
}

/// `POST /account/sessions/end-all`: signs out on every device, this one included.
#[handler]
pub async fn end_all(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (claims, reply, _) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    if let Err(e) = state.accounts.logout_all(&claims, &client_info(req)).await {
        return unavailable(e.into());
    }
    reply
        .with_cookie(clear_cookie(&state, state.pages.session_cookie()))
        .see_other("/login?notice=signed_out_everywhere")
}

/// A QR code of `uri`, as inline SVG (no script, no image fetch: the policy allows it).
fn qr_svg(uri: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| {
        tracing::warn!(error = %e, "no QR code for a TOTP URI");
        ApiError::unavailable(
            "the QR code could not be drawn",
            crate::edge::RETRY_AFTER_SECS,
        )
    })?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The renderer writes an XML declaration; inline SVG in HTML takes none.
    Ok(match svg.find("<svg") {
        Some(at) => svg[at..].to_owned(),
        None => svg,
    })
}

/// The enrollment page: the QR code and the key of the pending enrollment, and the form
/// that confirms it.
async fn totp_setup(
    state: &AppState,
    claims: &Claims,
    reply: Reply,
    csrf: &str,
    refusal: Option<ApiError>,
) -> Response {
    let provisioning = match state.factors.pending_totp(claims).await {
        Ok(p) => p,
        Err(tessera_domain::auth::FactorError::NotEnrolled) => return reply.see_other("/account"),
        Err(e) => return unavailable(e.into()),
    };
    let qr = match qr_svg(&provisioning.uri) {
        Ok(svg) => svg,
        Err(e) => return unavailable(e),
    };
    let secret = provisioning
        .secret_base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let status = refusal.as_ref().map_or(StatusCode::OK, page_status);
    let page = TotpSetupPage {
        title: "Set up your authenticator app",
        csrf,
        qr_svg: qr,
        secret,
        error: refusal.as_ref().map(say),
    };
    reply.page(status, &page)
}

/// `GET /account/totp`: the pending enrollment (or back to the account without one).
#[handler]
pub async fn totp_page(state: Data<&AppState>, req: &Request) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, None).await);
    totp_setup(&state, &claims, reply, &csrf, None).await
}

/// `POST /account/totp`: starts an enrollment with a new key.
#[handler]
pub async fn totp_begin(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let begun = match recent(&state, req, &claims, &form.recent_password).await {
        Ok(recent) => state
            .factors
            .begin_totp(&recent)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match begun {
        Ok(_) => reply.see_other("/account/totp"),
        Err(e) => after(&state, &claims, reply, &csrf, "totp", Err(e)).await,
    }
}

/// The caller's claims for a change that needs a recent sign-in. When the form carries
/// the password (the page asks for it inline once the sign-in is old), the session steps
/// up with it first — the same use case, budget and door as `POST /v1/auth/reauthenticate`
/// — and the change goes ahead as from the recent sign-in.
async fn recent(
    state: &AppState,
    req: &Request,
    claims: &Claims,
    proof: &str,
) -> Result<Claims, ApiError> {
    if proof.is_empty() {
        return Ok(claims.clone());
    }
    let _admitted = admit(req, Action::PasswordCheck).await?;
    let attempt = PasswordAttempt::new(proof).ok_or(FactorError::WrongPassword)?;
    let up = state
        .factors
        .step_up(
            claims,
            Reauthentication::Password(attempt),
            &client_info(req),
        )
        .await?;
    let mut claims = claims.clone();
    claims.auth_time = up.auth_time.timestamp();
    claims.amr = up.amr.iter().map(|m| m.as_str().to_owned()).collect();
    Ok(claims)
}

fn codes_page(reply: Reply, lead: &str, codes: &[RecoveryCode]) -> Response {
    let page = RecoveryCodesPage {
        title: "Your recovery codes",
        lead,
        codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
    };
    reply.page(StatusCode::OK, &page)
}

/// `POST /account/totp/confirm`: a code from the app confirms the enrollment; the
/// recovery codes are shown this once.
#[handler]
pub async fn totp_confirm(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<CodeForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    match state
        .factors
        .confirm_totp(&claims, form.code.trim(), &client_info(req))
        .await
    {
        Ok(codes) => codes_page(
            reply,
            "Your authenticator app is set up. If you lose it, each of these codes signs you in once instead of a code from the app.",
            &codes,
        ),
        Err(tessera_domain::auth::FactorError::NotEnrolled) => reply.see_other("/account"),
        Err(e) => {
            let e: ApiError = e.into();
            if e.problem.status == 503 {
                return unavailable(e);
            }
            totp_setup(&state, &claims, reply, &csrf, Some(e)).await
        }
    }
}

/// The proof a form gives again: a current code, or else the password.
fn proof(form: &ProofForm) -> Option<Reauthentication> {
    let code = form.code.trim();
    if !code.is_empty() {
        return Some(Reauthentication::Code(code.to_owned()));
    }
    PasswordAttempt::new(&form.current_password).map(Reauthentication::Password)
}

/// `POST /account/totp/disable`: removes the app (a confirmed one needs a code or the
/// password; a pending setup is cancelled without).
#[handler]
pub async fn totp_disable(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ProofForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let pending = state
        .factors
        .factor_status(&claims)
        .await
        .is_ok_and(|f| f.totp_pending && !f.summary.totp);
    let outcome = async {
        let _admitted = admit(req, Action::PasswordCheck).await?;
        state
            .factors
            .disable_totp(&claims, proof(&form), &client_info(req))
            .await?;
        Ok(if pending {
            "totp_cancelled"
        } else {
            "totp_disabled"
        })
    };
    after(&state, &claims, reply, &csrf, "totp", outcome.await).await
}

/// `POST /account/recovery-codes`: a new set (shown once); the old set stops working.
#[handler]
pub async fn recovery_codes(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ProofForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let outcome = async {
        let _admitted = admit(req, Action::PasswordCheck).await?;
        Ok::<_, ApiError>(
            state
                .factors
                .regenerate_recovery_codes(&claims, proof(&form), &client_info(req))
                .await?,
        )
    };
    match outcome.await {
        Ok(codes) => codes_page(
            reply,
            "Your new recovery codes. The old ones no longer work.",
            &codes,
        ),
        Err(e) => after(&state, &claims, reply, &csrf, "recovery", Err(e)).await,
    }
}

/// `POST /account/passkeys/options` (the script): creation options for a new passkey.
#[handler]
pub async fn passkey_options(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (claims, _, _) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    match recent(&state, req, &claims, &form.recent_password).await {
        Ok(recent) => for_script(state.factors.passkey_registration_options(&recent).await),
        Err(e) => for_script(Err::<serde_json::Value, _>(e)),
    }
}

/// `POST /account/passkeys`: stores the passkey the script registered.
#[handler]
pub async fn passkey_add(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<PasskeyForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let outcome = async {
        let name = passkey_name(&form.name).map_err(|e| *e)?;
        let credential = serde_json::from_str(&form.credential).unwrap_or(serde_json::Value::Null);
        let claims = recent(&state, req, &claims, &form.recent_password).await?;
        Ok(state
            .factors
            .add_passkey(&claims, name, &credential, &client_info(req))
            .await?)
    };
    match outcome.await {
        Ok(added) if !added.recovery_codes.is_empty() => codes_page(
            reply,
            "Your passkey is added. If you lose it, each of these codes signs you in once instead.",
            &added.recovery_codes,
        ),
        Ok(_) => {
            after(
                &state,
                &claims,
                reply,
                &csrf,
                "passkeys",
                Ok("passkey_added"),
            )
            .await
        }
        Err(e) => after(&state, &claims, reply, &csrf, "passkeys", Err(e)).await,
    }
}

fn passkey_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse()
        .map_err(|_| tessera_domain::auth::FactorError::PasskeyNotFound.into())
}

/// `POST /account/passkeys/rename`.
#[handler]
pub async fn passkey_rename(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<PasskeyForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let outcome = async {
        let id = passkey_id(&form.id)?;
        let name = passkey_name(&form.name).map_err(|e| *e)?;
        state.factors.rename_passkey(&claims, id, name).await?;
        Ok("passkey_renamed")
    };
    after(&state, &claims, reply, &csrf, "passkeys", outcome.await).await
}

/// `POST /account/passkeys/delete`: removing the last factor needs a recent sign-in.
#[handler]
pub async fn passkey_delete(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<PasskeyForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let outcome = async {
        let id = passkey_id(&form.id)?;
        let claims = recent(&state, req, &claims, &form.recent_password).await?;
        state
            .factors
            .remove_passkey(&claims, id, &client_info(req))
            .await?;
        Ok("passkey_removed")
    };
    after(&state, &claims, reply, &csrf, "passkeys", outcome.await).await
}

/// `POST /account/apps/revoke`: takes back the consent given to an application.
#[handler]
pub async fn app_revoke(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<AppForm>,
) -> Response {
    let (claims, reply, csrf) = answered!(signed_in(&state, req, Some(&form.csrf)).await);
    let outcome = state
        .oidc
        .revoke_consent(&claims, &form.client_id, &client_info(req))
        .await
        .map(|_| "app_removed")
        .map_err(ApiError::from);
    after(&state, &claims, reply, &csrf, "apps", outcome).await
}

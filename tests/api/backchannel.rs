//! OpenID Connect Back-Channel Logout 1.0, end to end: a client registers a logout URI
//! served by this test, and for each way a session of it ends — RP-initiated logout, the
//! app's own logout (revoking its refresh token), signing out everywhere, a password
//! reset, an administrator's disabling, the user removing the app's access — a logout
//! token arrives there through the outbox, and is
//! validated as a relying party would, with a JOSE library: the signature by the JWKS,
//! `typ: logout+jwt`, `iss`, `aud`, `iat`, `jti`, `sub`, `sid` (the ID token's), the
//! back-channel logout event, and no `nonce`.

use std::sync::{Arc, Mutex};

use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use poem::web::{Data, Form};
use poem::{EndpointExt as _, Route, Server, handler};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Browser, PASSWORD, SmtpSink, TestApp, claims_of, deliver_to, token_in, unique_name, within,
};
use crate::oidc::{authorize_path, challenge_for};
use crate::oidc_review::{VERIFIER, client, code_through, described, exchange};

type Received = Arc<Mutex<Vec<String>>>;

#[handler]
fn receive(received: Data<&Received>, Form(form): Form<Vec<(String, String)>>) -> StatusCode {
    let tokens: Vec<&String> = form
        .iter()
        .filter(|(k, _)| k == "logout_token")
        .map(|(_, v)| v)
        .collect();
    match tokens.as_slice() {
        [token] => {
            received.lock().unwrap().push((*token).clone());
            StatusCode::OK
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A relying party's back-channel logout endpoint: its URI, and the tokens it received.
async fn receiver() -> (String, Received) {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let received: Received = Arc::default();
    let route = Route::new()
        .at("/backchannel-logout", poem::post(receive))
        .data(Arc::clone(&received));
    tokio::spawn(async move { Server::new_with_acceptor(acceptor).run(route).await });
    (
        format!("http://127.0.0.1:{port}/backchannel-logout"),
        received,
    )
}

/// The logout token for session `sid`, once it arrives, validated the way a relying
/// party does (Back-Channel Logout 1.0 §2.6) with `jsonwebtoken` and the JWKS.
async fn logout_token_for(app: &TestApp, received: &Received, client_id: &str, sid: &str) -> Value {
    let find = || {
        received
            .lock()
            .unwrap()
            .iter()
            .find(|t| claims_of(t)["sid"] == sid)
            .cloned()
    };
    within(std::time::Duration::from_secs(10), async || {
        find().is_some()
    })
    .await;
    let token = find().unwrap_or_else(|| panic!("no logout token for session {sid}"));
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = app.get_json("/.well-known/jwks.json", None).await;
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("a published key");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[app.base.as_str()]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .expect("the logout token verifies: signature, iss, aud")
        .claims;
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}}),
        "{claims}"
    );
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(claims["sub"].is_string() && claims["iat"].is_i64());
    claims
}

/// A person signed in to the client: the browser, and the client session's `sid`,
/// ID token, access token and refresh token.
struct SignedIn<'a> {
    browser: Browser<'a>,
    sid: String,
    id_token: String,
    access: String,
    refresh: String,
}

async fn sign_in<'a>(
    app: &'a TestApp,
    c: &tessera_domain::oidc::OAuthClient,
    name: &str,
    password: &str,
) -> SignedIn<'a> {
    let mut browser = Browser::new(app);
    browser.sign_in(name, password).await;
    let path = authorize_path(&c.id.to_string(), "openid", &challenge_for(VERIFIER));
    let code = code_through(&mut browser, &path).await;
    let (status, tokens) = exchange(app, c, None, &code, &[]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    SignedIn {
        browser,
        sid: claims_of(&id_token)["sid"].as_str().unwrap().to_owned(),
        id_token,
        access: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn a_client_hears_of_each_way_its_session_ends() {
    let smtp = SmtpSink::start();
    let app = TestApp::builder()
        .with_config(|c| {
            c.tokens.issuer = None;
            c.mail.send_interval = std::time::Duration::from_millis(100);
            if let Some(smtp) = &smtp {
                deliver_to(c, &smtp.url());
            }
        })
        .spawn()
        .await;
    let (uri, received) = receiver().await;
    let mut new = described(false, true, None);
    new.backchannel_logout_uri = Some(uri);
    new.backchannel_logout_session_required = true;
    let (c, _) = client(&app, new).await;
    let id = c.id.to_string();
    let meta: Value = app
        .get_json("/.well-known/openid-configuration", None)
        .await;
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);

    let name = unique_name();
    let email = format!("{name}@example.test");
    assert_eq!(
        app.register_with_email(&name, &email).await.status(),
        StatusCode::CREATED
    );
    let me = app.login_ok(&name, PASSWORD).await;
    let user_id = claims_of(&me.access_token)["sub"].clone();
    // The address verified now: signing out everywhere (below) withdraws mailed links.
    if let Some(smtp) = &smtp {
        let link = smtp
            .wait_for_subject(&email, "Confirm your email address")
            .await;
        let body = json!({"token": token_in(&link)});
        let r = app.post_json("/v1/auth/verify-email", &body, None).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    // 1. RP-initiated logout.
    let mut s = sign_in(&app, &c, &name, PASSWORD).await;
    let logout = format!("/oauth2/logout?id_token_hint={}&client_id={id}", s.id_token);
    let (status, _, _) = s.browser.get(&logout).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let claims = logout_token_for(&app, &received, &id, &s.sid).await;
    assert_eq!(claims["sub"], user_id);

    // 2. The app signs its user out by revoking its refresh token (RFC 7009).
    let s = sign_in(&app, &c, &name, PASSWORD).await;
    let r = app
        .client
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", s.refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    logout_token_for(&app, &received, &id, &s.sid).await;

    // 3. Signing out everywhere.
    let s = sign_in(&app, &c, &name, PASSWORD).await;
    let me = app.login_ok(&name, PASSWORD).await;
    let r = app
        .post_json("/v1/auth/logout-all", &json!({}), Some(&me.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    logout_token_for(&app, &received, &id, &s.sid).await;

    // 4. The user removes the app's access on /account.
    let mut s = sign_in(&app, &c, &name, PASSWORD).await;
    s.browser.get("/account").await;
    let csrf = s.browser.csrf.clone();
    let (status, _, _) = s
        .browser
        .post(
            "/account/apps/revoke",
            &[("csrf", &csrf), ("client_id", &id)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    logout_token_for(&app, &received, &id, &s.sid).await;
    assert_eq!(
        crate::oidc_review::userinfo_status(&app, &s.access).await,
        StatusCode::UNAUTHORIZED
    );

    // 5. A password reset, from the mailed link (with the real SMTP server).
    if let Some(smtp) = &smtp {
        let s = sign_in(&app, &c, &name, PASSWORD).await;
        let r = app
            .post_json("/v1/auth/password-reset", &json!({"email": email}), None)
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let mail = smtp.wait_for_subject(&email, "Reset your password").await;
        let body = json!({"token": token_in(&mail), "new_password": PASSWORD_AFTER_RESET});
        let r = app
            .post_json("/v1/auth/password-reset/confirm", &body, None)
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        logout_token_for(&app, &received, &id, &s.sid).await;
    }
    let password = if smtp.is_some() {
        PASSWORD_AFTER_RESET
    } else {
        PASSWORD
    };

    // 6. An administrator disables the account.
    let s = sign_in(&app, &c, &name, password).await;
    let admin = app.signed_in_with_role("admin").await;
    let r = app
        .client
        .post(app.url(&format!(
            "/v1/admin/users/{}/disable",
            user_id.as_str().unwrap()
        )))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    logout_token_for(&app, &received, &id, &s.sid).await;

    // Every token was for a session of this client, each once.
    let all = received.lock().unwrap().clone();
    let mut sids: Vec<String> = all
        .iter()
        .map(|t| claims_of(t)["sid"].as_str().unwrap().to_owned())
        .collect();
    let n = sids.len();
    sids.sort();
    sids.dedup();
    let jtis: Vec<String> = all
        .iter()
        .map(|t| format!("{} {}", claims_of(t)["sid"], claims_of(t)["jti"]))
        .collect();
    assert_eq!(sids.len(), n, "one logout token per session: {jtis:#?}");
}

const PASSWORD_AFTER_RESET: &str = "plaid tortoise juggles quietly";

//! The OpenID provider review of 2026-12 (`oidc-2026-12b.md`), finding by finding, as the
//! reviewer drove it: a third-party app's token is no user token for resource servers
//! (F1), removing access and deleting a client end what the client holds (F2), a
//! concurrent code replay (F3), `prompt` and `max_age` (F4), logout's `client_id` (F5),
//! POST at authorize and logout (F6), discovery (F7), a long request through sign-in
//! (F8), a service token is no user (F9), native apps (F10), UserInfo's transports (F11).

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use tessera_domain::oidc::{GrantType, NewClient, OAuthClient};
use tessera_domain::session::ClientInfo;

use crate::helpers::{Browser, PASSWORD, TestApp, claims_of, unique_name};
use crate::oidc::{REDIRECT, authorize_path, challenge_for, consent_form, param, provider, token};

pub(crate) const VERIFIER: &str = "a-verifier-of-forty-three-characters-or-more-0123";
const RESOURCE: &str = "https://api.example.test";

pub(crate) async fn client(app: &TestApp, new: NewClient) -> (OAuthClient, Option<String>) {
    let (c, secret) = app
        .state
        .oidc
        .create_client(new, &ClientInfo::default())
        .await
        .unwrap();
    (c, secret.map(|s| s.expose().to_owned()))
}

pub(crate) fn described(first_party: bool, public: bool, audience: Option<&str>) -> NewClient {
    let mut grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    if !public {
        grant_types.push(GrantType::ClientCredentials);
    }
    NewClient {
        name: "Review app".into(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
        grant_types,
        scopes: "openid profile".into(),
        public,
        first_party,
        audience: audience.map(str::to_owned),
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
    }
}

/// An administrator, by name, and a browser signed in as them.
pub(crate) async fn admin_browser(app: &TestApp) -> (String, Browser<'_>) {
    let pair = app.signed_in_with_role("admin").await;
    let name = claims_of(&pair.access_token)["username"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut browser = Browser::new(app);
    browser.sign_in(&name, PASSWORD).await;
    (name, browser)
}

/// Through consent when it is asked, back at the client: the code.
pub(crate) async fn code_through(browser: &mut Browser<'_>, path: &str) -> String {
    let to = back_at_client(browser, path).await;
    param(&to, "code").unwrap_or_else(|| panic!("no code in {to}"))
}

/// Through consent when it is asked: where the browser is sent back to the client.
pub(crate) async fn back_at_client(browser: &mut Browser<'_>, path: &str) -> String {
    let (status, headers, html) = browser.get(path).await;
    if status == StatusCode::OK && html.contains("Allow this application?") {
        let form = consent_form(&html, "allow");
        let fields: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (status, headers, _) = browser.post("/oauth2/consent", &fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        headers[LOCATION].to_str().unwrap().to_owned()
    } else {
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}: {html}");
        headers[LOCATION].to_str().unwrap().to_owned()
    }
}

/// The code exchanged by `c` (Basic with its secret, or its id alone).
pub(crate) async fn exchange(
    app: &TestApp,
    c: &OAuthClient,
    secret: Option<&str>,
    code: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let id = c.id.to_string();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    form.extend_from_slice(extra);
    match secret {
        Some(s) => token(app, &form, Some((&id, s))).await,
        None => {
            form.push(("client_id", &id));
            token(app, &form, None).await
        }
    }
}

pub(crate) async fn userinfo_status(app: &TestApp, access: &str) -> StatusCode {
    app.client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

/// F1 and F9: a third-party app's token carries no roles and is not for Tessera's API:
/// a resource server verifying the README's way (the Rust verifier example, `aud`
/// pinned) refuses it, its own resource takes it, Tessera's admin API refuses it,
/// UserInfo answers it. A first-party app's token stays the user's own. A service token
/// is for its resource, and no client's service token is a user on the account API.
#[tokio::test]
async fn f1_f9_an_apps_token_says_what_it_is_for() {
    let app = provider().await;
    let (_, mut browser) = admin_browser(&app).await;
    let (third, secret) = client(&app, described(false, false, Some(RESOURCE))).await;
    let secret = secret.unwrap();
    let path = authorize_path(
        &third.id.to_string(),
        "openid profile",
        &challenge_for(VERIFIER),
    );
    let code = code_through(&mut browser, &path).await;
    let (status, tokens) = exchange(&app, &third, Some(&secret), &code, &[]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let at = claims_of(access);
    let userinfo_aud = format!("{}/oauth2/userinfo", app.base);
    assert_eq!(at["aud"], json!([RESOURCE, userinfo_aud]), "{at}");
    assert_eq!(at["roles"], json!([]), "an admin's roles stay home: {at}");
    assert_eq!(at["client_id"], json!(third.id.to_string()));
    assert_eq!(at["scope"], "openid profile");

    // A resource server built from the README, for Tessera's API: refused.
    let jwks = format!("{}/.well-known/jwks.json", app.base);
    let api = tessera_verifier_example::Verifier::new(&jwks, &app.base, "tessera");
    assert!(
        api.verify(access).await.is_err(),
        "not for the API's audience"
    );
    let own = tessera_verifier_example::Verifier::new(&jwks, &app.base, RESOURCE);
    assert!(own.verify(access).await.is_ok(), "for the app's resource");
    let r = app.get("/v1/admin/users", Some(access)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(userinfo_status(&app, access).await, StatusCode::OK);

    // RFC 8707: a resource the client's tokens are not for is refused.
    let id = third.id.to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("resource", "https://other.example.test"),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_target");
    let form = [("grant_type", "client_credentials"), ("resource", RESOURCE)];
    let (status, body) = token(&app, &form, Some((&id, &secret))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let service_token = body["access_token"].as_str().unwrap();
    assert_eq!(claims_of(service_token)["aud"], RESOURCE);
    assert_eq!(
        app.get("/v1/dashboard", Some(service_token)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A first-party app: the user's own token, roles and all.
    let (first, first_secret) = client(&app, described(true, false, None)).await;
    let first_secret = first_secret.unwrap();
    let path = authorize_path(&first.id.to_string(), "openid", &challenge_for(VERIFIER));
    let code = code_through(&mut browser, &path).await;
    let (_, tokens) = exchange(&app, &first, Some(&first_secret), &code, &[]).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["aud"], "tessera");
    assert_eq!(claims_of(access)["roles"], json!(["admin"]));
    assert!(api.verify(access).await.is_ok());
    assert_eq!(
        app.get("/v1/admin/users", Some(access)).await.status(),
        StatusCode::OK
    );

    // F9: its service token has no person behind it.
    let first_id = first.id.to_string();
    let (status, body) = token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&first_id, &first_secret)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let service_token = body["access_token"].as_str().unwrap();
    for path in [
        "/v1/dashboard",
        "/v1/me/sessions",
        "/v1/me/mfa",
        "/v1/me/passkeys",
    ] {
        let r = app.get(path, Some(service_token)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = app
        .post_json("/v1/auth/logout-all", &json!({}), Some(service_token))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// F2 and the deleted client: taking back an app's access on /account ends the app's
/// sessions (refresh refused, access token refused at once); deleting a client ends
/// every session of it and its own service tokens.
#[tokio::test]
async fn f2_removing_access_or_the_client_ends_what_it_holds() {
    let app = provider().await;
    let (_, mut browser) = admin_browser(&app).await;
    let (c, secret) = client(&app, described(false, false, Some(RESOURCE))).await;
    let secret = secret.unwrap();
    let path = authorize_path(&c.id.to_string(), "openid", &challenge_for(VERIFIER));
    let code = code_through(&mut browser, &path).await;
    let (_, tokens) = exchange(&app, &c, Some(&secret), &code, &[]).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo_status(&app, &access).await, StatusCode::OK);

    browser.get("/account").await;
    let csrf = browser.csrf.clone();
    let id = c.id.to_string();
    let (status, _, _) = browser
        .post(
            "/account/apps/revoke",
            &[("csrf", &csrf), ("client_id", &id)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        userinfo_status(&app, &access).await,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, body) = token(&app, &refreshed, Some((&id, &secret))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    // Allowed again, then the client is deleted by an administrator.
    let code = code_through(&mut browser, &path).await;
    let (_, tokens) = exchange(&app, &c, Some(&secret), &code, &[]).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (_, service) = token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&id, &secret)),
    )
    .await;
    let service = service["access_token"].as_str().unwrap().to_owned();
    let introspect = async |token: &str| {
        let admin = app.signed_in_with_role("admin").await;
        let r = app
            .client
            .post(app.url("/v1/oauth/introspect"))
            .bearer_auth(&admin.access_token)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["active"].clone()
    };
    assert_eq!(introspect(&service).await, json!(true));
    let admin = app.signed_in_with_role("admin").await;
    let r = app
        .delete(&format!("/v1/admin/clients/{id}"), &admin.access_token)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        userinfo_status(&app, &access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(introspect(&service).await, json!(false));
}

/// F3: one code, six exchanges at once, five rounds: one wins, and whatever it won is
/// dead when the others are done.
#[tokio::test]
async fn f3_a_concurrent_replay_ends_what_the_code_started() {
    let app = provider().await;
    let (_, mut browser) = admin_browser(&app).await;
    let (c, _) = client(&app, described(true, true, None)).await;
    let path = authorize_path(&c.id.to_string(), "openid", &challenge_for(VERIFIER));
    for round in 0..5 {
        let code = code_through(&mut browser, &path).await;
        let tries = (0..6).map(|_| exchange(&app, &c, None, &code, &[]));
        let answers = futures_util::future::join_all(tries).await;
        let won: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .map(|(_, b)| b)
            .collect();
        assert!(won.len() <= 1, "round {round}: {answers:?}");
        for tokens in won {
            let access = tokens["access_token"].as_str().unwrap();
            assert_eq!(
                userinfo_status(&app, access).await,
                StatusCode::UNAUTHORIZED,
                "round {round}: the winner's access token"
            );
            let id = c.id.to_string();
            let refresh = tokens["refresh_token"].as_str().unwrap();
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", id.as_str()),
            ];
            let (status, _) = token(&app, &form, None).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "round {round}: its refresh"
            );
        }
    }
}

/// F4: `prompt=login` and `max_age=0` ask the signed-in person for the password again
/// (the step-up of the page session) before the code; `prompt=none` with another value,
/// `select_account`, and a silent request that would need a sign-in are answered with
/// the spec's errors; `prompt=consent` asks again.
#[tokio::test]
async fn f4_prompt_and_max_age_are_answered() {
    let app = provider().await;
    let (name, mut browser) = admin_browser(&app).await;
    let (c, _) = client(&app, described(false, true, None)).await;
    let base = authorize_path(&c.id.to_string(), "openid", &challenge_for(VERIFIER));
    code_through(&mut browser, &base).await; // consent given once

    for extra in ["&prompt=login", "&max_age=0"] {
        app.advance(chrono::TimeDelta::seconds(5));
        let (status, headers, _) = browser.get(&format!("{base}{extra}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{extra}");
        let confirm = headers[LOCATION].to_str().unwrap().to_owned();
        assert!(
            confirm.starts_with("/login/confirm?return_to="),
            "{confirm}"
        );
        let (status, _, page) = browser.get(&confirm).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains(&name) && page.contains("confirm it is you"),
            "{page}"
        );
        let return_to = param(&format!("http://x{confirm}"), "return_to").unwrap();
        let csrf = browser.csrf.clone();
        let post = async |browser: &mut Browser<'_>, password: &str| {
            let form = [
                ("csrf", csrf.as_str()),
                ("return_to", &return_to),
                ("password", password),
            ];
            browser.post("/login/confirm", &form).await
        };
        let (status, _, _) = post(&mut browser, "not the password").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{extra}: a wrong password");
        let (status, headers, _) = post(&mut browser, PASSWORD).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[LOCATION].to_str().unwrap(), return_to);
        let code = code_through(&mut browser, &return_to).await;
        let (status, tokens) = exchange(&app, &c, None, &code, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let id_token = claims_of(tokens["id_token"].as_str().unwrap());
        assert_eq!(
            id_token["auth_time"],
            app.now_unix(),
            "{extra}: a fresh sign-in"
        );
    }
    assert_eq!(app.audit_events("reauthenticated").await, 2);

    let error_of = async |browser: &mut Browser<'_>, extra: &str| {
        let (status, headers, _) = browser.get(&format!("{base}{extra}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{extra}");
        param(headers[LOCATION].to_str().unwrap(), "error")
    };
    assert_eq!(
        error_of(&mut browser, "&prompt=none%20login")
            .await
            .as_deref(),
        Some("invalid_request")
    );
    assert_eq!(
        error_of(&mut browser, "&prompt=select_account")
            .await
            .as_deref(),
        Some("account_selection_required")
    );
    app.advance(chrono::TimeDelta::seconds(5));
    assert_eq!(
        error_of(&mut browser, "&prompt=none&max_age=1")
            .await
            .as_deref(),
        Some("login_required")
    );
    assert_eq!(
        error_of(&mut browser, "&prompt=none").await,
        None,
        "a silent code"
    );
    let (status, _, html) = browser.get(&format!("{base}&prompt=consent")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Allow this application?"),
        "consent asked again"
    );
}

/// F5, F6, F7, F8, F10, F11.
#[tokio::test]
async fn f5_to_f11_the_smaller_points() {
    let app = provider().await;
    let name = unique_name();
    assert_eq!(app.register(&name, PASSWORD).await.status(), 201);

    // F7: discovery says request objects are not read.
    let meta: Value = app
        .get_json("/.well-known/openid-configuration", None)
        .await;
    assert_eq!(meta["request_uri_parameter_supported"], false);
    assert_eq!(meta["request_parameter_supported"], false);
    assert_eq!(
        meta["prompt_values_supported"],
        json!(["none", "login", "consent", "select_account", "create"])
    );

    // F6 and F8: a POSTed request, its state and nonce at the longest they may be (512
    // bytes of "é" each), comes back through sign-in whole.
    let (c, _) = client(&app, described(true, true, None)).await;
    let long = "é".repeat(256);
    let form = [
        ("response_type", "code"),
        ("client_id", &c.id.to_string()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", &long),
        ("nonce", &long),
        ("code_challenge", &challenge_for(VERIFIER)),
        ("code_challenge_method", "S256"),
    ];
    let mut browser = Browser::new(&app);
    let (status, headers, _) = browser.post("/oauth2/authorize", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let login = headers[LOCATION].to_str().unwrap().to_owned();
    assert!(login.len() > 2048, "a long request: {}", login.len());
    let back = crate::oidc::sign_in_at(&mut browser, &login, &name).await;
    let code_at = {
        let (status, headers, _) = browser.get(&back).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        headers[LOCATION].to_str().unwrap().to_owned()
    };
    assert_eq!(param(&code_at, "state").as_deref(), Some(long.as_str()));
    let code = param(&code_at, "code").unwrap();
    let (status, tokens) = exchange(&app, &c, None, &code, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&id_token)["nonce"], long.as_str());
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // F11: UserInfo takes the token in a POST form body, and `bearer` in any case; not
    // in the query string.
    let r = app
        .client
        .post(app.url("/oauth2/userinfo"))
        .form(&[("access_token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .header("authorization", format!("bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .client
        .get(app.url(&format!("/oauth2/userinfo?access_token={access}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // F5: a hint from one client with another's client_id signs nobody out.
    let (other, _) = client(&app, described(true, true, None)).await;
    let logout = format!(
        "/oauth2/logout?id_token_hint={id_token}&client_id={}&post_logout_redirect_uri={}",
        other.id, "http%3A%2F%2F127.0.0.1%3A9%2Fbye"
    );
    let (status, _, _) = browser.get(&logout).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        browser.get("/account").await.0,
        StatusCode::OK,
        "still signed in"
    );
    // F6: logout as a form POST, with the right client.
    let id = c.id.to_string();
    let form = [
        ("id_token_hint", id_token.as_str()),
        ("client_id", id.as_str()),
        ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
        ("state", "bye-1"),
    ];
    let (status, headers, _) = browser.post("/oauth2/logout", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "http://127.0.0.1:9/bye?state=bye-1");
    assert_eq!(
        browser.get("/account").await.0,
        StatusCode::SEE_OTHER,
        "signed out"
    );

    // F10: a native app on a loopback IP takes any port; a private-use scheme registers.
    let mut native = described(false, true, None);
    native.redirect_uris = vec![
        "http://127.0.0.1:8123/cb".into(),
        "com.example.app:/oauth2redirect".into(),
    ];
    let (native, _) = client(&app, native).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    for (redirect, expect) in [
        ("http://127.0.0.1:50111/cb", "http://127.0.0.1:50111/cb?"),
        (
            "com.example.app:/oauth2redirect",
            "com.example.app:/oauth2redirect?",
        ),
    ] {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &native.id.to_string())
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid")
            .append_pair("code_challenge", &challenge_for(VERIFIER))
            .append_pair("code_challenge_method", "S256")
            .finish();
        let to = back_at_client(&mut browser, &format!("/oauth2/authorize?{q}")).await;
        let to = to.as_str();
        assert!(to.starts_with(expect), "{to}");
        let id = native.id.to_string();
        let (status, body) = token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &param(to, "code").unwrap()),
                ("redirect_uri", redirect),
                ("code_verifier", VERIFIER),
                ("client_id", &id),
            ],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{redirect}: {body}");
    }
    let (status, _, _) = browser
        .get(&format!(
            "/oauth2/authorize?response_type=code&client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A50111%2Fother&scope=openid&code_challenge={}&code_challenge_method=S256",
            native.id,
            challenge_for(VERIFIER)
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "another path is another URI"
    );
}

/// One public URL for every instance: an operator who scales out as README shows but
/// forgets `server.public_url` is told at startup what to set, instead of instances that
/// each derive another issuer (and refuse each other's tokens) or mail links to
/// `http://0.0.0.0:8080`. With it set alike, instances are one issuer.
#[tokio::test]
async fn one_public_url_for_every_instance() {
    let env = crate::helpers::TestEnv::new().await;
    let refused = async |tweak: &dyn Fn(&mut tessera::config::Config)| {
        let mut c = crate::helpers::test_config(&env);
        c.tokens.issuer = None;
        tweak(&mut c);
        match tessera::Application::build(c).await {
            Ok(_) => panic!("started without server.public_url"),
            Err(e) => e.to_string(),
        }
    };
    let why = refused(&|c| c.server.listen = "0.0.0.0:0".parse().unwrap()).await;
    assert!(
        why.contains("server.public_url is not set") && why.contains("0.0.0.0"),
        "{why}"
    );
    let why = refused(&|c| c.database.url = "postgres://tessera@db.internal/tessera".into()).await;
    assert!(why.contains("TESSERA_SERVER__PUBLIC_URL"), "{why}");
    let why = refused(&|c| {
        c.revocation.backend = tessera::config::RevocationBackend::Redis;
    })
    .await;
    assert!(why.contains("server.public_url is not set"), "{why}");
    let why = refused(&|c| c.server.public_url = Some("auth.example.com".into())).await;
    assert!(why.contains("absolute http(s) URL"), "{why}");

    // Set alike on two instances (other ports): one issuer, each takes the other's tokens.
    let public = "https://auth.example.test";
    let with_public = |c: &mut tessera::config::Config| {
        c.tokens.issuer = None;
        c.server.public_url = Some(public.into());
    };
    let a = TestApp::builder()
        .on(std::sync::Arc::clone(&env))
        .with_config(with_public)
        .spawn()
        .await;
    let b = TestApp::builder()
        .on(std::sync::Arc::clone(&env))
        .with_clock(std::sync::Arc::clone(&a.clock))
        .with_config(with_public)
        .spawn()
        .await;
    assert_ne!(a.base, b.base);
    let (_, pair) = a.signed_in_user().await;
    assert_eq!(claims_of(&pair.access_token)["iss"], public);
    assert_eq!(
        b.get("/v1/me", Some(&pair.access_token)).await.status(),
        StatusCode::OK
    );
    let meta: Value = b.get_json("/.well-known/openid-configuration", None).await;
    assert_eq!(meta["issuer"], public);
}

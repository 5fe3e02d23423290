//! The device authorization grant (RFC 8628), black-box: a device asks for codes, polls
//! (`authorization_pending`, `slow_down`), a person signed in on `/device` types the
//! code, sees the app and what it asks, and allows it: the device gets tokens, once.
//! And the refusals: denied, expired, a wrong or used user code, a client without the
//! grant, guessing from one address.

use reqwest::StatusCode;
use serde_json::Value;
use tessera_domain::oidc::GrantType;

use crate::helpers::{Browser, PASSWORD, TestApp, claims_of, unique_name};
use crate::oidc::token;
use crate::oidc_review::{client, described};

/// `POST /oauth2/device_authorization` for a public client.
async fn start(app: &TestApp, client_id: &str, scope: &str) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url("/oauth2/device_authorization"))
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

async fn poll(app: &TestApp, client_id: &str, device_code: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code),
        ("client_id", client_id),
    ];
    token(app, &form, None).await
}

/// A browser signed in as a new user: its name too.
async fn person(app: &TestApp) -> (String, Browser<'_>) {
    let name = unique_name();
    assert_eq!(
        app.register(&name, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let mut browser = Browser::new(app);
    browser.sign_in(&name, PASSWORD).await;
    (name, browser)
}

/// Types `code` on `/device`: the page's status and HTML.
async fn type_code(browser: &mut Browser<'_>, code: &str) -> (StatusCode, String) {
    browser.get("/device").await;
    let csrf = browser.csrf.clone();
    let (status, _, html) = browser
        .post("/device", &[("csrf", &csrf), ("user_code", code)])
        .await;
    (status, html)
}

async fn decide(browser: &mut Browser<'_>, code: &str, decision: &str) -> (StatusCode, String) {
    let csrf = browser.csrf.clone();
    let (status, _, html) = browser
        .post(
            "/device/decision",
            &[("csrf", &csrf), ("user_code", code), ("decision", decision)],
        )
        .await;
    (status, html)
}

fn device_client() -> tessera_domain::oidc::NewClient {
    let mut new = described(false, true, None);
    new.name = "Living-room TV".into();
    new.redirect_uris = Vec::new();
    new.grant_types = vec![GrantType::DeviceCode, GrantType::RefreshToken];
    new
}

#[tokio::test]
async fn a_device_is_signed_in_by_a_person_on_another_browser() {
    let app = TestApp::builder()
        .with_config(|c| c.tokens.issuer = None)
        .spawn()
        .await;
    let meta: Value = app
        .get_json("/.well-known/openid-configuration", None)
        .await;
    assert_eq!(
        meta["device_authorization_endpoint"],
        format!("{}/oauth2/device_authorization", app.base)
    );
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "urn:ietf:params:oauth:grant-type:device_code")
    );
    let (tv, _) = client(&app, device_client()).await;
    let id = tv.id.to_string();

    let (status, codes) = start(&app, &id, "openid profile").await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    let device_code = codes["device_code"].as_str().unwrap().to_owned();
    let user_code = codes["user_code"].as_str().unwrap().to_owned();
    assert_eq!(device_code.len(), 43);
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert!(
        user_code.chars().enumerate().all(|(i, c)| if i == 4 {
            c == '-'
        } else {
            "BCDFGHJKLMNPQRSTVWXZ".contains(c)
        }),
        "{user_code}"
    );
    assert_eq!(codes["verification_uri"], format!("{}/device", app.base));
    assert_eq!(
        codes["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", app.base)
    );
    assert_eq!(codes["expires_in"], 600);
    assert_eq!(codes["interval"], 5);

    // The device polls: pending; polling again at once is too fast.
    let (status, body) = poll(&app, &id, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );
    let (_, body) = poll(&app, &id, &device_code).await;
    assert_eq!(body["error"], "slow_down");
    app.advance(chrono::TimeDelta::seconds(5));
    let (_, body) = poll(&app, &id, &device_code).await;
    assert_eq!(body["error"], "authorization_pending");

    // The person: the link fills the code in; the page names the app and the scopes.
    let (name, mut browser) = person(&app).await;
    let (status, _, html) = browser.get(&format!("/device?user_code={user_code}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!(r#"value="{user_code}""#)), "{html}");
    let typed = user_code.to_lowercase().replace('-', " ");
    let (status, html) = type_code(&mut browser, &typed).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Living-room TV") && html.contains("your username"),
        "{html}"
    );
    let (status, html) = decide(&mut browser, &user_code, "allow").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Device signed in"), "{html}");

    // The device gets its tokens, once; the ID token names the person.
    app.advance(chrono::TimeDelta::seconds(5));
    let (status, tokens) = poll(&app, &id, &device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["refresh_token"].is_string());
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["preferred_username"], name.as_str());
    assert_eq!(id_token["aud"], id.as_str());
    let r = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.advance(chrono::TimeDelta::seconds(5));
    let (status, body) = poll(&app, &id, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // The user code is spent.
    let (status, html) = type_code(&mut browser, &user_code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("not valid, or it has expired or been used"),
        "{html}"
    );
}

#[tokio::test]
async fn denied_expired_wrong_and_foreign_codes_are_refused() {
    let app = TestApp::spawn().await;
    let (tv, _) = client(&app, device_client()).await;
    let id = tv.id.to_string();
    let (_, mut browser) = person(&app).await;

    // Denied.
    let (_, codes) = start(&app, &id, "openid").await;
    let user_code = codes["user_code"].as_str().unwrap();
    let (status, _) = type_code(&mut browser, user_code).await;
    assert_eq!(status, StatusCode::OK);
    let (status, html) = decide(&mut browser, user_code, "deny").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("denied"), "{html}");
    let (_, body) = poll(&app, &id, codes["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "access_denied");
    let (status, _) = decide(&mut browser, user_code, "allow").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "one decision per code");

    // Expired: neither the person nor the device can use it.
    let (_, codes) = start(&app, &id, "openid").await;
    app.advance(chrono::TimeDelta::minutes(11));
    let (status, _) = type_code(&mut browser, codes["user_code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, body) = poll(&app, &id, codes["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "expired_token");

    // Wrong and malformed user codes; another client's device code.
    for wrong in ["BCDF-GHJK", "AEIO-UAEI", "12345678", ""] {
        let (status, _) = type_code(&mut browser, wrong).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong:?}");
    }
    let (other, _) = client(&app, device_client()).await;
    let (_, codes) = start(&app, &id, "openid").await;
    let (_, body) = poll(
        &app,
        &other.id.to_string(),
        codes["device_code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    let (_, body) = poll(&app, &id, "not-a-device-code").await;
    assert_eq!(body["error"], "invalid_grant");

    // A client without the grant, and a scope the client may not have.
    let (web, _) = client(&app, described(false, true, None)).await;
    let (status, body) = start(&app, &web.id.to_string(), "openid").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let (_, body) = start(&app, &id, "openid email").await;
    assert_eq!(body["error"], "invalid_scope");

    // The decision is a CSRF-bound form.
    let (status, _, _) = browser
        .post(
            "/device/decision",
            &[
                ("csrf", "forged"),
                ("user_code", "BCDF-GHJK"),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Guessing user codes from one address runs out of the login bucket.
#[tokio::test]
async fn guessing_user_codes_is_limited() {
    let app = TestApp::builder()
        .limited()
        .with_config(|c| {
            c.limits.login_per_minute = 60;
            c.limits.login_burst = 5;
        })
        .spawn()
        .await;
    let (_, mut browser) = person(&app).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(type_code(&mut browser, "BCDF-GHJK").await.0);
    }
    // The sign-in took one place of five: four guesses, then 429.
    assert_eq!(statuses[..4], [StatusCode::BAD_REQUEST; 4], "{statuses:?}");
    assert!(
        statuses[4..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

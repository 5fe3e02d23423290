//! A stolen session must not become a stolen account (the security review's H1, M1, M2):
//! whoever holds an old session — an access token minted by refresh, or the page cookie
//! — can neither add, confirm nor remove a second factor, nor redirect the account's
//! mail, on the API or the hosted pages. Only a recent sign-in can.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Browser, PASSWORD, TestApp, assert_problem};
use crate::passkeys::Device;

/// Past the default `security.reauthentication_window` (5 minutes), within the access
/// token's 15.
const LATER: TimeDelta = TimeDelta::minutes(6);

/// An access token for the same session, minted by refresh `LATER`: what a thief holding
/// the refresh token (or any token of the session) has. A refresh keeps `auth_time`.
async fn stale_token(app: &TestApp, refresh_token: &str) -> String {
    app.advance(LATER);
    let r = app.refresh(refresh_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pair: Value = r.json().await.unwrap();
    pair["access_token"].as_str().unwrap().to_owned()
}

async fn assert_stale(r: reqwest::Response) {
    assert_problem(r, StatusCode::FORBIDDEN, "reauthentication_required").await;
}

async fn factors(app: &TestApp, token: &str) -> Value {
    app.get_json("/v1/me/mfa", Some(token)).await
}

#[tokio::test]
async fn h1_an_old_session_adds_no_second_factor() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    // A ceremony begun while the sign-in was fresh cannot be finished once it is old.
    let mut device = Device::new();
    let r = app.start_passkey_registration(&pair.access_token).await;
    let options: Value = r.json().await.unwrap();
    let credential = device.create(&options).await;

    let token = stale_token(&app, &pair.refresh_token).await;
    let r = app
        .post_json("/v1/me/mfa/totp", &json!({}), Some(&token))
        .await;
    assert_stale(r).await;
    let r = app
        .post_json(
            "/v1/me/mfa/totp/confirm",
            &json!({"code": "123456"}),
            Some(&token),
        )
        .await;
    assert_stale(r).await;
    assert_stale(app.start_passkey_registration(&token).await).await;
    let r = app
        .finish_passkey_registration(&token, "thief", &credential)
        .await;
    assert_stale(r).await;

    // The page cookie is as old as its sign-in.
    browser.get("/account").await;
    let csrf = browser.csrf.clone();
    for path in ["/account/totp", "/account/passkeys/options"] {
        let (status, _, body) = browser.post(path, &[("csrf", &csrf)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }

    let enrolled = factors(&app, &token).await;
    assert_eq!(enrolled["totp"], false, "{enrolled}");
    assert_eq!(enrolled["passkeys"], 0, "{enrolled}");
    assert_eq!(app.audit_events("passkey_added").await, 0);

    // A fresh sign-in may.
    let fresh = app.login_ok(&name, PASSWORD).await;
    let r = app
        .post_json("/v1/me/mfa/totp", &json!({}), Some(&fresh.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn m1_an_old_session_cannot_change_the_address() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    let token = stale_token(&app, &pair.refresh_token).await;

    let thief = json!({"email": "thief@example.test"});
    assert_stale(app.post_json("/v1/me/email", &thief, Some(&token)).await).await;
    browser.get("/account").await;
    let csrf = browser.csrf.clone();
    let (status, _, body) = browser
        .post(
            "/account/email",
            &[("csrf", &csrf), ("email", "thief@example.test")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("recent sign-in"), "{body}");
    assert_eq!(app.audit_events("email_change_requested").await, 0);

    let fresh = app.login_ok(&name, PASSWORD).await;
    let r = app
        .post_json("/v1/me/email", &thief, Some(&fresh.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn m2_an_old_session_removes_no_factor_even_beside_another() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let (mut first, mut second) = (Device::new(), Device::new());
    let a = app
        .add_passkey(&pair.access_token, &mut first, "laptop")
        .await;
    app.add_passkey(&pair.access_token, &mut second, "phone")
        .await;
    let token = stale_token(&app, &pair.refresh_token).await;

    // Neither is the last factor, and neither goes.
    let id = a["id"].as_str().unwrap();
    assert_stale(app.delete(&format!("/v1/me/passkeys/{id}"), &token).await).await;
    let status = factors(&app, &token).await;
    assert_eq!(status["passkeys"], 2, "{status}");
}

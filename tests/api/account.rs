//! Logout everywhere, the session list, ending one session, changing the password.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, claims_of};

#[tokio::test]
async fn logout_all_ends_every_session() {
    let app = TestApp::spawn().await;
    let (name, a) = app.signed_in_user().await;
    let b = app.login_ok(&name, PASSWORD).await;
    let (_, other_user) = app.signed_in_user().await;
    let r = app
        .post_json("/v1/auth/logout-all", &json!({}), Some(&a.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for pair in [&a, &b] {
        let r = app.get("/v1/me", Some(&pair.access_token)).await;
        assert_problem(r, StatusCode::UNAUTHORIZED, "token_revoked").await;
        let r = app.refresh(&pair.refresh_token).await;
        assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    }
    assert_eq!(
        app.dashboard_status(&other_user.access_token).await,
        StatusCode::OK
    );
    // Signing in again right away works.
    let c = app.login_ok(&name, PASSWORD).await;
    assert_eq!(app.dashboard_status(&c.access_token).await, StatusCode::OK);
}

#[tokio::test]
async fn sessions_can_be_listed_and_ended_one_by_one() {
    let app = TestApp::spawn().await;
    let (name, a) = app.signed_in_user().await;
    let b = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("user-agent", "second-browser/1.0")
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<crate::helpers::TokenPair>()
        .await
        .unwrap();
    let list: Vec<Value> = app.get_json("/v1/me/sessions", Some(&a.access_token)).await;
    assert_eq!(list.len(), 2);
    let b_sid = claims_of(&b.access_token)["sid"].clone();
    let b_entry = list.iter().find(|s| s["id"] == b_sid).unwrap();
    assert_eq!(b_entry["user_agent"], "second-browser/1.0");
    assert_eq!(b_entry["current"], false);
    assert_eq!(b_entry["ip"], "127.0.0.1");
    assert!(list.iter().any(|s| s["current"] == true));

    // Another user cannot end it; the owner can.
    let (_, stranger) = app.signed_in_user().await;
    let path = format!("/v1/me/sessions/{}", b_sid.as_str().unwrap());
    let r = app.delete(&path, &stranger.access_token).await;
    assert_problem(r, StatusCode::NOT_FOUND, "session_not_found").await;
    let r = app.delete(&path, &a.access_token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.assert_session_ended(&b).await;
    assert_eq!(app.dashboard_status(&a.access_token).await, StatusCode::OK);
    let r = app.delete(&path, &a.access_token).await;
    assert_problem(r, StatusCode::NOT_FOUND, "session_not_found").await;
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let (name, a) = app.signed_in_user().await;
    let b = app.login_ok(&name, PASSWORD).await;
    let change = async |current: &str, new: &str| {
        app.post_json(
            "/v1/me/password",
            &json!({"current_password": current, "new_password": new}),
            Some(&a.access_token),
        )
        .await
    };

    let r = change("wrong one!", "a new passphrase").await;
    assert_problem(r, StatusCode::FORBIDDEN, "invalid_credentials").await;
    let r = change(PASSWORD, "short").await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;

    let r = change(PASSWORD, "a new passphrase").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.dashboard_status(&a.access_token).await,
        StatusCode::OK,
        "the caller stays"
    );
    app.assert_session_ended(&b).await;
    assert_eq!(
        app.login(&name, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.login_ok(&name, "a new passphrase").await;
}

#[tokio::test]
async fn a_disabled_user_is_locked_out_at_once() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let (_, bystander) = app.signed_in_user().await;
    let id: uuid::Uuid = claims_of(&pair.access_token)["sub"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.state
        .accounts
        .disable_user(tessera_domain::user::UserId(id), &Default::default())
        .await
        .unwrap();
    let r = app.get("/v1/dashboard", Some(&pair.access_token)).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let r = app.refresh(&pair.refresh_token).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let r = app.login(&name, PASSWORD).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(
        app.dashboard_status(&bystander.access_token).await,
        StatusCode::OK
    );
}

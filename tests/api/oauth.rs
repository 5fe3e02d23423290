//! RFC 7009 revocation and RFC 7662 introspection.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, claims_of};

async fn form(app: &TestApp, path: &str, token: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).form(&[("token", token)]);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap()
}

/// RFC 7662 introspection of `token`, by the holder of `bearer`.
async fn introspect(app: &TestApp, token: &str, bearer: &str) -> reqwest::Response {
    form(app, "/v1/oauth/introspect", token, Some(bearer)).await
}

#[tokio::test]
async fn revoking_an_access_token_kills_only_it() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let r = form(&app, "/v1/oauth/revoke", &pair.access_token, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.dashboard_status(&pair.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    // The session lives on: its refresh token still works.
    let r = app.refresh(&pair.refresh_token).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let r = app
        .client
        .post(app.url("/v1/oauth/revoke"))
        .json(&serde_json::json!({"token": pair.refresh_token, "token_type_hint": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.assert_session_ended(&pair).await;
}

#[tokio::test]
async fn unknown_tokens_revoke_fine_and_missing_ones_are_bad_requests() {
    let app = TestApp::spawn().await;
    assert_eq!(
        form(&app, "/v1/oauth/revoke", "whatever", None)
            .await
            .status(),
        StatusCode::OK
    );
    let r = app
        .client
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("nothing", "here")])
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn introspection_needs_a_role_and_reports_per_rfc_7662() {
    let app = TestApp::spawn().await;
    let (_, user) = app.signed_in_user().await;
    let r = form(&app, "/v1/oauth/introspect", &user.access_token, None).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let r = introspect(&app, &user.access_token, &user.access_token).await;
    assert_problem(r, StatusCode::FORBIDDEN, "insufficient_role").await;

    let svc = app.signed_in_with_role("introspect").await;
    let r = introspect(&app, &user.access_token, &svc.access_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let claims = claims_of(&user.access_token);
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "access_token");
    for k in ["sub", "username", "exp", "iat", "iss", "aud", "jti", "sid"] {
        assert_eq!(body[k], claims[k], "{k}");
    }

    let r = introspect(&app, &user.refresh_token, &svc.access_token).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(body["sid"], claims["sid"]);

    let admin = app.signed_in_with_role("admin").await;
    form(&app, "/v1/oauth/revoke", &user.access_token, None).await;
    for token in [user.access_token.as_str(), "garbage"] {
        let r = introspect(&app, token, &admin.access_token).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"active": false}));
    }
}

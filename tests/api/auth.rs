//! The tutorial's flow: register, log in, call the protected route, log out.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, assert_problem, claims_of, header_of, unique_name};

#[tokio::test]
async fn register_login_and_the_protected_route() {
    let app = TestApp::spawn().await;
    let name = unique_name();
    let r = app.register(&name, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["username"], name.as_str());
    assert!(user["id"].as_str().unwrap().len() == 36);
    assert!(user["created_at"].is_string());

    let r = app.login(&name.to_uppercase(), PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let pair: crate::helpers::TokenPair = r.json().await.unwrap();
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(pair.expires_in, 900);
    assert_eq!(pair.refresh_expires_in, 7 * 24 * 3600);

    let header = header_of(&pair.access_token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = claims_of(&pair.access_token);
    for claim in [
        "iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "username", "roles",
    ] {
        assert!(!claims[claim].is_null(), "missing {claim}");
    }
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    let r = app.get("/v1/dashboard", Some(&pair.access_token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], format!("Welcome {name}"));
    assert_eq!(body["data"]["user_id"], user["id"]);

    let r = app.get("/v1/me", Some(&pair.access_token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["roles"], serde_json::json!([]));
}

#[tokio::test]
async fn the_protected_route_needs_a_valid_bearer_token() {
    let app = TestApp::spawn().await;
    let r = app.get("/v1/dashboard", None).await;
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(www.starts_with(r#"Bearer error="invalid_token""#), "{www}");
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let r = app.get("/v1/me", Some("not-a-jwt")).await;
    assert!(r.headers().contains_key("www-authenticate"));
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let r = app
        .client
        .get(app.url("/v1/dashboard"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let app = TestApp::spawn().await;
    let (name, _) = app.signed_in_user().await;
    let wrong = app.login(&name, "not the password").await;
    let unknown = app.login("nobody_here", "not the password").await;
    let malformed = app.login("no", "x").await;
    let mut bodies = Vec::new();
    for r in [wrong, unknown, malformed] {
        let mut headers: Vec<_> = r
            .headers()
            .iter()
            .filter(|(k, _)| *k != "date" && *k != "x-request-id")
            .map(|(k, v)| format!("{k}: {v:?}"))
            .collect();
        headers.sort();
        bodies.push((
            headers,
            assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await,
        ));
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
}

#[tokio::test]
async fn usernames_are_unique_ignoring_case() {
    let app = TestApp::spawn().await;
    let name = unique_name();
    assert_eq!(
        app.register(&name, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let r = app.register(&name.to_uppercase(), PASSWORD).await;
    assert_problem(r, StatusCode::CONFLICT, "username_taken").await;
}

#[tokio::test]
async fn registration_rules_answer_422() {
    let app = TestApp::spawn().await;
    for bad in ["ab", "has space", ".dot", &"x".repeat(65)] {
        let r = app.register(bad, PASSWORD).await;
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_username").await;
    }
    let name = unique_name();
    for bad in ["short", &"x".repeat(129), name.as_str()] {
        let r = app.register(&name, bad).await;
        let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        assert!(!body["detail"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn logout_kills_the_access_token_and_the_refresh_token() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let r = app.logout(&pair.access_token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get("/v1/dashboard", Some(&pair.access_token)).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let r = app.refresh(&pair.refresh_token).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;
}

#[tokio::test]
async fn health_readiness_and_jwks() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["store"], "ok");
    assert_eq!(body["signing_key"], "ok");

    let r = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "public, max-age=600");
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(
        (k["kty"].as_str(), k["use"].as_str(), k["alg"].as_str()),
        (Some("RSA"), Some("sig"), Some("RS256"))
    );
    assert!(
        k["d"].is_null() && k["p"].is_null(),
        "private parts must never be published"
    );

    let (_, pair) = app.signed_in_user().await;
    assert_eq!(header_of(&pair.access_token)["kid"], k["kid"]);
}

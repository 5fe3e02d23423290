//! Malformed input of every kind gets a 4xx problem+json, never a 5xx.

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_problem};

/// `POST path` with this body, sent as `content_type`.
async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn framework_errors_are_problems_too() {
    let app = TestApp::spawn().await;
    let r = app.get("/v1/nothing-here", None).await;
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;

    let r = app.get("/v1/auth/login", None).await;
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    for (path, malformed) in [
        ("/v1/auth/login", "{\"username\": "),
        ("/v1/auth/register", "{\"username\": 5, \"password\": []}"),
    ] {
        let r = post_raw(&app, path, "application/json", malformed).await;
        assert_problem(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

    let r = post_raw(&app, "/v1/auth/login", "text/plain", "username=alice").await;
    assert_client_error_problem(r);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let app = TestApp::spawn().await;
    let big = format!(
        "{{\"username\":\"alice\",\"password\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let r = post_raw(&app, "/v1/auth/register", "application/json", big.clone()).await;
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // The same without Content-Length (chunked): found out while reading.
    let stream = futures_stream(big.into_bytes());
    let r = post_raw(
        &app,
        "/v1/auth/register",
        "application/json",
        reqwest::Body::wrap_stream(stream),
    )
    .await;
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

/// A 4xx answered as `application/problem+json`.
fn assert_client_error_problem(r: reqwest::Response) {
    assert!(r.status().is_client_error(), "{}", r.status());
    let ct = r.headers()["content-type"].to_str().unwrap();
    assert!(ct.starts_with("application/problem+json"), "{ct}");
}

fn futures_stream(
    bytes: Vec<u8>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    tokio_stream::iter(chunks)
}

#[tokio::test]
async fn a_bad_session_id_is_a_client_error() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let r = app
        .delete("/v1/me/sessions/not-a-uuid", &pair.access_token)
        .await;
    assert_client_error_problem(r);
}

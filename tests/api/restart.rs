//! A restart keeps users, the signing key and every revocation.

use std::sync::Arc;

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp};

/// The JWKS as served, to the byte.
async fn jwks_text(app: &TestApp) -> String {
    let r = app.get("/.well-known/jwks.json", None).await;
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_second_instance_after_a_restart_trusts_the_first_ones_tokens() {
    let first = TestApp::spawn().await;
    let (name, pair) = first.signed_in_user().await;
    let (_, logged_out) = first.signed_in_user().await;
    let r = first.logout(&logged_out.access_token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let jwks_before = jwks_text(&first).await;
    let (env, clock) = (Arc::clone(&first.env), Arc::clone(&first.clock));
    first.stop().await;

    let second = TestApp::builder().on(env).with_clock(clock).spawn().await;
    assert_eq!(
        second.dashboard_status(&pair.access_token).await,
        StatusCode::OK
    );
    second.login_ok(&name, PASSWORD).await;
    assert_eq!(
        second.refresh(&pair.refresh_token).await.status(),
        StatusCode::OK
    );
    let jwks_after = jwks_text(&second).await;
    assert_eq!(jwks_before, jwks_after, "the signing key survived");
    assert_eq!(
        second.dashboard_status(&logged_out.access_token).await,
        StatusCode::UNAUTHORIZED,
        "the logout survived"
    );
    assert_eq!(
        second.refresh(&logged_out.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

//! Refresh-token rotation, the concurrent-refresh grace, reuse detection, lifetimes.

use chrono::TimeDelta;
use reqwest::StatusCode;

use crate::helpers::{TestApp, TokenPair, assert_problem, claims_of};

async fn refresh_ok(app: &TestApp, token: &str) -> TokenPair {
    let r = app.refresh(token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

#[tokio::test]
async fn every_refresh_rotates_within_one_session() {
    let app = TestApp::spawn().await;
    let (_, first) = app.signed_in_user().await;
    let second = refresh_ok(&app, &first.refresh_token).await;
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    assert!(second.refresh_token.len() >= 43, "at least 256 bits");
    let (a, b) = (
        claims_of(&first.access_token),
        claims_of(&second.access_token),
    );
    assert_eq!(a["sid"], b["sid"]);
    assert_ne!(a["jti"], b["jti"]);
    assert_eq!(
        app.dashboard_status(&second.access_token).await,
        StatusCode::OK
    );
    let third = refresh_ok(&app, &second.refresh_token).await;
    assert_ne!(third.refresh_token, second.refresh_token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_refreshes_share_one_child() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = app.url("/v1/auth/refresh");
        let token = pair.refresh_token.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&serde_json::json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<TokenPair>().await.unwrap()
        }));
    }
    let mut children = Vec::new();
    for t in tasks {
        children.push(t.await.unwrap());
    }
    let first = &children[0].refresh_token;
    assert!(
        children.iter().all(|c| &c.refresh_token == first),
        "more than one live child"
    );
    // The one child works, once.
    let next = refresh_ok(&app, first).await;
    assert_ne!(&next.refresh_token, first);
}

#[tokio::test]
async fn reuse_after_the_grace_kills_the_session() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let child = refresh_ok(&app, &pair.refresh_token).await;

    // Within the grace window: a second tab gets the same child.
    app.advance(TimeDelta::seconds(9));
    let again = refresh_ok(&app, &pair.refresh_token).await;
    assert_eq!(again.refresh_token, child.refresh_token);

    // After it: theft. The session dies with every token it issued.
    app.advance(TimeDelta::seconds(2));
    let r = app.refresh(&pair.refresh_token).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let r = app.refresh(&child.refresh_token).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let r = app.get("/v1/dashboard", Some(&child.access_token)).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let r = app.get("/v1/dashboard", Some(&pair.access_token)).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

#[tokio::test]
async fn garbage_refresh_tokens_are_invalid_grants() {
    let app = TestApp::spawn().await;
    for bad in ["", "short", &"A".repeat(43), &"!".repeat(43)] {
        let r = app.refresh(bad).await;
        assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    }
}

#[tokio::test]
async fn sessions_lapse_when_idle_and_at_their_absolute_limit() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    app.advance(TimeDelta::days(7) + TimeDelta::seconds(1));
    let r = app.refresh(&pair.refresh_token).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;

    let (_, pair) = app.signed_in_user().await;
    let mut token = pair.refresh_token;
    for _ in 0..4 {
        app.advance(TimeDelta::days(6));
        token = refresh_ok(&app, &token).await.refresh_token;
    }
    // 24 days in; the idle limit alone would allow 7 more, the absolute limit 6.
    app.advance(TimeDelta::days(6));
    let r = app.refresh(&token).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;
}

#[tokio::test]
async fn refresh_expiry_counts_down_to_the_absolute_limit() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let mut token = pair.refresh_token;
    // Days 6, 12 and 18 renew the full idle window; from day 24 the 30-day cap bites.
    for (day, expected_days) in [(6, 7), (12, 7), (18, 7), (24, 6), (25, 5)] {
        app.advance(TimeDelta::days(if day == 25 { 1 } else { 6 }));
        let next = refresh_ok(&app, &token).await;
        let expected = expected_days * 86400;
        assert!(
            (next.refresh_expires_in - expected).abs() <= 1,
            "day {day}: {}",
            next.refresh_expires_in
        );
        token = next.refresh_token;
    }
}

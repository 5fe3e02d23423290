//! The edge's gate, seen from outside: every door admits the same action the same way
//! (the client's bucket, the password door, the answer when the limiter is down).

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backends::PrivateRedis;
use crate::helpers::{
    Browser, PASSWORD, Page, TestApp, assert_abandoned_requests_leave_no_backlog, assert_problem,
};

const NEW_PASSWORD: &str = "a brand new pass phrase";

/// Holds every place at the password door, as a flood of hashing requests would.
fn fill_the_door(app: &TestApp) -> tokio::sync::OwnedSemaphorePermit {
    let door = Arc::clone(&app.state.password_door);
    let places = u32::try_from(door.available_permits()).unwrap();
    door.try_acquire_many_owned(places).unwrap()
}

/// The account page's password form, from `PASSWORD` to `NEW_PASSWORD`.
async fn change_password_on_page(browser: &mut Browser<'_>, csrf: &str) -> Page {
    browser
        .post(
            "/account/password",
            &[
                ("csrf", csrf),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers.get("retry-after")?.to_str().ok()?.parse().ok()
}

/// A flood of password changes whose clients hang up leaves no backlog: a login after it
/// is answered within about one hash time, or refused at once (the review's 15,000
/// abandoned `POST /v1/me/password` stalled the next login for seconds, because the API's
/// password change took no place at the password door).
#[tokio::test]
async fn abandoned_password_changes_leave_no_backlog_for_logins() {
    assert_abandoned_requests_leave_no_backlog(|app, impatient, (_, pair), i| {
        impatient
            .post(app.url("/v1/me/password"))
            .bearer_auth(&pair.access_token)
            .json(&json!({
                "current_password": format!("guess number {i}"),
                "new_password": NEW_PASSWORD,
            }))
    })
    .await;
}

/// With every place at the password door taken, each door that would verify or set a
/// password answers 503 with `Retry-After` before it hashes anything — the API's and the
/// page's password change alike — while actions that hash nothing still pass.
/// How many statements the server has run against its store so far.
async fn statements_run(app: &TestApp) -> f64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("tessera_store_statement_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// What makes abandoned password changes harmless: one refused at the door has read
/// nothing. The review's 15,000 abandoned `POST /v1/me/password` each ran their reads
/// before the hash was refused, and those reads queued in front of the next login's for
/// seconds; now a flood beyond the door leaves no work behind it at all.
#[tokio::test]
async fn password_changes_refused_at_the_door_run_no_statement() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let held = fill_the_door(&app);
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let before = statements_run(&app).await;
    assert!(before > 0.0, "the statement metric is exported");
    for _ in 0..50 {
        let r = app
            .post_json("/v1/me/password", &change, Some(&pair.access_token))
            .await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let ran = statements_run(&app).await - before;
    // Background rounds (the outbox, key maintenance) may run a few meanwhile; the 50
    // requests would have run at least 100.
    assert!(
        ran < 20.0,
        "{ran} statements ran for 50 refused password changes"
    );
    drop(held);
}

#[tokio::test]
async fn the_api_and_the_pages_refuse_at_the_password_door_alike() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    browser.get("/account").await;
    let csrf = browser.csrf.clone();

    let held = fill_the_door(&app);
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let r = app
        .post_json("/v1/me/password", &change, Some(&pair.access_token))
        .await;
    assert_eq!(retry_after(r.headers()), Some(1));
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let (status, headers, _) = change_password_on_page(&mut browser, &csrf).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after(&headers), Some(1));
    let r = app.login(&name, PASSWORD).await;
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let r = app
        .post_json(
            "/v1/auth/refresh",
            &json!({"refresh_token": pair.refresh_token}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "a refresh hashes no password");

    drop(held);
    let (status, _, _) = change_password_on_page(&mut browser, &csrf).await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    assert_eq!(
        app.login(&name, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// One bucket per action, whichever door the request came through: password checks
/// emptied through the API are refused on the page, and the other way round, with the
/// same 429 and `Retry-After`, and each refusal is counted once by what was limited.
#[tokio::test]
async fn the_api_and_the_pages_share_one_bucket_per_action() {
    let app = TestApp::builder()
        .limited()
        .with_config(|c| {
            c.limits.login_per_minute = 1;
            c.limits.login_burst = 3;
        })
        .spawn()
        .await;
    let (name, pair) = app.signed_in_user().await; // login: 1 of 3
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await; // login: 2 of 3
    browser.get("/account").await;
    let csrf = browser.csrf.clone();
    let wrong = json!({"current_password": "not the password", "new_password": NEW_PASSWORD});
    let r = app
        .post_json("/v1/me/password", &wrong, Some(&pair.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "3 of 3: checked, wrong");
    let before = app
        .metric("tessera_rate_limited_total", Some(("action", "login")))
        .await;

    let (status, headers, html) = change_password_on_page(&mut browser, &csrf).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
    let page_wait = retry_after(&headers).expect("the page says when to retry");
    let r = app
        .post_json("/v1/me/password", &wrong, Some(&pair.access_token))
        .await;
    let api_wait = retry_after(r.headers()).expect("the API says when to retry");
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!((1..=60).contains(&page_wait) && (1..=60).contains(&api_wait));
    let r = app.login(&name, PASSWORD).await;
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let after = app
        .metric("tessera_rate_limited_total", Some(("action", "login")))
        .await;
    assert_eq!(after - before, 3.0, "each 429 counted once, by its bucket");
    assert_eq!(
        app.login(&name, NEW_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "and the password was not changed behind the refusal"
    );
}

/// The token endpoint answers a limiter it cannot reach as what it is: 503
/// `temporarily_unavailable` with `Retry-After`, not `429 slow_down`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_answers_a_limiter_outage_with_503() {
    let Some(mut redis) = PrivateRedis::start_anywhere() else {
        return;
    };
    let app = redis
        .app("limiter-outage")
        .with_config(|c| {
            c.limits.enabled = true;
            c.limits.refresh_per_minute = 600;
        })
        .spawn()
        .await;
    let token = async || {
        app.client
            .post(app.url("/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "nothing"),
            ])
            .send()
            .await
            .unwrap()
    };
    let r = token().await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "admitted, then refused"
    );

    redis.stop();
    let r = token().await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after(r.headers()), Some(1));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
}

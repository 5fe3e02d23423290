//! Security hardening: brute-force limits, client addresses behind proxies, the password
//! policy, hash upgrades and bcrypt import, request hygiene, CORS and the audit log.

use std::sync::Arc;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_domain::ports::UserRepository as _;
use tessera_domain::user::Username;

use crate::helpers::{PASSWORD, TestApp, assert_problem, unique_name};

/// Status, `Retry-After` and body of a login attempt.
async fn attempt(app: &TestApp, name: &str, password: &str) -> (u16, Option<String>, Value) {
    let r = app.login(name, password).await;
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, r.json().await.unwrap())
}

#[tokio::test]
async fn accounts_slow_down_after_failures_without_revealing_which_exist() {
    let app = TestApp::builder().limited().spawn().await;
    let (real, _) = app.signed_in_user().await;
    let ghost = unique_name();
    let mut seen = Vec::new();
    for name in [&real, &ghost] {
        let mut trace = Vec::new();
        for _ in 0..6 {
            trace.push(attempt(&app, name, "wrong password!").await);
        }
        // Locked for 1 s now: even the right password waits.
        trace.push(attempt(&app, name, PASSWORD).await);
        seen.push(trace);
    }
    let statuses = |t: &Vec<(u16, Option<String>, Value)>| {
        t.iter()
            .map(|a| (a.0, a.1.clone(), a.2["code"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        statuses(&seen[0]),
        statuses(&seen[1]),
        "real and unknown users differ"
    );
    let last = &seen[0][6];
    assert_eq!((last.0, last.1.as_deref()), (429, Some("1")));
    assert_eq!(last.2["code"], "rate_limited");
    assert!(seen[0][..6].iter().all(|a| a.0 == 401));

    // After the delay the next failure doubles it; a success resets everything.
    app.advance(TimeDelta::seconds(1));
    assert_eq!(attempt(&app, &real, "wrong password!").await.0, 401);
    let (status, retry, _) = attempt(&app, &real, PASSWORD).await;
    assert_eq!((status, retry.as_deref()), (429, Some("2")));
    app.advance(TimeDelta::seconds(2));
    assert_eq!(attempt(&app, &real, PASSWORD).await.0, 200);
    for _ in 0..5 {
        assert_eq!(attempt(&app, &real, "wrong password!").await.0, 401);
    }
    assert_eq!(
        attempt(&app, &real, PASSWORD).await.0,
        200,
        "free failures again after a success"
    );

    // The cap: an attacker cannot lock an account for good.
    for _ in 0..40 {
        attempt(&app, &ghost, "wrong password!").await;
        app.advance(TimeDelta::minutes(15));
    }
    let (status, retry, _) = attempt(&app, &ghost, "wrong password!").await;
    assert_eq!(status, 401, "{retry:?}");
}

#[tokio::test]
async fn client_buckets_answer_429_with_retry_after() {
    let app = TestApp::builder()
        .limited()
        .with_config(|c| {
            c.limits.register_per_minute = 2;
            c.limits.register_burst = 2;
        })
        .spawn()
        .await;
    for _ in 0..2 {
        assert_eq!(
            app.register(&unique_name(), PASSWORD).await.status(),
            StatusCode::CREATED
        );
    }
    let r = app.register(&unique_name(), PASSWORD).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// The addresses the sessions of this token's user were opened from.
async fn session_ips(app: &TestApp, access_token: &str) -> Vec<Value> {
    let sessions: Vec<Value> = app.get_json("/v1/me/sessions", Some(access_token)).await;
    sessions.iter().map(|s| s["ip"].clone()).collect()
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let login_from = async |app: &TestApp, name: &str, xff: &str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", xff)
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
    };
    let trusting = TestApp::builder()
        .limited()
        .with_config(|c| {
            c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            c.limits.login_per_minute = 1;
            c.limits.login_burst = 1;
        })
        .spawn()
        .await;
    let (name, _) = trusting.signed_in_user().await; // uses 127.0.0.1's one token
    let r = login_from(&trusting, &name, "203.0.113.7, 127.0.0.1").await;
    assert_eq!(r.status(), StatusCode::OK);
    let pair: crate::helpers::TokenPair = r.json().await.unwrap();
    let ips = session_ips(&trusting, &pair.access_token).await;
    assert!(ips.iter().any(|ip| ip == "203.0.113.7"), "{ips:?}");
    assert_eq!(
        login_from(&trusting, &name, "203.0.113.7").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&trusting, &name, "198.51.100.9").await.status(),
        StatusCode::OK
    );

    let wary = TestApp::builder().limited().spawn().await;
    let (name, _) = wary.signed_in_user().await;
    let pair: crate::helpers::TokenPair = login_from(&wary, &name, "203.0.113.7")
        .await
        .json()
        .await
        .unwrap();
    let ips = session_ips(&wary, &pair.access_token).await;
    assert!(
        ips.iter().all(|ip| ip == "127.0.0.1"),
        "spoofed X-Forwarded-For believed"
    );
}

#[tokio::test]
async fn common_and_username_based_passwords_are_refused_with_help() {
    let app = TestApp::spawn().await;
    let name = unique_name();
    for weak in [
        "password1",
        "qwertyuiop",
        "11111111",
        &format!("{name}!2024"),
    ] {
        let r = app.register(&name, weak).await;
        let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        assert!(body["detail"].as_str().unwrap().len() > 20, "{body}");
    }
    // Long passphrases are welcome, up to the cap.
    let long = "grey-owls-sing-under-the-quiet-northern-moon-while-rivers-hum-along";
    assert!(long.len() >= 64);
    assert_eq!(
        app.register(&name, long).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn hashes_are_upgraded_when_the_parameters_change() {
    let first = TestApp::spawn().await;
    let (name, _) = first.signed_in_user().await;
    let (env, clock) = (Arc::clone(&first.env), Arc::clone(&first.clock));
    first.stop().await;
    let second = TestApp::builder()
        .on(env)
        .with_clock(clock)
        .with_config(|c| c.passwords.argon2_memory_kib = 128)
        .spawn()
        .await;
    second.login_ok(&name, PASSWORD).await;
    let stored = stored_hash(&second, &name).await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=128,t=1,p=1$"),
        "{stored}"
    );
}

async fn stored_hash(app: &TestApp, name: &str) -> String {
    let store = app.store().await;
    let user = store
        .find_by_username(&Username::parse(name).unwrap())
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    user.password_hash.as_str().to_owned()
}

#[tokio::test]
async fn bcrypt_users_import_idempotently_and_upgrade_on_login() {
    let app = TestApp::spawn().await;
    let name = unique_name();
    let exported = unique_name();
    // What bcryptjs writes: $2a$, cost 10 in the tutorial (4 here to keep tests quick).
    let hash = bcrypt::hash("tutorial-password", 4)
        .unwrap()
        .replacen("$2b$", "$2a$", 1);
    let file = app.env.path().join("users.jsonl");
    let lines = [
        json!({"username": name, "password_hash": hash}).to_string(),
        // A `mongoexport --type=json` line of the tutorial's mongoose User model.
        json!({"_id": {"$oid": "6745f0c2a1b2c3d4e5f60718"}, "username": exported,
               "password": hash, "__v": 0})
        .to_string(),
        json!({"username": "x", "password_hash": hash}).to_string(),
        json!({"username": unique_name(), "password_hash": "plaintext"}).to_string(),
        "not json".to_owned(),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let report = tessera::cli::import(&app.state.accounts, &file, &Default::default())
        .await
        .unwrap();
    assert_eq!(
        (report.imported, report.existing, report.rejected.len()),
        (2, 0, 3),
        "{report:?}"
    );
    let again = tessera::cli::import(&app.state.accounts, &file, &Default::default())
        .await
        .unwrap();
    assert_eq!((again.imported, again.existing), (0, 2));
    app.login_ok(&exported, "tutorial-password").await;

    assert_eq!(
        app.login(&name, "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.login_ok(&name, "tutorial-password").await;
    let stored = stored_hash(&app, &name).await;
    assert!(stored.starts_with("$argon2id$"), "not upgraded: {stored}");
    app.login_ok(&name, "tutorial-password").await;
}

#[tokio::test]
async fn oversized_headers_are_refused_and_cors_is_opt_in() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-filler", "a".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::from_u16(431).unwrap(), "headers_too_large").await;

    let preflight = |app: &TestApp| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .send()
    };
    let r = preflight(&app).await.unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));

    let cors = TestApp::builder()
        .with_config(|c| {
            c.server.cors_allowed_origins = vec!["https://app.example.com".into()];
        })
        .spawn()
        .await;
    let r = preflight(&cors).await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

#[tokio::test]
async fn the_audit_log_records_security_events_without_secrets() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in_with_role("admin").await;
    let (name, pair) = app.signed_in_user().await;
    app.login(&name, "secret-guess-123").await;
    app.logout(&pair.access_token).await;
    let user = crate::helpers::claims_of(&pair.access_token)["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    let page: Value = app
        .get_json(
            &format!("/v1/admin/audit?user={user}"),
            Some(&admin.access_token),
        )
        .await;
    let events: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["logout", "login_succeeded", "registered"],
        "{page}"
    );
    assert_eq!(page["items"][0]["ip"], "127.0.0.1");

    let failed: Value = app
        .get_json(
            "/v1/admin/audit?event=login_failed",
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(failed["total"], 1);
    assert_eq!(
        failed["items"][0]["detail"]["username"],
        name.to_lowercase()
    );
    let everything: Value = app
        .get_json("/v1/admin/audit?per_page=200", Some(&admin.access_token))
        .await;
    let text = everything.to_string();
    for secret in [
        "secret-guess-123",
        PASSWORD,
        &pair.access_token,
        &pair.refresh_token,
    ] {
        assert!(!text.contains(secret), "audit leaks a secret");
    }
    let r = app.get("/v1/admin/audit", Some(&pair.access_token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

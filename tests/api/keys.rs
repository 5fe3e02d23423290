//! Signing-key rotation: pre-publication, retirement, several instances, restarts,
//! the emergency paths, the admin API and the files source.

use std::sync::Arc;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::Value;
use tessera_domain::Clock as _;
use tessera_domain::keys::{KeyState, SigningKeyStore as _};
use tessera_keys::{KeyEvent, KeyMaterial, RsaBits};

use crate::helpers::{TestApp, assert_problem, header_of};

/// The `kid` a token's header names.
fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().unwrap().to_owned()
}

/// `POST path` with an empty body, as the holder of `token`.
async fn post_empty(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.post_json(path, &Value::Null, Some(token)).await
}

async fn stored_keys(app: &TestApp) -> Vec<tessera_domain::keys::SigningKeyRecord> {
    let store = app.store().await;
    let keys = store.list().await.unwrap();
    store.close().await;
    keys
}

const ROTATE: TimeDelta = TimeDelta::days(30);
const PREPUBLISH: TimeDelta = TimeDelta::hours(1);

#[tokio::test]
async fn a_whole_rotation_cycle() {
    let app = TestApp::spawn().await;
    let (_, old) = app.signed_in_user().await;
    let first = kid_of(&old.access_token);
    assert_eq!(app.kids().await, vec![first.clone()]);

    // Not due yet.
    app.advance(ROTATE - PREPUBLISH - TimeDelta::seconds(1));
    assert!(app.tick_keys().await.is_empty());

    // Due for pre-publication: the next key is in the JWKS before it signs.
    app.advance(TimeDelta::seconds(1));
    let events = app.tick_keys().await;
    assert!(
        matches!(
            &events[..],
            [KeyEvent::Generated {
                state: KeyState::Pending,
                ..
            }]
        ),
        "{events:?}"
    );
    let kids = app.kids().await;
    assert_eq!(kids.len(), 2);
    let next = kids.iter().find(|k| **k != first).unwrap().clone();
    app.advance(PREPUBLISH - TimeDelta::minutes(1));
    assert!(
        app.tick_keys().await.is_empty(),
        "promoted before the JWKS caches caught up"
    );
    let (_, during) = app.signed_in_user().await;
    assert_eq!(header_of(&during.access_token)["kid"], first.as_str());

    // Due: the next key signs; the old one still verifies what it signed.
    app.advance(TimeDelta::minutes(1));
    app.tick_keys().await;
    let (_, after) = app.signed_in_user().await;
    assert_eq!(header_of(&after.access_token)["kid"], next.as_str());
    assert_eq!(
        app.dashboard_status(&during.access_token).await,
        StatusCode::OK
    );
    assert_eq!(app.kids().await.len(), 2);

    // Once every token of the old key has expired, the key leaves and its private
    // part is destroyed.
    app.advance(TimeDelta::minutes(15));
    assert!(
        app.tick_keys().await.is_empty(),
        "retired before its tokens expired"
    );
    app.advance(TimeDelta::seconds(31));
    let events = app.tick_keys().await;
    assert_eq!(events, vec![KeyEvent::Retired { kid: first.clone() }]);
    assert_eq!(app.kids().await, vec![next.clone()]);
    let stored = stored_keys(&app).await;
    let retired = stored.iter().find(|k| k.kid == first).unwrap();
    assert_eq!(retired.state, KeyState::Retired);
    assert!(
        retired.private_sealed.is_none(),
        "the private part must be gone"
    );
    let (_, latest) = app.signed_in_user().await;
    assert_eq!(kid_of(&latest.access_token), kid_of(&after.access_token));
    assert_eq!(
        app.dashboard_status(&latest.access_token).await,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_perform_a_due_rotation_exactly_once() {
    let a = TestApp::spawn().await;
    let b = a.another_instance().await;
    // A maintenance round on both instances at once: their events together.
    let both_tick = async || {
        let (ea, eb) = tokio::join!(a.tick_keys(), b.tick_keys());
        [ea, eb].concat()
    };
    a.advance(ROTATE - PREPUBLISH);
    let events = both_tick().await;
    let generated = events
        .iter()
        .filter(|e| matches!(e, KeyEvent::Generated { .. }));
    assert_eq!(generated.count(), 1, "{events:?}");
    assert_eq!(stored_keys(&a).await.len(), 2);

    a.advance(PREPUBLISH);
    let events = both_tick().await;
    let promoted = events
        .iter()
        .filter(|e| matches!(e, KeyEvent::Promoted { .. }));
    assert_eq!(promoted.count(), 1, "{events:?}");
    let active: Vec<_> = stored_keys(&a)
        .await
        .into_iter()
        .filter(|k| k.state == KeyState::Active)
        .collect();
    assert_eq!(active.len(), 1);

    // Both sign with the new key and accept each other's tokens.
    let (_, pa) = a.signed_in_user().await;
    let (_, pb) = b.signed_in_user().await;
    assert_eq!(header_of(&pa.access_token)["kid"], active[0].kid.as_str());
    assert_eq!(header_of(&pb.access_token)["kid"], active[0].kid.as_str());
    assert_eq!(b.dashboard_status(&pa.access_token).await, StatusCode::OK);
    assert_eq!(a.dashboard_status(&pb.access_token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_cycle_resumes_it() {
    let app = TestApp::spawn().await;
    app.advance(ROTATE - PREPUBLISH);
    app.tick_keys().await;
    app.advance(PREPUBLISH - TimeDelta::minutes(5));
    let (_, before) = app.signed_in_user().await;
    let (env, clock) = (Arc::clone(&app.env), Arc::clone(&app.clock));
    app.stop().await;

    // Down while the promotion fell due; the restart performs it.
    clock.advance(TimeDelta::minutes(5));
    let again = TestApp::builder().on(env).with_clock(clock).spawn().await;
    let (_, after) = again.signed_in_user().await;
    assert_ne!(kid_of(&after.access_token), kid_of(&before.access_token));
    assert_eq!(
        again.dashboard_status(&before.access_token).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn admin_emergency_rotation_and_revocation() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in_with_role("admin").await;
    let (_, user) = app.signed_in_user().await;
    let old = kid_of(&user.access_token);

    // Only admins.
    let r = post_empty(&app, "/v1/admin/keys/rotate", &user.access_token).await;
    assert_problem(r, StatusCode::FORBIDDEN, "insufficient_role").await;
    let r = app.get("/v1/admin/keys", None).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // A normal manual rotation publishes a pending key that does not sign yet.
    let r = post_empty(&app, "/v1/admin/keys/rotate", &admin.access_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let keys: Vec<Value> = r.json().await.unwrap();
    assert_eq!(keys.iter().filter(|k| k["state"] == "pending").count(), 1);
    let (_, still) = app.signed_in_user().await;
    assert_eq!(header_of(&still.access_token)["kid"], old.as_str());

    // Emergency: the new key signs at once.
    let r = post_empty(
        &app,
        "/v1/admin/keys/rotate?immediate=true",
        &admin.access_token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, fresh) = app.signed_in_user().await;
    let new = kid_of(&fresh.access_token);
    assert_ne!(new, old);
    assert_eq!(
        app.dashboard_status(&user.access_token).await,
        StatusCode::OK
    );

    // Compromised: the old key's tokens are refused at once and it leaves the JWKS.
    let path = format!("/v1/admin/keys/{old}/revoke");
    let r = post_empty(&app, &path, &admin.access_token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.dashboard_status(&user.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!app.kids().await.contains(&old));
    let r = app.get("/v1/admin/keys", Some(&admin.access_token)).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let admin = app.signed_in_with_role("admin").await;
    let r = post_empty(&app, &path, &admin.access_token).await;
    assert_problem(r, StatusCode::NOT_FOUND, "key_not_found").await;

    // Revoking the active key promotes another first: signing never stops.
    let admin2 = app.signed_in_with_role("admin").await;
    let active = kid_of(&admin2.access_token);
    let r = post_empty(
        &app,
        &format!("/v1/admin/keys/{active}/revoke"),
        &admin2.access_token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, last) = app.signed_in_user().await;
    assert_ne!(header_of(&last.access_token)["kid"], active.as_str());
    assert_eq!(
        app.dashboard_status(&last.access_token).await,
        StatusCode::OK
    );

    let admin3 = app.signed_in_with_role("admin").await;
    let listed: Vec<Value> = app
        .get_json("/v1/admin/keys", Some(&admin3.access_token))
        .await;
    assert_eq!(listed.iter().filter(|k| k["state"] == "active").count(), 1);
    assert!(
        listed
            .iter()
            .any(|k| k["kid"] == old.as_str() && k["state"] == "retired")
    );
}

#[tokio::test]
async fn admins_list_and_disable_users() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in_with_role("admin").await;
    for _ in 0..3 {
        app.signed_in_user().await;
    }
    let (_, victim) = app.signed_in_user().await;
    let page: Value = app
        .get_json(
            "/v1/admin/users?page=2&per_page=2",
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(page["total"], 5);
    assert_eq!(page["page"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);

    let id = crate::helpers::claims_of(&victim.access_token)["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/admin/users/{id}/disable");
    let r = post_empty(&app, &path, &victim.access_token).await;
    assert_problem(r, StatusCode::FORBIDDEN, "insufficient_role").await;
    let r = post_empty(&app, &path, &admin.access_token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.dashboard_status(&victim.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    let nobody = format!("/v1/admin/users/{}/disable", uuid::Uuid::new_v4());
    let r = post_empty(&app, &nobody, &admin.access_token).await;
    assert_problem(r, StatusCode::NOT_FOUND, "user_not_found").await;
}

#[tokio::test]
async fn the_jwks_honours_if_none_match() {
    let app = TestApp::spawn().await;
    let r = app.get("/.well-known/jwks.json", None).await;
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let if_none_match = async |etag: &str| {
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap()
    };
    let r = if_none_match(&etag).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );

    app.state.keys.rotate(app.clock.now(), false).await.unwrap();
    let r = if_none_match(&etag).await;
    assert_eq!(r.status(), StatusCode::OK, "a new key changes the ETag");
}

#[tokio::test]
async fn keys_can_come_from_operator_managed_files() {
    let env = crate::helpers::TestEnv::new().await;
    let keydir = env.path().join("keys");
    std::fs::create_dir(&keydir).unwrap();
    let older = KeyMaterial::generate(RsaBits::B2048).unwrap();
    let newer = KeyMaterial::generate(RsaBits::B2048).unwrap();
    std::fs::write(keydir.join("2026-10.pem"), older.to_pkcs8_pem().unwrap()).unwrap();
    std::fs::write(keydir.join("2026-11.pem"), newer.to_pkcs8_pem().unwrap()).unwrap();
    let clock = Arc::new(tessera_domain::ManualClock::new(chrono::Utc::now()));
    let kd = keydir.clone();
    let app = TestApp::builder()
        .on(env)
        .with_clock(clock)
        .with_config(move |c| {
            c.keys.source = tessera::config::KeySourceKind::Files;
            c.keys.dir = kd;
        })
        .spawn()
        .await;
    let (_, pair) = app.signed_in_user().await;
    assert_eq!(header_of(&pair.access_token)["kid"], newer.kid());
    assert_eq!(app.kids().await.len(), 2);

    // A pending file is published without signing.
    let next = KeyMaterial::generate(RsaBits::B2048).unwrap();
    std::fs::write(
        keydir.join("2026-12.pending.pem"),
        next.to_pkcs8_pem().unwrap(),
    )
    .unwrap();
    app.tick_keys().await;
    assert!(app.kids().await.contains(&next.kid().to_owned()));
    let (_, pair) = app.signed_in_user().await;
    assert_eq!(header_of(&pair.access_token)["kid"], newer.kid());

    // Rotation belongs to the operator.
    let admin = app.signed_in_with_role("admin").await;
    let r = post_empty(&app, "/v1/admin/keys/rotate", &admin.access_token).await;
    assert_problem(r, StatusCode::CONFLICT, "keys_externally_managed").await;
}

/// One audit rule whichever way a key operation starts (admin API, CLI, the background
/// round): `key_rotated` once when a key starts signing, `key_revoked` when one is taken
/// out of service; publishing and retiring are not audited.
#[tokio::test]
async fn key_operations_are_audited_once_whatever_starts_them() {
    use tessera_domain::ports::AuditLog;
    let app = TestApp::spawn().await;
    let store = app.store().await;
    let trail = async |event: &str| {
        AuditLog::list(&store, None, Some(event), 0, 100)
            .await
            .unwrap()
            .1
    };
    // A fresh admin token for each call: the clock moves past a token's lifetime.
    let post = async |path: &str| {
        let admin = app.signed_in_with_role("admin").await;
        app.post_json(path, &serde_json::json!({}), Some(&admin.access_token))
            .await
            .status()
    };

    // A scheduled rotation through the API: published now (not audited), signing after
    // the pre-publication window (audited once, by the background round).
    assert_eq!(post("/v1/admin/keys/rotate").await, StatusCode::OK);
    assert_eq!(trail("key_rotated").await, 0);
    app.advance(TimeDelta::minutes(61));
    app.tick_keys().await;
    app.tick_keys().await;
    assert_eq!(trail("key_rotated").await, 1);

    // An emergency rotation through the API, then one as the CLI does it.
    assert_eq!(
        post("/v1/admin/keys/rotate?immediate=true").await,
        StatusCode::OK
    );
    assert_eq!(trail("key_rotated").await, 2);
    let cli = tessera_domain::session::ClientInfo {
        ip: None,
        user_agent: Some("tessera-cli".into()),
    };
    app.state.keys_admin.rotate(true, &cli).await.unwrap();
    assert_eq!(trail("key_rotated").await, 3);

    // Revoking the active key: the revocation, and its replacement starting to sign.
    let active = app.state.keys.snapshot().active_kid().unwrap().to_owned();
    let revoked = post(&format!("/v1/admin/keys/{active}/revoke")).await;
    assert_eq!(revoked, StatusCode::NO_CONTENT);
    assert_eq!(trail("key_revoked").await, 1);
    assert_eq!(trail("key_rotated").await, 4);
}

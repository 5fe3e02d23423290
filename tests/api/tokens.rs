//! Tokens that must be refused (RFC 8725): bad signatures, foreign and unknown keys,
//! `alg: none`, HS256 keyed with our public key, wrong `typ`, `iss`, `aud`, `exp`, `nbf`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_domain::keys::SigningKeyStore as _;
use tessera_keys::{Kek, KeyMaterial, RsaBits};

use crate::helpers::{TestApp, assert_problem, claims_of, header_of};

/// Our own signing key, read back from the test database the way the server reads it.
async fn our_key(app: &TestApp) -> KeyMaterial {
    let store = app.store().await;
    let kek_b64 = std::fs::read_to_string(app.env.path().join("encryption.key")).unwrap();
    let kek: [u8; 32] = STANDARD.decode(kek_b64.trim()).unwrap().try_into().unwrap();
    let records = store.list().await.unwrap();
    KeyMaterial::from_record(&records[0], &Kek::from_bytes(kek)).unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn rs256(key: &KeyMaterial, header: &Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let sig = key.sign_rs256(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

async fn refused(app: &TestApp, token: &str, why: &str) {
    let r = app.get("/v1/dashboard", Some(token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why} was accepted");
    assert!(r.headers().contains_key("www-authenticate"), "{why}");
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn forged_and_invalid_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let key = our_key(&app).await;
    let header = header_of(&pair.access_token);
    let claims = claims_of(&pair.access_token);

    // Our key, the genuine header and claims: accepted (the forging itself is sound).
    let genuine = rs256(&key, &header, &claims);
    assert_eq!(app.dashboard_status(&genuine).await, StatusCode::OK);

    // Tampered payload, original signature.
    let mut evil = claims.clone();
    evil["username"] = json!("admin");
    evil["roles"] = json!(["admin"]);
    let sig = pair.access_token.rsplit('.').next().unwrap();
    refused(
        &app,
        &format!("{}.{}.{sig}", b64(&header), b64(&evil)),
        "tampered payload",
    )
    .await;

    // Stripped and swapped signatures.
    let (head, _) = pair.access_token.rsplit_once('.').unwrap();
    refused(&app, &format!("{head}."), "stripped signature").await;
    refused(&app, head, "two-part token").await;

    // alg none in several casings.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": alg, "typ": "at+jwt", "kid": header["kid"]});
        refused(&app, &format!("{}.{}.", b64(&h), b64(&claims)), alg).await;
    }

    // HS256 keyed with our public key material.
    let jwks: Value = app.get_json("/.well-known/jwks.json", None).await;
    let public = jwks["keys"][0].to_string();
    for secret in [
        public.as_bytes(),
        jwks["keys"][0]["n"].as_str().unwrap().as_bytes(),
    ] {
        let h = json!({"alg": "HS256", "typ": "at+jwt", "kid": header["kid"]});
        let input = format!("{}.{}", b64(&h), b64(&claims));
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            input.as_bytes(),
        );
        refused(
            &app,
            &format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag)),
            "HS256",
        )
        .await;
    }

    // A foreign RSA key under our kid, and under its own unknown kid, with an embedded jwk.
    let foreign = KeyMaterial::generate(RsaBits::B2048).unwrap();
    refused(
        &app,
        &rs256(&foreign, &header, &claims),
        "foreign key, our kid",
    )
    .await;
    let h = json!({"alg": "RS256", "typ": "at+jwt", "kid": foreign.kid(), "jwk": foreign.jwk()});
    refused(
        &app,
        &rs256(&foreign, &h, &claims),
        "unknown kid with embedded jwk",
    )
    .await;
    let h = json!({"alg": "RS256", "typ": "at+jwt", "jku": "http://127.0.0.1:9/jwks.json"});
    refused(&app, &rs256(&foreign, &h, &claims), "no kid, jku").await;

    // kid tricks: paths, injections, our kid with a foreign key embedded as x5c/x5u/jwk.
    for kid in [
        json!("../../../../dev/null"),
        json!("' OR '1'='1"),
        json!(format!("{}\u{0}", header["kid"].as_str().unwrap())),
        json!(""),
        json!(42),
        json!(null),
    ] {
        let h = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
        refused(&app, &rs256(&foreign, &h, &claims), &format!("kid {kid}")).await;
    }
    let h = json!({
        "alg": "RS256", "typ": "at+jwt", "kid": header["kid"],
        "x5u": "http://127.0.0.1:9/cert.pem",
        "x5c": [STANDARD.encode(b"not a certificate")],
        "jwk": foreign.jwk(),
    });
    refused(
        &app,
        &rs256(&foreign, &h, &claims),
        "embedded x5c/x5u/jwk with our kid",
    )
    .await;

    // Our key, but the wrong type, issuer, audience or times.
    for typ in [json!("JWT"), json!("at+JWT2"), Value::Null] {
        let mut h = header.clone();
        h["typ"] = typ.clone();
        refused(&app, &rs256(&key, &h, &claims), &format!("typ {typ}")).await;
    }
    let now = claims["iat"].as_i64().unwrap();
    let cases = [
        ("iss", json!("someone-else")),
        ("aud", json!("another-api")),
        ("aud", json!(["tessera", "x"])),
        ("exp", json!(now - 31)),
        ("nbf", json!(now + 31)),
        ("sub", json!("not-a-uuid")),
    ];
    for (claim, value) in cases {
        let mut c = claims.clone();
        c[claim] = value.clone();
        refused(
            &app,
            &rs256(&key, &header, &c),
            &format!("{claim} = {value}"),
        )
        .await;
    }
    let mut c = claims.clone();
    c.as_object_mut().unwrap().remove("exp");
    refused(&app, &rs256(&key, &header, &c), "missing exp").await;

    // Within the 30 s leeway is still fine.
    let mut c = claims.clone();
    c["exp"] = json!(now - 20);
    assert_eq!(
        app.dashboard_status(&rs256(&key, &header, &c)).await,
        StatusCode::OK
    );

    // Oversized.
    let mut c = claims.clone();
    c["pad"] = json!("x".repeat(10_000));
    refused(&app, &rs256(&key, &header, &c), "oversized").await;
}

#[tokio::test]
async fn tokens_expire_by_the_clock() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    app.advance(TimeDelta::minutes(15));
    assert_eq!(
        app.dashboard_status(&pair.access_token).await,
        StatusCode::OK,
        "leeway"
    );
    app.advance(TimeDelta::seconds(31));
    refused(&app, &pair.access_token, "expired").await;
}

#[tokio::test]
async fn a_token_from_the_future_is_not_valid_yet() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let early = TestApp::builder()
        .on(Arc::clone(&app.env))
        .with_clock(Arc::new(tessera_domain::ManualClock::new(
            chrono::Utc::now() - TimeDelta::minutes(5),
        )))
        .spawn()
        .await;
    refused(&early, &pair.access_token, "nbf in the future").await;
}

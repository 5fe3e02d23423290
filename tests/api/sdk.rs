//! The generated Rust client (`openapi/clients/rust`, progenitor over `openapi/openapi.json`) and
//! the Rust resource-server example (`examples/rust-verifier`) against a live server:
//! what an SDK user and a resource server written in Rust actually run.

use reqwest::StatusCode;
use tessera_client::types::{Credentials, RefreshRequest, Registration};
use tessera_client::{Client, Error, with_bearer};
use tessera_verifier_example::{Verifier, VerifyError};

use crate::helpers::{PASSWORD, TestApp, unique_name};

/// The status and stable `code` of a typed problem answer.
fn problem<T: std::fmt::Debug>(
    result: Result<T, Error<tessera_client::types::Problem>>,
) -> (u16, String) {
    match result {
        Err(Error::ErrorResponse(p)) => (p.status().as_u16(), p.into_inner().code),
        other => panic!("expected a problem+json answer, got {other:?}"),
    }
}

#[tokio::test]
async fn the_generated_rust_client_runs_the_whole_flow() {
    let app = TestApp::spawn().await;
    let anonymous = Client::new(&app.base);
    let credentials = Credentials {
        username: unique_name(),
        password: PASSWORD.into(),
    };
    // The generated types check the spec's length rules before anything is sent.
    let registration = Registration {
        username: credentials.username.parse().unwrap(),
        password: credentials.password.parse().unwrap(),
    };

    let user = anonymous.register(&registration).await.unwrap();
    assert_eq!(user.status(), StatusCode::CREATED.as_u16());
    let user = user.into_inner();
    assert_eq!(user.username, credentials.username);

    // A second registration is a typed 409, not an opaque failure.
    assert_eq!(
        problem(anonymous.register(&registration).await),
        (409, "username_taken".to_owned())
    );

    let tokens = anonymous.login(&credentials).await.unwrap().into_inner();
    assert_eq!(tokens.token_type, "Bearer");
    let alice = with_bearer(&app.base, &tokens.access_token).unwrap();
    let me = alice.get_me().await.unwrap().into_inner();
    assert_eq!(
        (me.id, me.username.as_str()),
        (user.id, credentials.username.as_str())
    );

    let rotated = anonymous
        .refresh(&RefreshRequest {
            refresh_token: tokens.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.refresh_token, tokens.refresh_token);

    let alice = with_bearer(&app.base, &rotated.access_token).unwrap();
    assert_eq!(alice.logout().await.unwrap().status(), 204);
    assert_eq!(
        problem(alice.get_me().await),
        (401, "token_revoked".to_owned())
    );
    // The session is over: its refresh token is refused too.
    assert_eq!(
        problem(
            anonymous
                .refresh(&RefreshRequest {
                    refresh_token: rotated.refresh_token,
                })
                .await
        ),
        (401, "invalid_grant".to_owned())
    );
}

#[tokio::test]
async fn the_rust_verifier_example_accepts_tessera_tokens_and_nothing_else() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let config = tessera::config::Config::default();
    let verifier = Verifier::new(
        &app.url("/.well-known/jwks.json"),
        &config.tokens.issuer,
        &config.tokens.audience,
    );

    let claims = verifier.verify(&pair.access_token).await.unwrap();
    assert_eq!(claims.username, name);
    let eager = Verifier::new(
        &app.url("/.well-known/jwks.json"),
        &config.tokens.issuer,
        &config.tokens.audience,
    )
    .min_refetch(std::time::Duration::ZERO);
    assert_eq!(
        eager.verify(&pair.access_token).await.unwrap().username,
        name
    );

    // Another audience's verifier refuses the same token.
    let elsewhere = Verifier::new(
        &app.url("/.well-known/jwks.json"),
        &config.tokens.issuer,
        "billing",
    );
    assert!(matches!(
        elsewhere.verify(&pair.access_token).await,
        Err(VerifyError::Invalid(_))
    ));
    // A token whose signature does not match the key is refused.
    let mut forged = pair.access_token.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(VerifyError::Invalid(_))
    ));
    // A refresh token is not a JWT at all.
    assert!(verifier.verify(&pair.refresh_token).await.is_err());

    // After an emergency rotation a token names a kid the verifier has not seen. It
    // refetches the JWKS for it — but not more often than `min_refetch`, so a flood of
    // made-up kids cannot become a flood of JWKS requests.
    app.keys.rotate(app.auth.now(), true).await.unwrap();
    let fresh = app.login_ok(&name, PASSWORD).await;
    assert_ne!(kid(&fresh.access_token), kid(&pair.access_token));
    assert!(matches!(
        verifier.verify(&fresh.access_token).await,
        Err(VerifyError::UnknownKey(_))
    ));
    // Without the interval, the same unknown kid is fetched and found.
    assert_eq!(
        eager.verify(&fresh.access_token).await.unwrap().username,
        name
    );
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

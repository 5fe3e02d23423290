//! The generated Rust client (`openapi/clients/rust`, progenitor over `openapi/openapi.json`) and
//! the Rust resource-server example (`examples/rust-verifier`) against a live server:
//! what an SDK user and a resource server written in Rust actually run.

use reqwest::StatusCode;
use tessera_client::types::{Credentials, RefreshRequest, Registration};
use tessera_client::{Client, Error, with_bearer};
use tessera_verifier_example::{Verifier, VerifyError};

use crate::helpers::{PASSWORD, SmtpSink, TestApp, deliver_to, token_in, unique_name};

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
        email: None,
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
        "tessera",
        &config.tokens.audience,
    );

    let claims = verifier.verify(&pair.access_token).await.unwrap();
    assert_eq!(claims.username, name);
    let eager = Verifier::new(
        &app.url("/.well-known/jwks.json"),
        "tessera",
        &config.tokens.audience,
    )
    .min_refetch(std::time::Duration::ZERO);
    assert_eq!(
        eager.verify(&pair.access_token).await.unwrap().username,
        name
    );

    // Another audience's verifier refuses the same token.
    let elsewhere = Verifier::new(&app.url("/.well-known/jwks.json"), "tessera", "billing");
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
    app.state
        .keys
        .rotate(app.state.accounts.now(), true)
        .await
        .unwrap();
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

/// Every operation of the spec through the generated Rust client, each with a typed
/// success and, where one can be provoked, a typed problem. The list of operations
/// called is compared with the spec's, so a new operation fails here until it is added.
#[tokio::test]
async fn the_generated_rust_client_calls_every_operation() {
    use std::collections::BTreeSet;
    use tessera_client::types::{
        EmailChange, EmailTokenRequest, PasswordChange, PasswordResetConfirm, PasswordResetRequest,
        TokenRequest, TokenTypeHint,
    };

    // With a real SMTP server the mailed links are redeemed too; without one (a machine
    // without aiosmtpd), every email operation is still called, for its typed problems.
    let smtp = SmtpSink::start();
    let app = match &smtp {
        Some(smtp) => {
            let url = smtp.url();
            TestApp::builder()
                .with_config(|c| deliver_to(c, &url))
                .spawn()
                .await
        }
        None => TestApp::spawn().await,
    };
    let mut called = BTreeSet::new();
    let mut call = |id: &str| {
        called.insert(id.to_owned());
    };
    let anonymous = Client::new(&app.base);
    let reg = |name: &str| Registration {
        username: name.parse().unwrap(),
        password: PASSWORD.parse().unwrap(),
        email: Some(format!("{name}@example.test").parse().unwrap()),
    };
    let creds = |name: &str| Credentials {
        username: name.into(),
        password: PASSWORD.into(),
    };

    // Health and keys.
    call("getHealth");
    assert_eq!(
        anonymous.get_health().await.unwrap().into_inner().status,
        "ok"
    );
    call("getReadiness");
    assert_eq!(anonymous.get_readiness().await.unwrap().status(), 200);
    call("getJwks");
    assert!(
        !anonymous
            .get_jwks(None)
            .await
            .unwrap()
            .into_inner()
            .keys
            .is_empty()
    );

    // Auth.
    let name = unique_name();
    call("register");
    let user = anonymous.register(&reg(&name)).await.unwrap().into_inner();
    assert_eq!(
        problem(anonymous.register(&reg(&name)).await),
        (409, "username_taken".into())
    );
    call("login");
    let tokens = anonymous.login(&creds(&name)).await.unwrap().into_inner();
    let wrong = Credentials {
        username: name.clone(),
        password: "not the password".into(),
    };
    assert_eq!(
        problem(anonymous.login(&wrong).await),
        (401, "invalid_credentials".into())
    );
    call("refresh");
    let refresh = |t: &str| RefreshRequest {
        refresh_token: t.into(),
    };
    let tokens = anonymous
        .refresh(&refresh(&tokens.refresh_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        problem(anonymous.refresh(&refresh("not-a-token")).await),
        (401, "invalid_grant".into())
    );

    // Account.
    let alice = with_bearer(&app.base, &tokens.access_token).unwrap();
    call("getMe");
    assert_eq!(alice.get_me().await.unwrap().into_inner().id, user.id);
    call("getDashboard");
    assert_eq!(
        alice
            .get_dashboard()
            .await
            .unwrap()
            .into_inner()
            .data
            .username,
        name
    );
    assert!(!alice.get_me().await.unwrap().into_inner().email_verified);
    call("changeEmail");
    let email = format!("{name}-new@example.test");
    let change_to = |email: &str| EmailChange {
        email: email.parse().unwrap(),
    };
    assert_eq!(
        alice
            .change_email(&change_to(&email))
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        problem(alice.change_email(&change_to("not an address")).await),
        (422, "invalid_email".into())
    );
    call("verifyEmail");
    let link = |token: String| EmailTokenRequest {
        token: token.parse().unwrap(),
    };
    assert_eq!(
        problem(anonymous.verify_email(&link("A".repeat(43))).await),
        (400, "invalid_email_token".into())
    );
    if let Some(smtp) = &smtp {
        let mail = smtp.wait_for(&email, 1).await;
        let r = anonymous
            .verify_email(&link(token_in(&mail[0])))
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let me = alice.get_me().await.unwrap().into_inner();
        assert_eq!(
            (me.email.as_deref(), me.email_verified),
            (Some(email.as_str()), true)
        );
    }
    call("requestPasswordReset");
    let reset_for = |email: &str| PasswordResetRequest {
        email: email.parse().unwrap(),
    };
    // Alice's own link is asked for last: her password change below withdraws any
    // outstanding one. An unknown address gets the same answer.
    let accepted = anonymous
        .request_password_reset(&reset_for("nobody@example.test"))
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    assert_eq!(
        problem(anonymous.request_password_reset(&reset_for("@")).await),
        (422, "invalid_email".into())
    );
    call("confirmPasswordReset");
    let reset = |token: String| PasswordResetConfirm {
        token: token.parse().unwrap(),
        new_password: "a brand new pass phrase 9".parse().unwrap(),
    };
    assert_eq!(
        problem(
            anonymous
                .confirm_password_reset(&reset("A".repeat(43)))
                .await
        ),
        (400, "invalid_email_token".into())
    );
    call("listSessions");
    let sessions = alice.list_sessions().await.unwrap().into_inner();
    assert_eq!(sessions.len(), 1);
    call("deleteSession");
    assert_eq!(
        problem(alice.delete_session(&uuid::Uuid::new_v4()).await),
        (404, "session_not_found".into())
    );
    // A second session to end.
    anonymous.login(&creds(&name)).await.unwrap();
    let other_session = alice
        .list_sessions()
        .await
        .unwrap()
        .into_inner()
        .into_iter()
        .find(|s| !s.current)
        .unwrap();
    assert_eq!(
        alice
            .delete_session(&other_session.id)
            .await
            .unwrap()
            .status(),
        204
    );
    call("changePassword");
    let change = |current: &str| PasswordChange {
        current_password: current.into(),
        new_password: "another long pass phrase 7".parse().unwrap(),
    };
    assert_eq!(
        problem(alice.change_password(&change("wrong one")).await),
        (403, "invalid_credentials".into())
    );
    assert_eq!(
        alice
            .change_password(&change(PASSWORD))
            .await
            .unwrap()
            .status(),
        204
    );

    // OAuth, with an admin.
    let admin = app.signed_in_with_role("admin").await;
    let admin = with_bearer(&app.base, &admin.access_token).unwrap();
    call("introspectToken");
    let active = admin
        .introspect_token(&TokenRequest {
            token: tokens.access_token.clone(),
            token_type_hint: Some(TokenTypeHint::AccessToken),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(active.active && active.sub == Some(user.id));
    assert_eq!(
        problem(
            alice
                .introspect_token(&TokenRequest {
                    token: tokens.access_token.clone(),
                    token_type_hint: None,
                })
                .await
        ),
        (403, "insufficient_role".into())
    );
    call("revokeToken");

    // Admin.
    call("listUsers");
    let page = admin
        .list_users(None, "200".parse().ok())
        .await
        .unwrap()
        .into_inner();
    assert!(page.items.iter().any(|u| u.id == user.id));
    call("listAuditEvents");
    let audit = admin
        .list_audit_events(Some("password_changed"), None, None, Some(&user.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.total, 1);
    assert_eq!(
        problem(alice.list_users(None, None).await),
        (403, "insufficient_role".into())
    );
    call("listKeys");
    let keys = admin.list_keys().await.unwrap().into_inner();
    call("rotateKeys");
    let rotated = admin.rotate_keys(Some(false)).await.unwrap().into_inner();
    assert!(rotated.len() > keys.len());
    call("revokeKey");
    assert_eq!(
        problem(admin.revoke_key("no-such-kid").await),
        (404, "key_not_found".into())
    );
    let pending = rotated
        .iter()
        .find(|k| k.state.to_string() == "pending")
        .unwrap();
    assert_eq!(admin.revoke_key(&pending.kid).await.unwrap().status(), 204);
    call("verifyUserEmail");
    let verified = admin
        .verify_user_email(&user.id)
        .await
        .unwrap()
        .into_inner();
    assert!(verified.email_verified);
    assert_eq!(
        problem(admin.verify_user_email(&uuid::Uuid::new_v4()).await),
        (404, "user_not_found".into())
    );
    call("disableUser");
    assert_eq!(
        problem(admin.disable_user(&uuid::Uuid::new_v4()).await),
        (404, "user_not_found".into())
    );

    // Revocation and logout with what is left of alice's sessions.
    let bob_name = unique_name();
    anonymous.register(&reg(&bob_name)).await.unwrap();
    let bob = anonymous
        .login(&creds(&bob_name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        anonymous
            .revoke_token(&TokenRequest {
                token: bob.refresh_token.clone(),
                token_type_hint: Some(TokenTypeHint::RefreshToken),
            })
            .await
            .unwrap()
            .status(),
        200
    );
    let bob_again = anonymous
        .login(&creds(&bob_name))
        .await
        .unwrap()
        .into_inner();
    let bob_client = with_bearer(&app.base, &bob_again.access_token).unwrap();
    call("logoutAll");
    assert_eq!(bob_client.logout_all().await.unwrap().status(), 204);
    call("logout");
    let bob_last = anonymous
        .login(&creds(&bob_name))
        .await
        .unwrap()
        .into_inner();
    let bob_client = with_bearer(&app.base, &bob_last.access_token).unwrap();
    assert_eq!(bob_client.logout().await.unwrap().status(), 204);
    assert_eq!(
        problem(bob_client.get_me().await),
        (401, "token_revoked".into())
    );
    // The reset link, last: it ends every session of alice's.
    if let Some(smtp) = &smtp {
        let accepted = anonymous
            .request_password_reset(&reset_for(&email))
            .await
            .unwrap();
        assert_eq!(accepted.status(), 202);
        let mail = smtp.wait_for_subject(&email, "Reset your password").await;
        let r = anonymous
            .confirm_password_reset(&reset(token_in(&mail)))
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(problem(alice.get_me().await), (401, "token_revoked".into()));
    }
    second_factors(&app, &admin, &mut call).await;
    oauth_clients(&admin, &mut call).await;
    assert_eq!(admin.disable_user(&user.id).await.unwrap().status(), 204);

    let spec = crate::spec::operation_ids();
    assert_eq!(
        called, spec,
        "operations the Rust client test does not call"
    );
}

/// Every second-factor operation through the generated client: TOTP with pyotp's codes
/// (when pyotp is at hand; otherwise their typed refusals), recovery codes, passkeys
/// with the software authenticator, and the administrator's reset.
async fn second_factors(app: &TestApp, admin: &Client, call: &mut impl FnMut(&str)) {
    use tessera_client::types::{
        CodeBody, MfaTokenBody, NewPasskeyBody, PasskeyRename, PasskeySignIn, Reauth, SecondStep,
    };

    let anonymous = Client::new(&app.base);
    let (name, pair) = app.signed_in_user().await;
    let me = with_bearer(&app.base, &pair.access_token).unwrap();
    call("getMfa");
    assert!(!me.get_mfa().await.unwrap().into_inner().totp);
    call("enrollTotp");
    let setup = me.enroll_totp().await.unwrap().into_inner();
    call("confirmTotp");
    let code = |at: i64| crate::mfa::pyotp_code(&setup.otpauth_uri, at);
    let codes = match code(app.now_unix()) {
        Some(code) => {
            let codes = me
                .confirm_totp(&CodeBody {
                    code: code.parse().unwrap(),
                })
                .await
                .unwrap();
            codes.into_inner().recovery_codes
        }
        None => {
            let wrong = CodeBody {
                code: "000000".parse().unwrap(),
            };
            assert_eq!(
                problem(me.confirm_totp(&wrong).await),
                (400, "invalid_code".into())
            );
            Vec::new()
        }
    };
    call("completeMfa");
    if let Some(recovery) = codes.first() {
        let credentials = Credentials {
            username: name.clone(),
            password: PASSWORD.into(),
        };
        // The 403 is a typed problem with the extension members that continue it.
        let Err(Error::ErrorResponse(challenge)) = anonymous.login(&credentials).await else {
            panic!("a password alone logged in with TOTP enrolled");
        };
        let challenge = challenge.into_inner();
        assert_eq!(challenge.code, "mfa_required");
        let step = SecondStep {
            mfa_token: challenge.mfa_token.unwrap().parse().unwrap(),
            code: None,
            recovery_code: Some(recovery.parse().unwrap()),
            webauthn: None,
        };
        let tokens = anonymous.complete_mfa(&step).await.unwrap().into_inner();
        assert_eq!(tokens.token_type, "Bearer");
    } else {
        let step = SecondStep {
            mfa_token: "A".repeat(43).parse().unwrap(),
            code: Some("123456".parse().unwrap()),
            recovery_code: None,
            webauthn: None,
        };
        assert_eq!(
            problem(anonymous.complete_mfa(&step).await),
            (401, "invalid_mfa_token".into())
        );
    }
    call("regenerateRecoveryCodes");
    let by_password = Reauth {
        code: None,
        current_password: Some(PASSWORD.into()),
    };
    if codes.is_empty() {
        assert_eq!(
            problem(me.regenerate_recovery_codes(&by_password).await),
            (409, "mfa_not_enrolled".into())
        );
    } else {
        let fresh = me.regenerate_recovery_codes(&by_password).await.unwrap();
        assert_eq!(fresh.into_inner().recovery_codes.len(), 10);
    }
    call("disableTotp");
    assert_eq!(me.disable_totp(&by_password).await.unwrap().status(), 204);

    // The step-up: the password proves it is the owner again; without a passkey there is
    // no ceremony to start.
    call("reauthenticate");
    let by_password = tessera_client::types::StepUp {
        password: Some(PASSWORD.into()),
        code: None,
        recovery_code: None,
        challenge_id: None,
        webauthn: None,
    };
    let stepped = me.reauthenticate(&by_password).await.unwrap().into_inner();
    assert_eq!(stepped.amr, vec!["pwd".to_owned()]);
    assert_eq!(stepped.token_type, "Bearer");
    call("reauthenticateOptions");
    assert_eq!(
        problem(me.reauthenticate_options().await),
        (409, "mfa_not_enrolled".into())
    );

    // Passkeys.
    let mut device = crate::passkeys::Device::new();
    call("passkeyRegistrationOptions");
    let options = me
        .passkey_registration_options()
        .await
        .unwrap()
        .into_inner();
    let credential = device
        .create(&serde_json::json!({"publicKey": options.public_key}))
        .await;
    call("addPasskey");
    let added = me
        .add_passkey(&NewPasskeyBody {
            name: "Laptop".parse().unwrap(),
            credential,
        })
        .await
        .unwrap()
        .into_inner();
    call("listPasskeys");
    assert_eq!(me.list_passkeys().await.unwrap().into_inner().len(), 1);
    call("renamePasskey");
    let renamed = me
        .rename_passkey(
            &added.id,
            &PasskeyRename {
                name: "Work laptop".parse().unwrap(),
            },
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.name, "Work laptop");
    call("passkeyOptions");
    let options = anonymous.passkey_options().await.unwrap().into_inner();
    let assertion = device
        .get(&serde_json::json!({"publicKey": options.public_key}))
        .await;
    call("passkeySignIn");
    let signed_in = anonymous
        .passkey_sign_in(&PasskeySignIn {
            challenge_id: options.challenge_id.parse().unwrap(),
            credential: assertion,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(signed_in.token_type, "Bearer");
    call("mfaWebauthnOptions");
    let Err(Error::ErrorResponse(challenge)) = anonymous
        .login(&Credentials {
            username: name.clone(),
            password: PASSWORD.into(),
        })
        .await
    else {
        panic!("a password alone logged in with a passkey registered");
    };
    let token = challenge.into_inner().mfa_token.unwrap();
    let options = anonymous
        .mfa_webauthn_options(&MfaTokenBody {
            mfa_token: token.parse().unwrap(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(options.public_key["allowCredentials"].is_array());
    call("deletePasskey");
    let fresh = with_bearer(&app.base, &signed_in.access_token).unwrap();
    assert_eq!(fresh.delete_passkey(&added.id).await.unwrap().status(), 204);

    call("resetUserMfa");
    let id = me.get_me().await.unwrap().into_inner().id;
    assert_eq!(admin.reset_user_mfa(&id).await.unwrap().status(), 204);
}

/// The OAuth client registry through the generated client: register a confidential
/// client (its secret shown once), list it without the secret, delete it, and the typed
/// problems of a bad description and an unknown id.
async fn oauth_clients(admin: &Client, call: &mut impl FnMut(&str)) {
    use tessera_client::types::{GrantType, NewClient};
    let new = |redirect: &str| NewClient {
        name: "SDK test app".parse().unwrap(),
        redirect_uris: Some(vec![redirect.to_owned()]),
        post_logout_redirect_uris: None,
        grant_types: Some(vec![
            GrantType::AuthorizationCode,
            GrantType::ClientCredentials,
        ]),
        scopes: Some("openid profile".parse().unwrap()),
        public: Some(false),
        first_party: None,
        audience: Some("https://sdk-test.example/api".parse().unwrap()),
        backchannel_logout_uri: None,
        backchannel_logout_session_required: None,
    };
    call("createClient");
    let created = admin
        .create_client(&new("https://app.example/callback"))
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created = created.into_inner();
    assert_eq!(created.client_secret.as_ref().map(String::len), Some(43));
    assert_eq!(created.scopes, "openid profile");
    assert_eq!(
        problem(
            admin
                .create_client(&new("http://app.example/callback"))
                .await
        ),
        (422, "invalid_client_metadata".into()),
        "plain http is for loopback only"
    );
    call("listClients");
    let listed = admin.list_clients().await.unwrap().into_inner();
    let found = listed
        .iter()
        .find(|c| c.client_id == created.client_id)
        .unwrap();
    assert!(!found.public && found.redirect_uris == ["https://app.example/callback"]);
    call("deleteClient");
    let deleted = admin.delete_client(&created.client_id).await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        problem(admin.delete_client(&created.client_id).await),
        (404, "client_not_found".into())
    );
}

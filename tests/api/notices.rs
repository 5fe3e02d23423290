//! Security notices (issue 27): the owner of an account hears, at its verified address and
//! through the real SMTP server (aiosmtpd), of every change that could keep or take the
//! account — one mail per change, saying what, when and from which client, and carrying
//! nothing that grants anything.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::account_safety::mailing_app;
use crate::helpers::{PASSWORD, SmtpSink, TestApp, deliver_to, token_in, unique_name, within};
use crate::mfa::pyotp_code;
use crate::passkeys::Device;

/// The user agent every request of these tests sends: a notice names it.
const AGENT: &str = "notice-test/1.0 (Firefox on a thief's laptop)";

struct Owner {
    name: String,
    email: String,
    token: String,
}

async fn post(app: &TestApp, path: &str, body: Value, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("user-agent", AGENT)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Registers with a fresh address, verifies it through the mailed link and signs in.
async fn verified_owner(app: &TestApp, smtp: &SmtpSink) -> Owner {
    let name = unique_name();
    let email = format!("{name}@example.test");
    assert_eq!(
        app.register_with_email(&name, &email).await.status(),
        StatusCode::CREATED
    );
    let link = smtp.wait_for(&email, 1).await.remove(0);
    let r = app
        .post_json(
            "/v1/auth/verify-email",
            &json!({"token": token_in(&link)}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let token = app.login_ok(&name, PASSWORD).await.access_token;
    Owner { name, email, token }
}

/// Waits for the one mail to `to` with `subject`, checks what every notice must say and
/// must not carry, and returns its text.
async fn notice(smtp: &SmtpSink, to: &str, subject: &str, secrets: &[&str]) -> String {
    let with_subject = || {
        smtp.to(to)
            .into_iter()
            .filter(|m| m["subject"] == subject)
            .collect::<Vec<_>>()
    };
    within(std::time::Duration::from_secs(10), async || {
        !with_subject().is_empty()
    })
    .await;
    let mails = with_subject();
    assert_eq!(mails.len(), 1, "one mail {subject:?} to {to}");
    let mail = &mails[0];
    let text = mail["text"].as_str().unwrap().to_owned();
    let html = mail["html"].as_str().unwrap();
    assert!(text.contains("When: "), "{text}");
    assert!(
        text.contains(&format!("From: 127.0.0.1 ({AGENT})")),
        "{text}"
    );
    assert!(text.contains("If it was not you"), "{text}");
    for body in [text.as_str(), html] {
        assert!(
            !body.contains("token="),
            "no link that grants anything: {body}"
        );
        for secret in secrets {
            assert!(!body.contains(secret), "{secret:?} in {body}");
        }
    }
    text
}

/// Every change, one by one, each with its one notice at the verified address; and the
/// change of address tells the *old* address.
#[tokio::test]
async fn the_owner_is_told_of_each_change_once_with_no_secret() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let owner = verified_owner(&app, &smtp).await;
    let (to, token) = (owner.email.as_str(), owner.token.as_str());

    // An authenticator app: its secret and recovery codes are in no mail.
    let r = post(&app, "/v1/me/mfa/totp", json!({}), token).await;
    let setup: Value = r.json().await.unwrap();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let uri = setup["otpauth_uri"].as_str().unwrap();
    let Some(code) = pyotp_code(uri, app.now_unix()) else {
        crate::helpers::missing("pyotp");
        return;
    };
    let r = post(
        &app,
        "/v1/me/mfa/totp/confirm",
        json!({"code": code}),
        token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let codes: Value = r.json().await.unwrap();
    let first_code = codes["recovery_codes"][0].as_str().unwrap().to_owned();
    let text = notice(
        &smtp,
        to,
        "An authenticator app was added to your account",
        &[&secret, &first_code, &code],
    )
    .await;
    assert!(text.contains(&format!("\"{}\"", owner.name)), "{text}");

    let r = post(
        &app,
        "/v1/me/mfa/recovery-codes",
        json!({"current_password": PASSWORD}),
        token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: Value = r.json().await.unwrap();
    let new_code = fresh["recovery_codes"][0].as_str().unwrap().to_owned();
    notice(
        &smtp,
        to,
        "New recovery codes were made for your account",
        &[&new_code, PASSWORD],
    )
    .await;

    // A passkey, added and removed.
    let mut device = Device::new();
    let r = post(&app, "/v1/me/passkeys/options", json!({}), token).await;
    let options: Value = r.json().await.unwrap();
    let credential = device.create(&options).await;
    let r = post(
        &app,
        "/v1/me/passkeys",
        json!({"name": "laptop", "credential": credential}),
        token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let passkey: Value = r.json().await.unwrap();
    notice(&smtp, to, "A passkey was added to your account", &[]).await;
    let r = app
        .client
        .delete(app.url(&format!(
            "/v1/me/passkeys/{}",
            passkey["id"].as_str().unwrap()
        )))
        .header("user-agent", AGENT)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    notice(&smtp, to, "A passkey was removed from your account", &[]).await;

    // The authenticator app goes.
    app.advance(chrono::TimeDelta::seconds(30));
    let r = post(
        &app,
        "/v1/me/mfa/totp/disable",
        json!({"current_password": PASSWORD}),
        token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    notice(
        &smtp,
        to,
        "An authenticator app was removed from your account",
        &[],
    )
    .await;

    // The password, changed, then reset through a mailed link.
    let changed = "plaid tortoise juggles quietly";
    let r = post(
        &app,
        "/v1/me/password",
        json!({"current_password": PASSWORD, "new_password": changed}),
        token,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    notice(&smtp, to, "Your password was changed", &[PASSWORD, changed]).await;

    let r = app
        .post_json("/v1/auth/password-reset", &json!({"email": to}), None)
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let link = smtp.wait_for_subject(to, "Reset your password").await;
    let reset_token = token_in(&link);
    let reset = "violet harbour mends kites";
    let r = app
        .client
        .post(app.url("/v1/auth/password-reset/confirm"))
        .header("user-agent", AGENT)
        .json(&json!({"token": reset_token, "new_password": reset}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    notice(&smtp, to, "Your password was reset", &[&reset_token, reset]).await;

    // A new address: the old one is told (and the new one is not named to it).
    let token = app.login_ok(&owner.name, reset).await.access_token;
    let new = format!("new-{}@example.test", owner.name);
    let r = post(&app, "/v1/me/email", json!({"email": new}), &token).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let link = smtp.wait_for(&new, 1).await.remove(0);
    let r = app
        .client
        .post(app.url("/v1/auth/verify-email"))
        .header("user-agent", AGENT)
        .json(&json!({"token": token_in(&link)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let text = notice(
        &smtp,
        to,
        "Your email address was changed",
        &[&new, &token_in(&link)],
    )
    .await;
    assert!(text.contains("change the address back"), "{text}");

    // Every mail to the old address: the verification link, the reset link, and one
    // notice per change (eight); the new address got only its link.
    assert_eq!(smtp.to(to).len(), 2 + 8, "{:#?}", smtp.to(to));
    assert_eq!(smtp.to(&new).len(), 1);
}

/// An administrator's reset of the factors is told too; an unverified address is told
/// nothing (it may not be the owner's); and `mail.security_notices = false` turns them
/// off.
#[tokio::test]
async fn an_admin_reset_is_told_and_notices_can_be_turned_off() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let owner = verified_owner(&app, &smtp).await;
    let mut device = Device::new();
    app.add_passkey(&owner.token, &mut device, "laptop").await;
    let admin = app.signed_in_with_role("admin").await;
    let me: Value = app.get_json("/v1/me", Some(&owner.token)).await;
    let path = format!("/v1/admin/users/{}/mfa/reset", me["id"].as_str().unwrap());
    let r = post(&app, &path, json!({}), &admin.access_token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let text = notice(&smtp, &owner.email, "Your second factors were removed", &[]).await;
    assert!(text.contains("An administrator removed"), "{text}");

    // An address given at registration and never verified hears nothing of a change.
    let name = unique_name();
    let unverified = format!("{name}@example.test");
    app.register_with_email(&name, &unverified).await;
    let token = app.login_ok(&name, PASSWORD).await.access_token;
    app.add_passkey(&token, &mut Device::new(), "laptop").await;

    // Off: the same change, and only the verification link arrives.
    let quiet = TestApp::builder()
        .with_config(|c| {
            deliver_to(c, &smtp.url());
            c.mail.security_notices = false;
        })
        .spawn()
        .await;
    let owner = verified_owner(&quiet, &smtp).await;
    quiet
        .add_passkey(&owner.token, &mut Device::new(), "laptop")
        .await;

    // Whatever the changes queued has been sent once each outbox is empty.
    for app in [&app, &quiet] {
        let drained = within(std::time::Duration::from_secs(10), async || {
            app.state.mail.delivery.pending().await.unwrap() == 0
        })
        .await;
        assert!(drained.is_some(), "the outbox empties");
    }
    let subjects = |to: &str| {
        smtp.to(to)
            .iter()
            .map(|m| m["subject"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(subjects(&owner.email), ["Confirm your email address"]);
    assert_eq!(subjects(&unverified), ["Confirm your email address"]);
}

//! A stolen session must not become a stolen account (the security review's H1, M1, M2):
//! whoever holds an old session — an access token minted by refresh, or the page cookie
//! — can neither add, confirm nor remove a second factor, nor redirect the account's
//! mail, on the API or the hosted pages. Only a recent sign-in can. And the address
//! lifecycle leaks and sprays nothing (M3, L1, L2, L3): a change of address tells nobody
//! which addresses are taken and is limited per client and per account, reset links go
//! to the address on file, and every outstanding link dies with the owner's response to a
//! leak.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_domain::email::Email;

use crate::helpers::{
    Browser, PASSWORD, SmtpSink, TestApp, assert_problem, assert_throttled, claims_of, deliver_to,
    token_in, unique_name, within,
};
use crate::mfa::pyotp_code;
use crate::passkeys::Device;

/// Past the default `security.reauthentication_window` (5 minutes), within the access
/// token's 15.
const LATER: TimeDelta = TimeDelta::minutes(6);

/// An access token for the same session, minted by refresh `LATER`: what a thief holding
/// the refresh token (or any token of the session) has. A refresh keeps `auth_time`.
async fn stale_token(app: &TestApp, refresh_token: &str) -> String {
    app.advance(LATER);
    let r = app.refresh(refresh_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pair: Value = r.json().await.unwrap();
    pair["access_token"].as_str().unwrap().to_owned()
}

async fn assert_stale(r: reqwest::Response) {
    assert_problem(r, StatusCode::FORBIDDEN, "reauthentication_required").await;
}

async fn factors(app: &TestApp, token: &str) -> Value {
    app.get_json("/v1/me/mfa", Some(token)).await
}

#[tokio::test]
async fn h1_an_old_session_adds_no_second_factor() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    // A ceremony begun while the sign-in was fresh cannot be finished once it is old.
    let mut device = Device::new();
    let r = app.start_passkey_registration(&pair.access_token).await;
    let options: Value = r.json().await.unwrap();
    let credential = device.create(&options).await;

    let token = stale_token(&app, &pair.refresh_token).await;
    let r = app
        .post_json("/v1/me/mfa/totp", &json!({}), Some(&token))
        .await;
    assert_stale(r).await;
    let r = app
        .post_json(
            "/v1/me/mfa/totp/confirm",
            &json!({"code": "123456"}),
            Some(&token),
        )
        .await;
    assert_stale(r).await;
    assert_stale(app.start_passkey_registration(&token).await).await;
    let r = app
        .finish_passkey_registration(&token, "thief", &credential)
        .await;
    assert_stale(r).await;

    // The page cookie is as old as its sign-in.
    browser.get("/account").await;
    let csrf = browser.csrf.clone();
    for path in ["/account/totp", "/account/passkeys/options"] {
        let (status, _, body) = browser.post(path, &[("csrf", &csrf)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }

    let enrolled = factors(&app, &token).await;
    assert_eq!(enrolled["totp"], false, "{enrolled}");
    assert_eq!(enrolled["passkeys"], 0, "{enrolled}");
    assert_eq!(app.audit_events("passkey_added").await, 0);

    // A fresh sign-in may.
    let fresh = app.login_ok(&name, PASSWORD).await;
    let r = app
        .post_json("/v1/me/mfa/totp", &json!({}), Some(&fresh.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn m1_an_old_session_cannot_change_the_address() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    let token = stale_token(&app, &pair.refresh_token).await;

    let thief = json!({"email": "thief@example.test"});
    assert_stale(app.post_json("/v1/me/email", &thief, Some(&token)).await).await;
    browser.get("/account").await;
    let csrf = browser.csrf.clone();
    let (status, _, body) = browser
        .post(
            "/account/email",
            &[("csrf", &csrf), ("email", "thief@example.test")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("recent sign-in"), "{body}");
    assert_eq!(app.audit_events("email_change_requested").await, 0);

    let fresh = app.login_ok(&name, PASSWORD).await;
    let r = app
        .post_json("/v1/me/email", &thief, Some(&fresh.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn m2_an_old_session_removes_no_factor_even_beside_another() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let (mut first, mut second) = (Device::new(), Device::new());
    let a = app
        .add_passkey(&pair.access_token, &mut first, "laptop")
        .await;
    app.add_passkey(&pair.access_token, &mut second, "phone")
        .await;
    let token = stale_token(&app, &pair.refresh_token).await;

    // Neither is the last factor, and neither goes.
    let id = a["id"].as_str().unwrap();
    assert_stale(app.delete(&format!("/v1/me/passkeys/{id}"), &token).await).await;
    let status = factors(&app, &token).await;
    assert_eq!(status["passkeys"], 2, "{status}");
}

/// The step-up's answer for `token` and one proof.
async fn step_up(app: &TestApp, token: &str, proof: Value) -> reqwest::Response {
    app.post_json("/v1/auth/reauthenticate", &proof, Some(token))
        .await
}

/// An old session proves it is the owner again with each kind of proof, and then makes
/// the change it could not make before; the session stays the same and its refresh
/// token mints tokens that carry the new sign-in.
#[tokio::test]
async fn an_old_session_steps_up_with_each_kind_of_proof() {
    let app = TestApp::spawn().await;
    let Some(user) = app.enrolled().await else {
        crate::helpers::missing("pyotp");
        return;
    };
    let mut device = Device::new();
    app.add_passkey(&user.pair.access_token, &mut device, "laptop")
        .await;
    let sid = claims_of(&user.pair.access_token)["sid"].clone();
    let mut refresh_token = user.pair.refresh_token.clone();

    let passkey_proof = async |app: &TestApp, device: &mut Device, token: &str| {
        let r = app
            .post_json("/v1/auth/reauthenticate/options", &json!({}), Some(token))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let options: Value = r.json().await.unwrap();
        let assertion = device
            .get(&json!({"publicKey": options["publicKey"]}))
            .await;
        json!({"challenge_id": options["challenge_id"], "webauthn": assertion})
    };

    for kind in ["password", "code", "recovery_code", "passkey"] {
        app.advance(LATER);
        let r = app.refresh(&refresh_token).await;
        let pair: Value = r.json().await.unwrap();
        refresh_token = pair["refresh_token"].as_str().unwrap().to_owned();
        let old = pair["access_token"].as_str().unwrap().to_owned();
        assert_stale(app.start_passkey_registration(&old).await).await;

        let proof = match kind {
            "password" => json!({"password": PASSWORD}),
            "code" => json!({"code": pyotp_code(&user.uri, app.now_unix()).unwrap()}),
            "recovery_code" => json!({"recovery_code": user.recovery_codes[0]}),
            _ => passkey_proof(&app, &mut device, &old).await,
        };
        let r = step_up(&app, &old, proof).await;
        assert_eq!(r.status(), StatusCode::OK, "{kind}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let up: Value = r.json().await.unwrap();
        let token = up["access_token"].as_str().unwrap();
        let claims = claims_of(token);
        assert_eq!(claims["sid"], sid, "{kind}: the same session");
        assert_eq!(claims["auth_time"], app.now_unix(), "{kind}");
        assert_eq!(claims["auth_time"], up["auth_time"]);
        assert_eq!(claims["amr"], up["amr"]);
        let expected_amr = match kind {
            "password" => json!(["pwd"]),
            "code" | "recovery_code" => json!(["otp"]),
            _ => json!(["hwk", "mfa"]),
        };
        assert_eq!(up["amr"], expected_amr, "{kind}");
        let r = app.start_passkey_registration(token).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{kind}: the change goes through"
        );

        // The session's refresh token now mints tokens with the new sign-in.
        let r = app.refresh(&refresh_token).await;
        let pair: Value = r.json().await.unwrap();
        refresh_token = pair["refresh_token"].as_str().unwrap().to_owned();
        let refreshed = claims_of(pair["access_token"].as_str().unwrap());
        assert_eq!(refreshed["auth_time"], up["auth_time"], "{kind}");
    }
    assert_eq!(app.audit_events("reauthenticated").await, 4);
    // A recovery code spent on a step-up is audited as on a second step.
    assert_eq!(app.audit_events("recovery_code_used").await, 1);
}

/// A wrong proof is refused, spends the account's budget like a wrong login, and leaves
/// the session's sign-in as old as it was.
#[tokio::test]
async fn a_wrong_step_up_proof_is_refused_and_counted() {
    let app = TestApp::builder().limited().spawn().await;
    let Some(user) = app.enrolled().await else {
        crate::helpers::missing("pyotp");
        return;
    };
    let old = stale_token(&app, &user.pair.refresh_token).await;

    let r = step_up(&app, &old, json!({"password": "not the password"})).await;
    assert_problem(r, StatusCode::FORBIDDEN, "invalid_credentials").await;
    let r = step_up(&app, &old, json!({"code": "000000"})).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_code").await;
    let r = step_up(&app, &old, json!({"recovery_code": "AAAA-BBBB-CCCC"})).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_code").await;
    let two = json!({"password": PASSWORD, "code": "123456"});
    assert_problem(
        step_up(&app, &old, two).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let r = app
        .post_json("/v1/auth/reauthenticate/options", &json!({}), Some(&old))
        .await;
    assert_problem(r, StatusCode::CONFLICT, "mfa_not_enrolled").await;
    assert_eq!(app.audit_events("reauthentication_failed").await, 3);
    assert_stale(app.start_passkey_registration(&old).await).await;

    // The account's budget: after the free failures the right password waits too.
    for _ in 0..3 {
        step_up(&app, &old, json!({"password": "not the password"})).await;
    }
    let r = step_up(&app, &old, json!({"password": PASSWORD})).await;
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// An app that delivers to `smtp`.
pub(crate) async fn mailing_app(smtp: &SmtpSink) -> TestApp {
    TestApp::builder()
        .with_config(|c| deliver_to(c, &smtp.url()))
        .spawn()
        .await
}

/// A user registered with `email` and verified through the mailed link: the name.
async fn verified_as(app: &TestApp, smtp: &SmtpSink, email: &str) -> String {
    let name = unique_name();
    let r = app.register_with_email(&name, email).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mail = smtp.wait_for(email, 1).await.remove(0);
    let r = verify(app, &token_in(&mail)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    name
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/v1/auth/verify-email", &json!({ "token": token }), None)
        .await
}

async fn change_email(app: &TestApp, token: &str, email: &str) -> reqwest::Response {
    app.post_json("/v1/me/email", &json!({ "email": email }), Some(token))
        .await
}

async fn request_reset(app: &TestApp, email: &str) {
    let r = app
        .post_json("/v1/auth/password-reset", &json!({ "email": email }), None)
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

async fn confirm_reset(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    let body = json!({"token": token, "new_password": new_password});
    app.post_json("/v1/auth/password-reset/confirm", &body, None)
        .await
}

/// The token of the one mail to `email` whose link is not in `seen`, once `n` mails with
/// a link have arrived (the sink keeps no order, and security notices carry none); it
/// joins `seen`.
async fn new_token(smtp: &SmtpSink, email: &str, n: usize, seen: &mut Vec<String>) -> String {
    let links = || {
        smtp.to(email)
            .into_iter()
            .filter(|m| m["text"].as_str().is_some_and(|t| t.contains("token=")))
            .collect::<Vec<_>>()
    };
    within(std::time::Duration::from_secs(10), async || {
        links().len() >= n
    })
    .await;
    let fresh: Vec<String> = links()
        .iter()
        .map(token_in)
        .filter(|t| !seen.contains(t))
        .collect();
    assert_eq!(fresh.len(), 1, "one new link among {n} mails to {email}");
    seen.push(fresh[0].clone());
    fresh[0].clone()
}

#[tokio::test]
async fn m3_a_change_of_address_tells_nobody_whether_the_address_is_taken() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let victims = format!("{}@example.test", unique_name());
    let victim = verified_as(&app, &smtp, &victims).await;

    // Another account, freshly signed in, asks for a free address and for the victim's
    // (in capitals): the same answer, to the byte but for the address it repeats.
    let (attacker, pair) = app.signed_in_user().await;
    let free = format!("{}@example.test", unique_name());
    let r = change_email(&app, &pair.access_token, &free).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let free_answer = r.text().await.unwrap().replace(&free, "ADDRESS");
    let typed = Email::parse(&victims.to_uppercase()).unwrap().to_string();
    let r = change_email(&app, &pair.access_token, &typed).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let taken_answer = r.text().await.unwrap().replace(&typed, "ADDRESS");
    assert_eq!(taken_answer, free_answer);
    assert!(free_answer.contains("ADDRESS"), "{free_answer}");
    assert_eq!(app.audit_events("email_change_requested").await, 2);

    // The free address gets its link; the victim gets a notice with no link, and no
    // verification link for the attacker's account.
    let link = smtp.wait_for(&free, 1).await.remove(0);
    assert!(link["text"].as_str().unwrap().contains(&attacker));
    let mails = smtp.wait_for(&victims, 2).await;
    let notice = mails
        .iter()
        .find(|m| m["subject"] == "Your email address was given for another account")
        .expect("a notice to the owner");
    assert_eq!(notice["rcpt_to"], json!([victims]));
    for part in ["text", "html"] {
        let body = notice[part].as_str().unwrap();
        assert!(body.contains(&victim) && body.contains(&victims), "{body}");
        assert!(!body.contains("token") && !body.contains("http"), "{body}");
        assert!(!body.contains(&attacker), "{body}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mails = smtp.to(&victims);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(
        mails
            .iter()
            .all(|m| !m["text"].as_str().unwrap().contains(&attacker))
    );
    // The attacker's earlier link died as it would have for a free address.
    let r = verify(&app, &token_in(&link)).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_email_token").await;
}

#[tokio::test]
async fn l1_changes_of_address_are_limited_per_account_and_per_client() {
    let app = TestApp::builder()
        .limited()
        .with_config(|c| {
            c.limits.email_change_per_account_per_minute = 1;
            c.limits.email_change_per_account_burst = 3;
            c.limits.password_reset_per_minute = 1;
            c.limits.password_reset_burst = 5;
        })
        .spawn()
        .await;
    let spray = async |token: &str| {
        change_email(&app, token, &format!("{}@example.test", unique_name())).await
    };
    let (_, one) = app.signed_in_user().await;
    for _ in 0..3 {
        assert_eq!(
            spray(&one.access_token).await.status(),
            StatusCode::ACCEPTED
        );
    }
    // The account's budget is spent (four requests from this client so far).
    let r = spray(&one.access_token).await;
    assert_throttled(r).await;
    // Another account has a budget of its own, but the client's is spent after a fifth.
    let (_, two) = app.signed_in_user().await;
    assert_eq!(
        spray(&two.access_token).await.status(),
        StatusCode::ACCEPTED
    );
    let r = spray(&two.access_token).await;
    assert_throttled(r).await;
    // The account page's form is the same door.
    let (name, _) = app.signed_in_user().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    browser.get("/account").await;
    let csrf = browser.csrf.clone();
    let (status, _, body) = browser
        .post(
            "/account/email",
            &[("csrf", &csrf), ("email", "x@example.test")],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(app.audit_events("email_change_requested").await, 4);
}

#[tokio::test]
async fn l2_a_reset_link_goes_to_the_address_on_file_not_as_typed() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let on_file = format!("Mixed.Case.{}@example.test", unique_name());
    verified_as(&app, &smtp, &on_file).await;
    request_reset(&app, &on_file.to_uppercase()).await;
    let mails = smtp.wait_for(&on_file, 2).await;
    let reset = mails
        .iter()
        .find(|m| m["subject"] == "Reset your password")
        .expect("a reset mail");
    assert_eq!(reset["rcpt_to"], json!([on_file]));
    let r = confirm_reset(&app, &token_in(reset), "plaid tortoise juggles quietly").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn l3_outstanding_links_die_with_a_password_change_a_sign_out_and_a_new_address() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let email = format!("{}@example.test", unique_name());
    let name = verified_as(&app, &smtp, &email).await;
    let mut seen = vec![token_in(&smtp.to(&email)[0])];
    let dead = async |token: &str| {
        let r = confirm_reset(&app, token, "thief chooses this password").await;
        assert_problem(r, StatusCode::BAD_REQUEST, "invalid_email_token").await;
    };

    // A reset link leaks; the owner changes the password.
    request_reset(&app, &email).await;
    let leaked = new_token(&smtp, &email, 2, &mut seen).await;
    let pair = app.login_ok(&name, PASSWORD).await;
    let new_password = "plaid tortoise juggles quietly";
    let body = json!({"current_password": PASSWORD, "new_password": new_password});
    let r = app
        .post_json("/v1/me/password", &body, Some(&pair.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    dead(&leaked).await;

    // Another leaks; the owner signs out everywhere.
    request_reset(&app, &email).await;
    let leaked = new_token(&smtp, &email, 3, &mut seen).await;
    let r = app
        .post_json("/v1/auth/logout-all", &json!({}), Some(&pair.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    dead(&leaked).await;

    // Another leaks; the owner verifies the address again, spelled anew (the same
    // address ignoring case, so only the withdrawal stops the old link).
    request_reset(&app, &email).await;
    let leaked = new_token(&smtp, &email, 4, &mut seen).await;
    let fresh = app.login_ok(&name, new_password).await;
    let respelled = email
        .to_uppercase()
        .replace("@EXAMPLE.TEST", "@example.test");
    let r = change_email(&app, &fresh.access_token, &respelled).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let link = new_token(&smtp, &email, 5, &mut seen).await;
    assert_eq!(verify(&app, &link).await.status(), StatusCode::NO_CONTENT);
    dead(&leaked).await;
    assert_eq!(app.login_ok(&name, new_password).await.token_type, "Bearer");
}

/// The hosted page asks an old session for the password inline, on the form that needs
/// it: without it the ceremony is refused, with it the session steps up and the passkey
/// is added (the script's two posts, made here without a browser).
#[tokio::test]
async fn the_account_page_asks_an_old_session_for_the_password_inline() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    let (_, _, fresh) = browser.get("/account").await;
    assert!(
        !fresh.contains("recent_password"),
        "a recent sign-in is not asked"
    );

    app.advance(LATER);
    let (_, _, html) = browser.get("/account").await;
    assert!(
        html.contains(
            r#"name="recent_password" type="password" autocomplete="current-password" required"#
        ),
        "{html}"
    );
    let csrf = browser.csrf.clone();
    let options_with = async |browser: &mut Browser<'_>, password: &str| {
        browser
            .post(
                "/account/passkeys/options",
                &[("csrf", &csrf), ("recent_password", password)],
            )
            .await
    };
    let (status, _, body) = options_with(&mut browser, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("reauthentication_required"), "{body}");
    let (status, _, body) = options_with(&mut browser, "not the password").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("invalid_credentials"), "{body}");

    let (status, _, body) = options_with(&mut browser, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let options: Value = serde_json::from_str(&body).unwrap();
    let credential = Device::new().create(&options).await;
    let (status, _, page) = browser
        .post(
            "/account/passkeys",
            &[
                ("csrf", &csrf),
                ("name", "laptop"),
                ("credential", &credential.to_string()),
            ],
        )
        .await;
    // The account's first second factor: its recovery codes, shown this once.
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Your recovery codes"), "{page}");
    let passkeys: Value = app
        .get_json("/v1/me/passkeys", Some(&pair.access_token))
        .await;
    assert_eq!(passkeys.as_array().unwrap().len(), 1);
    assert_eq!(app.audit_events("reauthenticated").await, 1);
}

/// The review's O1: no factor without a way back. A first passkey comes with recovery
/// codes (shown once, and they work), as an authenticator app's confirmation does; a
/// second passkey comes with none.
#[tokio::test]
async fn o1_a_first_passkey_comes_with_recovery_codes() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let first = app
        .add_passkey(&pair.access_token, &mut Device::new(), "laptop")
        .await;
    let codes = first["recovery_codes"].as_array().expect("recovery codes");
    assert_eq!(codes.len(), 10, "{first}");
    let second = app
        .add_passkey(&pair.access_token, &mut Device::new(), "phone")
        .await;
    assert!(second.get("recovery_codes").is_none(), "{second}");
    let status = factors(&app, &pair.access_token).await;
    assert_eq!(status["recovery_codes_remaining"], 10, "{status}");
    let listed: Value = app
        .get_json("/v1/me/passkeys", Some(&pair.access_token))
        .await;
    assert!(
        listed[0].get("recovery_codes").is_none(),
        "never shown again"
    );

    // Without the passkeys, one of the codes completes the sign-in.
    let step = app.first_step(&name).await;
    let r = app
        .second_step_recovery(&step["mfa_token"], codes[0].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

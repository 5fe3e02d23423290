//! The email lifecycle against a real SMTP server process (aiosmtpd): verification at
//! registration and on a change of address, password reset, single use, expiry by the
//! test clock, no enumeration, and the outbox through an outage, a hanging relay and two
//! instances.

use std::time::Duration;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_domain::email::Email;
use tessera_domain::session::ClientInfo;

use crate::helpers::{
    Browser, PASSWORD, SmtpSink, TestApp, TestEnv, assert_problem, assert_throttled, deliver_to,
    token_in, unique_name, within,
};

const NEW_PASSWORD: &str = "plaid tortoise juggles quietly";

async fn mailing_app(smtp: &SmtpSink) -> TestApp {
    mailing_to(&smtp.url()).await
}

/// An app that delivers its mail through the relay at `url`.
async fn mailing_to(url: &str) -> TestApp {
    TestApp::builder()
        .with_config(|c| deliver_to(c, url))
        .spawn()
        .await
}

/// An app whose relay is down: it delivers to a port nothing listens on (yet), returned.
async fn mailing_to_a_relay_down() -> (TestApp, u16) {
    let port = crate::helpers::free_port();
    let app = mailing_to(&format!("smtp://127.0.0.1:{port}?tls=none")).await;
    (app, port)
}

/// Waits (at most `limit`) until `app` has counted `n` failed delivery attempts that it
/// will retry; whether it has.
async fn temporary_failures_reach(app: &TestApp, n: f64, limit: Duration) -> bool {
    let outcome = Some(("outcome", "temporary"));
    within(limit, async || {
        app.metric("tessera_mail_attempts_total", outcome).await >= n
    })
    .await
    .is_some()
}

fn address(name: &str) -> String {
    format!("{name}@example.test")
}

async fn me(app: &TestApp, token: &str) -> Value {
    let r = app.get("/v1/me", Some(token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Registers a fresh user with an address of their own, waiting for no mail: the name, the
/// address and the answer.
async fn sign_up(app: &TestApp) -> (String, String, reqwest::Response) {
    let name = unique_name();
    let email = address(&name);
    let r = app.register_with_email(&name, &email).await;
    (name, email, r)
}

/// A user registered with an address: the name, the address and its verification mail.
async fn newcomer(app: &TestApp, smtp: &SmtpSink) -> (String, String, Value) {
    let (name, email, r) = sign_up(app).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mail = smtp.wait_for(&email, 1).await.remove(0);
    (name, email, mail)
}

/// A user with a verified address, through the mailed link.
async fn verified_user(app: &TestApp, smtp: &SmtpSink) -> (String, String) {
    let (name, email, mail) = newcomer(app, smtp).await;
    let r = verify(app, token_in(&mail)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    (name, email)
}

async fn verify(app: &TestApp, token: impl AsRef<str>) -> reqwest::Response {
    let body = json!({ "token": token.as_ref() });
    app.post_json("/v1/auth/verify-email", &body, None).await
}

async fn confirm(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    let body = json!({"token": token, "new_password": new_password});
    app.post_json("/v1/auth/password-reset/confirm", &body, None)
        .await
}

/// A link that opens nothing: 400 `invalid_email_token`.
async fn dead_link(r: reqwest::Response) {
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_email_token").await;
}

/// The token of the newest reset mail to `email`, once `n` mails to it have arrived.
async fn reset_token(smtp: &SmtpSink, email: &str, n: usize) -> String {
    let mails = smtp.wait_for(email, n).await;
    let reset = mails
        .iter()
        .find(|m| m["subject"] == "Reset your password")
        .expect("a reset mail");
    token_in(reset)
}

/// `POST /v1/me/email`: the holder of `token` asks to change their address to `email`.
async fn change_email(app: &TestApp, token: &str, email: &str) -> reqwest::Response {
    app.post_json("/v1/me/email", &json!({ "email": email }), Some(token))
        .await
}

async fn request_reset(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json("/v1/auth/password-reset", &json!({ "email": email }), None)
        .await
}

#[tokio::test]
async fn register_verify_forget_and_reset_through_a_real_smtp_server() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let name = unique_name();
    let email = address(&name);

    let r = app.register_with_email(&name, &email.to_uppercase()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["email_verified"], false);
    let mails = smtp.wait_for(&email.to_uppercase(), 1).await;
    let mail = &mails[0];
    assert_eq!(mail["subject"], "Confirm your email address");
    assert_eq!(mail["from"], "Tessera <no-reply@tessera.test>");
    assert_eq!(mail["content_type"], "multipart/alternative");
    let token = token_in(mail);
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains(&format!("/verify-email?token={token}"))
    );
    assert!(
        mail["html"]
            .as_str()
            .unwrap()
            .contains(&format!("?token={token}\""))
    );
    assert!(mail["text"].as_str().unwrap().contains(&name));

    let pair = app.login_ok(&name, PASSWORD).await;
    let before = me(&app, &pair.access_token).await;
    assert_eq!(before["email_verified"], false);
    assert_eq!(
        verify(&app, token.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    let after = me(&app, &pair.access_token).await;
    assert_eq!(after["email_verified"], true);
    assert_eq!(
        after["email"],
        email.to_uppercase().replace("EXAMPLE.TEST", "example.test")
    );
    dead_link(verify(&app, token).await).await;

    // Forgotten: two devices are signed in, one of them an attacker's.
    let other = app.login_ok(&name, PASSWORD).await;
    let r = request_reset(&app, &email).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let reset_token = reset_token(&smtp, &email.to_uppercase(), 2).await;
    let link = format!("/reset-password?token={reset_token}");
    assert!(
        smtp.to(&email)
            .iter()
            .any(|m| m["text"].as_str().unwrap().contains(&link))
    );
    assert_problem(
        confirm(&app, &reset_token, "password").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    )
    .await;
    assert_eq!(
        confirm(&app, &reset_token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    for session in [&pair, &other] {
        assert_eq!(
            app.dashboard_status(&session.access_token).await,
            StatusCode::UNAUTHORIZED
        );
        assert_problem(
            app.refresh(&session.refresh_token).await,
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
        )
        .await;
    }
    dead_link(confirm(&app, &reset_token, "another fine passphrase").await).await;
    assert_eq!(
        app.login(&name, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.login_ok(&name, NEW_PASSWORD).await;

    let admin = app.signed_in_with_role("admin").await;
    let audit = app.audit(&admin.access_token, "password_reset").await;
    assert_eq!(audit["total"], 1);
    assert_eq!(audit["items"][0]["detail"]["sessions"], 2);
    let users: Value = app
        .get_json("/v1/admin/users?per_page=200", Some(&admin.access_token))
        .await;
    let listed = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name.as_str())
        .unwrap();
    assert_eq!(listed["email_verified"], true);
}

#[tokio::test]
async fn an_unknown_or_unverified_address_gets_the_same_answer_and_no_mail() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let (_, verified) = verified_user(&app, &smtp).await;
    let unverified_name = unique_name();
    let unverified = address(&unverified_name);
    app.register_with_email(&unverified_name, &unverified).await;
    smtp.wait_for(&unverified, 1).await;
    let unknown = address("nobody-at-all");

    let mut answers = Vec::new();
    for email in [&unknown, &unverified, &verified] {
        let r = request_reset(&app, email).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        answers.push((status, body));
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    // The known, verified address's mail arrives; by then the others would have too.
    smtp.wait_for(&verified, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(smtp.to(&unknown).is_empty());
    assert_eq!(smtp.to(&unverified).len(), 1, "only its verification mail");
    assert_eq!(app.metric("tessera_mail_outbox_depth", None).await, 0.0);
}

#[tokio::test]
async fn links_expire_by_the_clock_and_newer_links_replace_older_ones() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let (name, email, mail) = newcomer(&app, &smtp).await;
    let first = token_in(&mail);
    let pair = app.login_ok(&name, PASSWORD).await;

    // A change request mails a new link; the first stops working, the address stays.
    let changed = address(&format!("{name}-new"));
    let r = change_email(&app, &pair.access_token, &changed).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(me(&app, &pair.access_token).await["email"], email.as_str());
    let second = token_in(&smtp.wait_for(&changed, 1).await[0]);
    let second_copy = second.clone();
    dead_link(verify(&app, first).await).await;

    app.advance(TimeDelta::hours(24) + TimeDelta::minutes(1));
    dead_link(verify(&app, second).await).await;
    let pair = app.login_ok(&name, PASSWORD).await;
    let r = change_email(&app, &pair.access_token, &changed).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mails = smtp.wait_for(&changed, 2).await;
    let third = mails
        .iter()
        .map(token_in)
        .find(|t| *t != second_copy)
        .unwrap();
    assert_eq!(verify(&app, third).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(&app, &pair.access_token).await["email"],
        changed.as_str()
    );
    assert_eq!(me(&app, &pair.access_token).await["email_verified"], true);

    // Reset links live 30 minutes.
    request_reset(&app, &changed).await;
    let reset = reset_token(&smtp, &changed, 3).await;
    app.advance(TimeDelta::minutes(31));
    let r = confirm(&app, &reset, NEW_PASSWORD).await;
    dead_link(r).await;
}

#[tokio::test]
async fn a_reset_clears_the_lockout() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let url = smtp.url();
    let app = TestApp::builder()
        .limited()
        .with_config(|c| deliver_to(c, &url))
        .spawn()
        .await;
    let (name, email) = verified_user(&app, &smtp).await;
    for _ in 0..6 {
        app.login(&name, "wrong password, sorry").await;
    }
    assert_problem(
        app.login(&name, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    request_reset(&app, &email).await;
    let reset = reset_token(&smtp, &email, 2).await;
    let r = confirm(&app, &reset, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.login_ok(&name, NEW_PASSWORD).await;
}

#[tokio::test]
async fn addresses_are_checked_and_taken_ones_are_told_to_nobody_but_their_owner() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let (_, alices) = verified_user(&app, &smtp).await;
    for bad in [
        "not an address",
        "a@b",
        "alice@",
        &format!("{}@example.test", "x".repeat(250)),
    ] {
        let r = app.register_with_email(&unique_name(), bad).await;
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_email").await;
        assert_problem(
            request_reset(&app, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
        )
        .await;
    }
    // International domains are stored in their ASCII form.
    let name = unique_name();
    let r = app
        .register_with_email(&name, &format!("{name}@bücher.example"))
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["email"], format!("{name}@xn--bcher-kva.example"));

    // Bob may give alice's address at registration (it is not verified for him, and he
    // learns nothing), but cannot make it his. Asking for it tells him nothing either
    // (the same 202 as a free address, and no link); alice is told instead.
    let bob = unique_name();
    assert_eq!(
        app.register_with_email(&bob, &alices.to_uppercase())
            .await
            .status(),
        StatusCode::CREATED
    );
    let mails = smtp.wait_for(&alices, 2).await;
    let bobs = mails
        .iter()
        .find(|m| m["text"].as_str().unwrap().contains(&bob))
        .expect("bob's verification mail");
    let r = verify(&app, token_in(bobs)).await;
    assert_problem(r, StatusCode::CONFLICT, "email_taken").await;
    let pair = app.login_ok(&bob, PASSWORD).await;
    let r = change_email(&app, &pair.access_token, &alices).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mails = smtp.wait_for(&alices, 3).await;
    let notice = mails
        .iter()
        .find(|m| m["subject"] == "Your email address was given for another account")
        .expect("a notice to alice");
    assert!(!notice["text"].as_str().unwrap().contains("token="));
    assert!(!notice["text"].as_str().unwrap().contains(&bob));
    for token in [
        "",
        "short",
        &"!".repeat(43),
        &"A".repeat(43),
        &"A".repeat(10_000),
    ] {
        let r = verify(&app, token).await;
        dead_link(r).await;
        let r = confirm(&app, token, NEW_PASSWORD).await;
        dead_link(r).await;
    }
}

#[tokio::test]
async fn reset_requests_are_limited_per_client_and_per_address() {
    let app = TestApp::builder()
        .limited()
        .with_config(|c| {
            c.limits.password_reset_per_minute = 1;
            c.limits.password_reset_burst = 3;
            c.limits.mail_per_address_per_minute = 1;
            c.limits.mail_per_address_burst = 2;
        })
        .spawn()
        .await;
    let one = address(&unique_name());
    assert_eq!(
        request_reset(&app, &one).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        request_reset(&app, &one).await.status(),
        StatusCode::ACCEPTED
    );
    let r = request_reset(&app, &one).await;
    assert_throttled(r).await;
    // The client's own bucket: a fourth request, to a fresh address, is refused too.
    let r = request_reset(&app, &address(&unique_name())).await;
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn the_outbox_delivers_after_an_smtp_outage_and_gives_up_on_old_mail() {
    let (app, port) = mailing_to_a_relay_down().await;
    let (_, email, r) = sign_up(&app).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "SMTP being down delays no answer"
    );
    assert!(
        temporary_failures_reach(&app, 1.0, Duration::from_secs(5)).await,
        "the first attempt failed"
    );
    // The gauge is refreshed after the round has recorded the failure.
    let queued = within(Duration::from_secs(5), async || {
        app.metric("tessera_mail_outbox_depth", None).await == 1.0
    })
    .await;
    assert!(queued.is_some(), "the mail waits in the outbox");

    let Some(smtp) = SmtpSink::start_on(port) else {
        return;
    };
    app.advance(TimeDelta::seconds(6)); // past the first retry's backoff
    let mails = smtp.wait_for(&email, 1).await;
    app.advance(TimeDelta::minutes(20));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.to(&email).len(), 1, "delivered once");
    assert!(token_in(&mails[0]).len() == 43);
    drop(smtp);

    // Down again, for longer than mail.give_up_after: the mail is given up and counted.
    sign_up(&app).await;
    app.advance(TimeDelta::hours(25));
    let gave_up = within(Duration::from_secs(10), async || {
        app.metric("tessera_mail_failed_total", None).await >= 1.0
    })
    .await;
    assert!(gave_up.is_some(), "the old mail was given up");
    within(Duration::from_secs(3), async || {
        app.metric("tessera_mail_outbox_depth", None).await == 0.0
    })
    .await;
    assert_eq!(app.metric("tessera_mail_outbox_depth", None).await, 0.0);
}

#[tokio::test]
async fn a_hanging_smtp_server_never_delays_an_answer() {
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let url = format!("smtp://127.0.0.1:{port}?tls=none");
    let app = TestApp::builder()
        .with_config(|c| {
            deliver_to(c, &url);
            c.mail.timeout = Duration::from_secs(3);
        })
        .spawn()
        .await;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let (_, _, r) = sign_up(&app).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        // Not a performance figure: an answer that waited on the relay would take at
        // least mail.timeout.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(
        temporary_failures_reach(&app, 3.0, Duration::from_secs(15)).await,
        "each stalled send ended at the deadline and will be retried"
    );
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    held.abort();
}

#[tokio::test]
async fn two_instances_deliver_each_mail_once() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let url = smtp.url();
    let env = TestEnv::new().await;
    let clock = std::sync::Arc::new(tessera_domain::ManualClock::new(chrono::Utc::now()));
    let a = TestApp::builder()
        .on(env.clone())
        .with_clock(clock.clone())
        .with_config(|c| deliver_to(c, &url))
        .spawn()
        .await;
    let b = TestApp::builder()
        .on(env)
        .with_clock(clock)
        .with_config(|c| deliver_to(c, &url))
        .spawn()
        .await;
    let mut addresses = Vec::new();
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        let (_, email, _) = sign_up(app).await;
        addresses.push(email);
    }
    for email in &addresses {
        smtp.wait_for(email, 1).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    for email in &addresses {
        assert_eq!(smtp.to(email).len(), 1, "{email}");
    }
    assert_eq!(smtp.messages().len(), addresses.len());
    let sent = a.metric("tessera_mail_sent_total", None).await
        + b.metric("tessera_mail_sent_total", None).await;
    assert_eq!(sent, addresses.len() as f64);
}

#[tokio::test]
async fn admins_mark_addresses_verified() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let admin = app.signed_in_with_role("admin").await;
    let (name, email, r) = sign_up(&app).await;
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let mark_verified = async |id: &str, token: &str| {
        let path = format!("/v1/admin/users/{id}/verify-email");
        app.post_json(&path, &json!({}), Some(token)).await
    };
    let r = mark_verified(id, &admin.access_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["email_verified"], true);
    let user_token = app.login_ok(&name, PASSWORD).await;
    let r = mark_verified(id, &user_token.access_token).await;
    assert_problem(r, StatusCode::FORBIDDEN, "insufficient_role").await;
    let plain = app.signed_in_user().await;
    let plain_id = me(&app, &plain.1.access_token).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = mark_verified(&plain_id, &admin.access_token).await;
    assert_problem(r, StatusCode::CONFLICT, "no_email").await;
    let r = mark_verified(&uuid::Uuid::new_v4().to_string(), &admin.access_token).await;
    assert_problem(r, StatusCode::NOT_FOUND, "user_not_found").await;

    // Verified by the admin: the reset mail goes out.
    request_reset(&app, &email).await;
    let mails = smtp.wait_for(&email, 2).await;
    assert!(mails.iter().any(|m| m["subject"] == "Reset your password"));

    // What `tessera users create NAME --email … --email-verified` does.
    let cli_user = tessera_domain::user::Username::parse(&unique_name()).unwrap();
    let password =
        tessera_domain::user::Password::parse(PASSWORD, &cli_user, &Default::default()).unwrap();
    let created = app
        .state
        .accounts
        .register(cli_user, password, Vec::new(), None, &ClientInfo::default())
        .await
        .unwrap();
    let cli_email = Email::parse(&address("cli-user")).unwrap();
    let user = app
        .state
        .emails
        .mark_email_verified(created.id, Some(cli_email.clone()), &ClientInfo::default())
        .await
        .unwrap();
    assert!(user.email_verified);
    assert_eq!(user.email, Some(cli_email));
}

#[tokio::test]
async fn the_mailed_links_open_pages_that_work_without_javascript() {
    let Some(smtp) = SmtpSink::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let (name, email, mail) = newcomer(&app, &smtp).await;
    let mail = &mail;
    let text = mail["text"].as_str().unwrap();
    let link = text.lines().find(|l| l.starts_with("http")).unwrap();
    let path = &link[link.find("/verify-email").unwrap()..];

    // Opening the link changes nothing (mail scanners open links): it shows a form.
    let r = app.get(path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/verify-email\">")
            && !html.contains("<script")
    );
    let pair = app.login_ok(&name, PASSWORD).await;
    assert_eq!(me(&app, &pair.access_token).await["email_verified"], false);
    // A browser opens the link and posts the page's form: the mailed token and the
    // page's CSRF token.
    let mut browser = Browser::new(&app);
    browser.get(path).await;
    let csrf = browser.csrf.clone();
    let token = token_in(mail);
    let (status, _, _) = browser.post("/verify-email", &[("token", &token)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(me(&app, &pair.access_token).await["email_verified"], false);
    let (status, _, html) = browser
        .post("/verify-email", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("verified"));
    assert_eq!(me(&app, &pair.access_token).await["email_verified"], true);
    let (status, _, _) = browser
        .post("/verify-email", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/verify-email?token=<script>", None).await.status(),
        StatusCode::BAD_REQUEST
    );

    request_reset(&app, &email).await;
    let token = reset_token(&smtp, &email, 2).await;
    let (status, _, html) = browser.get(&format!("/reset-password?token={token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("type=\"password\""));
    let csrf = browser.csrf.clone();
    let mut submit = async |p: &str, q: &str, csrf: &str| {
        let form = [
            ("csrf", csrf),
            ("token", &token),
            ("new_password", p),
            ("confirm_password", q),
        ];
        browser.post("/reset-password", &form).await
    };
    let (status, _, _) = submit(NEW_PASSWORD, NEW_PASSWORD, "forged").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = submit(NEW_PASSWORD, "something else", &csrf).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, html) = submit("password", "password", &csrf).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak: the form again"
    );
    assert!(html.contains("class=\"error\""));
    let (status, _, _) = submit(NEW_PASSWORD, NEW_PASSWORD, &csrf).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.dashboard_status(&pair.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    app.login_ok(&name, NEW_PASSWORD).await;
    let (status, _, _) = submit(NEW_PASSWORD, NEW_PASSWORD, &csrf).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn mail_goes_over_starttls_and_implicit_tls_and_never_to_an_untrusted_relay() {
    for (mode, scheme) in [("starttls", "smtp"), ("implicit", "smtps")] {
        let Some(smtp) = SmtpSink::start_tls(mode) else {
            return;
        };
        let url = format!("{scheme}://127.0.0.1:{}", smtp.port);
        let ca = smtp.ca_pem_path();
        let app = TestApp::builder()
            .with_config(|c| {
                deliver_to(c, &url);
                c.mail.ca_file = Some(ca);
            })
            .spawn()
            .await;
        let (_, email, _) = sign_up(&app).await;
        let mail = &smtp.wait_for(&email, 1).await[0];
        assert_eq!(mail["subject"], "Confirm your email address", "{mode}");

        // Without the relay's CA the certificate is refused: nothing is sent in clear.
        let untrusting = mailing_to(&url).await;
        let (_, other, _) = sign_up(&untrusting).await;
        assert!(
            temporary_failures_reach(&untrusting, 1.0, Duration::from_secs(5)).await,
            "{mode}: an untrusted certificate fails the attempt"
        );
        assert!(smtp.to(&other).is_empty(), "{mode}");
    }
}

#[tokio::test]
async fn mail_waiting_in_the_outbox_is_sealed_at_rest() {
    use tessera_domain::ports::Outbox as _;
    // The relay is down, so the mail stays queued.
    let (app, _) = mailing_to_a_relay_down().await;
    let (name, email, r) = sign_up(&app).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // What a database dump holds: the row as the store has it.
    let dump = app.store().await;
    let later = app.state.accounts.now() + TimeDelta::hours(1);
    let rows = dump
        .claim_due("a-database-dump", later, TimeDelta::milliseconds(1), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let tessera_domain::ports::Outgoing::Mail(mail) = &rows[0].message else {
        panic!("a mail");
    };
    for body in [&mail.text, &mail.html] {
        assert!(body.starts_with("sealed:v1:"), "{body}");
        assert!(!body.contains("token=") && !body.contains(&name), "{body}");
    }
    assert_eq!(mail.to.as_str(), email);
}

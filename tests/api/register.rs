//! Ways in (issue 29): signing up on `/register` — the rules said before anything is
//! refused, a refusal beside its field, the verification mail through the real SMTP
//! server, signed in at once — `prompt=create` from an OpenID client, and
//! `registration.enabled = false` on the page, the API and discovery.

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::helpers::{Browser, PASSWORD, SmtpSink, TestApp, assert_problem, unique_name};
use crate::oidc::{authorize_path, challenge_for, param, provider};
use crate::oidc_review::{VERIFIER, client, described, exchange};

/// Posts the sign-up form as a browser that just opened it.
async fn sign_up(
    browser: &mut Browser<'_>,
    fields: &[(&str, &str)],
    return_to: &str,
) -> crate::helpers::Page {
    let path = if return_to.is_empty() {
        "/register".to_owned()
    } else {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish();
        format!("/register?{q}")
    };
    browser.get(&path).await;
    let csrf = browser.csrf.clone();
    let mut form = vec![("csrf", csrf.as_str()), ("return_to", return_to)];
    form.extend_from_slice(fields);
    browser.post("/register", &form).await
}

#[tokio::test]
async fn a_person_signs_up_on_the_page_and_is_signed_in() {
    let smtp = SmtpSink::start();
    let app = match &smtp {
        Some(smtp) => crate::account_safety::mailing_app(smtp).await,
        None => TestApp::spawn().await,
    };
    let mut browser = Browser::new(&app);

    // The sign-in page links to it; the form says the rules before it refuses anything.
    let (_, _, login) = browser.get("/login").await;
    assert!(
        login.contains(r#"<a href="/register">Create an account</a>"#),
        "{login}"
    );
    let (status, _, html) = browser.get("/register").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("8 to 128 characters"), "{html}");
    assert!(html.contains("may not contain your username"), "{html}");
    assert!(html.contains(r#"autocomplete="new-password""#), "{html}");

    // Refusals beside their fields; what was typed stays, never the password.
    let name = unique_name();
    let (status, _, html) = sign_up(
        &mut browser,
        &[("username", &name), ("password", "password1")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="password-error""#), "{html}");
    assert!(html.contains(r#"aria-invalid="true""#), "{html}");
    assert!(
        html.contains(&format!(r#"value="{name}""#)),
        "the username stays"
    );
    assert!(!html.contains("password1"), "the password is not echoed");
    let (status, _, html) = sign_up(
        &mut browser,
        &[("username", "a"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="username-error""#), "{html}");
    let (status, _, html) = sign_up(
        &mut browser,
        &[
            ("username", &name),
            ("password", PASSWORD),
            ("email", "not-an-address"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="email-error""#), "{html}");

    // The account, signed in at once, with its verification mail.
    let email = format!("{name}@example.test");
    let (status, headers, _) = sign_up(
        &mut browser,
        &[
            ("username", &name),
            ("password", PASSWORD),
            ("email", &email),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/account");
    let (status, _, account) = browser.get("/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(account.contains(&name));
    if let Some(smtp) = &smtp {
        let mail = smtp
            .wait_for_subject(&email, "Confirm your email address")
            .await;
        assert!(mail["text"].as_str().unwrap().contains("token="));
    }
    assert_eq!(app.audit_events("registered").await, 1);

    // The same name again, from another browser: beside the username.
    let mut other = Browser::new(&app);
    let (status, _, html) = sign_up(
        &mut other,
        &[("username", &name.to_uppercase()), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        html.contains(r#"id="username-error""#) && html.contains("taken"),
        "{html}"
    );
}

/// An OpenID client's `prompt=create` leads to the sign-up page and on to the client
/// with a code; discovery lists it.
#[tokio::test]
async fn prompt_create_signs_up_and_returns_to_the_client() {
    let app = provider().await;
    let meta: Value = app
        .get_json("/.well-known/openid-configuration", None)
        .await;
    assert!(
        meta["prompt_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("create"))
    );
    let (c, _) = client(&app, described(true, true, None)).await;
    let path = format!(
        "{}&prompt=create",
        authorize_path(&c.id.to_string(), "openid", &challenge_for(VERIFIER))
    );
    let mut browser = Browser::new(&app);
    let (status, headers, _) = browser.get(&path).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let to = headers[LOCATION].to_str().unwrap().to_owned();
    assert!(to.starts_with("/register?return_to="), "{to}");
    let return_to = param(&format!("http://x{to}"), "return_to").unwrap();
    assert!(
        !return_to.contains("create"),
        "sign-up is asked once: {return_to}"
    );
    let name = unique_name();
    let (status, headers, _) = sign_up(
        &mut browser,
        &[("username", &name), ("password", PASSWORD)],
        &return_to,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION].to_str().unwrap(), return_to);
    let (status, headers, _) = browser.get(&return_to).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let code = param(headers[LOCATION].to_str().unwrap(), "code").expect("a code");
    let (status, tokens) = exchange(&app, &c, None, &code, &[]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = crate::helpers::claims_of(tokens["id_token"].as_str().unwrap());
    assert!(claims["sub"].is_string());
}

/// Invite-only: no sign-up through the API, the page or an OpenID client; the CLI
/// still creates accounts.
#[tokio::test]
async fn registration_turned_off_is_off_everywhere() {
    let app = TestApp::builder()
        .with_config(|c| {
            c.registration.enabled = false;
            c.tokens.issuer = None;
        })
        .spawn()
        .await;
    let r = app.register(&unique_name(), PASSWORD).await;
    assert_problem(r, StatusCode::FORBIDDEN, "registration_closed").await;

    let mut browser = Browser::new(&app);
    let (_, _, login) = browser.get("/login").await;
    assert!(!login.contains("/register"), "no sign-up link: {login}");
    let (status, _, html) = browser.get("/register").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("does not take sign-ups")
            && !html.contains("<form method=\"post\" action=\"/register\"")
    );
    let name = unique_name();
    let (status, _, _) = sign_up(
        &mut browser,
        &[("username", &name), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.audit_events("registered").await, 0);

    let meta: Value = app
        .get_json("/.well-known/openid-configuration", None)
        .await;
    assert!(
        !meta["prompt_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("create"))
    );
    let (c, _) = client(&app, described(true, true, None)).await;
    let path = format!(
        "{}&prompt=create",
        authorize_path(&c.id.to_string(), "openid", &challenge_for(VERIFIER))
    );
    let (status, headers, _) = browser.get(&path).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let to = headers[LOCATION].to_str().unwrap();
    assert_eq!(
        param(to, "error").as_deref(),
        Some("invalid_request"),
        "{to}"
    );

    // An administrator still creates accounts (the use case the CLI calls), and they
    // sign in.
    let admin = app.signed_in_with_role("admin").await;
    let r = app.get("/v1/me", Some(&admin.access_token)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

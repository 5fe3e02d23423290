//! The hosted pages without a browser: CSRF on every form, the session cookie's
//! attributes, the Content-Security-Policy and the other headers, the account lockout on
//! the sign-in form, sign-out, and the redirect after sign-in. The flows themselves
//! (TOTP, passkeys, mailed links) run in Chromium: `tests/browser/pages.test.mjs`.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::helpers::{Browser, PASSWORD, TestApp, unique_name};

async fn newcomer(app: &TestApp) -> String {
    let name = unique_name();
    assert_eq!(app.register(&name, PASSWORD).await.status(), 201);
    name
}

fn location(headers: &HeaderMap) -> &str {
    headers[LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = TestApp::spawn().await;
    let name = newcomer(&app).await;
    let mut browser = Browser::new(&app);

    // The sign-in form is bound to the form cookie the page set.
    let (status, _, _) = browser.get("/login").await;
    assert_eq!(status, StatusCode::OK);
    let form_cookie = browser.cookie("tessera_form").expect("a form cookie");
    let good = browser.csrf.clone();
    for csrf in ["", "forged", &good[..42]] {
        let (status, headers, html) = browser
            .post(
                "/login",
                &[("csrf", csrf), ("username", &name), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(html.contains("This form has expired"));
        assert!(headers.get(SET_COOKIE).is_none(), "no session for {csrf:?}");
    }
    // Another site can post the form, but not with the cookie it would need: a token
    // taken from one browser is worthless in another.
    let mut attacker = Browser::new(&app);
    attacker.get("/login").await;
    let (status, _, _) = browser
        .post(
            "/login",
            &[
                ("csrf", &attacker.csrf),
                ("username", &name),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    browser.cookies.clear();
    let (status, _, _) = browser
        .post(
            "/login",
            &[("csrf", &good), ("username", &name), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the token without its cookie"
    );
    browser.cookies.push(("tessera_form".into(), form_cookie));
    let (status, headers, _) = browser
        .post(
            "/login",
            &[("csrf", &good), ("username", &name), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/account");

    // Signed in, the forms are bound to the session: the anonymous token no longer
    // works, and neither does another user's.
    let (status, _, _) = browser.get("/account").await;
    assert_eq!(status, StatusCode::OK);
    let signed_in = browser.csrf.clone();
    assert_ne!(signed_in, good);
    let mut other = Browser::new(&app);
    other.sign_in(&newcomer(&app).await, PASSWORD).await;
    other.get("/account").await;
    for csrf in ["", &good, &other.csrf] {
        let (status, _, _) = browser
            .post("/account/sessions/end-all", &[("csrf", csrf)])
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf:?}");
        let (status, _, _) = browser.post("/logout", &[("csrf", csrf)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf:?}");
        let (status, _, _) = browser
            .post(
                "/account/password",
                &[
                    ("csrf", csrf),
                    ("current_password", PASSWORD),
                    ("new_password", "a brand new pass phrase"),
                    ("confirm_password", "a brand new pass phrase"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf:?}");
    }
    let (status, _, _) = browser.get("/account").await;
    assert_eq!(status, StatusCode::OK, "still signed in");
    app.login_ok(&name, PASSWORD).await;
    assert_eq!(app.audit_events("logout_all").await, 0);
    assert_eq!(app.audit_events("password_changed").await, 0);

    // The right token does what the form says.
    let (status, headers, _) = browser
        .post("/account/sessions/end-all", &[("csrf", &signed_in)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/login?notice=signed_out_everywhere");
    assert_eq!(app.audit_events("logout_all").await, 1);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_host_only_and_secure_behind_https() {
    let app = TestApp::spawn().await;
    let name = newcomer(&app).await;
    let mut browser = Browser::new(&app);
    let (status, headers, _) = browser.sign_in(&name, PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap())
        .find(|c| c.starts_with("tessera_session="))
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    assert!(!cookie.contains("Domain="), "host-only: {cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    // Behind https: the __Host- prefix and Secure, on the form cookie too.
    let tls = TestApp::builder()
        .with_config(|c| {
            c.server.public_url = Some("https://auth.example.test".into());
        })
        .spawn()
        .await;
    let name = newcomer(&tls).await;
    let mut browser = Browser::new(&tls);
    browser.get("/login").await;
    assert!(browser.cookie("__Host-tessera_form").is_some());
    let csrf = browser.csrf.clone();
    let (status, headers, _) = browser
        .post(
            "/login",
            &[("csrf", &csrf), ("username", &name), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookies: Vec<&str> = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-tessera_session="))
        .unwrap();
    assert!(
        session.contains("; Secure") && session.contains("Path=/"),
        "{session}"
    );
    let (status, _, html) = browser.get("/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&name));
}

#[tokio::test]
async fn every_page_sends_a_strict_content_security_policy_and_no_inline_code() {
    let app = TestApp::spawn().await;
    let name = newcomer(&app).await;
    let mut browser = Browser::new(&app);
    let mut pages = vec![];
    for path in ["/login", "/forgot-password", "/reset-password?token=x"] {
        pages.push((path, browser.get(path).await));
    }
    browser.sign_in(&name, PASSWORD).await;
    for path in ["/account"] {
        pages.push((path, browser.get(path).await));
    }
    for (path, (_, headers, html)) in &pages {
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        // No inline script, no inline style, nothing from another origin.
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{path}"
        );
        assert!(!html.contains("<style"), "{path}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path}"
        );
        // Every visible input has a label.
        for id in html.split("<input id=\"").skip(1) {
            let id = &id[..id.find('"').unwrap()];
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "{path}: #{id} has a label"
            );
        }
    }
    let (_, _, login) = &pages[0].1;
    for hint in [
        "autocomplete=\"username webauthn\"",
        "autocomplete=\"current-password\"",
    ] {
        assert!(login.contains(hint), "{hint}");
    }
    let (_, _, account) = &pages[3].1;
    assert!(account.contains("autocomplete=\"new-password\""));
    // The script and the stylesheet are ours, cacheable, and the only other files.
    for (path, ty) in [("/pages.js", "text/javascript"), ("/pages.css", "text/css")] {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(ty)
        );
    }
}

#[tokio::test]
async fn the_sign_in_form_has_the_lockout_of_the_api() {
    let app = TestApp::builder().limited().spawn().await;
    let name = newcomer(&app).await;
    let mut browser = Browser::new(&app);
    // Wrong passwords are answered on the form, next to the field: the 5 free failures
    // and the one that starts the lock …
    for i in 0..6 {
        let (status, headers, html) = browser.sign_in(&name, &format!("guess {i}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "guess {i}");
        assert!(
            headers
                .get(SET_COOKIE)
                .is_none_or(|c| !c.to_str().unwrap().starts_with("tessera_session"))
        );
        assert!(html.contains("id=\"login-error\""), "{html}");
        assert!(html.contains("The username or the password is wrong."));
        assert!(
            html.contains(&format!("value=\"{name}\"")),
            "the name stays"
        );
    }
    // … then the account is locked: 429 with Retry-After, for the right password too.
    let (status, headers, html) = browser.sign_in(&name, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    assert!(html.contains("Too many attempts"));
    // One budget with the API: the JSON login is locked as well.
    assert_eq!(
        app.login(&name, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.audit_events("login_failed").await, 6);
    assert_eq!(app.audit_events("lockout").await, 1);
}

#[tokio::test]
async fn signing_out_ends_the_session_and_its_tokens() {
    let app = TestApp::spawn().await;
    let name = newcomer(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    let session = browser.cookie("tessera_session").unwrap();
    let (_, _, html) = browser.get("/account").await;
    assert!(html.contains("This browser"));
    let csrf = browser.csrf.clone();
    let (status, headers, _) = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/login?notice=signed_out");
    assert!(
        browser.cookie("tessera_session").is_none(),
        "the cookie is cleared"
    );
    assert_eq!(app.audit_events("logout").await, 1);

    // The old cookie opens nothing, on the pages or at the refresh endpoint.
    browser
        .cookies
        .push(("tessera_session".into(), session.clone()));
    let (status, headers, _) = browser.get("/account").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&headers),
        "/login?return_to=/account&notice=session_ended"
    );
    assert!(
        browser.cookie("tessera_session").is_none(),
        "a stale cookie is cleared"
    );
    let r = app.refresh(&session).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Logging out everywhere through the API ends the browser's session too.
    browser.sign_in(&name, PASSWORD).await;
    assert_eq!(browser.get("/account").await.0, StatusCode::OK);
    let pair = app.login_ok(&name, PASSWORD).await;
    let r = app
        .post_json("/v1/auth/logout-all", &json!({}), Some(&pair.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(browser.get("/account").await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn after_sign_in_the_browser_goes_only_to_a_path_of_ours() {
    let app = TestApp::spawn().await;
    let name = newcomer(&app).await;
    for (asked, went) in [
        ("/account?notice=x", "/account?notice=x"),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example", "/account"),
    ] {
        let mut browser = Browser::new(&app);
        browser
            .get(&format!("/login?return_to={}", urlencode(asked)))
            .await;
        let csrf = browser.csrf.clone();
        let (status, headers, _) = browser
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("username", &name),
                    ("password", PASSWORD),
                    ("return_to", asked),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), went, "{asked}");
        // Signed in, the login page sends the browser straight on.
        let (status, headers, _) = browser.get("/login?return_to=/account").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), "/account");
    }
    // The account page sends a stranger to sign in and back.
    let mut stranger = Browser::new(&app);
    let (status, headers, _) = stranger.get("/account").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/login?return_to=/account");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

//! Property tests: whatever arrives in a bearer header or a JSON body, the answer is never
//! a 5xx, and every error is problem+json.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;

use crate::helpers::TestApp;

/// Strings that look enough like tokens and JSON to get past the first checks.
fn tokenish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_\\-]{0,60}\\.[A-Za-z0-9_\\-]{0,200}\\.[A-Za-z0-9_\\-]{0,80}",
        "eyJ[A-Za-z0-9_\\-]{0,80}\\.eyJ[A-Za-z0-9_\\-]{0,200}\\.[A-Za-z0-9_\\-=+/]{0,80}",
        "\\PC{0,120}",
    ]
}

fn jsonish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        "\\PC{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    let value = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("username".to_owned()),
                        Just("password".to_owned()),
                        Just("refresh_token".to_owned()),
                        Just("token".to_owned()),
                        Just("email".to_owned()),
                        Just("new_password".to_owned()),
                        Just("mfa_token".to_owned()),
                        Just("code".to_owned()),
                        Just("recovery_code".to_owned()),
                        Just("webauthn".to_owned()),
                        Just("challenge_id".to_owned()),
                        Just("credential".to_owned()),
                        Just("response".to_owned()),
                        Just("rawId".to_owned()),
                        Just("clientDataJSON".to_owned()),
                        Just("current_password".to_owned()),
                        Just("name".to_owned()),
                        "[a-z_]{1,12}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| format!(
                "{{{}}}",
                kv.iter()
                    .map(|(k, v)| format!("{k:?}:{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    });
    prop_oneof![value, "\\PC{0,80}", Just("[".repeat(5000))]
}

fn run<S: Strategy>(strategy: S, check: impl Fn(S::Value) -> Result<(), String>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |v| check(v).map_err(TestCaseError::fail))
        .unwrap();
}

async fn sane(r: reqwest::Response) -> Result<(), String> {
    let status = r.status();
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return Err(format!("server error {status}"));
    }
    if status.is_client_error() {
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if !ct.starts_with("application/problem+json") {
            return Err(format!("{status} with content type {ct:?}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_headers_never_yield_a_server_error() {
    let app = TestApp::spawn().await;
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        run(tokenish(), |token| {
            handle.block_on(async {
                let r = app
                    .client
                    .get(app.url("/v1/dashboard"))
                    .header("authorization", format!("Bearer {token}"))
                    .send()
                    .await;
                match r {
                    // reqwest refuses some header bytes itself: nothing reached the server.
                    Err(e) if e.is_builder() => Ok(()),
                    Err(e) => Err(e.to_string()),
                    Ok(r) => sane(r).await,
                }
            })
        });
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_never_yield_a_server_error() {
    let app = TestApp::spawn().await;
    let paths = [
        "/v1/auth/register",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/oauth/revoke",
        "/v1/auth/verify-email",
        "/v1/auth/password-reset",
        "/v1/auth/password-reset/confirm",
        "/v1/auth/mfa",
        "/v1/auth/mfa/webauthn/options",
        "/v1/auth/passkey",
    ];
    post_bodies(&app, &paths, None, async || {}).await;
}

/// Posts generated JSON bodies to `paths` (as `bearer`, if given), after `before` each
/// time, and checks every answer is sane.
async fn post_bodies(app: &TestApp, paths: &[&str], bearer: Option<&str>, before: impl AsyncFn()) {
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        run((0..paths.len(), jsonish()), |(i, body)| {
            handle.block_on(async {
                before().await;
                let mut req = app
                    .client
                    .post(app.url(paths[i]))
                    .header("content-type", "application/json")
                    .body(body);
                if let Some(token) = bearer {
                    req = req.bearer_auth(token);
                }
                let r = req.send().await.map_err(|e| e.to_string())?;
                sane(r).await
            })
        });
    });
}

/// The signed-in operations that take a body: second factors, passkeys, the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_json_bodies_never_yield_a_server_error() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let token = pair.access_token.as_str();
    // A pending enrollment, so bodies reach the code checks.
    let _ = app
        .post_json("/v1/me/mfa/totp", &serde_json::json!({}), Some(token))
        .await;
    let paths = [
        "/v1/me/mfa/totp/confirm",
        "/v1/me/mfa/totp/disable",
        "/v1/me/mfa/recovery-codes",
        "/v1/me/passkeys",
        "/v1/me/passkeys/options",
        "/v1/me/email",
    ];
    // Each body finds a registration pending.
    let pending = async || {
        let _ = app
            .post_json(
                "/v1/me/passkeys/options",
                &serde_json::json!({}),
                Some(token),
            )
            .await;
    };
    post_bodies(&app, &paths, Some(token), pending).await;
}

/// Form bodies posted to every form of the hosted pages by a signed-in browser that
/// holds a valid CSRF token, so they reach the use cases: never a 5xx but 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_forms_never_yield_a_server_error() {
    let app = TestApp::spawn().await;
    let (name, _) = app.signed_in_user().await;
    let mut browser = crate::helpers::Browser::new(&app);
    browser.sign_in(&name, crate::helpers::PASSWORD).await;
    browser.get("/account").await;
    let (cookies, csrf) = (browser.cookie_header(), browser.csrf.clone());
    // Signing out is left out: it would end the session the other forms need.
    let paths = [
        "/login",
        "/login/second-step",
        "/login/second-step/options",
        "/login/passkey",
        "/login/passkey/options",
        "/account/email",
        "/account/password",
        "/account/sessions/end",
        "/account/totp/confirm",
        "/account/totp/disable",
        "/account/recovery-codes",
        "/account/passkeys/options",
        "/account/passkeys",
        "/account/passkeys/rename",
        "/account/passkeys/delete",
        "/forgot-password",
        "/verify-email",
        "/reset-password",
    ];
    let field = prop_oneof![
        Just("username"),
        Just("password"),
        Just("return_to"),
        Just("mfa_token"),
        Just("methods"),
        Just("code"),
        Just("recovery_code"),
        Just("credential"),
        Just("challenge_id"),
        Just("email"),
        Just("current_password"),
        Just("new_password"),
        Just("confirm_password"),
        Just("session_id"),
        Just("id"),
        Just("name"),
        Just("token"),
    ];
    let value = prop_oneof![tokenish(), jsonish(), "\\PC{0,40}"];
    let body = prop::collection::vec((field, value), 0..6);
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        run((0..paths.len(), body), |(i, fields)| {
            handle.block_on(async {
                let mut form: Vec<(&str, String)> = vec![("csrf", csrf.clone())];
                form.extend(fields);
                let r = app
                    .client
                    .post(app.url(paths[i]))
                    .header("cookie", &cookies)
                    .form(&form)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
                    return Err(format!("{} answered {status}", paths[i]));
                }
                Ok(())
            })
        });
    });
}

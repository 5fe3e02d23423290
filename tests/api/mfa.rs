//! TOTP and recovery codes, proved against authenticator implementations nobody here
//! wrote: codes come from pyotp (PyPI) and oathtool (Debian's oath-toolkit), at the
//! server's (manual) clock, and the `otpauth://` URI is parsed by pyotp.

use std::process::Command;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, TestEnv, TokenPair, assert_problem, assert_throttled, claims_of, missing,
    two_instances,
};

/// A TOTP code computed by pyotp from an `otpauth://` URI, at `unix` seconds.
pub fn pyotp_code(uri: &str, unix: i64) -> Option<String> {
    let python = std::env::var("TESSERA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([
            "-c",
            "import sys, pyotp; print(pyotp.parse_uri(sys.argv[1]).at(int(sys.argv[2])))",
            uri,
            &unix.to_string(),
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8(o.stdout).unwrap().trim().into()),
        _ => {
            missing(&format!("pyotp ({python} -m pip install pyotp)"));
            None
        }
    }
}

/// A TOTP code computed by oathtool from a base32 secret, at `unix` seconds.
pub fn oathtool_code(secret: &str, unix: i64) -> Option<String> {
    let out = Command::new("oathtool")
        .args(["--totp", "--base32", "--now", &format!("@{unix}"), secret])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8(o.stdout).unwrap().trim().into()),
        _ => {
            missing("oathtool (apt-get install oathtool)");
            None
        }
    }
}

/// A signed-in user with a confirmed authenticator app.
pub struct Enrolled {
    pub name: String,
    pub pair: TokenPair,
    pub secret: String,
    pub uri: String,
    pub recovery_codes: Vec<String>,
}

impl TestApp {
    pub fn now_unix(&self) -> i64 {
        use tessera_domain::Clock as _;
        self.clock.now().timestamp()
    }

    /// Registers, logs in, enrolls TOTP and confirms it with pyotp's code.
    pub async fn enrolled(&self) -> Option<Enrolled> {
        let (name, pair) = self.signed_in_user().await;
        let r = self
            .post_json("/v1/me/mfa/totp", &json!({}), Some(&pair.access_token))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let setup: Value = r.json().await.unwrap();
        let secret = setup["secret"].as_str().unwrap().to_owned();
        let uri = setup["otpauth_uri"].as_str().unwrap().to_owned();
        let code = pyotp_code(&uri, self.now_unix())?;
        let r = self.confirm_totp(&pair.access_token, &code).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        let recovery_codes = body["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        // The confirming code is spent: the next code is the next step's.
        self.advance(TimeDelta::seconds(30));
        Some(Enrolled {
            name,
            pair,
            secret,
            uri,
            recovery_codes,
        })
    }

    /// Confirms the pending authenticator app with one of its codes.
    pub async fn confirm_totp(&self, token: &str, code: &str) -> reqwest::Response {
        let body = json!({"code": code});
        self.post_json("/v1/me/mfa/totp/confirm", &body, Some(token))
            .await
    }

    /// A right password for an enrolled user: the `mfa_required` problem.
    pub async fn first_step(&self, name: &str) -> Value {
        let r = self.login(name, PASSWORD).await;
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_problem(r, StatusCode::FORBIDDEN, "mfa_required").await
    }

    pub async fn second_step(&self, body: &Value) -> reqwest::Response {
        self.post_json("/v1/auth/mfa", body, None).await
    }

    /// The second step with an authenticator app's `code`.
    pub async fn second_step_code(
        &self,
        mfa_token: impl Serialize,
        code: impl Serialize,
    ) -> reqwest::Response {
        self.second_step(&json!({"mfa_token": mfa_token, "code": code}))
            .await
    }

    /// The second step with a recovery code.
    pub async fn second_step_recovery(
        &self,
        mfa_token: impl Serialize,
        recovery_code: impl Serialize,
    ) -> reqwest::Response {
        self.second_step(&json!({"mfa_token": mfa_token, "recovery_code": recovery_code}))
            .await
    }

    pub async fn mfa_status(&self, token: &str) -> Value {
        let r = self.get("/v1/me/mfa", Some(token)).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}

#[tokio::test]
async fn an_authenticator_app_enrolls_and_its_codes_log_in_once() {
    let app = TestApp::spawn().await;
    let Some(user) = app.enrolled().await else {
        return;
    };
    assert!(
        user.uri
            .starts_with(&format!("otpauth://totp/Tessera:{}?", user.name)),
        "{}",
        user.uri
    );
    assert!(user.secret.len() >= 32, "at least 160 bits in base32");
    assert_eq!(user.recovery_codes.len(), 10);
    let status = app.mfa_status(&user.pair.access_token).await;
    assert_eq!(status["totp"], true);
    assert_eq!(status["recovery_codes_remaining"], 10);
    assert_eq!(status["methods"], json!(["totp", "recovery_code"]));

    // The password alone no longer logs in: no token before the second step.
    let challenge = app.first_step(&user.name).await;
    assert_eq!(challenge["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(challenge["expires_in"], 300);
    assert!(challenge.get("access_token").is_none());
    let token = challenge["mfa_token"].as_str().unwrap();

    // oathtool's code for the server's time completes it.
    let Some(code) = oathtool_code(&user.secret, app.now_unix()) else {
        return;
    };
    let r = app.second_step_code(&token, &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pair: TokenPair = r.json().await.unwrap();
    let claims = claims_of(&pair.access_token);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["auth_time"], app.now_unix());
    // A refresh keeps how and when the user authenticated.
    app.advance(TimeDelta::seconds(5));
    let refreshed: TokenPair = app.refresh(&pair.refresh_token).await.json().await.unwrap();
    let again = claims_of(&refreshed.access_token);
    assert_eq!(again["amr"], claims["amr"]);
    assert_eq!(again["auth_time"], claims["auth_time"]);

    // The same code again, on a new login: refused (each code works once).
    let token = app.first_step(&user.name).await["mfa_token"].clone();
    assert_problem(
        app.second_step_code(&token, &code).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    // A code from three steps ago, outside the ±1 window: refused.
    let old = pyotp_code(&user.uri, app.now_unix() - 90).unwrap();
    assert_problem(
        app.second_step_code(&token, &old).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    // The next step's code, from pyotp, is accepted on the same token.
    app.advance(TimeDelta::seconds(30));
    let next = pyotp_code(&user.uri, app.now_unix()).unwrap();
    let r = app.second_step_code(&token, &next).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The token is used up.
    assert_problem(
        app.second_step_code(&token, &next).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
    // A wrong password stays the usual answer.
    assert_problem(
        app.login(&user.name, "not the password at all").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    // Operators see the second steps: two accepted, three refused (a replay, a code out
    // of the window, a used token).
    let counted = |outcome| app.metric("tessera_second_factors_total", Some(("outcome", outcome)));
    assert_eq!(counted("ok").await, 2.0);
    assert_eq!(counted("refused").await, 3.0);
}

#[tokio::test]
async fn a_lost_phone_is_replaced_by_a_recovery_code_once() {
    let app = TestApp::spawn().await;
    let Some(user) = app.enrolled().await else {
        return;
    };
    let code = &user.recovery_codes[3];
    // As a person types it: upper case, spaces for hyphens.
    let typed = code.to_uppercase().replace('-', " ");
    let token = app.first_step(&user.name).await["mfa_token"].clone();
    let r = app.second_step_recovery(&token, &typed).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pair: TokenPair = r.json().await.unwrap();
    assert_eq!(
        claims_of(&pair.access_token)["amr"],
        json!(["pwd", "otp", "mfa"])
    );
    assert_eq!(
        app.mfa_status(&pair.access_token).await["recovery_codes_remaining"],
        9
    );
    let token = app.first_step(&user.name).await["mfa_token"].clone();
    assert_problem(
        app.second_step_recovery(&token, &code).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;

    // A new set, with the password: the old set stops working.
    let r = app
        .post_json(
            "/v1/me/mfa/recovery-codes",
            &json!({"current_password": PASSWORD}),
            Some(&pair.access_token),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: Value = r.json().await.unwrap();
    assert_eq!(fresh["recovery_codes"].as_array().unwrap().len(), 10);
    assert_problem(
        app.second_step_recovery(&token, &user.recovery_codes[5])
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    let r = app
        .second_step_recovery(&token, &fresh["recovery_codes"][0])
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let admin = app.signed_in_with_role("admin").await;
    let audit = app.audit(&admin.access_token, "recovery_code_used").await;
    assert_eq!(audit["total"], 2, "{audit}");
    assert_eq!(audit["items"][0]["detail"]["left"], 9, "{audit}");
}

#[tokio::test]
async fn wrong_codes_spend_the_token_and_the_accounts_budget() {
    let app = TestApp::builder().limited().spawn().await;
    let Some(user) = app.enrolled().await else {
        return;
    };
    let token = app.first_step(&user.name).await["mfa_token"].clone();
    for wrong in ["000000", "111111", "222222", "333333", "444444"] {
        assert_problem(
            app.second_step_code(&token, &wrong).await,
            StatusCode::UNAUTHORIZED,
            "invalid_code",
        )
        .await;
    }
    // Five attempts were all the token had, even with the right code.
    let right = pyotp_code(&user.uri, app.now_unix()).unwrap();
    assert_problem(
        app.second_step_code(&token, &right).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
    // The password and five wrong codes are six failures: the account is locked, for
    // the password step too.
    let r = app.login(&user.name, PASSWORD).await;
    assert_throttled(r).await;
    // Past the lock, a new login and a right code succeed, and reset the budget.
    app.advance(TimeDelta::seconds(3));
    let token = app.first_step(&user.name).await["mfa_token"].clone();
    app.advance(TimeDelta::seconds(30));
    let right = pyotp_code(&user.uri, app.now_unix()).unwrap();
    let r = app.second_step_code(&token, &right).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.login(&user.name, PASSWORD).await.status(),
        StatusCode::FORBIDDEN,
        "no lock left after the success"
    );
    let admin = app.signed_in_with_role("admin").await;
    let audit = app.audit(&admin.access_token, "second_factor_failed").await;
    assert_eq!(audit["total"], 5, "{audit}");
    assert_eq!(audit["items"][0]["detail"]["method"], "totp");
}

#[tokio::test]
async fn an_mfa_token_is_bound_to_its_client_and_expires() {
    let app = TestApp::spawn().await;
    let Some(user) = app.enrolled().await else {
        return;
    };
    let token = app.first_step(&user.name).await["mfa_token"].clone();
    let code = pyotp_code(&user.uri, app.now_unix()).unwrap();
    // Another client (another User-Agent) cannot use it.
    let r = app
        .client
        .post(app.url("/v1/auth/mfa"))
        .header("user-agent", "somebody else")
        .json(&json!({"mfa_token": token, "code": code}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    // Malformed tokens, no proof or two proofs: clear 4xx, never a 5xx.
    for (body, status, code_) in [
        (
            json!({"mfa_token": "nope", "code": code}),
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_token",
        ),
        (
            json!({"mfa_token": token}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"mfa_token": token, "code": code, "recovery_code": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"mfa_token": token, "code": 123456}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"mfa_token": token, "webauthn": {"id": 1}}),
            StatusCode::UNAUTHORIZED,
            "invalid_code",
        ),
    ] {
        assert_problem(app.second_step(&body).await, status, code_).await;
    }
    // After five minutes it has expired.
    app.advance(TimeDelta::minutes(5));
    let code = pyotp_code(&user.uri, app.now_unix()).unwrap();
    assert_problem(
        app.second_step_code(&token, &code).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
}

#[tokio::test]
async fn removing_the_app_needs_a_code_or_the_password_and_admins_can_reset() {
    let app = TestApp::spawn().await;
    let Some(user) = app.enrolled().await else {
        return;
    };
    let token = user.pair.access_token.clone();
    // Enrolling again while one is active is a conflict.
    assert_problem(
        app.post_json("/v1/me/mfa/totp", &json!({}), Some(&token))
            .await,
        StatusCode::CONFLICT,
        "totp_already_enabled",
    )
    .await;
    // A password change and logout-all keep the factor.
    let r = app
        .post_json(
            "/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "another fine horse battery"}),
            Some(&token),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.mfa_status(&token).await["totp"], true);
    let disable = async |body: Value| {
        app.post_json("/v1/me/mfa/totp/disable", &body, Some(&token))
            .await
    };
    for (body, status, problem) in [
        (
            json!({"code": "000000"}),
            StatusCode::BAD_REQUEST,
            "invalid_code",
        ),
        (
            json!({"current_password": PASSWORD}),
            StatusCode::FORBIDDEN,
            "invalid_credentials",
        ),
        (json!({}), StatusCode::BAD_REQUEST, "invalid_request"),
    ] {
        assert_problem(disable(body).await, status, problem).await;
    }
    let code = oathtool_code(&user.secret, app.now_unix()).unwrap();
    assert_eq!(
        disable(json!({"code": code})).await.status(),
        StatusCode::NO_CONTENT
    );
    let status = app.mfa_status(&token).await;
    assert_eq!(status["totp"], false);
    assert_eq!(status["recovery_codes_remaining"], 0);
    assert_eq!(
        app.login(&user.name, "another fine horse battery")
            .await
            .status(),
        StatusCode::OK
    );

    // Enrolled again, then reset by an administrator: the password alone logs in.
    let app2 = TestApp::spawn().await;
    let Some(user) = app2.enrolled().await else {
        return;
    };
    let admin = app2.signed_in_with_role("admin").await;
    let me: Value = app2.get_json("/v1/me", Some(&user.pair.access_token)).await;
    let path = format!("/v1/admin/users/{}/mfa/reset", me["id"].as_str().unwrap());
    assert_problem(
        app2.post_json(&path, &json!({}), Some(&user.pair.access_token))
            .await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
    let r = app2
        .post_json(&path, &json!({}), Some(&admin.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app2.login(&user.name, PASSWORD).await.status(),
        StatusCode::OK
    );
    let audit = app2.audit(&admin.access_token, "factors_reset").await;
    assert_eq!(audit["total"], 1);
    let missing_user = format!("/v1/admin/users/{}/mfa/reset", uuid::Uuid::new_v4());
    assert_problem(
        app2.post_json(&missing_user, &json!({}), Some(&admin.access_token))
            .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
}

#[tokio::test]
async fn confirming_needs_the_apps_code_and_the_secret_is_sealed_at_rest() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let token = pair.access_token;
    let r = app.confirm_totp(&token, "123456").await;
    assert_problem(r, StatusCode::CONFLICT, "mfa_not_enrolled").await;
    let setup: Value = app
        .post_json("/v1/me/mfa/totp", &json!({}), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    // A pending enrollment changes nothing yet.
    assert_eq!(app.mfa_status(&token).await["totp_pending"], true);
    assert_eq!(app.login(&name, PASSWORD).await.status(), StatusCode::OK);
    let r = app.confirm_totp(&token, "12345x").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_code").await;
    // The row holds the secret sealed: neither its bytes nor its base32 appear.
    let me: Value = app.get_json("/v1/me", Some(&token)).await;
    let id = tessera_domain::user::UserId(me["id"].as_str().unwrap().parse().unwrap());
    let store = app.store().await;
    let row = tessera_domain::mfa::FactorStore::totp(&store, id)
        .await
        .unwrap()
        .unwrap();
    let secret = setup["secret"].as_str().unwrap();
    let raw = base32_decode(secret);
    assert_eq!(raw.len(), 20, "160 bits");
    assert!(row.sealed_secret.len() > raw.len());
    assert!(
        !row.sealed_secret
            .windows(raw.len())
            .any(|w| w == raw.as_slice()),
        "the secret is stored in the clear"
    );
    assert!(!String::from_utf8_lossy(&row.sealed_secret).contains(secret));

    // A pending enrollment is cancelled without proof, but not with a malformed one.
    let cancel = async |body: Value| {
        app.post_json("/v1/me/mfa/totp/disable", &body, Some(&token))
            .await
    };
    assert_problem(
        cancel(json!({"code": "AAA"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_code",
    )
    .await;
    assert_eq!(cancel(json!({})).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.mfa_status(&token).await["totp_pending"], false);
    assert_problem(
        cancel(json!({})).await,
        StatusCode::CONFLICT,
        "mfa_not_enrolled",
    )
    .await;
}

/// RFC 4648 base32 without padding, as authenticator apps read it.
fn base32_decode(s: &str) -> Vec<u8> {
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_used_on_one_instance_is_refused_on_the_other() {
    let Some(env) = TestEnv::shared().await else {
        return;
    };
    let (a, b) = two_instances(&env).await;
    let Some(user) = a.enrolled().await else {
        return;
    };
    let on_a = a.first_step(&user.name).await["mfa_token"].clone();
    let on_b = b.first_step(&user.name).await["mfa_token"].clone();
    let code = pyotp_code(&user.uri, a.now_unix()).unwrap();
    let (body_a, body_b) = (
        json!({"mfa_token": on_a, "code": code}),
        json!({"mfa_token": on_b, "code": code}),
    );
    let (ra, rb) = tokio::join!(a.second_step(&body_a), b.second_step(&body_b));
    let mut statuses = [ra.status(), rb.status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::UNAUTHORIZED],
        "exactly one instance accepts the code"
    );
    // An mfa_token opened on A completes on B.
    a.advance(TimeDelta::seconds(30));
    let token = a.first_step(&user.name).await["mfa_token"].clone();
    let next = pyotp_code(&user.uri, a.now_unix()).unwrap();
    let r = b.second_step_code(&token, &next).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// With Redis holding the failure budgets, a second step that cannot count its attempt is
/// refused (503), never let through; the same `mfa_token` and a fresh code work once
/// Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_step_fails_closed_while_redis_is_down() {
    use std::time::Duration;

    use crate::backends::PrivateRedis;
    use crate::helpers::within;

    let Some(mut redis) = PrivateRedis::start_anywhere() else {
        return;
    };
    let app = redis.app("mfa-outage").limited().spawn().await;
    let Some(user) = app.enrolled().await else {
        return;
    };
    let token = app.first_step(&user.name).await["mfa_token"].clone();
    redis.stop();
    let code = pyotp_code(&user.uri, app.now_unix()).unwrap();
    let body = json!({"mfa_token": token, "code": code});
    within(Duration::from_secs(5), async || {
        app.second_step(&body).await.status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await
    .expect("a second step went through with Redis down");
    let r = app.second_step(&body).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;

    let _redis = redis.start_again();
    let healed = within(Duration::from_secs(10), async || {
        app.second_step(&body).await.status() == StatusCode::OK
    })
    .await;
    assert!(
        healed.is_some(),
        "the second step did not resume after Redis came back"
    );
}

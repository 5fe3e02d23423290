//! Passkeys, proved against a software authenticator nobody here wrote: 1Password's
//! passkey-rs (`passkey-client` runs the browser's half — origin checks, client data —
//! and `passkey-authenticator` the authenticator's, with a real P-256 key). Tessera sees
//! only the JSON a browser would send.

use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData};
use passkey_crypto::rust_crypto::RustCryptoBackend;
use passkey_types::Passkey;
use passkey_types::ctap2::{Aaguid, Ctap2Error};
use passkey_types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{PASSKEY_ORIGIN, PASSWORD, TestApp, TokenPair, assert_problem, claims_of};

/// A user at the device: present, and verified (a PIN or a fingerprint).
struct Person;

#[async_trait::async_trait]
impl UserValidationMethod for Person {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Self::PasskeyItem>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

type SoftClient =
    Client<Option<Passkey>, Person, RustCryptoBackend, public_suffix::PublicSuffixList, ()>;

/// A browser with a platform authenticator holding (at most) one passkey.
pub struct Device {
    client: SoftClient,
    origin: Url,
}

impl Device {
    pub fn new() -> Self {
        Self::holding(None)
    }

    fn holding(passkey: Option<Passkey>) -> Self {
        let mut authenticator =
            Authenticator::new(Aaguid::new_empty(), passkey, Person, RustCryptoBackend);
        // Counters, so a cloned credential's replay is visible.
        authenticator.set_make_credentials_with_signature_counter(true);
        Self {
            client: Client::new(authenticator).allows_insecure_localhost(true),
            origin: Url::parse(PASSKEY_ORIGIN).unwrap(),
        }
    }

    /// The same passkey in another browser (a synced passkey, or a copied one).
    pub fn copy(&self) -> Self {
        Self::holding(self.client.authenticator().store().clone())
    }

    /// This device's browser at another origin (a phishing page on another port).
    pub fn at(mut self, origin: &str) -> Self {
        self.origin = Url::parse(origin).unwrap();
        self
    }

    /// Answers `{"publicKey": …}` creation options: `PublicKeyCredential.toJSON()`.
    pub async fn create(&mut self, options: &Value) -> Value {
        let request: CredentialCreationOptions = serde_json::from_value(options.clone()).unwrap();
        let created = self
            .client
            .register(&self.origin, request, DefaultClientData)
            .await
            .unwrap_or_else(|e| panic!("the authenticator refused to register: {e:?}"));
        serde_json::to_value(created).unwrap()
    }

    /// Answers `{"publicKey": …}` request options.
    pub async fn get(&mut self, options: &Value) -> Value {
        let request: CredentialRequestOptions = serde_json::from_value(options.clone()).unwrap();
        let asserted = self
            .client
            .authenticate(&self.origin, request, DefaultClientData)
            .await
            .unwrap_or_else(|e| panic!("the authenticator refused to sign: {e:?}"));
        serde_json::to_value(asserted).unwrap()
    }
}

impl TestApp {
    /// Registers a passkey named `name` on `device` for the holder of `token`.
    pub async fn add_passkey(&self, token: &str, device: &mut Device, name: &str) -> Value {
        let r = self.start_passkey_registration(token).await;
        assert_eq!(r.status(), StatusCode::OK);
        let options: Value = r.json().await.unwrap();
        let sel = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(sel["residentKey"], "required", "{options}");
        let credential = device.create(&options).await;
        let r = self
            .finish_passkey_registration(token, name, &credential)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// Asks for the creation options of a new passkey for the holder of `token`.
    pub async fn start_passkey_registration(&self, token: &str) -> reqwest::Response {
        self.post_json("/v1/me/passkeys/options", &json!({}), Some(token))
            .await
    }

    /// Hands in the `credential` a device created, as a passkey named `name`.
    pub async fn finish_passkey_registration(
        &self,
        token: &str,
        name: &str,
        credential: &Value,
    ) -> reqwest::Response {
        self.post_json(
            "/v1/me/passkeys",
            &json!({"name": name, "credential": credential}),
            Some(token),
        )
        .await
    }

    /// Passwordless sign-in options: `(challenge_id, {"publicKey": …})`.
    pub async fn passkey_options(&self) -> (String, Value) {
        let r = self
            .post_json("/v1/auth/passkey/options", &json!({}), None)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        let id = body["challenge_id"].as_str().unwrap().to_owned();
        (id, json!({"publicKey": body["publicKey"]}))
    }

    /// The second step's request options for the `mfa_token` of a first step.
    pub async fn second_step_options(&self, mfa_token: &str) -> Value {
        let r = self
            .post_json(
                "/v1/auth/mfa/webauthn/options",
                &json!({"mfa_token": mfa_token}),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn passkey_sign_in(
        &self,
        challenge_id: &str,
        credential: &Value,
    ) -> reqwest::Response {
        self.post_json(
            "/v1/auth/passkey",
            &json!({"challenge_id": challenge_id, "credential": credential}),
            None,
        )
        .await
    }

    /// A passwordless sign-in with this credential is refused: 401 `invalid_passkey`.
    pub async fn assert_passkey_refused(&self, challenge_id: &str, credential: &Value) {
        assert_problem(
            self.passkey_sign_in(challenge_id, credential).await,
            StatusCode::UNAUTHORIZED,
            "invalid_passkey",
        )
        .await;
    }

    /// A right password for `name`, then the passkey step's options: the `mfa_token` and
    /// the `{"publicKey": …}` request options.
    pub async fn passkey_second_step_options(&self, name: &str) -> (String, Value) {
        let challenge = self.first_step(name).await;
        let token = challenge["mfa_token"].as_str().unwrap().to_owned();
        let options = self.second_step_options(&token).await;
        (token, options)
    }
}

#[tokio::test]
async fn a_registered_passkey_signs_in_alone_and_is_managed_by_its_owner() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let token = pair.access_token.clone();
    let mut phone = Device::new();
    let added = app.add_passkey(&token, &mut phone, "Phone").await;
    assert_eq!(added["name"], "Phone");
    let id = added["id"].as_str().unwrap().to_owned();

    // Passwordless, from a browser that knows no username.
    let (challenge, options) = app.passkey_options().await;
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));
    let assertion = phone.get(&options).await;
    let r = app.passkey_sign_in(&challenge, &assertion).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let signed_in: TokenPair = r.json().await.unwrap();
    let claims = claims_of(&signed_in.access_token);
    assert_eq!(claims["username"], name);
    assert_eq!(claims["amr"], json!(["hwk", "mfa"]), "user verified");
    // The same assertion again: the ceremony is used up.
    app.assert_passkey_refused(&challenge, &assertion).await;
    // ... and it does not answer a new ceremony's challenge either.
    let (fresh, _) = app.passkey_options().await;
    app.assert_passkey_refused(&fresh, &assertion).await;

    // Listed with its use; renamed; the name is validated.
    let list: Value = app.get_json("/v1/me/passkeys", Some(&token)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0]["last_used_at"].is_string(), "{list}");
    let path = format!("/v1/me/passkeys/{id}");
    let r = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&token)
        .json(&json!({"name": "Old phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Old phone");
    let r = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&token)
        .json(&json!({"name": " "}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;

    // The same authenticator cannot register its credential twice.
    let r = app.start_passkey_registration(&token).await;
    let options: Value = r.json().await.unwrap();
    assert_eq!(
        options["publicKey"]["excludeCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // The passkey is the last factor: removing it needs a recent sign-in.
    app.advance(chrono::TimeDelta::minutes(6));
    let refreshed: TokenPair = app
        .refresh(&signed_in.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    assert_problem(
        app.delete(&path, &refreshed.access_token).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    )
    .await;
    let (challenge, options) = app.passkey_options().await;
    let again: TokenPair = app
        .passkey_sign_in(&challenge, &phone.get(&options).await)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.delete(&path, &again.access_token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.delete(&path, &again.access_token).await,
        StatusCode::NOT_FOUND,
        "passkey_not_found",
    )
    .await;
    // Gone: a password alone logs in again, and the passkey no longer does.
    assert_eq!(app.login(&name, PASSWORD).await.status(), StatusCode::OK);
    let (challenge, options) = app.passkey_options().await;
    app.assert_passkey_refused(&challenge, &phone.get(&options).await)
        .await;
}

#[tokio::test]
async fn a_passkey_is_the_second_step_after_the_password() {
    let app = TestApp::spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let mut key = Device::new();
    app.add_passkey(&pair.access_token, &mut key, "Security key")
        .await;
    let challenge = app.first_step(&name).await;
    // A first passkey comes with recovery codes: both are ways through the second step.
    assert_eq!(challenge["methods"], json!(["webauthn", "recovery_code"]));
    let token = challenge["mfa_token"].as_str().unwrap();
    let options = app.second_step_options(token).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let with_key = async |token: &str, assertion: Value| {
        app.second_step(&json!({"mfa_token": token, "webauthn": assertion}))
            .await
    };
    let r = with_key(token, key.get(&options).await).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: TokenPair = r.json().await.unwrap();
    assert_eq!(
        claims_of(&tokens.access_token)["amr"],
        json!(["pwd", "hwk", "mfa"])
    );

    // A copy of the credential replaying an old counter is refused (a cloned key).
    let mut clone = key.copy();
    let (token, options) = app.passkey_second_step_options(&name).await;
    let r = with_key(&token, key.get(&options).await).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (token, options) = app.passkey_second_step_options(&name).await;
    // The copy was taken after one assertion: its counter is behind the stored one.
    let stale = clone.get(&options).await;
    let r = with_key(&token, stale).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
}

#[tokio::test]
async fn a_ceremony_from_another_origin_is_refused() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    // Registration run by a page on another port (same host): refused, nothing stored.
    let r = app.start_passkey_registration(&pair.access_token).await;
    let options: Value = r.json().await.unwrap();
    let mut phishing = Device::new().at("http://localhost:6666");
    let credential = phishing.create(&options).await;
    let r = app
        .finish_passkey_registration(&pair.access_token, "Phished", &credential)
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_credential").await;
    let list: Value = app
        .get_json("/v1/me/passkeys", Some(&pair.access_token))
        .await;
    assert_eq!(list, json!([]));

    // A real passkey used from the other origin: refused.
    let mut phone = Device::new();
    app.add_passkey(&pair.access_token, &mut phone, "Phone")
        .await;
    let mut phone_on_phishing_page = phone.copy().at("http://localhost:6666");
    let (challenge, options) = app.passkey_options().await;
    let assertion = phone_on_phishing_page.get(&options).await;
    app.assert_passkey_refused(&challenge, &assertion).await;
}

#[tokio::test]
async fn webauthn_json_that_does_not_parse_or_verify_is_a_4xx() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    let token = pair.access_token;
    // No pending registration.
    let r = app
        .finish_passkey_registration(&token, "x", &json!({"id": "AAAA"}))
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_credential").await;
    let _ = app.start_passkey_registration(&token).await;
    for credential in [
        json!(null),
        json!("text"),
        json!([1, 2, 3]),
        json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}),
        json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
               "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}}),
    ] {
        let r = app
            .finish_passkey_registration(&token, "x", &credential)
            .await;
        assert_problem(r, StatusCode::BAD_REQUEST, "invalid_credential").await;
        // Each attempt used up the registration: start a new one.
        let _ = app.start_passkey_registration(&token).await;
    }
    let (challenge, _) = app.passkey_options().await;
    for credential in [
        json!({}),
        json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
               "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA",
                            "signature": "AAAA", "userHandle": "AAAA"}}),
    ] {
        app.assert_passkey_refused(&challenge, &credential).await;
    }
    app.assert_passkey_refused("not-a-challenge", &json!({}))
        .await;
    // The second step's options for an account without passkeys.
    let Some(user) = app.enrolled().await else {
        return;
    };
    let token = app.first_step(&user.name).await["mfa_token"].clone();
    assert_problem(
        app.post_json(
            "/v1/auth/mfa/webauthn/options",
            &json!({"mfa_token": token}),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "no_passkey",
    )
    .await;
}

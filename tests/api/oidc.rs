//! The OpenID provider, against a relying party nobody here wrote (the `openidconnect`
//! crate: discovery, the code flow with PKCE, the ID token's signature and claims,
//! UserInfo), and the refusals RFC 6749, RFC 7636 and OIDC Core require: missing or
//! `plain` PKCE, a code used twice (what it issued is revoked), an unregistered redirect
//! URI (a page, never a redirect), a public client presenting a secret, a wrong secret,
//! an expired code, a scope the client may not have. openid-client (npm) and Authlib
//! (PyPI) run the same flows in `.ci/clients`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use sha2::Digest as _;
use tessera_domain::oidc::{GrantType, NewClient, OAuthClient};
use tessera_domain::session::ClientInfo;

use crate::helpers::{Browser, PASSWORD, TestApp, claims_of, header_of, unique_name};

pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A provider whose issuer is its own URL, as a deployment's is.
pub(crate) async fn provider() -> TestApp {
    TestApp::builder()
        .with_config(|c| c.tokens.issuer = None)
        .spawn()
        .await
}

pub(crate) async fn register(
    app: &TestApp,
    public: bool,
    first_party: bool,
    grants: &[GrantType],
    scopes: &str,
) -> (OAuthClient, Option<String>) {
    let new = NewClient {
        name: "Test app".into(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
        grant_types: grants.to_vec(),
        scopes: scopes.into(),
        public,
        first_party,
        audience: None,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
    };
    let (client, secret) = app
        .state
        .oidc
        .create_client(new, &ClientInfo::default())
        .await
        .unwrap();
    (client, secret.map(|s| s.expose().to_owned()))
}

pub(crate) fn query(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn param(location: &str, name: &str) -> Option<String> {
    query(location)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The path and query of an absolute URL on the test server.
pub(crate) fn local(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.base).unwrap_or(url).to_owned()
}

/// Signs `name` in on the hosted login page from the authorization request at
/// `authorize`, and answers where the browser is sent next.
pub(crate) async fn sign_in_through(
    browser: &mut Browser<'_>,
    authorize: &str,
    name: &str,
) -> String {
    let (status, headers, html) = browser.get(authorize).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{authorize}: {html}");
    let login = headers[LOCATION].to_str().unwrap().to_owned();
    assert!(login.starts_with("/login?return_to="), "{login}");
    sign_in_at(browser, &login, name).await
}

/// Signs `name` in on the login form that `login` (`/login?return_to=…`) shows, and
/// answers where the browser is sent next: back where it was going.
pub(crate) async fn sign_in_at(browser: &mut Browser<'_>, login: &str, name: &str) -> String {
    browser.get(login).await;
    let return_to = param(&format!("http://x{login}"), "return_to").unwrap();
    let csrf = browser.csrf.clone();
    let (status, headers, _) = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", name),
                ("password", PASSWORD),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let back = headers[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(back, return_to, "back to the authorization request");
    back
}

/// The hidden fields of the consent form, and the decision.
pub(crate) fn consent_form(html: &str, decision: &str) -> Vec<(String, String)> {
    let form = &html[html.find("action=\"/oauth2/consent\"").unwrap()..];
    let mut fields = vec![("decision".to_owned(), decision.to_owned())];
    for input in form.split("<input type=\"hidden\" ").skip(1) {
        let attr = |name: &str| {
            let at = input.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            let v = &input[at..];
            v[..v.find('"').unwrap()]
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&#x27;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        };
        fields.push((attr("name"), attr("value")));
    }
    fields
}

#[tokio::test]
async fn the_openidconnect_crate_signs_a_user_in_with_code_and_pkce() {
    let app = provider().await;
    let name = unique_name();
    assert_eq!(app.register(&name, PASSWORD).await.status(), 201);
    let all = [GrantType::AuthorizationCode, GrantType::RefreshToken];
    let (client, secret) = register(&app, false, false, &all, "openid profile email").await;

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.to_string()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf_state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The hosted login page, then the consent page of a third-party client.
    let mut browser = Browser::new(&app);
    let back = sign_in_through(&mut browser, &local(&app, url.as_str()), &name).await;
    let (status, _, html) = browser.get(&back).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Allow this application?") && html.contains("Test app"));
    let form = consent_form(&html, "allow");
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(
        fields.iter().any(|(k, _)| *k == "csrf"),
        "the consent form carries its CSRF token"
    );
    let (status, headers, _) = browser.post("/oauth2/consent", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let callback = headers[LOCATION].to_str().unwrap().to_owned();
    assert!(callback.starts_with(REDIRECT), "{callback}");
    assert_eq!(
        param(&callback, "state").as_deref(),
        Some(csrf_state.secret().as_str())
    );
    assert_eq!(
        param(&callback, "iss").as_deref(),
        Some(app.base.as_str()),
        "RFC 9207"
    );
    let code = param(&callback, "code").unwrap();

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token verifies: signature, iss, aud, nonce, exp");
    assert_eq!(claims.preferred_username().unwrap().as_str(), name);
    assert!(claims.auth_time().is_some());
    let raw_id_token = id_token.to_string();
    assert_eq!(header_of(&raw_id_token)["typ"], "JWT");
    let raw = claims_of(&raw_id_token);
    assert_eq!(raw["amr"], json!(["pwd"]));
    assert_eq!(raw["azp"], json!(client.id.to_string()));
    let access = tokens.access_token().secret().clone();
    assert_eq!(
        header_of(&access)["typ"],
        "at+jwt",
        "RFC 9068, for resource servers"
    );
    let at = claims_of(&access);
    assert_eq!(at["client_id"], json!(client.id.to_string()));
    assert_eq!(at["scope"], "openid profile");
    assert_eq!(
        at["aud"],
        format!("{}/oauth2/userinfo", app.base),
        "a third-party app with no resource set: UserInfo only, never the API's audience"
    );
    assert!(at.get("roles").is_none_or(|r| r == &json!([])), "{at}");
    assert!(tokens.refresh_token().is_some());
    // A third-party app's token is not for Tessera's account API.
    let r = app.get("/v1/me", Some(&access)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("third-party"));

    let userinfo: openidconnect::core::CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("UserInfo for the same subject");
    assert_eq!(userinfo.preferred_username().unwrap().as_str(), name);

    // The consent is remembered: the next request goes straight back with a code.
    let again = authorize_path(
        &client.id.to_string(),
        "openid",
        &challenge_for("v".repeat(43).as_str()),
    );
    let (status, headers, _) = browser.get(&again).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(param(headers[LOCATION].to_str().unwrap(), "code").is_some());
    // … until the person takes it back on /account: then the client must ask again.
    let (_, _, account) = browser.get("/account").await;
    assert!(account.contains("Test app") && account.contains("Remove access"));
    let csrf = browser.csrf.clone();
    let id = client.id.to_string();
    let (status, headers, _) = browser
        .post(
            "/account/apps/revoke",
            &[("csrf", &csrf), ("client_id", &id)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/account?notice=app_removed");
    assert_eq!(app.audit_events("consent_revoked").await, 1);
    let (status, _, html) = browser.get(&again).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Allow this application?"),
        "consent asked again"
    );

    // The code a second time: refused, and what it issued is revoked.
    let replay = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(openidconnect::PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await;
    assert!(replay.is_err(), "a code works once");
    let r = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the first exchange's tokens die"
    );
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_eq!(app.audit_events("code_reused").await, 1);
}

fn as_refs<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

pub(crate) fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

pub(crate) fn authorize_path(client_id: &str, scope: &str, challenge: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st-1")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("/oauth2/authorize?{q}")
}

/// A signed-in browser for a first-party client (no consent), and a code for `verifier`.
pub(crate) async fn code_for(
    browser: &mut Browser<'_>,
    client: &OAuthClient,
    verifier: &str,
) -> String {
    let (status, headers, _) = browser
        .get(&authorize_path(
            &client.id.to_string(),
            "openid",
            &challenge_for(verifier),
        ))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let to = headers[LOCATION].to_str().unwrap().to_owned();
    param(&to, "code").unwrap_or_else(|| panic!("no code in {to}"))
}

pub(crate) async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut req = app.client.post(app.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    if status.is_client_error() {
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn refusals_are_the_ones_rfc_6749_and_rfc_7636_name() {
    let app = provider().await;
    let name = unique_name();
    assert_eq!(app.register(&name, PASSWORD).await.status(), 201);
    let code_grants = [GrantType::AuthorizationCode, GrantType::RefreshToken];
    let (public, _) = register(&app, true, true, &code_grants, "openid").await;
    let (confidential, secret) = register(
        &app,
        false,
        true,
        &[GrantType::AuthorizationCode, GrantType::ClientCredentials],
        "openid",
    )
    .await;
    let secret = secret.unwrap();
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    let redirected =
        |headers: &reqwest::header::HeaderMap| headers[LOCATION].to_str().unwrap().to_owned();

    // Authorization requests: an unknown client or redirect URI is a page, never a
    // redirect; the rest goes back to the client with the error, state and iss.
    let id = public.id.to_string();
    let verifier = "a".repeat(50);
    let good = authorize_path(&id, "openid", &challenge_for(&verifier));
    for (bad, what) in [
        (
            good.replace(&id, &uuid::Uuid::new_v4().to_string()),
            "unknown client",
        ),
        (
            good.replace("127.0.0.1%3A9%2Fcallback", "127.0.0.1%3A9%2Fother"),
            "unregistered redirect URI",
        ),
        (
            good.replace("%2Fcallback", "%2Fcallback%2F"),
            "a redirect URI that only starts alike",
        ),
    ] {
        let (status, headers, html) = browser.get(&bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
        assert!(headers.get(LOCATION).is_none(), "{what}: never a redirect");
        assert!(html.contains("does not work"), "{what}");
    }
    for (bad, error, what) in [
        (
            good.replace("&code_challenge_method=S256", ""),
            "invalid_request",
            "no method",
        ),
        (
            good.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
            "plain PKCE",
        ),
        (
            authorize_path(&id, "openid", "").replace("&code_challenge=&", "&"),
            "invalid_request",
            "no PKCE",
        ),
        (
            good.replace("scope=openid", "scope=openid+email"),
            "invalid_scope",
            "a scope not allowed",
        ),
        (
            good.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
            "implicit",
        ),
    ] {
        let (status, headers, _) = browser.get(&bad).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{what}");
        let to = redirected(&headers);
        assert!(to.starts_with(REDIRECT), "{what}: {to}");
        assert_eq!(param(&to, "error").as_deref(), Some(error), "{what}");
        assert_eq!(param(&to, "state").as_deref(), Some("st-1"), "{what}");
        assert_eq!(
            param(&to, "iss").as_deref(),
            Some(app.base.as_str()),
            "{what}"
        );
        assert!(param(&to, "code").is_none(), "{what}");
    }

    // Token requests.
    let code = code_for(&mut browser, &public, &verifier).await;
    let exchange = |code: &str, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_verifier", verifier.to_owned()),
            ("client_id", id.clone()),
        ]
    };
    // A public client that presents a secret is not one.
    let mut with_secret = exchange(&code, &verifier);
    with_secret.push(("client_secret", "a".repeat(43)));
    let (status, body) = token(&app, &as_refs(&with_secret), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // The wrong verifier, then the right one.
    let (status, body) = token(&app, &as_refs(&exchange(&code, &"b".repeat(50))), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let code = code_for(&mut browser, &public, &verifier).await;
    let (status, body) = token(&app, &as_refs(&exchange(&code, &verifier)), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // A first-party app's token works on Tessera's own API, as the user's own.
    let first_party = body["access_token"].as_str().unwrap();
    let me: Value = app.get_json("/v1/me", Some(first_party)).await;
    assert_eq!(me["username"], json!(name));
    // An expired code.
    let code = code_for(&mut browser, &public, &verifier).await;
    app.advance(TimeDelta::seconds(61));
    let (status, body) = token(&app, &as_refs(&exchange(&code, &verifier)), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A client's refresh token works for that client only, and not at /v1/auth/refresh.
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", id.as_str()),
    ];
    let r = app.refresh(&refresh).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let other = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, body) = token(&app, &other, Some((&confidential.id.to_string(), &secret))).await;
    assert_eq!(body["error"], "unauthorized_client", "{status}");
    let (status, body) = token(&app, &refresh_form, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(
        body["refresh_token"].as_str(),
        Some(refresh.as_str()),
        "rotated"
    );

    // Client credentials: a wrong secret, then a service token whose subject is the client.
    let cc = [("grant_type", "client_credentials")];
    let cid = confidential.id.to_string();
    let (status, _) = token(&app, &cc, Some((&cid, &"x".repeat(43)))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&cid, Some("wrong"))
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let (status, body) = token(&app, &cc, Some((&cid, &secret))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let service = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(service["sub"], json!(cid));
    assert_eq!(service["client_id"], json!(cid));
    let (status, body) = token(
        &app,
        &[("grant_type", "client_credentials"), ("scope", "openid")],
        Some((&cid, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    // A public client has no client_credentials; an unknown grant is named as such.
    let (_, body) = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(body["error"], "unauthorized_client");
    let (_, body) = token(
        &app,
        &[("grant_type", "password"), ("client_id", id.as_str())],
        None,
    )
    .await;
    assert_eq!(body["error"], "unsupported_grant_type");
    // A parameter twice is a malformed request (RFC 6749 §3.2).
    let twice = [
        ("grant_type", "client_credentials"),
        ("grant_type", "client_credentials"),
    ];
    let (status, body) = token(&app, &twice, Some((&cid, &secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // Introspection names the client and the scopes (RFC 7662 §2.2).
    let code = code_for(&mut browser, &public, &verifier).await;
    let (status, body) = token(&app, &as_refs(&exchange(&code, &verifier)), None).await;
    assert_eq!(status, StatusCode::OK);
    let admin = app.signed_in_with_role("admin").await;
    let r = app
        .post_json(
            "/v1/oauth/introspect",
            &json!({"token": body["access_token"]}),
            Some(&admin.access_token),
        )
        .await;
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["active"], true);
    assert_eq!(seen["client_id"], json!(id));
    assert_eq!(seen["scope"], "openid");
}

#[tokio::test]
async fn discovery_lists_what_is_implemented_and_logout_returns_to_the_client() {
    let app = provider().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = app.get_json(path, None).await;
        assert_eq!(doc["issuer"], json!(app.base));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        // Every endpoint it names answers.
        for key in [
            "jwks_uri",
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "end_session_endpoint",
        ] {
            let url = doc[key].as_str().unwrap();
            let req = if key == "token_endpoint" {
                app.client.post(url)
            } else {
                app.client.get(url)
            };
            let status = req.send().await.unwrap().status();
            assert_ne!(status, StatusCode::NOT_FOUND, "{key}");
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{key}");
        }
    }
    // RP-initiated logout with the ID token as hint ends the browser's session and goes
    // back to the registered address with the state.
    let name = unique_name();
    assert_eq!(app.register(&name, PASSWORD).await.status(), 201);
    let (client, _) = register(&app, true, true, &[GrantType::AuthorizationCode], "openid").await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&name, PASSWORD).await;
    let verifier = "c".repeat(60);
    let code = code_for(&mut browser, &client, &verifier).await;
    let id = client.id.to_string();
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("client_id", id.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let hint = body["id_token"].as_str().unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let logout = |redirect: &str| {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", hint)
            .append_pair("post_logout_redirect_uri", redirect)
            .append_pair("state", "bye-1")
            .finish();
        format!("/oauth2/logout?{q}")
    };
    let (status, headers, _) = browser.get(&logout("https://elsewhere.example/")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unregistered address");
    assert!(headers.get(LOCATION).is_none());
    let (status, headers, _) = browser.get(&logout("http://127.0.0.1:9/bye")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "http://127.0.0.1:9/bye?state=bye-1");
    assert_eq!(
        browser.get("/account").await.0,
        StatusCode::SEE_OTHER,
        "signed out"
    );
    assert_eq!(
        app.dashboard_status(&access).await,
        StatusCode::UNAUTHORIZED,
        "the client's session ended too"
    );
}

//! The OpenID provider against the fakes: PKCE S256 only, a code used once (a second
//! use ends what the first started), consent remembered and revoked, and the refusals
//! of client authentication.

use crate::auth::*;
use crate::oidc::{ClientSecret, GrantType, NewClient, OAuthClient};
use crate::session::ClientInfo;
use crate::testing::{FakeIdTokens, World};
use crate::token::{Claims, TokenError};

const REDIRECT: &str = "https://app.example/cb";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn described(public: bool, first_party: bool) -> NewClient {
    let mut grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    if !public {
        grant_types.push(GrantType::ClientCredentials);
    }
    NewClient {
        name: "App".into(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: Vec::new(),
        grant_types,
        scopes: "openid profile email".into(),
        public,
        first_party,
        audience: None,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
    }
}

async fn register(
    w: &World,
    public: bool,
    first_party: bool,
) -> (OAuthClient, Option<ClientSecret>) {
    w.oidc
        .create_client(described(public, first_party), &ClientInfo::default())
        .await
        .unwrap()
}

fn request(client: &OAuthClient, scope: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: Some(client.id.to_string()),
        redirect_uri: Some(REDIRECT.into()),
        response_type: Some("code".into()),
        scope: Some(scope.into()),
        state: Some("xyz".into()),
        nonce: Some("n-1".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
    }
}

/// Alice, signed in.
async fn alice(w: &World) -> Claims {
    w.user("alice").await;
    w.claims(&w.login("alice").await).await
}

/// A code for `claims`, issued to `client` for `scope` with the PKCE challenge.
async fn code_for(w: &World, claims: &Claims, client: &OAuthClient, scope: &str) -> String {
    let auth = w
        .oidc
        .check_authorization(&request(client, scope))
        .await
        .unwrap();
    w.oidc.issue_code(claims, &auth).await.unwrap()
}

async fn exchange(
    w: &World,
    client: &OAuthClient,
    code: &str,
    verifier: Option<&str>,
) -> Result<OidcTokens, OAuthError> {
    w.oidc
        .exchange_code(
            client,
            code,
            Some(REDIRECT),
            verifier,
            &ClientInfo::default(),
        )
        .await
}

fn refused_with(r: Result<Authorization, AuthorizeError>, expected: &str) {
    match r {
        Err(AuthorizeError::Redirect { error, state, .. }) => {
            assert_eq!(error, expected);
            assert_eq!(state.as_deref(), Some("xyz"), "the state goes back");
        }
        other => panic!("expected a redirect with {expected}: {other:?}"),
    }
}

#[tokio::test]
async fn pkce_s256_admits_the_right_verifier_only() {
    let w = World::new();
    let claims = alice(&w).await;
    let (client, _) = register(&w, true, false).await;

    let code = code_for(&w, &claims, &client, "openid profile").await;
    let tokens = exchange(&w, &client, &code, Some(VERIFIER)).await.unwrap();
    assert_eq!(tokens.scope, "openid profile");
    assert!(tokens.refresh_token.is_some());
    let access = w.accounts.authenticate(&tokens.access_token).await.unwrap();
    assert_eq!(access.client_id, Some(client.id.to_string()));
    let id_token = FakeIdTokens::claims_of(tokens.id_token.as_deref().unwrap()).unwrap();
    assert_eq!(id_token["aud"], client.id.to_string());
    assert_eq!(id_token["nonce"], "n-1");
    assert_eq!(id_token["preferred_username"], "alice");

    // Another well-formed verifier, the challenge itself (plain), and none at all.
    let other = "a".repeat(43);
    for (verifier, why) in [(Some(other.as_str()), "wrong"), (Some(CHALLENGE), "plain")] {
        let code = code_for(&w, &claims, &client, "openid").await;
        let r = exchange(&w, &client, &code, verifier).await;
        assert!(
            matches!(r, Err(OAuthError::InvalidGrant(_))),
            "{why}: {r:?}"
        );
        // The refused exchange spent the code: the right verifier comes too late.
        let r = exchange(&w, &client, &code, Some(VERIFIER)).await;
        assert!(
            matches!(r, Err(OAuthError::InvalidGrant(_))),
            "{why}: {r:?}"
        );
    }
    let code = code_for(&w, &claims, &client, "openid").await;
    let r = exchange(&w, &client, &code, None).await;
    assert!(matches!(r, Err(OAuthError::InvalidRequest(_))), "{r:?}");
    let r = exchange(&w, &client, &code, Some(VERIFIER)).await;
    assert!(matches!(r, Err(OAuthError::InvalidGrant(_))), "{r:?}");

    // Another client cannot redeem the code, even with the verifier.
    let (other_client, _) = register(&w, true, false).await;
    let code = code_for(&w, &claims, &client, "openid").await;
    let r = exchange(&w, &other_client, &code, Some(VERIFIER)).await;
    assert!(matches!(r, Err(OAuthError::InvalidGrant(_))), "{r:?}");
    assert_eq!(w.event_count("code_exchanged"), 1);
}

#[tokio::test]
async fn an_authorization_request_without_s256_pkce_is_refused() {
    let w = World::new();
    let (client, _) = register(&w, true, false).await;
    let check = |req: AuthorizeRequest| {
        let oidc = w.oidc.clone();
        async move { oidc.check_authorization(&req).await }
    };
    let valid = request(&client, "openid");
    for without_s256 in [
        AuthorizeRequest {
            code_challenge: None,
            ..valid.clone()
        },
        AuthorizeRequest {
            code_challenge_method: Some("plain".into()),
            ..valid.clone()
        },
        AuthorizeRequest {
            code_challenge_method: None,
            ..valid.clone()
        },
        AuthorizeRequest {
            code_challenge: Some(VERIFIER[..42].into()),
            ..valid
        },
    ] {
        refused_with(check(without_s256).await, "invalid_request");
    }
    // An unregistered redirect URI is never redirected to.
    let r = check(AuthorizeRequest {
        redirect_uri: Some("https://evil.example/cb".into()),
        ..request(&client, "openid")
    })
    .await;
    assert!(
        matches!(r, Err(AuthorizeError::NotRedirectable(_))),
        "{r:?}"
    );
    let auth = check(request(&client, "openid")).await.unwrap();
    assert_eq!(auth.code_challenge, CHALLENGE);
}

#[tokio::test]
async fn a_code_presented_again_ends_the_session_it_started() {
    let w = World::new();
    let claims = alice(&w).await;
    let own = w.login("alice").await;
    let (client, _) = register(&w, true, false).await;
    let code = code_for(&w, &claims, &client, "openid").await;
    let first = exchange(&w, &client, &code, Some(VERIFIER)).await.unwrap();
    let session = w
        .accounts
        .authenticate(&first.access_token)
        .await
        .unwrap()
        .sid;
    // The client refreshes once: the child belongs to the same session.
    let info = ClientInfo::default();
    let refreshed = w
        .oidc
        .refresh_for_client(
            &client,
            first.refresh_token.as_ref().unwrap().expose(),
            &info,
        )
        .await
        .unwrap();
    w.journal.lock().unwrap().clear();

    let r = exchange(&w, &client, &code, Some(VERIFIER)).await;
    assert!(matches!(r, Err(OAuthError::InvalidGrant(_))), "{r:?}");
    assert!(w.events().contains(&"code_reused"));
    // The rule first (a racing first exchange sees it), then the session and its rule.
    assert_eq!(
        w.journal(),
        ["rule: session", "store: session ended", "rule: session"]
    );
    let ended = w
        .sessions
        .all()
        .into_iter()
        .find(|s| s.id == session)
        .unwrap();
    assert!(ended.revoked_at.is_some());
    for tokens in [&first, &refreshed] {
        assert!(matches!(
            w.accounts.authenticate(&tokens.access_token).await,
            Err(AuthError::Revoked)
        ));
        let r = w
            .oidc
            .refresh_for_client(
                &client,
                tokens.refresh_token.as_ref().unwrap().expose(),
                &info,
            )
            .await;
        assert!(matches!(r, Err(OAuthError::InvalidGrant(_))), "{r:?}");
    }
    // Presented a third time: still refused, nothing more to end.
    let r = exchange(&w, &client, &code, Some(VERIFIER)).await;
    assert!(matches!(r, Err(OAuthError::InvalidGrant(_))), "{r:?}");
    // Alice's own session, which the code did not start, lives on.
    w.accounts.authenticate(&own.access_token).await.unwrap();
}

#[tokio::test]
async fn consent_is_remembered_per_scope_and_asked_again_once_revoked() {
    let w = World::new();
    let claims = alice(&w).await;
    let (client, _) = register(&w, false, false).await;
    let info = ClientInfo::default();
    let authorize = |scope: &'static str| {
        let (oidc, req) = (w.oidc.clone(), request(&client, scope));
        async move { oidc.check_authorization(&req).await.unwrap() }
    };
    let profile = authorize("openid profile").await;
    assert!(w.oidc.needs_consent(&claims, &profile).await.unwrap());
    w.oidc
        .grant_consent(&claims, &profile, &info)
        .await
        .unwrap();
    assert!(!w.oidc.needs_consent(&claims, &profile).await.unwrap());
    let narrower = authorize("openid").await;
    assert!(!w.oidc.needs_consent(&claims, &narrower).await.unwrap());
    let wider = authorize("openid email").await;
    assert!(w.oidc.needs_consent(&claims, &wider).await.unwrap());
    w.oidc.grant_consent(&claims, &wider, &info).await.unwrap();
    // Consents add up: what was allowed before stays allowed.
    let given = w.oidc.consents(&claims).await.unwrap();
    assert_eq!(given.len(), 1);
    assert_eq!(given[0].scopes.join(), "openid profile email");
    assert!(!w.oidc.needs_consent(&claims, &profile).await.unwrap());

    // Another user has not consented to anything.
    w.user("bob").await;
    let bob = w.claims(&w.login("bob").await).await;
    assert!(w.oidc.needs_consent(&bob, &narrower).await.unwrap());

    let id = client.id.to_string();
    assert!(w.oidc.revoke_consent(&claims, &id, &info).await.unwrap());
    assert!(w.events().contains(&"consent_revoked"));
    assert!(w.oidc.needs_consent(&claims, &narrower).await.unwrap());
    assert!(w.oidc.consents(&claims).await.unwrap().is_empty());
    assert!(!w.oidc.revoke_consent(&claims, &id, &info).await.unwrap());
    assert!(
        !w.oidc
            .revoke_consent(&claims, "not-a-client", &info)
            .await
            .unwrap()
    );

    // A first-party client never asks.
    let (own, _) = register(&w, false, true).await;
    let auth = w
        .oidc
        .check_authorization(&request(&own, "openid profile email"))
        .await
        .unwrap();
    assert!(!w.oidc.needs_consent(&claims, &auth).await.unwrap());
}

#[tokio::test]
async fn client_authentication_refuses_wrong_missing_and_misplaced_secrets() {
    let w = World::new();
    let (confidential, secret) = register(&w, false, false).await;
    let secret = secret.unwrap();
    let (public, none) = register(&w, true, false).await;
    assert!(none.is_none());
    let (c, p) = (confidential.id.to_string(), public.id.to_string());
    let authenticate = |id: String, secret: Option<String>| {
        let oidc = w.oidc.clone();
        async move { oidc.authenticate_client(&id, secret.as_deref()).await }
    };

    let ok = authenticate(c.clone(), Some(secret.expose().into()))
        .await
        .unwrap();
    assert_eq!(ok.id, confidential.id);
    let ok = authenticate(p.clone(), None).await.unwrap();
    assert_eq!(ok.id, public.id);

    let refusals = [
        ("a wrong secret", c.clone(), Some("x".repeat(43))),
        ("no secret for a confidential client", c.clone(), None),
        (
            "a secret for a public client",
            p.clone(),
            Some("anything".into()),
        ),
        ("another client's secret", p, Some(secret.expose().into())),
        ("an unknown client", uuid::Uuid::new_v4().to_string(), None),
        (
            "a malformed id",
            "not-a-client".into(),
            Some(secret.expose().into()),
        ),
    ];
    for (why, id, given) in refusals {
        let r = authenticate(id, given).await;
        assert!(matches!(r, Err(OAuthError::InvalidClient)), "{why}: {r:?}");
    }

    // A deleted client no longer authenticates.
    w.oidc
        .delete_client(&c, &ClientInfo::default())
        .await
        .unwrap();
    let r = authenticate(c, Some(secret.expose().into())).await;
    assert!(matches!(r, Err(OAuthError::InvalidClient)), "{r:?}");
}

#[tokio::test]
async fn a_service_token_needs_the_grant_and_takes_no_user_scope() {
    let w = World::new();
    let (confidential, _) = register(&w, false, false).await;
    let tokens = w
        .oidc
        .client_credentials(&confidential, None)
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_none() && tokens.id_token.is_none());
    // A third-party service given no resource: a token for itself alone, which Tessera
    // does not take, though introspection tells what it is.
    let r = w.accounts.authenticate(&tokens.access_token).await;
    assert!(
        matches!(r, Err(AuthError::InvalidToken(TokenError::WrongAudience))),
        "{r:?}"
    );
    let Ok(Introspection::Access(claims)) = w.accounts.introspect(&tokens.access_token).await
    else {
        panic!("an active service token");
    };
    assert_eq!(claims.sub.0, confidential.id.0);
    assert!(claims.aud.is_only(&confidential.id.to_string()));
    let r = w
        .oidc
        .client_credentials(&confidential, Some("openid"))
        .await;
    assert!(matches!(r, Err(OAuthError::InvalidScope(_))), "{r:?}");
    let (public, _) = register(&w, true, false).await;
    let r = w.oidc.client_credentials(&public, None).await;
    assert!(matches!(r, Err(OAuthError::UnauthorizedClient)), "{r:?}");
}

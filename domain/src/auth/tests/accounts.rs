//! Accounts, sessions, tokens and the email flows against the fakes of
//! [`crate::testing`]: grace vs reuse, the dummy verification, logout and disable
//! ordering, password change, email links, the decoy reset, the login/password-change
//! race, the saturated hasher.

use chrono::TimeDelta;

use crate::auth::*;
use crate::email::Email;
use crate::ports::SessionRepository;
use crate::revocation::{Revocation, RevocationEntry, RevocationList};
use crate::session::ClientInfo;
use crate::testing::{PASSWORD, PlainHasher, World};
use crate::user::{Password, PasswordAttempt, PasswordPolicy, Username};

/// Alice signed in and refreshed once: the refresh token she presented, and its child.
async fn alice_refreshed_once(w: &World) -> (String, TokenPair) {
    w.user("alice").await;
    let pair = w.login("alice").await;
    let presented = pair.refresh_token.expose().to_owned();
    let child = w.accounts.refresh(&presented, &ClientInfo::default()).await;
    (presented, child.unwrap())
}

#[tokio::test]
async fn a_refresh_token_presented_again_within_the_grace_gets_the_same_child() {
    let w = World::new();
    let client = ClientInfo::default();
    let (presented, first) = alice_refreshed_once(&w).await;
    w.clock.advance(TimeDelta::seconds(5));
    let again = w.accounts.refresh(&presented, &client).await.unwrap();
    assert_eq!(first.refresh_token.expose(), again.refresh_token.expose());
    assert!(!w.events().contains(&"refresh_reuse"));
}

#[tokio::test]
async fn reuse_after_the_grace_ends_the_whole_session() {
    let w = World::new();
    let client = ClientInfo::default();
    let (presented, child) = alice_refreshed_once(&w).await;
    w.clock.advance(TimeDelta::seconds(11));
    let reused = w.accounts.refresh(&presented, &client).await;
    assert!(matches!(reused, Err(RefreshError::InvalidGrant)));
    assert!(w.events().contains(&"refresh_reuse"));
    // The legitimate holder's child is dead too, and so is every access token.
    let child_refresh = w
        .accounts
        .refresh(child.refresh_token.expose(), &client)
        .await;
    assert!(matches!(child_refresh, Err(RefreshError::InvalidGrant)));
    assert!(matches!(
        w.accounts.authenticate(&child.access_token).await,
        Err(AuthError::Revoked)
    ));
}

#[tokio::test]
async fn an_unknown_user_costs_a_dummy_verification_and_the_usual_answer() {
    let w = World::new();
    let attempt = PasswordAttempt::new(PASSWORD).unwrap();
    let client = ClientInfo::default();
    let r = w.accounts.login("nobody", &attempt, &client).await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)));
    assert_eq!(w.hasher.dummies(), 1);
    // A malformed name too: same work, same answer.
    let r = w.accounts.login("!!", &attempt, &client).await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)));
    assert_eq!(w.hasher.dummies(), 2);
}

#[tokio::test]
async fn logout_ends_the_session_in_the_store_before_revoking_its_tokens() {
    let w = World::new();
    w.user("alice").await;
    let pair = w.login("alice").await;
    let claims = w.claims(&pair).await;
    let client = ClientInfo::default();
    // The rule cannot be written: the logout fails, but refresh is already refused.
    w.rules.fail_writes(true);
    assert!(w.accounts.logout(&claims, &client).await.is_err());
    let refreshed = w
        .accounts
        .refresh(pair.refresh_token.expose(), &client)
        .await;
    assert!(matches!(refreshed, Err(RefreshError::InvalidGrant)));
    assert_eq!(w.journal(), ["store: session ended"]);
    // The retry completes it: the token passes the logout check and gets its rule.
    w.rules.fail_writes(false);
    let claims = w
        .accounts
        .authenticate_for_logout(&pair.access_token)
        .await
        .unwrap();
    w.accounts.logout(&claims, &client).await.unwrap();
    assert!(matches!(
        w.accounts.authenticate(&pair.access_token).await,
        Err(AuthError::Revoked)
    ));
    // Forgiven once its own session has ended — not before.
    let other = w.login("alice").await;
    let other_claims = w.claims(&other).await;
    w.rules
        .revoke(RevocationEntry {
            revocation: Revocation::Token(other_claims.jti),
            expires_at: w.now() + TimeDelta::minutes(16),
        })
        .await
        .unwrap();
    assert!(matches!(
        w.accounts
            .authenticate_for_logout(&other.access_token)
            .await,
        Err(AuthError::Revoked)
    ));
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_but_the_callers() {
    let w = World::new();
    w.user("alice").await;
    let mine = w.login("alice").await;
    let phone = w.login("alice").await;
    let laptop = w.login("alice").await;
    let claims = w.claims(&mine).await;
    let current = PasswordAttempt::new(PASSWORD).unwrap();
    let name = Username::parse("alice").unwrap();
    let new = Password::parse(
        "a completely new pass phrase",
        &name,
        &PasswordPolicy::default(),
    )
    .unwrap();
    let client = ClientInfo::default();
    w.accounts
        .change_password(&claims, &current, &new, &client)
        .await
        .unwrap();
    for other in [&phone, &laptop] {
        assert!(matches!(
            w.accounts.authenticate(&other.access_token).await,
            Err(AuthError::Revoked)
        ));
    }
    assert!(w.accounts.authenticate(&mine.access_token).await.is_ok());
    // The old password no longer logs in.
    let old = PasswordAttempt::new(PASSWORD).unwrap();
    let r = w.accounts.login("alice", &old, &client).await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)));
    // A wrong current password changes nothing and is audited.
    let wrong = PasswordAttempt::new("not it at all").unwrap();
    let r = w
        .accounts
        .change_password(&claims, &wrong, &new, &client)
        .await;
    assert!(matches!(r, Err(AccountError::WrongPassword)));
    assert!(w.events().contains(&"password_change_failed"));
}

#[tokio::test]
async fn disabling_a_user_revokes_every_token_and_ends_every_session() {
    let w = World::new();
    let alice = w.user("alice").await;
    let a = w.login("alice").await;
    let b = w.login("alice").await;
    w.accounts
        .disable_user(alice.id, &ClientInfo::default())
        .await
        .unwrap();
    for pair in [&a, &b] {
        assert!(matches!(
            w.accounts.authenticate(&pair.access_token).await,
            Err(AuthError::Revoked)
        ));
        let r = w
            .accounts
            .refresh(pair.refresh_token.expose(), &ClientInfo::default())
            .await;
        assert!(matches!(r, Err(RefreshError::InvalidGrant)));
    }
    let journal = w.journal();
    assert_eq!(journal.first().map(String::as_str), Some("rule: user"));
    assert!(journal.contains(&"store: sessions ended".to_owned()));
    let attempt = PasswordAttempt::new(PASSWORD).unwrap();
    let r = w
        .accounts
        .login("alice", &attempt, &ClientInfo::default())
        .await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)));
}

#[tokio::test]
async fn verification_links_work_once_for_the_address_they_were_sent_to() {
    let w = World::new();
    let (alice, token) = w.user_with_email("alice", "alice@example.com").await;
    assert!(!alice.email_verified);
    let client = ClientInfo::default();
    w.email.verify_email(&token, &client).await.unwrap();
    assert!(matches!(
        w.email.verify_email(&token, &client).await,
        Err(VerifyEmailError::InvalidToken)
    ));
    let pair = w.login("alice").await;
    let me = w.accounts.me(&w.claims(&pair).await).await.unwrap();
    assert!(me.email_verified);
    // Bob may hold the address unverified, but cannot verify it: alice has it.
    let (_, bobs) = w.user_with_email("bob", "ALICE@example.com").await;
    assert!(matches!(
        w.email.verify_email(&bobs, &client).await,
        Err(VerifyEmailError::EmailTaken)
    ));
    assert!(matches!(
        w.email.verify_email("not-a-token", &client).await,
        Err(VerifyEmailError::InvalidToken)
    ));
}

#[tokio::test]
async fn a_taken_address_gets_no_link_and_its_owner_a_notice() {
    let w = World::new();
    let client = ClientInfo::default();
    let (_, token) = w.user_with_email("alice", "alice@example.com").await;
    w.email.verify_email(&token, &client).await.unwrap();
    w.user("bob").await;
    let bob = w.claims(&w.login("bob").await).await;
    let free = Email::parse("bob@example.com").unwrap();
    w.email
        .request_email_change(&bob, &free, &client)
        .await
        .unwrap();
    let taken = Email::parse("ALICE@example.com").unwrap();
    w.email
        .request_email_change(&bob, &taken, &client)
        .await
        .unwrap();
    let outbox = w.mails.outbox();
    let notice = outbox.last().unwrap();
    assert_eq!(
        notice.to.as_str(),
        "alice@example.com",
        "the address on file"
    );
    assert!(!notice.text.contains("token=") && !notice.text.contains("bob"));
    let tokens = w.mails.tokens();
    assert!(
        tokens
            .iter()
            .all(|t| t.email.canonical() != "alice@example.com" || t.user != Some(bob.sub))
    );
    // Bob's earlier link died as it would for a free address: no oracle there either.
    assert!(
        tokens
            .iter()
            .filter(|t| t.user == Some(bob.sub))
            .all(|t| t.used_at.is_some())
    );
}

#[tokio::test]
async fn an_unknown_address_costs_a_decoy_token_and_gets_no_mail() {
    let w = World::new();
    let (_, token) = w.user_with_email("alice", "alice@example.com").await;
    let client = ClientInfo::default();
    let unverified = Email::parse("alice@example.com").unwrap();
    w.email
        .request_password_reset(&unverified, &client)
        .await
        .unwrap();
    assert_eq!(w.mails.outbox().len(), 1, "unverified: no reset mail");
    w.email.verify_email(&token, &client).await.unwrap();
    let unknown = Email::parse("nobody@example.com").unwrap();
    w.email
        .request_password_reset(&unknown, &client)
        .await
        .unwrap();
    let decoys = w.mails.tokens().iter().filter(|t| t.user.is_none()).count();
    assert_eq!(decoys, 2, "both unanswerable requests wrote a token");
    assert_eq!(w.mails.outbox().len(), 1);
    w.email
        .request_password_reset(&unverified, &client)
        .await
        .unwrap();
    assert_eq!(w.mails.outbox().len(), 2, "verified: a reset mail");
}

#[tokio::test]
async fn a_reset_ends_every_session_and_its_link_works_once() {
    let w = World::new();
    let (_, token) = w.user_with_email("alice", "alice@example.com").await;
    let client = ClientInfo::default();
    w.email.verify_email(&token, &client).await.unwrap();
    let pair = w.login("alice").await;
    let email = Email::parse("alice@example.com").unwrap();
    w.email
        .request_password_reset(&email, &client)
        .await
        .unwrap();
    let reset = w.mails.last_token_to("alice@example.com");
    let policy = PasswordPolicy::default();
    assert!(matches!(
        w.email
            .reset_password(&reset, "password", &policy, &client)
            .await,
        Err(ResetError::WeakPassword(_))
    ));
    let new = "plaid tortoise juggles quietly";
    w.email
        .reset_password(&reset, new, &policy, &client)
        .await
        .unwrap();
    assert!(matches!(
        w.accounts.authenticate(&pair.access_token).await,
        Err(AuthError::Revoked)
    ));
    assert!(matches!(
        w.email.reset_password(&reset, new, &policy, &client).await,
        Err(ResetError::InvalidToken)
    ));
    let attempt = PasswordAttempt::new(new).unwrap();
    assert!(w.accounts.login("alice", &attempt, &client).await.is_ok());
    // Expired links are refused.
    w.email
        .request_password_reset(&email, &client)
        .await
        .unwrap();
    let late = w.mails.last_token_to("alice@example.com");
    w.clock.advance(TimeDelta::minutes(31));
    assert!(matches!(
        w.email
            .reset_password(&late, PASSWORD, &policy, &client)
            .await,
        Err(ResetError::InvalidToken)
    ));
}

#[tokio::test]
async fn a_login_that_checked_the_old_password_does_not_survive_the_change() {
    let w = World::new();
    let alice = w.user("alice").await;
    // The change lands while the login's password check is running.
    w.users
        .change_password_after_next_lookup(PlainHasher::hash_of("a new password"));
    let attempt = PasswordAttempt::new(PASSWORD).unwrap();
    let r = w
        .accounts
        .login("alice", &attempt, &ClientInfo::default())
        .await;
    assert!(matches!(r, Err(LoginError::InvalidCredentials)), "{r:?}");
    let now = w.clock.now();
    let live = w.sessions.list_live(alice.id, now).await.unwrap();
    assert!(live.is_empty(), "the login's session was ended: {live:?}");
}

#[tokio::test]
async fn a_saturated_hasher_turns_logins_away_before_any_lookup() {
    let w = World::new();
    w.user("alice").await;
    w.hasher.saturate(true);
    let attempt = PasswordAttempt::new(PASSWORD).unwrap();
    let client = ClientInfo::default();
    for name in ["alice", "nobody"] {
        let r = w.accounts.login(name, &attempt, &client).await;
        assert!(
            matches!(r, Err(LoginError::Unavailable(Unavailable::HashingBusy))),
            "{r:?}"
        );
    }
    assert_eq!(w.hasher.dummies(), 0, "no hash was asked for");
    assert!(!w.events().contains(&"login_failed"));
    w.hasher.saturate(false);
    w.login("alice").await;
}

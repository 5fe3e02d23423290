//! The second factors against the fakes: a TOTP step is accepted once, an `mfa_token`
//! admits a bounded number of proofs, recovery codes work once, and the last factor
//! goes only with a recent sign-in or a proof.

use chrono::TimeDelta;

use crate::auth::*;
use crate::mfa::{SecondFactor, TotpProvisioning};
use crate::session::ClientInfo;
use crate::testing::{FakeTotp, PASSWORD, ScriptedWebAuthn, World};
use crate::token::Claims;
use crate::user::{PasswordAttempt, User};

const STEP: TimeDelta = TimeDelta::seconds(FakeTotp::STEP_SECONDS);

/// Alice, signed in, with an authenticator app confirmed at the current step.
async fn alice_with_totp(w: &World) -> (User, Claims, Vec<crate::mfa::RecoveryCode>) {
    let alice = w.user("alice").await;
    let claims = w.claims(&w.login("alice").await).await;
    let codes = w.enroll_totp(&claims).await;
    (alice, claims, codes)
}

/// A six-digit code that no step within the skew window matches.
fn wrong_code(w: &World, user: &User) -> String {
    let s = w.step();
    let taken: Vec<String> = (s - 1..=s + 1).map(|s| w.totp_code(user.id, s)).collect();
    (0..)
        .map(|n: u32| format!("{:06}", 123_456 + n))
        .find(|c| !taken.contains(c))
        .unwrap()
}

async fn prove(
    w: &World,
    challenge: &SecondStepChallenge,
    proof: SecondStepProof,
) -> Result<TokenPair, SecondStepError> {
    w.factors
        .complete_second_step(challenge.token.expose(), proof, &ClientInfo::default())
        .await
}

#[tokio::test]
async fn a_login_with_a_factor_enrolled_opens_a_second_step_and_no_session() {
    let w = World::new();
    let (alice, _, _) = alice_with_totp(&w).await;
    let sessions = w.sessions.all().len();
    let challenge = w.second_step("alice").await;
    assert_eq!(
        challenge.methods,
        [SecondFactor::Totp, SecondFactor::RecoveryCode]
    );
    assert_eq!(challenge.expires_in, 300);
    assert_eq!(
        w.sessions.all().len(),
        sessions,
        "no session before the second step"
    );
    w.clock.advance(STEP);
    let code = w.totp_code(alice.id, w.step());
    let pair = prove(&w, &challenge, SecondStepProof::Totp(code))
        .await
        .unwrap();
    assert_eq!(w.claims(&pair).await.amr, ["pwd", "otp", "mfa"]);
    // The challenge is used up by the proof that succeeded.
    let again = prove(&w, &challenge, SecondStepProof::Totp(String::new())).await;
    assert!(
        matches!(again, Err(SecondStepError::InvalidChallenge)),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_totp_code_is_accepted_once_and_never_for_a_step_already_used() {
    let w = World::new();
    let (alice, _, _) = alice_with_totp(&w).await;
    let confirmed_at = w.step();
    // The code that confirmed the enrollment cannot sign in: its step is used.
    let challenge = w.second_step("alice").await;
    let confirming = w.totp_code(alice.id, confirmed_at);
    let r = prove(&w, &challenge, SecondStepProof::Totp(confirming.clone())).await;
    assert!(matches!(r, Err(SecondStepError::InvalidCode)), "{r:?}");

    w.clock.advance(STEP);
    let code = w.totp_code(alice.id, w.step());
    prove(&w, &challenge, SecondStepProof::Totp(code.clone()))
        .await
        .unwrap();
    assert_eq!(w.factor_store.last_step(alice.id), Some(w.step()));

    // The same code again, within its own step: refused.
    let replay = w.second_step("alice").await;
    let r = prove(&w, &replay, SecondStepProof::Totp(code)).await;
    assert!(matches!(r, Err(SecondStepError::InvalidCode)), "{r:?}");
    // The previous step's code, still inside the skew window, is older than the last
    // accepted step: refused too.
    let r = prove(&w, &replay, SecondStepProof::Totp(confirming)).await;
    assert!(matches!(r, Err(SecondStepError::InvalidCode)), "{r:?}");
    assert_eq!(w.event_count("second_factor_failed"), 3);

    // A wrong proof does not use the challenge up: the next step's code completes it.
    w.clock.advance(STEP);
    let next = w.totp_code(alice.id, w.step());
    prove(&w, &replay, SecondStepProof::Totp(next))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_mfa_token_dies_after_its_wrong_proofs_even_for_the_right_code() {
    let w = World::new();
    let (alice, _, _) = alice_with_totp(&w).await;
    w.clock.advance(STEP);
    let wrong = wrong_code(&w, &alice);
    let right = w.totp_code(alice.id, w.step());

    let spent = w.second_step("alice").await;
    for _ in 0..5 {
        let r = prove(&w, &spent, SecondStepProof::Totp(wrong.clone())).await;
        assert!(matches!(r, Err(SecondStepError::InvalidCode)), "{r:?}");
    }
    let r = prove(&w, &spent, SecondStepProof::Totp(right.clone())).await;
    assert!(matches!(r, Err(SecondStepError::InvalidChallenge)), "{r:?}");
    let r = prove(&w, &spent, SecondStepProof::RecoveryCode("x".into())).await;
    assert!(matches!(r, Err(SecondStepError::InvalidChallenge)), "{r:?}");

    // The bound is exactly the policy's: four wrong proofs leave room for the right one
    // (which the dead token above did not use up).
    let fresh = w.second_step("alice").await;
    for _ in 0..4 {
        let r = prove(&w, &fresh, SecondStepProof::Totp(wrong.clone())).await;
        assert!(matches!(r, Err(SecondStepError::InvalidCode)), "{r:?}");
    }
    prove(&w, &fresh, SecondStepProof::Totp(right))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_attempts_bound_follows_the_policy() {
    let mut policy = crate::mfa::MfaPolicy::new(crate::mfa::RecoveryCodeKey::new([1; 32]));
    policy.max_attempts = 2;
    let w = World::builder().mfa(policy).build();
    let (alice, _, _) = alice_with_totp(&w).await;
    w.clock.advance(STEP);
    let wrong = wrong_code(&w, &alice);
    let challenge = w.second_step("alice").await;
    for _ in 0..2 {
        let r = prove(&w, &challenge, SecondStepProof::Totp(wrong.clone())).await;
        assert!(matches!(r, Err(SecondStepError::InvalidCode)), "{r:?}");
    }
    let right = w.totp_code(alice.id, w.step());
    let r = prove(&w, &challenge, SecondStepProof::Totp(right)).await;
    assert!(matches!(r, Err(SecondStepError::InvalidChallenge)), "{r:?}");
}

#[tokio::test]
async fn a_recovery_code_completes_one_login_only() {
    let w = World::new();
    let (_, claims, codes) = alice_with_totp(&w).await;
    assert_eq!(codes.len(), 10);
    let first = w.second_step("alice").await;
    // Typed the way people type them: upper case, spaces for hyphens.
    let typed = codes[0].expose().to_uppercase().replace('-', " ");
    let pair = prove(&w, &first, SecondStepProof::RecoveryCode(typed))
        .await
        .unwrap();
    assert_eq!(w.claims(&pair).await.amr, ["pwd", "otp", "mfa"]);
    assert!(w.events().contains(&"recovery_code_used"));
    let status = w.factors.factor_status(&claims).await.unwrap();
    assert_eq!(status.summary.recovery_codes_left, 9);
    let again = w.second_step("alice").await;
    let used = SecondStepProof::RecoveryCode(codes[0].expose().to_owned());
    let r = prove(&w, &again, used).await;
    assert!(matches!(r, Err(SecondStepError::InvalidCode)), "{r:?}");
    // Another user's codes are no good either (they are bound to their user).
    w.user("bob").await;
    let bob = w.claims(&w.login("bob").await).await;
    let bobs = w.enroll_totp(&bob).await;
    let r = prove(
        &w,
        &again,
        SecondStepProof::RecoveryCode(bobs[0].expose().to_owned()),
    )
    .await;
    assert!(matches!(r, Err(SecondStepError::InvalidCode)), "{r:?}");
}

#[tokio::test]
async fn the_last_passkey_goes_only_from_a_recent_sign_in() {
    let w = World::new();
    let alice = w.user("alice").await;
    let claims = w.claims(&w.login("alice").await).await;
    let passkey = w.add_passkey(&claims, "key-1").await;
    let client = ClientInfo::default();
    let password = || {
        Some(Reauthentication::Password(
            PasswordAttempt::new(PASSWORD).unwrap(),
        ))
    };
    w.factors
        .regenerate_recovery_codes(&claims, password(), &client)
        .await
        .unwrap();
    assert_eq!(w.factor_store.recovery_codes(alice.id), 10);

    // Six minutes after the sign-in, the only factor stays.
    w.clock.advance(TimeDelta::minutes(6));
    let r = w.factors.remove_passkey(&claims, passkey.id, &client).await;
    assert!(
        matches!(r, Err(FactorError::ReauthenticationRequired)),
        "{r:?}"
    );
    assert_eq!(w.factors.passkeys(&claims).await.unwrap().len(), 1);
    assert!(!w.events().contains(&"passkey_removed"));

    // A sign-in with the passkey makes it recent.
    let challenge = w.second_step("alice").await;
    let options = w
        .factors
        .second_step_webauthn_options(challenge.token.expose(), &client)
        .await
        .unwrap();
    let assertion = ScriptedWebAuthn::credential(&options, "key-1", alice.id, true);
    let pair = prove(&w, &challenge, SecondStepProof::Webauthn(assertion))
        .await
        .unwrap();
    let fresh = w.claims(&pair).await;
    assert_eq!(fresh.amr, ["pwd", "hwk", "mfa"]);
    w.factors
        .remove_passkey(&fresh, passkey.id, &client)
        .await
        .unwrap();
    assert!(w.factors.passkeys(&fresh).await.unwrap().is_empty());
    // Without a factor left, the recovery codes go too, and a password logs in alone.
    assert_eq!(w.factor_store.recovery_codes(alice.id), 0);
    w.login("alice").await;
}

#[tokio::test]
async fn any_factor_change_needs_a_recent_sign_in_even_beside_another_factor() {
    let w = World::new();
    let (alice, claims, _) = alice_with_totp(&w).await;
    let passkey = w.add_passkey(&claims, "key-1").await;
    let client = ClientInfo::default();
    w.clock.advance(TimeDelta::minutes(6));
    // The review's M2: beside the app, the passkey is not the last factor, yet an old
    // session removes it no more than it adds one (H1) or starts an app.
    let r = w.factors.remove_passkey(&claims, passkey.id, &client).await;
    assert!(
        matches!(r, Err(FactorError::ReauthenticationRequired)),
        "{r:?}"
    );
    let r = w.factors.passkey_registration_options(&claims).await;
    assert!(
        matches!(r, Err(FactorError::ReauthenticationRequired)),
        "{r:?}"
    );
    assert_eq!(w.factors.passkeys(&claims).await.unwrap().len(), 1);
    assert_eq!(w.factor_store.recovery_codes(alice.id), 10);

    // A fresh sign-in (the second step with the app) may.
    let challenge = w.second_step("alice").await;
    let code = w.totp_code(alice.id, w.step());
    let pair = prove(&w, &challenge, SecondStepProof::Totp(code))
        .await
        .unwrap();
    let fresh = w.claims(&pair).await;
    w.factors
        .remove_passkey(&fresh, passkey.id, &client)
        .await
        .unwrap();
    assert_eq!(
        w.factor_store.recovery_codes(alice.id),
        10,
        "the app still needs them"
    );
}

#[tokio::test]
async fn removing_a_confirmed_authenticator_app_needs_a_proof() {
    let w = World::new();
    let (alice, claims, _) = alice_with_totp(&w).await;
    let client = ClientInfo::default();
    let r = w.factors.disable_totp(&claims, None, &client).await;
    assert!(matches!(r, Err(FactorError::ProofRequired)), "{r:?}");
    // The code that confirmed the app is used: it proves nothing a second time.
    let used = w.totp_code(alice.id, w.step());
    let r = w
        .factors
        .disable_totp(&claims, Some(Reauthentication::Code(used)), &client)
        .await;
    assert!(matches!(r, Err(FactorError::InvalidCode)), "{r:?}");
    let wrong = PasswordAttempt::new("not the password").unwrap();
    let r = w
        .factors
        .disable_totp(&claims, Some(Reauthentication::Password(wrong)), &client)
        .await;
    assert!(matches!(r, Err(FactorError::WrongPassword)), "{r:?}");
    assert_eq!(w.event_count("reauthentication_failed"), 2);
    assert!(w.factors.factor_status(&claims).await.unwrap().summary.totp);

    w.clock.advance(STEP);
    let code = w.totp_code(alice.id, w.step());
    w.factors
        .disable_totp(&claims, Some(Reauthentication::Code(code)), &client)
        .await
        .unwrap();
    let status = w.factors.factor_status(&claims).await.unwrap();
    assert!(!status.summary.totp && !status.totp_pending);
    assert_eq!(w.factor_store.recovery_codes(alice.id), 0);
    assert!(w.events().contains(&"totp_disabled"));
    w.login("alice").await;
}

#[tokio::test]
async fn a_pending_enrollment_goes_without_proof_and_shows_the_same_secret() {
    let w = World::new();
    w.user("alice").await;
    let claims = w.claims(&w.login("alice").await).await;
    let begun: TotpProvisioning = w.factors.begin_totp(&claims).await.unwrap();
    let pending = w.factors.pending_totp(&claims).await.unwrap();
    assert_eq!(begun.secret_base32, pending.secret_base32);
    assert!(begun.uri.contains(&begun.secret_base32));
    assert!(w.factors.factor_status(&claims).await.unwrap().totp_pending);
    w.factors
        .disable_totp(&claims, None, &ClientInfo::default())
        .await
        .unwrap();
    let r = w.factors.pending_totp(&claims).await;
    assert!(matches!(r, Err(FactorError::NotEnrolled)), "{r:?}");
    assert!(
        !w.events().contains(&"totp_disabled"),
        "nothing was enabled"
    );
}

#[tokio::test]
async fn a_passkey_signs_in_alone_once_per_ceremony() {
    let w = World::new();
    let alice = w.user("alice").await;
    let claims = w.claims(&w.login("alice").await).await;
    w.add_passkey(&claims, "key-1").await;
    let client = ClientInfo::default();
    let (id, options) = w.factors.passkey_sign_in_options().await.unwrap();
    let mut forged = ScriptedWebAuthn::credential(&options, "key-1", alice.id, true);
    forged["valid"] = false.into();
    let r = w
        .factors
        .passkey_sign_in(id.expose(), &forged, &client)
        .await;
    assert!(matches!(r, Err(SecondStepError::InvalidCode)), "{r:?}");
    // Any answer uses the ceremony up, the right one included.
    let right = ScriptedWebAuthn::credential(&options, "key-1", alice.id, false);
    let r = w
        .factors
        .passkey_sign_in(id.expose(), &right, &client)
        .await;
    assert!(matches!(r, Err(SecondStepError::InvalidChallenge)), "{r:?}");

    let (id, options) = w.factors.passkey_sign_in_options().await.unwrap();
    let right = ScriptedWebAuthn::credential(&options, "key-1", alice.id, false);
    let pair = w
        .factors
        .passkey_sign_in(id.expose(), &right, &client)
        .await
        .unwrap();
    // Without user verification, possession alone: no `mfa`.
    assert_eq!(w.claims(&pair).await.amr, ["hwk"]);
}

// The smallest app-side code that signs people in through Tessera with openid-client:
// the README quotes the region below, and oidc.test.mjs runs it in Chromium in CI, so
// the two cannot drift apart.

// --8<-- [start:oidc]
import * as client from "openid-client";

/** Tessera's configuration for a registered app (`tessera clients create …`). */
export async function tessera(issuer, clientId, clientSecret) {
  return client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
    // Plain http only for a local Tessera; in production the issuer is https.
    execute: issuer.startsWith("http://") ? [client.allowInsecureRequests] : [],
  });
}

/** Where to send the browser, and what to keep in the user's session until it is back. */
export async function startSignIn(config, redirectUri) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: "openid profile email",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  return { url, pending: { verifier, state, nonce } };
}

/** The browser came back to `callbackUrl`: the tokens, and who signed in. */
export async function finishSignIn(config, callbackUrl, pending) {
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: pending.verifier,
    expectedState: pending.state,
    expectedNonce: pending.nonce,
    idTokenExpected: true,
  });
  return { tokens, user: tokens.claims() }; // user.sub, user.preferred_username, user.email
}
// --8<-- [end:oidc]

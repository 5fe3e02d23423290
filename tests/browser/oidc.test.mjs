// Tessera as an OpenID provider, seen by openid-client (v6, the certified relying-party
// library for Node) with a person signing in through Debian's Chromium, driven by
// playwright-core:
//
//   1. discovery of the issuer (TESSERA_URL exactly; plain http on loopback, so
//      allowInsecureRequests) for a PUBLIC, first-party client (no secret, PKCE only);
//   2. an authorization URL with PKCE S256, state and nonce, opened in Chromium: Tessera
//      sends the browser to its /login page; sign in there; no consent page (first
//      party); the browser arrives at CALLBACK_URL with code, state and iss, served by a
//      small node:http server this script runs on the registered port;
//   3. authorizationCodeGrant: state, RFC 9207 iss, the code with its verifier, the ID
//      token's claims (iss, aud, exp, iat, nonce, auth_time, azp) checked by the library
//      and its RS256 signature checked against jwks_uri (enableNonRepudiationChecks),
//      then ours: amr has "pwd", preferred_username is the username, no email (the
//      user has none);
//   4. fetchUserInfo with the access token and the ID token's subject;
//   5. refreshTokenGrant: a new access token and a rotated refresh token;
//   6. prompt=login, then max_age=0, from the same signed-in browser: Tessera asks the
//      person for the password again ("Confirm it is you") before the code, and the new
//      ID token's auth_time is the new sign-in (openid-client checks it with maxAge);
//   7. prompt=create from a fresh browser: Tessera's sign-up page, then on to the
//      client with a code for the new account;
//   8. a CONFIDENTIAL client (client_secret_basic): clientCredentialsGrant gives an
//      at+jwt access token whose sub and client_id are the client, no refresh token.
// No console errors and no request to an origin other than Tessera's and the callback's
// on any page; screenshots of the login page and the callback page go to
// $SCREENSHOT_DIR as oidc-*.png.
//
//   TESSERA_URL=http://127.0.0.1:8080 CALLBACK_URL=http://127.0.0.1:45123/callback \
//   PUBLIC_CLIENT_ID=… CONFIDENTIAL_CLIENT_ID=… CONFIDENTIAL_CLIENT_SECRET=… \
//   node oidc.test.mjs
//
// The clients must exist first (tests/oidc/ci-snippet.sh creates them with the CLI):
// the public one with CALLBACK_URL as its redirect URI, scopes openid profile email and
// the grants authorization_code and refresh_token; the confidential one with
// client_credentials. CLIENT_CREDENTIALS_SCOPE, when set, is the scope asked for with
// client_credentials (none is sent otherwise).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as client from "openid-client";
import { finishSignIn, startSignIn, tessera } from "./sign-in-with-tessera.mjs";
import { launchChromium } from "./chromium.mjs";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} must be set`);
  return value;
};
const TESSERA_URL = env("TESSERA_URL");
const PUBLIC_CLIENT_ID = env("PUBLIC_CLIENT_ID");
const CONFIDENTIAL_CLIENT_ID = env("CONFIDENTIAL_CLIENT_ID");
const CONFIDENTIAL_CLIENT_SECRET = env("CONFIDENTIAL_CLIENT_SECRET");
const CALLBACK_URL = env("CALLBACK_URL");
const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? new URL("../../target/browser", import.meta.url).pathname;
assert.ok(!TESSERA_URL.endsWith("/"), "TESSERA_URL is the issuer exactly, without a trailing slash");
const callback = new URL(CALLBACK_URL);
const ORIGINS = new Set([new URL(TESSERA_URL).origin, callback.origin]);
const atCallback = (url) => url.origin === callback.origin && url.pathname === callback.pathname;
mkdirSync(SCREENSHOTS, { recursive: true });

/** The header or payload of a compact JWT, unverified, for inspection. */
const jwtPart = (token, index) => JSON.parse(Buffer.from(token.split(".")[index], "base64url").toString());

// The client's redirect URI, served for real so that the browser lands on a page.
const arrivals = [];
const callbackServer = createServer((req, res) => {
  arrivals.push(req.url);
  res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" });
  res.end("signed in\n");
});
await new Promise((resolve, reject) => {
  callbackServer.once("error", reject);
  callbackServer.listen(Number(callback.port), callback.hostname, resolve);
});

/** Tessera may answer with a page that moves on to the client by itself (meta refresh)
 *  or through a "Continue" link; follow the link when the page stays put. */
async function reachCallback(page, shot) {
  const continueLink = page.getByRole("link", { name: "Continue", exact: true });
  try {
    await Promise.race([
      page.waitForURL(atCallback, { timeout: 15_000 }),
      continueLink.waitFor({ timeout: 15_000 }).then(async () => {
        await page.screenshot({ path: join(SCREENSHOTS, `${shot}.png`), fullPage: true });
        await sleep(1000);
        if (!atCallback(new URL(page.url()))) await continueLink.click().catch(() => {});
      }),
    ]);
    await page.waitForURL(atCallback, { timeout: 15_000 });
  } catch (e) {
    throw new Error(`the browser did not reach ${CALLBACK_URL}: it is at ${page.url()}\n${problems.join("\n")}`, {
      cause: e,
    });
  }
}

const problems = [];
let browser;
try {
  const username = `oidc-${randomBytes(4).toString("hex")}`;
  const password = "correct horse battery staple";
  const register = await fetch(`${TESSERA_URL}/v1/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(register.status, 201, `register: ${register.status} ${await register.text()}`);

  // 1. Discovery. allowInsecureRequests: the issuer is http on loopback.
  // enableNonRepudiationChecks: verify ID token signatures with the keys of jwks_uri too
  // (by default openid-client trusts the token endpoint's TLS and checks claims only).
  const config = await client.discovery(new URL(TESSERA_URL), PUBLIC_CLIENT_ID, undefined, client.None(), {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
  const metadata = config.serverMetadata();
  assert.equal(metadata.issuer, TESSERA_URL);
  assert.ok(metadata.supportsPKCE("S256"), "PKCE S256 is advertised");
  assert.equal(metadata.authorization_response_iss_parameter_supported, true);

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 420, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.protocol !== "data:" && !ORIGINS.has(url.origin)) problems.push(`requested ${r.url()}`);
  });

  // 2. The authorization request, in the browser, through the README's snippet.
  const { url: authorizationUrl, pending } = await startSignIn(config, CALLBACK_URL);
  const { nonce } = pending;
  const startedAt = Math.floor(Date.now() / 1000);
  await page.goto(authorizationUrl.href);
  await page.waitForURL((url) => url.origin === new URL(TESSERA_URL).origin && url.pathname === "/login");
  assert.ok(new URL(page.url()).searchParams.get("return_to"), "the login page knows where to go back");
  await page.screenshot({ path: join(SCREENSHOTS, "oidc-login.png"), fullPage: true });
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();

  await reachCallback(page, "oidc-continue");
  const reached = new URL(page.url());
  assert.equal(await page.locator("body").textContent(), "signed in\n");
  await page.screenshot({ path: join(SCREENSHOTS, "oidc-callback.png"), fullPage: true });
  assert.ok(arrivals.some((u) => u.startsWith(`${callback.pathname}?`)), "the callback server was reached");
  assert.equal(reached.searchParams.get("iss"), TESSERA_URL, "RFC 9207 iss in the response");
  assert.ok(reached.searchParams.get("code"), "a code");

  // 3. The code for tokens: state, iss, PKCE, ID token claims and signature.
  const { tokens } = await finishSignIn(config, reached, pending);
  assert.equal(tokens.token_type, "bearer"); // lower-cased by the library
  assert.ok(tokens.expires_in > 0 && tokens.refresh_token, "expires_in and a refresh token");
  assert.deepEqual(tokens.scope.split(" ").sort(), ["email", "openid", "profile"]);
  const header = jwtPart(tokens.id_token, 0);
  assert.equal(header.alg, "RS256");
  assert.equal(header.typ, "JWT");
  assert.ok(header.kid, "the ID token names its key");
  const claims = tokens.claims();
  assert.equal(claims.iss, TESSERA_URL);
  assert.ok(typeof claims.sub === "string" && claims.sub.length > 0, "a subject");
  assert.deepEqual([claims.aud].flat(), [PUBLIC_CLIENT_ID]);
  assert.equal(claims.azp, PUBLIC_CLIENT_ID);
  assert.equal(claims.nonce, nonce);
  assert.ok(claims.auth_time >= startedAt - 5 && claims.auth_time <= Date.now() / 1000 + 5, `auth_time ${claims.auth_time}`);
  assert.ok(Array.isArray(claims.amr) && claims.amr.includes("pwd"), `amr ${JSON.stringify(claims.amr)}`);
  assert.ok(typeof claims.sid === "string" && claims.sid.length > 0, "a session id");
  assert.equal(claims.preferred_username, username);
  assert.equal(claims.email, undefined, "no address, no email claim");
  const accessHeader = jwtPart(tokens.access_token, 0);
  const access = jwtPart(tokens.access_token, 1);
  assert.equal(accessHeader.typ, "at+jwt");
  assert.equal(access.client_id, PUBLIC_CLIENT_ID);
  assert.equal(access.sub, claims.sub);

  // 4. Userinfo, for the ID token's subject.
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(userinfo.preferred_username, username);
  assert.equal(userinfo.email, undefined);

  // 5. Refresh: new tokens, the refresh token rotated.
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.access_token && refreshed.access_token !== tokens.access_token, "a new access token");
  assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, "a rotated refresh token");
  if (refreshed.id_token) assert.equal(refreshed.claims().sub, claims.sub);
  const again = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  assert.equal(again.preferred_username, username);

  // 6. prompt=login and max_age=0: the signed-in person is asked for the password again.
  let lastAuthTime = claims.auth_time;
  for (const [name, extra] of [["prompt=login", { prompt: "login" }], ["max_age=0", { max_age: "0" }]]) {
    await sleep(1100); // a later second: the new sign-in's auth_time must differ
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK_URL,
      scope: "openid",
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      ...extra,
    });
    await page.goto(url.href);
    await page.waitForURL((u) => u.origin === new URL(TESSERA_URL).origin && u.pathname === "/login/confirm");
    await page.getByRole("heading", { name: "Confirm it is you" }).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, `oidc-confirm-${extra.prompt ? "login" : "max-age"}.png`), fullPage: true });
    await page.getByLabel("Your password, to confirm it is you").fill(password);
    await page.getByRole("button", { name: "Continue" }).click();
    await reachCallback(page, "oidc-continue-again");
    const again = await client.authorizationCodeGrant(config, new URL(page.url()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      idTokenExpected: true,
      maxAge: 60, // openid-client checks auth_time against it
    });
    const authTime = again.claims().auth_time;
    assert.ok(authTime > lastAuthTime, `${name}: a new sign-in (${authTime} after ${lastAuthTime})`);
    assert.equal(again.claims().sub, claims.sub);
    lastAuthTime = authTime;
  }

  // 7. prompt=create: a new person signs up on the way and arrives at the client.
  {
    const fresh = await browser.newContext({ viewport: { width: 420, height: 900 } });
    const signup = await fresh.newPage();
    signup.on("pageerror", (e) => problems.push(`sign-up page error: ${e.message}`));
    const newcomer = `oidc-new-${randomBytes(4).toString("hex")}`;
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK_URL,
      scope: "openid profile",
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      prompt: "create",
    });
    await signup.goto(url.href);
    await signup.waitForURL((u) => u.origin === new URL(TESSERA_URL).origin && u.pathname === "/register");
    await signup.getByLabel("Username").fill(newcomer);
    await signup.getByLabel("Password").fill("a new person's pass phrase");
    await signup.getByRole("button", { name: "Create account" }).click();
    await reachCallback(signup, "oidc-continue-created");
    const created = await client.authorizationCodeGrant(config, new URL(signup.url()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      idTokenExpected: true,
    });
    assert.equal(created.claims().preferred_username, newcomer, "the new account signed in to the client");
    await fresh.close();
  }

  // 8. A confidential client, no user: client_credentials with the secret, discovered
  // through the README's snippet (openid-client's default, client_secret_post).
  const service = await tessera(TESSERA_URL, CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET);
  const scope = process.env.CLIENT_CREDENTIALS_SCOPE;
  const machine = await client.clientCredentialsGrant(service, scope ? { scope } : {});
  assert.ok(machine.access_token, "an access token");
  assert.equal(machine.refresh_token, undefined, "no refresh token for client_credentials");
  assert.equal(machine.id_token, undefined, "no ID token without a user");
  assert.equal(jwtPart(machine.access_token, 0).typ, "at+jwt");
  const machineClaims = jwtPart(machine.access_token, 1);
  assert.equal(machineClaims.client_id, CONFIDENTIAL_CLIENT_ID);
  assert.equal(machineClaims.sub, CONFIDENTIAL_CLIENT_ID);

  assert.deepEqual(problems, [], "no console errors, no request to another origin");
  console.log(
    `openid-client flow passed for ${username}: discovery, login in Chromium, code+PKCE, ` +
      `ID token (signature and claims), userinfo, refresh, prompt=login and max_age=0 ` +
      `(the password asked again), prompt=create (signed up on the way), client_credentials`,
  );
} finally {
  await browser?.close();
  callbackServer.closeAllConnections();
  callbackServer.close();
}

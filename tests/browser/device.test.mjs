// The device authorization grant (RFC 8628) end to end, with a client nobody here wrote:
// oauth4webapi's device-flow functions play the device (a command-line tool), polling the
// token endpoint by the book (slow_down adds 5 s), while a person approves on /device in
// Debian's Chromium (playwright-core). axe-core checks /device and its confirmation page.
//
//   1. discovery; deviceAuthorizationRequest for a public client with the device grant;
//   2. the person opens verification_uri_complete: signs in on /login, comes back to
//      /device with the code filled in, continues, sees the app and what it asks, allows;
//   3. the device's poll gets tokens; oauth4webapi validates the ID token (iss, aud,
//      exp, iat) and the UserInfo subject.
//
//   TESSERA_URL=http://127.0.0.1:8080 DEVICE_CLIENT_ID=… node device.test.mjs

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as oauth from "oauth4webapi";
import { launchChromium } from "./chromium.mjs";

const TESSERA_URL = process.env.TESSERA_URL ?? "http://127.0.0.1:8080";
const CLIENT_ID = process.env.DEVICE_CLIENT_ID;
assert.ok(CLIENT_ID, "DEVICE_CLIENT_ID names a public client with the device grant");
const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? new URL("../../target/browser", import.meta.url).pathname;
mkdirSync(SCREENSHOTS, { recursive: true });
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on loopback only

async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => globalThis.axe.run(document));
  return result.violations.map((v) => `${v.id}: ${v.help}`);
}

const browser = await launchChromium();
try {
  const username = `device-${randomBytes(4).toString("hex")}`;
  const password = "correct horse battery staple";
  const register = await fetch(`${TESSERA_URL}/v1/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(register.status, 201);

  // 1. The device: discovery, then the device authorization request.
  const issuer = new URL(TESSERA_URL);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  assert.ok(as.device_authorization_endpoint, "discovery names the device authorization endpoint");
  const client = { client_id: CLIENT_ID };
  const auth = oauth.None();
  const started = await oauth.processDeviceAuthorizationResponse(
    as,
    client,
    await oauth.deviceAuthorizationRequest(as, client, auth, { scope: "openid profile" }, insecure),
  );
  assert.match(started.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);

  // The device polls in the background, as a CLI would, until it has tokens.
  let interval = started.interval ?? 5;
  let polls = 0;
  const device = (async () => {
    for (;;) {
      await sleep(interval * 1000);
      polls += 1;
      const response = await oauth.deviceCodeGrantRequest(as, client, auth, started.device_code, insecure);
      try {
        return await oauth.processDeviceCodeResponse(as, client, response);
      } catch (e) {
        if (e instanceof oauth.ResponseBodyError && e.error === "authorization_pending") continue;
        if (e instanceof oauth.ResponseBodyError && e.error === "slow_down") {
          interval += 5;
          continue;
        }
        throw e;
      }
    }
  })();

  // 2. The person, on another browser: sign in, confirm the code, allow.
  const context = await browser.newContext({ viewport: { width: 420, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(started.verification_uri_complete);
  await page.waitForURL((u) => u.pathname === "/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL((u) => u.pathname === "/device");
  assert.equal(await page.getByLabel("Code from the device").inputValue(), started.user_code);
  assert.deepEqual(await violations(page), [], "axe on /device");
  await page.screenshot({ path: join(SCREENSHOTS, "device.png"), fullPage: true });
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("heading", { name: "Allow this device?" }).waitFor();
  assert.deepEqual(await violations(page), [], "axe on the confirmation");
  await page.screenshot({ path: join(SCREENSHOTS, "device-confirm.png"), fullPage: true });
  await page.getByRole("button", { name: "Allow" }).click();
  await page.getByRole("heading", { name: "Device signed in" }).waitFor();

  // 3. The device has its tokens; the library checked the ID token.
  const tokens = await device;
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  assert.equal(claims.iss, TESSERA_URL);
  assert.equal(claims.aud, CLIENT_ID);
  const info = await oauth.processUserInfoResponse(
    as,
    client,
    claims.sub,
    await oauth.userInfoRequest(as, client, tokens.access_token, insecure),
  );
  assert.equal(info.preferred_username, username);
  console.log(`device flow passed for ${username}: oauth4webapi polled ${polls} times, approved on /device in Chromium`);
} finally {
  await browser.close();
}

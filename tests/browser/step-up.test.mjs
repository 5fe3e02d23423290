// The step-up on the hosted pages in a real browser (issue 27): a session whose sign-in is
// no longer recent adds a passkey only after its password is typed again, inline, on the
// form that adds it. Debian's Chromium through playwright-core; the passkey from
// Chromium's virtual authenticator. The server runs with a short
// security.reauthentication_window (WINDOW_SECONDS; .ci/clients starts it), so the
// session goes stale while the test waits.
//
//   1. sign in with the password: /account adds a passkey without asking again;
//   2. wait out the window: /account asks for the password on the passkey form;
//   3. a wrong password is refused on the page, and no credential is made;
//   4. the right one steps the session up and the passkey is added.
//
//   TESSERA_URL=http://127.0.0.1:8081 WINDOW_SECONDS=2 node step-up.test.mjs

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { addVirtualAuthenticator, launchChromium } from "./chromium.mjs";

const TESSERA_URL = process.env.TESSERA_URL ?? "http://127.0.0.1:8080";
// WebAuthn refuses IP addresses: the pages are browsed at localhost (see pages.test.mjs).
const BASE = TESSERA_URL.replace("://127.0.0.1", "://localhost");
const WINDOW_SECONDS = Number(process.env.WINDOW_SECONDS ?? "2");
const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? new URL("../../target/browser", import.meta.url).pathname;
mkdirSync(SCREENSHOTS, { recursive: true });

const username = `step-up-${randomBytes(4).toString("hex")}`;
const password = "correct horse battery staple";
const ASKED = "Your password, to confirm it is you";

const browser = await launchChromium();
try {
  const register = await fetch(`${TESSERA_URL}/v1/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(register.status, 201);

  const context = await browser.newContext({ viewport: { width: 420, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
  const credentials = async () =>
    (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials.length;

  // 1. A fresh sign-in: the passkey form asks nothing more.
  await page.goto(`${BASE}/login`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(`${BASE}/account`);
  assert.equal(await page.getByLabel(ASKED).count(), 0, "a recent sign-in is not asked again");

  // 2. The sign-in grows old: the same form now asks for the password.
  await sleep((WINDOW_SECONDS + 1) * 1000);
  await page.reload();
  const passkeys = page.getByRole("region", { name: "Passkeys" });
  const asked = passkeys.getByLabel(ASKED);
  await asked.waitFor();
  assert.equal(await asked.getAttribute("type"), "password");
  await page.screenshot({ path: join(SCREENSHOTS, "step-up-asked.png"), fullPage: true });

  // 3. A wrong password: the page says so, and the browser made no credential.
  await page.getByLabel("Name of the new passkey").fill("Stepped-up key");
  await asked.fill("not the password at all");
  await page.getByRole("button", { name: "Add a passkey" }).click();
  const error = passkeys.locator("[data-error]");
  await error.waitFor({ state: "visible" });
  assert.match(await error.textContent(), /password/i);
  assert.equal(await credentials(), 0, "no ceremony without the password");
  assert.equal(new URL(page.url()).pathname, "/account");
  await page.screenshot({ path: join(SCREENSHOTS, "step-up-refused.png"), fullPage: true });

  // 4. The right password: the session steps up and the passkey is added.
  await asked.fill(password);
  await page.getByRole("button", { name: "Add a passkey" }).click();
  // The account's first second factor comes with recovery codes, shown this once.
  await page.getByRole("heading", { name: "Your recovery codes" }).waitFor();
  assert.equal(await page.getByRole("list", { name: "Recovery codes" }).locator("li").count(), 10);
  await page.getByRole("link", { name: /back to my account/ }).click();
  await page.waitForURL(`${BASE}/account`);
  assert.match(await page.locator("#passkeys").textContent(), /Stepped-up key/);
  assert.equal(await credentials(), 1);
  await page.screenshot({ path: join(SCREENSHOTS, "step-up-added.png"), fullPage: true });

  // The API agrees: one passkey on the account.
  const login = await fetch(`${TESSERA_URL}/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  // A passkey is now a second factor: the password alone opens only the second step.
  assert.equal(login.status, 403);
  assert.equal((await login.json()).code, "mfa_required");

  assert.deepEqual(problems, [], "no page errors");
  console.log(`step-up on the hosted pages passed for ${username}`);
} finally {
  await browser.close();
}

// Swagger UI in a real browser, the way a developer meets Tessera: open /docs, click
// Authorize, paste an access token, "Try it out" on GET /v1/me, see 200 and the
// username; reload and find the authorization still there. Then, in a fresh browser,
// Authorize by signing in on Tessera's hosted login page (OAuth, PKCE) instead. Screenshots go to
// $SCREENSHOT_DIR (default ../../target/browser) as CI artifacts.
//
//   TESSERA_URL=http://127.0.0.1:8080 CHROMIUM=/usr/bin/chromium node swagger-ui.test.mjs

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const TESSERA_URL = process.env.TESSERA_URL ?? "http://127.0.0.1:8080";
const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? new URL("../../target/browser", import.meta.url).pathname;

async function post(path, body) {
  const r = await fetch(new URL(path, TESSERA_URL), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.ok(r.ok, `${path}: ${r.status}`);
  return r.json();
}

/** Expands GET /v1/me, runs it, and answers the status and body Swagger UI shows. */
async function tryGetMe(page) {
  const operation = page.locator("#operations-Account-getMe");
  if (!(await operation.locator(".try-out").isVisible())) {
    await operation.locator(".opblock-summary").click();
  }
  const tryOut = operation.locator("button.try-out__btn");
  if ((await tryOut.textContent())?.trim() === "Try it out") await tryOut.click();
  // Clear the previous answer first, or it could be read in place of the new one.
  const clear = operation.locator("button.btn-clear");
  if (await clear.isVisible()) {
    await clear.click();
    await operation.locator(".live-responses-table").waitFor({ state: "detached" });
  }
  await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === "/v1/me"),
    operation.locator("button.execute").click(),
  ]);
  const response = operation.locator(".live-responses-table .response").first();
  await response.waitFor();
  return {
    status: (await response.locator(".response-col_status").textContent())?.trim(),
    body: await response.locator(".response-col_description pre").first().textContent(),
  };
}

const username = `swagger-${randomBytes(4).toString("hex")}`;
await post("/v1/auth/register", { username, password: "correct horse battery staple" });
const { access_token } = await post("/v1/auth/login", {
  username,
  password: "correct horse battery staple",
});

mkdirSync(SCREENSHOTS, { recursive: true });
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));

  await page.goto(new URL("/docs", TESSERA_URL).href);
  await page.locator(".information-container .title").getByText("Tessera").waitFor();

  // Unauthorized first: the UI shows the problem+json answer.
  const anonymous = await tryGetMe(page);
  assert.equal(anonymous.status, "401", `before Authorize: ${anonymous.status} ${anonymous.body}`);
  assert.match(anonymous.body, /"code": "invalid_token"/);

  await page.locator(".scheme-container button.authorize").click();
  const dialog = page.locator(".dialog-ux .modal-ux");
  const bearer = dialog.locator(".auth-container").filter({ hasText: "bearerAuth" });
  await bearer.locator("input").fill(access_token);
  await bearer.locator("button.authorize").click();
  await dialog.locator("button.btn-done").first().click();

  const authorized = await tryGetMe(page);
  assert.equal(authorized.status, "200", `after Authorize: ${authorized.status} ${authorized.body}`);
  assert.match(authorized.body, new RegExp(`"username": "${username}"`));
  await page.screenshot({ path: join(SCREENSHOTS, "swagger-ui-get-me.png"), fullPage: false });

  // persistAuthorization: the token survives a reload.
  await page.reload();
  await page.locator(".information-container .title").getByText("Tessera").waitFor();
  assert.ok(
    await page.locator(".scheme-container button.authorize.locked").isVisible(),
    "Authorize shows as locked after a reload",
  );
  const afterReload = await tryGetMe(page);
  assert.equal(afterReload.status, "200", `after a reload: ${afterReload.status} ${afterReload.body}`);
  assert.match(afterReload.body, new RegExp(`"username": "${username}"`));
  await page.screenshot({ path: join(SCREENSHOTS, "swagger-ui-after-reload.png") });

  // Signing in through Tessera instead of pasting a token: the Authorize dialog's OAuth
  // section (the built-in docs client, authorization code with PKCE) opens the hosted
  // login page in a popup; the token it brings back authorizes "Try it out".
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
  const explorer = await fresh.newPage();
  explorer.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  await explorer.goto(new URL("/docs", TESSERA_URL).href);
  await explorer.locator(".information-container .title").getByText("Tessera").waitFor();
  await explorer.locator(".scheme-container button.authorize").click();
  const signIn = explorer.locator(".dialog-ux .modal-ux .auth-container").filter({ hasText: "tesseraSignIn" });
  await signIn.waitFor();
  await explorer.screenshot({ path: join(SCREENSHOTS, "swagger-ui-sign-in-dialog.png") });
  const [popup] = await Promise.all([
    explorer.waitForEvent("popup"),
    signIn.locator("button.authorize").click(),
  ]);
  popup.on("console", (m) => m.type() === "error" && consoleErrors.push(`popup: ${m.text()}`));
  await popup.waitForURL(/\/login\?return_to=/);
  await popup.getByLabel("Username").fill(username);
  await popup.getByLabel("Password").fill("correct horse battery staple");
  await popup.screenshot({ path: join(SCREENSHOTS, "swagger-ui-sign-in-popup.png") });
  await Promise.all([
    popup.waitForEvent("close"),
    popup.getByRole("button", { name: "Sign in", exact: true }).click(),
  ]);
  await signIn.getByText("Authorized").waitFor();
  await explorer.locator(".dialog-ux .modal-ux button.btn-done").first().click();
  const viaSignIn = await tryGetMe(explorer);
  assert.equal(viaSignIn.status, "200", `after signing in: ${viaSignIn.status} ${viaSignIn.body}`);
  assert.match(viaSignIn.body, new RegExp(`"username": "${username}"`));
  await explorer.screenshot({ path: join(SCREENSHOTS, "swagger-ui-signed-in.png") });

  assert.deepEqual(consoleErrors.filter((e) => !e.includes("401")), [], "no console errors");
  console.log(`swagger ui: authorized GET /v1/me answered 200 for ${username}, before and after a reload, and after signing in through Tessera`);
} finally {
  await browser.close();
}

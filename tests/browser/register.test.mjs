// Signing up on the hosted pages in a real browser (issue 29): Debian's Chromium through
// playwright-core; the verification mail from the real SMTP server .ci/clients runs
// (MAIL_DIR); accessibility checked by axe-core (Deque's engine, npm) on /register —
// empty, and with an error beside a field — and on /login, /forgot-password and
// /account, which must stay without a violation.
//
//   1. from /login, "Create an account"; a password the rules refuse is refused beside
//      its field, with the typed username kept;
//   2. a good password and an address: signed in on /account, and the verification
//      mail arrives;
//   3. with the keyboard alone: Tab through the fields, Enter sends the form.
//
//   TESSERA_URL=http://127.0.0.1:8080 MAIL_DIR=… node register.test.mjs

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { launchChromium } from "./chromium.mjs";

const TESSERA_URL = process.env.TESSERA_URL ?? "http://127.0.0.1:8080";
const MAIL_DIR = process.env.MAIL_DIR;
const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? new URL("../../target/browser", import.meta.url).pathname;
assert.ok(MAIL_DIR, "MAIL_DIR names the SMTP server's folder");
mkdirSync(SCREENSHOTS, { recursive: true });
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/** Whether a mail to `to` with `subject` arrived (within 15 s). */
async function mailArrived(to, subject) {
  for (let i = 0; i < 150; i++) {
    const found = readdirSync(MAIL_DIR)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(readFileSync(join(MAIL_DIR, f), "utf8")))
      .some((m) => m.rcpt_to.includes(to) && m.subject === subject);
    if (found) return true;
    await sleep(100);
  }
  return false;
}

/** axe-core's violations on the page as it is now. */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => globalThis.axe.run(document));
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(", ")})`);
}

const browser = await launchChromium();
try {
  // bypassCSP: only so that axe-core can be injected; the pages' own policy stays.
  const context = await browser.newContext({ viewport: { width: 420, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const username = `signup-${randomBytes(4).toString("hex")}`;
  const email = `${username}@example.test`;

  for (const path of ["/login", "/forgot-password"]) {
    await page.goto(`${TESSERA_URL}${path}`);
    assert.deepEqual(await violations(page), [], `axe on ${path}`);
  }

  // 1. From the sign-in page; a weak password is refused beside its field.
  await page.goto(`${TESSERA_URL}/login`);
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.waitForURL(`${TESSERA_URL}/register`);
  assert.deepEqual(await violations(page), [], "axe on /register");
  await page.screenshot({ path: join(SCREENSHOTS, "register.png"), fullPage: true });
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill("password1");
  await page.getByRole("button", { name: "Create account" }).click();
  const passwordError = page.locator("#password-error");
  await passwordError.waitFor();
  assert.match(await passwordError.textContent(), /guess|common/i);
  assert.equal(await page.getByLabel("Password").getAttribute("aria-invalid"), "true");
  assert.equal(await page.getByLabel("Username").inputValue(), username, "the username stays");
  assert.deepEqual(await violations(page), [], "axe on /register with an error");
  await page.screenshot({ path: join(SCREENSHOTS, "register-refused.png"), fullPage: true });

  // 2. A good password and an address: signed in, and the verification mail arrives.
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByLabel("Email address (optional)").fill(email);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(`${TESSERA_URL}/account`);
  assert.equal(await page.locator("#username").textContent(), username);
  assert.deepEqual(await violations(page), [], "axe on /account");
  assert.ok(await mailArrived(email, "Confirm your email address"), "the verification mail arrives");

  // 3. The keyboard alone, in a fresh context.
  const other = await browser.newContext();
  const keys = await other.newPage();
  const second = `signup-${randomBytes(4).toString("hex")}`;
  await keys.goto(`${TESSERA_URL}/register`);
  await keys.locator("#username:focus").waitFor();
  await keys.keyboard.type(second);
  await keys.keyboard.press("Tab");
  await keys.keyboard.type("another fine horse battery");
  await keys.keyboard.press("Enter");
  await keys.waitForURL(`${TESSERA_URL}/account`);
  await other.close();

  assert.deepEqual(problems, [], "no page errors");
  console.log(`sign-up passed for ${username} and ${second}: refusal beside its field, mail, keyboard, axe clean`);
} finally {
  await browser.close();
}

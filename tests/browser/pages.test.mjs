// The hosted pages in a real browser, the way a person meets them: Debian's Chromium
// driven by playwright-core, TOTP codes from the otpauth package, passkeys from
// Chromium's own virtual authenticator (DevTools WebAuthn domain), mail from the real
// SMTP server .ci/clients runs (each accepted message lands in MAIL_DIR as JSON).
//
//   1. sign in with a password; enroll TOTP by reading the key off the page;
//   2. sign out and back in through the second step;
//   3. add a passkey, then sign in with it alone from a fresh browser context that holds
//      the same credential;
//   4. from that second browser, end the first browser's session on /account;
//   5. verify the address and reset the password from mailed links, and sign in with
//      the new password and a recovery code.
// No console errors and no request to another origin on any page; screenshots go to
// $SCREENSHOT_DIR; the page weights of /login and /account are printed.
//
//   TESSERA_URL=http://127.0.0.1:8080 MAIL_DIR=… node pages.test.mjs

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execFileSync } from "node:child_process";
import { TOTP, URI } from "otpauth";
import { addVirtualAuthenticator, launchChromium } from "./chromium.mjs";

const TESSERA_URL = process.env.TESSERA_URL ?? "http://127.0.0.1:8080";
// WebAuthn refuses IP addresses: Tessera's relying party for http://127.0.0.1:<port>
// is localhost on the same port, so the pages are browsed there.
const BASE = TESSERA_URL.replace("://127.0.0.1", "://localhost");
const ORIGINS = new Set([new URL(BASE).origin, new URL(TESSERA_URL).origin]);
const MAIL_DIR = process.env.MAIL_DIR;
const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? new URL("../../target/browser", import.meta.url).pathname;
assert.ok(MAIL_DIR, "MAIL_DIR names the SMTP server's folder");
mkdirSync(SCREENSHOTS, { recursive: true });

const username = `pages-${randomBytes(4).toString("hex")}`;
const email = `${username}@example.test`;
let password = "correct horse battery staple";

/** The link in the newest mail to `to` with `subject`, once it arrives. */
async function mailedLink(to, subject, after = 0) {
  for (let i = 0; i < 300; i++) {
    const mails = readdirSync(MAIL_DIR)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(readFileSync(join(MAIL_DIR, f), "utf8")))
      .filter((m) => m.rcpt_to.includes(to) && m.subject === subject);
    if (mails.length > after) {
      const link = mails.at(-1).text.match(/https?:\/\/\S+token=[A-Za-z0-9_-]{43}/);
      assert.ok(link, "the mail carries a link");
      return link[0];
    }
    await sleep(100);
  }
  throw new Error(`no mail "${subject}" to ${to} arrived`);
}

const browser = await launchChromium();

const problems = [];
/** A fresh browser context (its own cookies) with a virtual authenticator, watched for
 *  console errors and requests to other origins. */
async function person(name) {
  const context = await browser.newContext({ viewport: { width: 420, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push(`${name} console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`${name} page error: ${e.message}`));
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.protocol !== "data:" && !ORIGINS.has(url.origin)) problems.push(`${name} requested ${r.url()}`);
  });
  const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
  return { context, page, cdp, authenticatorId };
}

async function shot(page, name) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function signInWithPassword(page) {
  await page.goto(`${BASE}/login`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

/** The same with the keyboard alone: the name field has the focus, Tab moves to the
 *  password, Enter sends the form. */
async function signInWithKeyboard(page) {
  await page.goto(`${BASE}/login`);
  // autofocus lands after the load event: type once it has.
  await page.locator("#username:focus").waitFor();
  await page.keyboard.type(username);
  await page.keyboard.press("Tab");
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
}

let totp;
let lastStep = -1;
/** The current code, waiting for the next 30 s step when this one was used already (a
 *  code is accepted once). */
async function freshCode() {
  let step = Math.floor(Date.now() / 30000);
  if (step <= lastStep) {
    await sleep((lastStep + 1) * 30000 - Date.now() + 200);
    step = Math.floor(Date.now() / 30000);
  }
  lastStep = step;
  // The code of that very step, even if the clock turns over right now.
  return totp.generate({ timestamp: step * 30000 });
}

try {
  const register = await fetch(`${TESSERA_URL}/v1/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password, email }),
  });
  assert.equal(register.status, 201);

  // 1. Password sign-in, then the authenticator app.
  const a = await person("first browser");
  await a.page.goto(`${BASE}/account`);
  assert.equal(new URL(a.page.url()).pathname, "/login", "the account page sends a stranger to sign in");
  await shot(a.page, "pages-login");
  await signInWithKeyboard(a.page);
  await a.page.waitForURL(`${BASE}/account`);
  assert.equal(await a.page.locator("#username").textContent(), username);
  await shot(a.page, "pages-account");
  const cookies = await a.context.cookies();
  const session = cookies.find((c) => c.name === "tessera_session");
  assert.ok(session && session.httpOnly && session.sameSite === "Lax", JSON.stringify(cookies));

  await a.page.getByRole("button", { name: "Set up an authenticator app" }).click();
  await a.page.waitForURL(`${BASE}/account/totp`);
  assert.ok(await a.page.locator(".qr svg").isVisible(), "the QR code is drawn");
  await shot(a.page, "pages-totp-setup");
  const secret = (await a.page.locator("#totp-secret").textContent()).replace(/\s/g, "");
  // The QR code, read by zbar off a screenshot and parsed by otpauth, is the key shown
  // beside it.
  const qrPng = join(SCREENSHOTS, "pages-totp-qr.png");
  await a.page.locator(".qr svg").screenshot({ path: qrPng });
  const scanned = execFileSync("zbarimg", ["--raw", "-q", qrPng], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"], // zbar looks for D-Bus, which CI has not
  }).trim();
  assert.match(scanned, /^otpauth:\/\/totp\//);
  totp = URI.parse(scanned);
  assert.equal(totp.secret.base32, secret);
  assert.equal(totp.label, username);
  assert.deepEqual([totp.digits, totp.period, totp.algorithm], [6, 30, "SHA1"]);
  await a.page.getByLabel("Code from the app").fill("000000" === totp.generate() ? "111111" : "000000");
  await a.page.getByRole("button", { name: "Turn on" }).click();
  assert.match(await a.page.locator("#code-error").textContent(), /not right/, "a wrong code is refused next to the field");
  // Chromium logs every 4xx page as a console error; this one was asked for.
  const refused = problems.findIndex((p) => /status of 400/.test(p));
  assert.ok(refused >= 0, "the wrong code answered 400");
  problems.splice(refused, 1);
  await a.page.getByLabel("Code from the app").fill(await freshCode());
  await a.page.getByRole("button", { name: "Turn on" }).click();
  await a.page.getByRole("heading", { name: "Your recovery codes" }).waitFor();
  const recoveryCodes = await a.page.locator("ul.codes code").allTextContents();
  assert.equal(recoveryCodes.length, 10);
  await shot(a.page, "pages-recovery-codes");
  await a.page.getByRole("link", { name: /back to my account/ }).click();
  assert.match(await a.page.locator("#totp-h + p").textContent(), /asks for a code/);

  // 2. Sign out, and back in with the second step.
  await a.page.getByRole("button", { name: "Sign out" }).first().click();
  await a.page.waitForURL(/\/login\?notice=signed_out/);
  await a.page.goto(`${BASE}/account`);
  assert.equal(new URL(a.page.url()).pathname, "/login", "signed out means signed out");
  await signInWithPassword(a.page);
  await a.page.getByRole("heading", { name: "Confirm it is you" }).waitFor();
  await shot(a.page, "pages-second-step");
  await a.page.getByLabel("Code from your authenticator app").fill(await freshCode());
  await a.page.getByRole("button", { name: "Verify" }).click();
  await a.page.waitForURL(`${BASE}/account`);

  // 3. A passkey, registered by the first browser's virtual authenticator.
  await a.page.getByLabel("Name of the new passkey").fill("Virtual authenticator");
  await a.page.getByRole("button", { name: "Add a passkey" }).click();
  await a.page.waitForURL(/notice=passkey_added/);
  assert.match(await a.page.locator("#passkeys").textContent(), /Virtual authenticator/);
  await shot(a.page, "pages-account-passkey");
  const { credentials } = await a.cdp.send("WebAuthn.getCredentials", { authenticatorId: a.authenticatorId });
  assert.equal(credentials.length, 1);
  assert.ok(credentials[0].isResidentCredential, "a discoverable credential");

  // ... and used alone from a fresh context whose authenticator holds the same credential.
  const b = await person("second browser");
  await b.cdp.send("WebAuthn.addCredential", { authenticatorId: b.authenticatorId, credential: credentials[0] });
  await b.page.goto(`${BASE}/login`);
  await b.page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await b.page.waitForURL(`${BASE}/account`);
  assert.equal(await b.page.locator("#username").textContent(), username);

  // 4. The second browser ends the first browser's session.
  const others = b.page.getByRole("button", { name: "End this session" });
  assert.equal(await others.count(), 1, "the first browser's session is listed");
  await others.click();
  await b.page.waitForURL(/notice=session_ended/);
  assert.equal(await b.page.getByRole("button", { name: "End this session" }).count(), 0);
  await a.page.reload();
  assert.equal(new URL(a.page.url()).pathname, "/login", "the ended session no longer opens the account");

  // 5. Mailed links: verify the address, then reset the password.
  await b.page.goto(await mailedLink(email, "Confirm your email address"));
  await b.page.getByRole("button", { name: "Confirm my address" }).click();
  await b.page.getByText("your email address is verified").waitFor();
  await a.page.goto(`${BASE}/forgot-password`);
  await a.page.getByLabel("Email address").fill(email);
  await a.page.getByRole("button", { name: "Send the link" }).click();
  await a.page.getByText("a link to choose a new password is on its way").waitFor();
  await a.page.goto(await mailedLink(email, "Reset your password"));
  await shot(a.page, "pages-reset-password");
  password = "a brand new pass phrase 7";
  await a.page.getByLabel(/New password/).fill(password);
  await a.page.getByLabel("The same again").fill(password);
  await a.page.getByRole("button", { name: "Set the new password" }).click();
  await a.page.getByText("Your password is changed").waitFor();
  // The reset ended every session, the passkey browser's too.
  await b.page.goto(`${BASE}/account`);
  assert.equal(new URL(b.page.url()).pathname, "/login", "a reset signs every browser out");
  await signInWithPassword(a.page);
  await a.page.getByText("Use a recovery code").click();
  await a.page.getByLabel("Recovery code").fill(recoveryCodes[0]);
  await a.page.getByRole("button", { name: "Use this code" }).click();
  await a.page.waitForURL(`${BASE}/account`);
  assert.match(await a.page.locator("#recovery-left").textContent(), /^9 /);

  // Page weight: the HTML of /login and /account plus the stylesheet and the script.
  const weight = async (page, path) => {
    let bytes = 0;
    const count = async (r) => {
      const body = await r.body().catch(() => Buffer.alloc(0));
      bytes += body.length;
    };
    const pending = [];
    page.on("response", (r) => pending.push(count(r)));
    await page.goto(`${BASE}${path}`, { waitUntil: "networkidle" });
    await Promise.all(pending);
    page.removeAllListeners("response");
    return bytes;
  };
  const fresh = await browser.newContext();
  const loginBytes = await weight(await fresh.newPage(), "/login");
  const accountBytes = await weight(a.page, "/account");
  console.log(`page weight (HTML + CSS + JS, uncompressed): /login ${loginBytes} B, /account ${accountBytes} B`);

  assert.deepEqual(problems, [], "no console errors, no request to another origin");
  console.log(`hosted pages passed for ${username}: password, TOTP, passkey, sessions, mailed links`);
} finally {
  await browser.close();
}

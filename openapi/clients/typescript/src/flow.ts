// The SDK flow in TypeScript: types generated from openapi/openapi.json by
// openapi-typescript (src/generated, never edited), requests through openapi-fetch.
// register with an email address → login → /v1/me → refresh → logout → the old token
// refused, with the problem+json answer typed as the spec's Problem; then verify the
// address from the mailed link, forget the password, reset it from the next mailed link,
// and see every old session gone; then enroll an authenticator app (the otpauth package)
// and log in with the second step.
//
//   npm run generate && npm run build && node dist/flow.js http://127.0.0.1:8080 MAIL_DIR
//
// MAIL_DIR is where the SMTP server the server delivers to writes each message as JSON
// (tests/smtp/sink.py, which .ci/clients runs).

import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import createClient from "openapi-fetch";
import * as OTPAuth from "otpauth";
import type { components, paths } from "./generated/tessera.js";

type Problem = components["schemas"]["Problem"];

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

function expectProblem(error: Problem | undefined, status: number, code: string): Problem {
  check(error !== undefined, `expected a ${status} ${code} problem`);
  check(error.status === status && error.code === code, `got ${error.status} ${error.code}`);
  return error;
}

interface Mail {
  rcpt_to: string[];
  subject: string;
  text: string;
  html: string;
}

/** The token in the link of the mail to `to` with this subject, once it arrives. */
async function mailedToken(mailDir: string, to: string, subject: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    for (const name of readdirSync(mailDir).filter((n) => n.endsWith(".json"))) {
      const mail = JSON.parse(readFileSync(join(mailDir, name), "utf8")) as Mail;
      if (mail.rcpt_to.includes(to) && mail.subject === subject) {
        const found = /token=([A-Za-z0-9_-]{43})/.exec(mail.text);
        check(found !== null && mail.html.includes(found[0]), "the link is in both parts");
        return found[1] ?? "";
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail "${subject}" to ${to} arrived in ${mailDir}`);
}

async function main(baseUrl: string, mailDir: string): Promise<void> {
  const api = createClient<paths>({ baseUrl });
  const credentials = {
    username: `ts-${randomBytes(4).toString("hex")}`,
    password: "correct horse battery staple",
  };
  const email = `${credentials.username}@example.test`;

  const created = await api.POST("/v1/auth/register", { body: { ...credentials, email } });
  check(created.response.status === 201 && created.data !== undefined, "registered");
  const user = created.data;
  check(user.username === credentials.username, "the username comes back");

  const taken = await api.POST("/v1/auth/register", { body: credentials });
  expectProblem(taken.error, 409, "username_taken");

  const login = await api.POST("/v1/auth/login", { body: credentials });
  check(login.data !== undefined, "logged in");
  const tokens = login.data;
  check(tokens.token_type === "Bearer" && tokens.expires_in > 0, "a bearer token pair");

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  const me = await api.GET("/v1/me", { headers: bearer(tokens.access_token) });
  check(me.data?.id === user.id, "/v1/me is the registered user");

  const refreshed = await api.POST("/v1/auth/refresh", {
    body: { refresh_token: tokens.refresh_token },
  });
  check(refreshed.data !== undefined, "refreshed");
  const rotated = refreshed.data;
  check(rotated.refresh_token !== tokens.refresh_token, "the refresh token rotates");

  const out = await api.POST("/v1/auth/logout", { headers: bearer(rotated.access_token) });
  check(out.response.status === 204, "logged out");

  const after = await api.GET("/v1/me", { headers: bearer(rotated.access_token) });
  const problem = expectProblem(after.error, 401, "token_revoked");
  check(
    (after.response.headers.get("content-type") ?? "").startsWith("application/problem+json"),
    "errors are problem+json",
  );

  // The address, verified from the mailed link.
  check(user.email === email && !user.email_verified, "an unverified address");
  const verifyToken = await mailedToken(mailDir, email, "Confirm your email address");
  const verified = await api.POST("/v1/auth/verify-email", { body: { token: verifyToken } });
  check(verified.response.status === 204, "verified");
  const again = await api.POST("/v1/auth/verify-email", { body: { token: verifyToken } });
  expectProblem(again.error, 400, "invalid_email_token");

  // Forgotten: a reset link, a new password, and every old session gone.
  const signedIn = await api.POST("/v1/auth/login", { body: credentials });
  check(signedIn.data !== undefined, "logged in again");
  const asked = await api.POST("/v1/auth/password-reset", { body: { email } });
  check(asked.response.status === 202, "reset requested");
  const resetToken = await mailedToken(mailDir, email, "Reset your password");
  const newPassword = "plaid tortoise juggles quietly";
  const done = await api.POST("/v1/auth/password-reset/confirm", {
    body: { token: resetToken, new_password: newPassword },
  });
  check(done.response.status === 204, "password reset");
  const gone = await api.GET("/v1/me", { headers: bearer(signedIn.data.access_token) });
  expectProblem(gone.error, 401, "token_revoked");
  const fresh = await api.POST("/v1/auth/login", { body: { ...credentials, password: newPassword } });
  check(fresh.data !== undefined, "the new password logs in");

  // An authenticator app (the otpauth package plays it): enroll, confirm, and log in in
  // two steps.
  const asAlice = { Authorization: `Bearer ${fresh.data.access_token}` };
  const setup = await api.POST("/v1/me/mfa/totp", { headers: asAlice });
  check(setup.data !== undefined, "TOTP enrollment starts");
  const app = OTPAuth.URI.parse(setup.data.otpauth_uri);
  check(app instanceof OTPAuth.TOTP, "a TOTP URI");
  const confirmed = await api.POST("/v1/me/mfa/totp/confirm", { headers: asAlice, body: { code: app.generate() } });
  check(confirmed.data?.recovery_codes.length === 10, "ten recovery codes");
  const first = await api.POST("/v1/auth/login", { body: { ...credentials, password: newPassword } });
  const challenge = expectProblem(first.error, 403, "mfa_required");
  check(challenge.mfa_token !== undefined && challenge.methods?.includes("totp") === true, "the second step");
  // The confirming code is spent; the next step's code is within the window.
  const code = app.generate({ timestamp: Date.now() + 30_000 });
  const second = await api.POST("/v1/auth/mfa", { body: { mfa_token: challenge.mfa_token, code } });
  check(second.data !== undefined, "the code completes the login");
  const claims = JSON.parse(Buffer.from(second.data.access_token.split(".")[1] ?? "", "base64url").toString());
  check(JSON.stringify(claims.amr) === '["pwd","otp","mfa"]', `amr ${JSON.stringify(claims.amr)}`);
  console.log(
    `typescript client flow passed for ${user.username} (${user.id}): ${problem.detail}; email verified and reset; ` +
      "TOTP enrolled and a two-step login with otpauth's code",
  );
}

main(process.argv[2] ?? "http://127.0.0.1:8080", process.argv[3] ?? "").catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

// Runs the verifier example against a live Tessera (TESSERA_URL): its access tokens
// pass, anything else is refused.   TESSERA_URL=http://127.0.0.1:8080 npm test

import assert from "node:assert/strict";
import { generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from "jose";
import { randomBytes } from "node:crypto";
import { before, test } from "node:test";
import { requireAccessToken, verifyAccessToken } from "./verify-token.mjs";

const TESSERA_URL = process.env.TESSERA_URL ?? "http://127.0.0.1:8080";
let username;
let tokens;

async function post(path, body) {
  const r = await fetch(new URL(path, TESSERA_URL), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.ok(r.ok, `${path}: ${r.status}`);
  return r.json();
}

before(async () => {
  username = `jose-${randomBytes(4).toString("hex")}`;
  const credentials = { username, password: "correct horse battery staple" };
  await post("/v1/auth/register", credentials);
  tokens = await post("/v1/auth/login", credentials);
});

test("accepts a Tessera access token", async () => {
  const claims = await verifyAccessToken(tokens.access_token);
  assert.equal(claims.username, username);
  assert.equal(claims.iss, TESSERA_URL); // tokens.issuer: the public URL
});

test("refuses another audience", async () => {
  await assert.rejects(verifyAccessToken(tokens.access_token, { audience: "billing" }), {
    code: "ERR_JWT_CLAIM_VALIDATION_FAILED",
  });
});

test("refuses a token signed by another key under a Tessera kid", async () => {
  const { kid } = decodeProtectedHeader(tokens.access_token);
  const { privateKey } = await generateKeyPair("RS256");
  const forged = await new SignJWT({ ...decodeJwt(tokens.access_token), roles: ["admin"] })
    .setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid })
    .sign(privateKey);
  await assert.rejects(verifyAccessToken(forged), { code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
});

test("refuses what is not an access token", async () => {
  await assert.rejects(verifyAccessToken(tokens.refresh_token));
  const { privateKey } = await generateKeyPair("RS256");
  const idToken = await new SignJWT(decodeJwt(tokens.access_token))
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: "x" })
    .sign(privateKey);
  await assert.rejects(verifyAccessToken(idToken));
});

test("the middleware lets a bearer through and stops everyone else", async () => {
  const run = (authorization) =>
    new Promise((resolve) => {
      const res = {
        statusCode: 200,
        status(code) { this.statusCode = code; return this; },
        set() { return this; },
        end() { resolve({ status: this.statusCode }); },
      };
      const req = { headers: { authorization } };
      requireAccessToken(req, res, () => resolve({ status: 200, user: req.user }));
    });
  const ok = await run(`Bearer ${tokens.access_token}`);
  assert.equal(ok.user.username, username);
  assert.equal((await run(undefined)).status, 401);
  assert.equal((await run(`Bearer ${tokens.refresh_token}`)).status, 401);
});

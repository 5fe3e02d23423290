// The SDK flow in TypeScript: types generated from openapi/openapi.json by
// openapi-typescript (src/generated, never edited), requests through openapi-fetch.
// register → login → /v1/me → refresh → logout → the old token refused, with the
// problem+json answer typed as the spec's Problem.
//
//   npm run generate && npm run build && node dist/flow.js http://127.0.0.1:8080

import { randomBytes } from "node:crypto";
import createClient from "openapi-fetch";
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

async function main(baseUrl: string): Promise<void> {
  const api = createClient<paths>({ baseUrl });
  const credentials = {
    username: `ts-${randomBytes(4).toString("hex")}`,
    password: "correct horse battery staple",
  };

  const created = await api.POST("/v1/auth/register", { body: credentials });
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
  console.log(`typescript client flow passed for ${user.username} (${user.id}): ${problem.detail}`);
}

main(process.argv[2] ?? "http://127.0.0.1:8080").catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

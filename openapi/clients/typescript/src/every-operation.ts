// Every operation of openapi/openapi.json, called through openapi-fetch over the `paths`
// type that openapi-typescript generates (src/generated, never edited), against a live
// server. A middleware records each (method, path) called and checks each answer against
// the spec read at run time: the status must be documented for the operation, the
// Content-Type one the spec names for that status, and a JSON body must match its schema
// (so an optional member sent as `null`, say, fails). Problem answers must also carry the
// expected status and `code`, with `type` naming <server>/problems/<code>. At the end, the
// (method, path) pairs called must cover every one in the spec.
//
//   npm run generate && npm run build && \
//     node dist/every-operation.js http://127.0.0.1:8080 ADMIN PASSWORD [path/to/openapi.json]
//
// ADMIN is an account with the `admin` role (`tessera users create NAME --admin`). The
// spec defaults to openapi/openapi.json beside this package.

import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import createClient, { type Middleware } from "openapi-fetch";
import * as OTPAuth from "otpauth";
import type { components, paths } from "./generated/tessera.js";

type Schemas = components["schemas"];
type Problem = Schemas["Problem"];

const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "plaid tortoise juggles quietly";

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

// ---- The spec, as JSON read at run time.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function member(value: Json | undefined, key: string): Json | undefined {
  return isObject(value) ? value[key] : undefined;
}

const HTTP_METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

class Spec {
  readonly document: JsonObject;

  constructor(file: string) {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    check(isObject(parsed) && isObject(parsed["paths"]), `${file} is an OpenAPI document`);
    this.document = parsed;
  }

  /** Every operation as "METHOD /path", e.g. "GET /v1/me". */
  operations(): Set<string> {
    const all = new Set<string>();
    const pathItems = member(this.document, "paths");
    if (!isObject(pathItems)) return all;
    for (const [path, item] of Object.entries(pathItems)) {
      for (const method of HTTP_METHODS) {
        if (isObject(member(item, method))) all.add(`${method.toUpperCase()} ${path}`);
      }
    }
    return all;
  }

  operation(method: string, path: string): JsonObject {
    const found = member(member(member(this.document, "paths"), path), method.toLowerCase());
    check(isObject(found), `${method} ${path} is not in the spec`);
    return found;
  }

  resolve(schema: Json | undefined): Json | undefined {
    const ref = member(schema, "$ref");
    if (typeof ref !== "string") return schema;
    check(ref.startsWith("#/"), `only local $refs: ${ref}`);
    let target: Json | undefined = this.document;
    for (const part of ref.slice(2).split("/")) target = member(target, part);
    check(target !== undefined, `dangling $ref ${ref}`);
    return this.resolve(target);
  }

  /** The differences between `value` and the JSON Schema subset the spec uses. */
  mismatches(schemaOrRef: Json | undefined, value: unknown, at: string): string[] {
    const schema = this.resolve(schemaOrRef);
    if (!isObject(schema)) return [];
    const out: string[] = [];
    if (value === null) {
      return schema["nullable"] === true || Object.keys(schema).length === 0
        ? []
        : [`${at}: null where the schema allows none`];
    }
    for (const keyword of ["allOf", "anyOf", "oneOf"]) {
      const parts = schema[keyword];
      if (!Array.isArray(parts)) continue;
      const failing = parts.map((part) => this.mismatches(part, value, at));
      const passing = failing.filter((list) => list.length === 0).length;
      if (keyword === "allOf") out.push(...failing.flat());
      else if (keyword === "anyOf" && passing === 0) out.push(`${at}: matches no anyOf branch`);
      else if (keyword === "oneOf" && passing !== 1) out.push(`${at}: matches ${passing} oneOf branches`);
    }
    const allowed = schema["enum"];
    if (Array.isArray(allowed) && !allowed.some((v) => v === value)) {
      out.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(allowed)}`);
    }
    switch (schema["type"]) {
      case "object": {
        if (!isObject(value)) return [...out, `${at}: not an object`];
        const required = schema["required"];
        for (const name of Array.isArray(required) ? required : []) {
          if (typeof name === "string" && !(name in value)) out.push(`${at}.${name}: missing`);
        }
        const properties = schema["properties"];
        if (isObject(properties)) {
          for (const [name, sub] of Object.entries(properties)) {
            if (name in value) out.push(...this.mismatches(sub, value[name], `${at}.${name}`));
          }
        }
        break;
      }
      case "array":
        if (!Array.isArray(value)) return [...out, `${at}: not an array`];
        value.forEach((item: unknown, i) => out.push(...this.mismatches(schema["items"], item, `${at}[${i}]`)));
        break;
      case "string":
        if (typeof value !== "string") return [...out, `${at}: not a string`];
        if (schema["format"] === "uuid" && !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(value)) {
          out.push(`${at}: ${value} is not a uuid`);
        }
        if (schema["format"] === "date-time" && Number.isNaN(Date.parse(value))) {
          out.push(`${at}: ${value} is not a date-time`);
        }
        break;
      case "integer":
        if (!Number.isInteger(value)) out.push(`${at}: not an integer`);
        break;
      case "number":
        if (typeof value !== "number") out.push(`${at}: not a number`);
        break;
      case "boolean":
        if (typeof value !== "boolean") out.push(`${at}: not a boolean`);
        break;
    }
    return out;
  }

  /** Throws unless `response` is an answer the spec documents for this operation. */
  async checkAnswer(method: string, path: string, response: Response): Promise<void> {
    const where = `${method} ${path} → ${response.status}`;
    const documented = member(member(this.operation(method, path), "responses"), String(response.status));
    check(isObject(documented), `${where}: the spec documents no such status`);
    const content = member(documented, "content");
    const body = await response.clone().text();
    if (body === "") {
      check(!isObject(content), `${where}: an empty body where the spec names ${Object.keys(content ?? {})}`);
      return;
    }
    check(isObject(content), `${where}: a body where the spec names none`);
    const essence = (mediaType: string) => (mediaType.split(";")[0] ?? "").trim().toLowerCase();
    const received = response.headers.get("content-type") ?? "";
    const mediaType = Object.keys(content).find((name) => essence(name) === essence(received));
    check(mediaType !== undefined, `${where}: Content-Type ${received}, the spec names ${Object.keys(content)}`);
    if (essence(mediaType).endsWith("json")) {
      const wrong = this.mismatches(member(member(content, mediaType), "schema"), JSON.parse(body), "body");
      check(wrong.length === 0, `${where}: the body does not match the spec:\n  ${wrong.join("\n  ")}\n  ${body}`);
    }
  }
}

// ---- Answers.

/** Anything openapi-fetch answers: data on 2xx, error otherwise. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

function expectData<T>(answer: Answer<T>, status: number, what: string): T {
  check(answer.response.status === status, `${what}: expected ${status}, got ${answer.response.status}`);
  check(answer.data !== undefined, `${what}: a body`);
  return answer.data;
}

function expectEmpty(answer: Answer<unknown>, status: number, what: string): void {
  check(answer.response.status === status, `${what}: expected ${status}, got ${answer.response.status}`);
  check(answer.data === undefined, `${what}: no body`);
}

const problemCodes = new Set<string>();
const problemPaths = new Set<string>(); // the path of each problem `type` seen

/** A problem+json answer (its shape is already checked against `Problem`). */
function expectProblem(
  answer: { error?: Problem | unknown; response: Response },
  status: number,
  code: string | null,
  what: string,
): Problem {
  const { response } = answer;
  check(response.status === status, `${what}: expected ${status}, got ${response.status}`);
  check(
    (response.headers.get("content-type") ?? "").startsWith("application/problem+json"),
    `${what}: errors are application/problem+json`,
  );
  const problem = answer.error as Problem;
  check(problem.status === status, `${what}: problem status ${problem.status}`);
  check(code === null || problem.code === code, `${what}: expected ${code}, got ${problem.code}`);
  // RFC 9457 §3.1.1: `type` is a URI for the problem type, here <server>/problems/<code>.
  const typePath = new URL(problem.type, "http://relative.invalid/").pathname;
  check(typePath.endsWith(`/problems/${problem.code}`), `${what}: problem type ${problem.type}`);
  problemCodes.add(problem.code);
  problemPaths.add(typePath);
  return problem;
}

// `GET /problems/{code}` documents each problem type (text/html). When the generated
// `paths` has it, it is called with the generated types (`Pick`); the fallback only keeps
// this file compiling against a spec without it (`Omit` drops it otherwise), and is never
// called then: the spec read at run time decides.
type ProblemPagePath = "/problems/{code}";
type ProblemPageFallback = {
  [P in ProblemPagePath]: {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: { query?: never; header?: never; path: { code: string }; cookie?: never };
      requestBody?: never;
      responses: {
        200: { headers: { [name: string]: unknown }; content: { "text/html": string } };
        404: { headers: { [name: string]: unknown }; content: { "application/problem+json": Problem } };
      };
    };
  };
};
// (A conditional type here defeats openapi-fetch's inference; Pick & Omit does not.)
type Flat<T> = { [K in keyof T]: T[K] };
type ProblemPages = Flat<Pick<paths, ProblemPagePath & keyof paths> & Omit<ProblemPageFallback, keyof paths>>;

// ---- The calls.

async function main(baseUrl: string, adminName: string, adminPassword: string, specFile: string): Promise<void> {
  const spec = new Spec(specFile);
  const called = new Set<string>();
  const recorder: Middleware = {
    onRequest({ request, schemaPath }) {
      called.add(`${request.method} ${schemaPath}`);
      return undefined;
    },
    async onResponse({ request, response, schemaPath }) {
      await spec.checkAnswer(request.method, schemaPath, response);
      return undefined;
    },
  };
  const api = createClient<paths>({ baseUrl });
  api.use(recorder);
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  const nobody = bearer("not-a-token"); // a malformed bearer token
  const freshName = () => `ts-every-${randomBytes(4).toString("hex")}`;
  const login = async (username: string, password: string) =>
    expectData(await api.POST("/v1/auth/login", { body: { username, password } }), 200, "login");

  // Health and the key set: no authentication.
  const health = expectData(await api.GET("/healthz"), 200, "healthz");
  check(health.status === "ok", "alive");
  const readiness = expectData(await api.GET("/readyz"), 200, "readyz");
  check(readiness.status === "ok", "ready");
  const jwksAnswer = await api.GET("/.well-known/jwks.json");
  const jwks = expectData(jwksAnswer, 200, "jwks");
  check(jwks.keys.length > 0 && jwks.keys.every((k) => k.alg === "RS256" && k.kty === "RSA"), "RS256 keys");
  const etag = jwksAnswer.response.headers.get("etag");
  check(etag !== null, "the key set has an ETag");
  const unchanged = await api.GET("/.well-known/jwks.json", { params: { header: { "If-None-Match": etag } } });
  check(unchanged.response.status === 304, `If-None-Match: expected 304, got ${unchanged.response.status}`);

  // Registration: created, taken, weak password, bad username.
  const aliceName = freshName();
  const alice = expectData(
    await api.POST("/v1/auth/register", { body: { username: aliceName, password: PASSWORD } }),
    201,
    "register",
  );
  check(alice.username === aliceName && alice.roles.length === 0, "the new account");
  const again = await api.POST("/v1/auth/register", { body: { username: aliceName, password: PASSWORD } });
  expectProblem(again, 409, "username_taken", "register twice");
  const weak = await api.POST("/v1/auth/register", { body: { username: freshName(), password: "password" } });
  expectProblem(weak, 422, "weak_password", "weak password");
  const badName = await api.POST("/v1/auth/register", { body: { username: `-${freshName()}`, password: PASSWORD } });
  expectProblem(badName, 422, "invalid_username", "bad username");

  // Login, then the account's own reads.
  const wrong = await api.POST("/v1/auth/login", { body: { username: aliceName, password: `wrong ${PASSWORD}` } });
  expectProblem(wrong, 401, "invalid_credentials", "wrong password");
  const first = await login(aliceName, PASSWORD);
  check(first.token_type === "Bearer" && first.expires_in > 0 && first.refresh_expires_in > 0, "a token pair");
  let asAlice = bearer(first.access_token);
  const me = expectData(await api.GET("/v1/me", { headers: asAlice }), 200, "me");
  check(me.id === alice.id, "/v1/me is the registered user");
  expectProblem(await api.GET("/v1/me", { headers: nobody }), 401, "invalid_token", "me without a token");
  const dashboard = expectData(await api.GET("/v1/dashboard", { headers: asAlice }), 200, "dashboard");
  check(dashboard.message === `Welcome ${aliceName}` && dashboard.data.user_id === alice.id, "the dashboard");
  expectProblem(await api.GET("/v1/dashboard", { headers: nobody }), 401, "invalid_token", "dashboard");
  const sessions = expectData(await api.GET("/v1/me/sessions", { headers: asAlice }), 200, "sessions");
  check(
    sessions.filter((s) => s.current).map((s) => s.id).join() === dashboard.data.session_id,
    "one current session, the dashboard's",
  );
  expectProblem(await api.GET("/v1/me/sessions", { headers: nobody }), 401, "invalid_token", "sessions");

  // Refresh rotates; an unknown refresh token is refused. (Replaying the spent one within
  // `tokens.reuse_grace` answers the same new pair, so it is not used here.)
  const second = await login(aliceName, PASSWORD);
  const rotated = expectData(
    await api.POST("/v1/auth/refresh", { body: { refresh_token: second.refresh_token } }),
    200,
    "refresh",
  );
  check(rotated.refresh_token !== second.refresh_token, "the refresh token rotates");
  const unknownGrant = await api.POST("/v1/auth/refresh", { body: { refresh_token: "rt_not-a-token" } });
  expectProblem(unknownGrant, 401, "invalid_grant", "unknown refresh token");

  // Ending another session of one's own, and an unknown one.
  const third = await login(aliceName, PASSWORD);
  const thirdDashboard = expectData(
    await api.GET("/v1/dashboard", { headers: bearer(third.access_token) }),
    200,
    "dashboard",
  );
  const thirdSession = thirdDashboard.data.session_id;
  const endSession = (id: string, headers: { Authorization: string }) =>
    api.DELETE("/v1/me/sessions/{id}", { params: { path: { id } }, headers });
  expectEmpty(await endSession(thirdSession, asAlice), 204, "end a session");
  const ended = await api.GET("/v1/me", { headers: bearer(third.access_token) });
  expectProblem(ended, 401, "token_revoked", "a token of an ended session");
  expectProblem(await endSession(randomUUID(), asAlice), 404, "session_not_found", "an unknown session");
  expectProblem(await endSession(randomUUID(), nobody), 401, "invalid_token", "end a session");

  // Password change: wrong current password, weak new one, then done.
  const changePassword = (current_password: string, new_password: string, headers: { Authorization: string }) =>
    api.POST("/v1/me/password", { body: { current_password, new_password }, headers });
  const notCurrent = await changePassword(`wrong ${PASSWORD}`, NEW_PASSWORD, asAlice);
  expectProblem(notCurrent, 403, "invalid_credentials", "wrong current password");
  expectProblem(await changePassword(PASSWORD, "password", asAlice), 422, "weak_password", "weak new password");
  expectEmpty(await changePassword(PASSWORD, NEW_PASSWORD, asAlice), 204, "password change");
  expectProblem(await changePassword(PASSWORD, NEW_PASSWORD, nobody), 401, "invalid_token", "password change");
  const oldPassword = await api.POST("/v1/auth/login", { body: { username: aliceName, password: PASSWORD } });
  expectProblem(oldPassword, 401, "invalid_credentials", "the old password");

  // Introspection (RFC 7662) needs the admin or introspect role; JSON and form bodies.
  const asAdmin = bearer((await login(adminName, adminPassword)).access_token);
  const admin = expectData(await api.GET("/v1/me", { headers: asAdmin }), 200, "admin me");
  check(admin.roles.includes("admin"), `${adminName} has the admin role`);
  const form = { "Content-Type": "application/x-www-form-urlencoded" };
  const introspect = (token: string, headers: Record<string, string>) =>
    api.POST("/v1/oauth/introspect", { body: { token, token_type_hint: "access_token" }, headers });
  expectProblem(await introspect(first.access_token, asAlice), 403, "insufficient_role", "introspect");
  expectProblem(await introspect(first.access_token, nobody), 401, "invalid_token", "introspect");
  const live = expectData(await introspect(first.access_token, asAdmin), 200, "introspect");
  check(live.active && live.sub === alice.id && live.username === aliceName, "a live token");
  const unknown = expectData(await introspect("not-a-token", { ...asAdmin, ...form }), 200, "introspect");
  check(!unknown.active, "an unknown token is inactive");

  // Revocation (RFC 7009): a refresh token (JSON) and an access token (form).
  const fourth = await login(aliceName, NEW_PASSWORD);
  const revoke = (token: string, token_type_hint: "access_token" | "refresh_token", headers = {}) =>
    api.POST("/v1/oauth/revoke", { body: { token, token_type_hint }, headers });
  expectEmpty(await revoke(fourth.refresh_token, "refresh_token"), 200, "revoke a refresh token");
  const revokedGrant = await api.POST("/v1/auth/refresh", { body: { refresh_token: fourth.refresh_token } });
  expectProblem(revokedGrant, 401, "invalid_grant", "a revoked refresh token");
  const fifth = await login(aliceName, NEW_PASSWORD);
  expectEmpty(await revoke(fifth.access_token, "access_token", form), 200, "revoke an access token");
  const revoked = await api.GET("/v1/me", { headers: bearer(fifth.access_token) });
  expectProblem(revoked, 401, "token_revoked", "a revoked access token");
  const gone = expectData(await introspect(fifth.access_token, { ...asAdmin, ...form }), 200, "introspect");
  check(!gone.active, "a revoked token is inactive");

  // Logout ends this session (and is safe to retry); logout-all ends every one.
  expectEmpty(await api.POST("/v1/auth/logout", { headers: asAlice }), 204, "logout");
  expectProblem(await api.GET("/v1/me", { headers: asAlice }), 401, "token_revoked", "after logout");
  expectEmpty(await api.POST("/v1/auth/logout", { headers: asAlice }), 204, "logout again");
  expectProblem(await api.POST("/v1/auth/logout", { headers: nobody }), 401, "invalid_token", "logout");
  const sixth = await login(aliceName, NEW_PASSWORD);
  const seventh = await login(aliceName, NEW_PASSWORD);
  expectEmpty(await api.POST("/v1/auth/logout-all", { headers: bearer(sixth.access_token) }), 204, "logout-all");
  const afterAll = await api.GET("/v1/me", { headers: bearer(seventh.access_token) });
  expectProblem(afterAll, 401, "token_revoked", "after logout-all");
  expectProblem(await api.POST("/v1/auth/logout-all", { headers: nobody }), 401, "invalid_token", "logout-all");
  asAlice = bearer((await login(aliceName, NEW_PASSWORD)).access_token);

  // Signing keys: list; rotate without `immediate` (the new key is only published, so
  // every live token stays good); revoke that pending key, which never signed.
  expectProblem(await api.GET("/v1/admin/keys", { headers: asAlice }), 403, "insufficient_role", "keys");
  const keys = expectData(await api.GET("/v1/admin/keys", { headers: asAdmin }), 200, "keys");
  check(keys.filter((k) => k.state === "active").length === 1, "one active key");
  const rotate = (headers: { Authorization: string }) =>
    api.POST("/v1/admin/keys/rotate", { params: { query: { immediate: false } }, headers });
  expectProblem(await rotate(asAlice), 403, "insufficient_role", "rotate");
  const after = expectData(await rotate(asAdmin), 200, "rotate");
  const fresh = after.filter((k) => !keys.some((old) => old.kid === k.kid));
  const pending = fresh[0];
  check(fresh.length === 1 && pending !== undefined && pending.state === "pending", "one new, pending key");
  const revokeKey = (kid: string, headers: { Authorization: string }) =>
    api.POST("/v1/admin/keys/{kid}/revoke", { params: { path: { kid } }, headers });
  expectProblem(await revokeKey(pending.kid, asAlice), 403, "insufficient_role", "revoke a key");
  expectEmpty(await revokeKey(pending.kid, asAdmin), 204, "revoke the pending key");
  expectProblem(await revokeKey(pending.kid, asAdmin), 404, "key_not_found", "revoke it again");
  const published = expectData(await api.GET("/.well-known/jwks.json"), 200, "jwks");
  check(!published.keys.some((k) => k.kid === pending.kid), "a revoked key is unpublished");
  expectData(await api.GET("/v1/me", { headers: asAdmin }), 200, "the admin's token outlives it all");

  // Users and the audit log, paged; a page size out of range is a typed 400.
  const users = (query: { page?: number; per_page?: number }, headers: { Authorization: string }) =>
    api.GET("/v1/admin/users", { params: { query }, headers });
  expectProblem(await users({}, asAlice), 403, "insufficient_role", "users");
  const page = expectData(await users({ page: 1, per_page: 200 }, asAdmin), 200, "users");
  check(page.page === 1 && page.per_page === 200 && page.total >= 2, "a page of users");
  expectProblem(await users({ per_page: 0 }, asAdmin), 400, "invalid_request", "per_page=0");
  const audit = (query: { user?: string; event?: string; per_page?: number }, headers: { Authorization: string }) =>
    api.GET("/v1/admin/audit", { params: { query }, headers });
  expectProblem(await audit({}, asAlice), 403, "insufficient_role", "audit");
  const changed = expectData(
    await audit({ user: alice.id, event: "password_changed", per_page: 10 }, asAdmin),
    200,
    "audit",
  );
  check(changed.total === 1 && changed.items.every((e) => e.user_id === alice.id), "one password change");
  expectProblem(await audit({ per_page: 0 }, asAdmin), 400, "invalid_request", "per_page=0");

  // Email: a change of address, the links' problems (flow.ts redeems mailed links), a
  // reset request whose answer never says whether the address is known, and an
  // administrator's "verified".
  const changeEmail = (email: string, headers: { Authorization: string }) =>
    api.POST("/v1/me/email", { body: { email }, headers });
  const accepted = expectData(await changeEmail(`${aliceName}@example.test`, asAlice), 202, "change email");
  check(accepted.detail.includes(aliceName), "the answer names the new address");
  expectProblem(await changeEmail("no address", asAlice), 422, "invalid_email", "a bad address");
  expectProblem(await changeEmail("a@example.test", nobody), 401, "invalid_token", "change email");
  const badLink = await api.POST("/v1/auth/verify-email", { body: { token: "A".repeat(43) } });
  expectProblem(badLink, 400, "invalid_email_token", "an unknown verification link");
  const reset = (email: string) => api.POST("/v1/auth/password-reset", { body: { email } });
  const unknownReset = expectData(await reset(`nobody-${freshName()}@example.test`), 202, "reset");
  const knownReset = expectData(await reset(`${aliceName}@example.test`), 202, "reset");
  check(unknownReset.detail === knownReset.detail, "known and unknown addresses get one answer");
  expectProblem(await reset("@"), 422, "invalid_email", "reset for no address");
  const confirm = await api.POST("/v1/auth/password-reset/confirm", {
    body: { token: "A".repeat(43), new_password: NEW_PASSWORD },
  });
  expectProblem(confirm, 400, "invalid_email_token", "an unknown reset link");

  // Second factors: TOTP with codes from the otpauth package, the second step, and the
  // passkey operations' typed refusals (a ceremony needs an authenticator, which the
  // Rust suite and the browser test have).
  const carolName = freshName();
  expectData(await api.POST("/v1/auth/register", { body: { username: carolName, password: PASSWORD } }), 201, "register");
  const asCarol = bearer((await login(carolName, PASSWORD)).access_token);
  const status = expectData(await api.GET("/v1/me/mfa", { headers: asCarol }), 200, "getMfa");
  check(!status.totp && status.methods.length === 0, "nothing enrolled yet");
  const setup = expectData(await api.POST("/v1/me/mfa/totp", { headers: asCarol }), 200, "enrollTotp");
  const app = OTPAuth.URI.parse(setup.otpauth_uri);
  check(app instanceof OTPAuth.TOTP, "a TOTP URI");
  const confirmTotp = (code: string) => api.POST("/v1/me/mfa/totp/confirm", { headers: asCarol, body: { code } });
  expectProblem(await confirmTotp("00000x"), 400, "invalid_code", "a malformed code");
  const codes = expectData(await confirmTotp(app.generate()), 200, "confirmTotp");
  check(codes.recovery_codes.length === 10, "ten recovery codes");
  expectProblem(await api.POST("/v1/me/mfa/totp", { headers: asCarol }), 409, "totp_already_enabled", "enroll twice");
  const firstStep = async () => {
    const answer = await api.POST("/v1/auth/login", { body: { username: carolName, password: PASSWORD } });
    return expectProblem(answer, 403, "mfa_required", "a password with TOTP enrolled");
  };
  const challenge = await firstStep();
  check(challenge.methods?.join() === "totp,recovery_code", `methods ${challenge.methods}`);
  const mfaToken = challenge.mfa_token ?? "";
  const mfa = (body: components["schemas"]["SecondStep"]) => api.POST("/v1/auth/mfa", { body });
  expectProblem(await mfa({ mfa_token: mfaToken, code: "000000" }), 401, "invalid_code", "a wrong code");
  const nextCode = app.generate({ timestamp: Date.now() + 30_000 });
  check(expectData(await mfa({ mfa_token: mfaToken, code: nextCode }), 200, "completeMfa").token_type === "Bearer", "in");
  const used = await mfa({ mfa_token: mfaToken, recovery_code: codes.recovery_codes[0] ?? "" });
  expectProblem(used, 401, "invalid_mfa_token", "a used mfa_token");
  const webauthnOptions = (token: string) => api.POST("/v1/auth/mfa/webauthn/options", { body: { mfa_token: token } });
  expectProblem(await webauthnOptions((await firstStep()).mfa_token ?? ""), 409, "no_passkey", "no passkey");
  expectProblem(await webauthnOptions("A".repeat(43)), 401, "invalid_mfa_token", "an unknown mfa_token");
  const regenerate = (current_password: string) =>
    api.POST("/v1/me/mfa/recovery-codes", { headers: asCarol, body: { current_password } });
  expectProblem(await regenerate(NEW_PASSWORD), 403, "invalid_credentials", "regenerate, wrong password");
  check(expectData(await regenerate(PASSWORD), 200, "regenerate").recovery_codes.length === 10, "a new set");
  const registration = expectData(
    await api.POST("/v1/me/passkeys/options", { headers: asCarol }),
    200,
    "passkeyRegistrationOptions",
  );
  check(typeof registration.publicKey === "object", "creation options");
  const addPasskey = await api.POST("/v1/me/passkeys", {
    headers: asCarol,
    body: { name: "Laptop", credential: { id: "AAAA" } },
  });
  expectProblem(addPasskey, 400, "invalid_credential", "a credential that does not verify");
  check(expectData(await api.GET("/v1/me/passkeys", { headers: asCarol }), 200, "listPasskeys").length === 0, "none");
  const passkeyPath = (id: string) => ({ params: { path: { id } }, headers: asCarol });
  const rename = await api.PATCH("/v1/me/passkeys/{id}", { ...passkeyPath(randomUUID()), body: { name: "Phone" } });
  expectProblem(rename, 404, "passkey_not_found", "rename nothing");
  expectProblem(await api.DELETE("/v1/me/passkeys/{id}", passkeyPath(randomUUID())), 404, "passkey_not_found", "delete");
  const signInOptions = expectData(await api.POST("/v1/auth/passkey/options"), 200, "passkeyOptions");
  const signIn = await api.POST("/v1/auth/passkey", {
    body: { challenge_id: signInOptions.challenge_id, credential: {} },
  });
  expectProblem(signIn, 401, "invalid_passkey", "an assertion that does not verify");
  const disableTotp = (body: components["schemas"]["Reauth"]) =>
    api.POST("/v1/me/mfa/totp/disable", { headers: asCarol, body });
  expectProblem(await disableTotp({ code: "000000" }), 400, "invalid_code", "disable with a wrong code");
  expectEmpty(await disableTotp({ current_password: PASSWORD }), 204, "disableTotp");
  // The step-up: the password proves it is the owner again; without a passkey there is
  // no ceremony to start.
  const stepUp = (body: components["schemas"]["StepUp"]) =>
    api.POST("/v1/auth/reauthenticate", { headers: asCarol, body });
  expectProblem(await stepUp({ password: NEW_PASSWORD }), 403, "invalid_credentials", "a step-up with a wrong password");
  const stepped = expectData(await stepUp({ password: PASSWORD }), 200, "reauthenticate");
  check(stepped.amr.join() === "pwd" && stepped.token_type === "Bearer", "the step-up's amr");
  expectProblem(
    await api.POST("/v1/auth/reauthenticate/options", { headers: asCarol }),
    409,
    "mfa_not_enrolled",
    "a passkey step-up without a passkey",
  );
  const carol = expectData(await api.GET("/v1/me", { headers: asCarol }), 200, "me");
  const resetMfa = (id: string, headers: { Authorization: string }) =>
    api.POST("/v1/admin/users/{id}/mfa/reset", { params: { path: { id } }, headers });
  expectProblem(await resetMfa(carol.id, asCarol), 403, "insufficient_role", "reset without the role");
  expectEmpty(await resetMfa(carol.id, asAdmin), 204, "resetUserMfa");
  expectProblem(await resetMfa(randomUUID(), asAdmin), 404, "user_not_found", "reset nobody");

  // The OAuth client registry: a confidential client's secret is shown once.
  const newApp: components["schemas"]["NewClient"] = {
    name: "TypeScript SDK app",
    redirect_uris: ["https://app.example/callback"],
    post_logout_redirect_uris: [],
    grant_types: ["authorization_code", "refresh_token"],
    scopes: "openid profile email",
    public: false,
    first_party: false,
    audience: "https://app.example/api",
    backchannel_logout_uri: "https://app.example/backchannel-logout",
    backchannel_logout_session_required: true,
  };
  expectProblem(await api.POST("/v1/admin/clients", { headers: asCarol, body: newApp }), 403, "insufficient_role", "register without the role");
  const registered = expectData(await api.POST("/v1/admin/clients", { headers: asAdmin, body: newApp }), 201, "createClient");
  check(registered.client_secret?.length === 43, "a confidential client's secret is shown once");
  check(registered.audience === newApp.audience, "the client's audience is kept");
  check(registered.backchannel_logout_uri === newApp.backchannel_logout_uri, "its back-channel logout URI is kept");
  const plainHttp = { ...newApp, redirect_uris: ["http://app.example/callback"] };
  expectProblem(await api.POST("/v1/admin/clients", { headers: asAdmin, body: plainHttp }), 422, "invalid_client_metadata", "plain http elsewhere than loopback");
  const clients = expectData(await api.GET("/v1/admin/clients", { headers: asAdmin }), 200, "listClients");
  check(clients.some((c) => c.client_id === registered.client_id), "the new client is listed");
  const clientPath = { params: { path: { client_id: registered.client_id } }, headers: asAdmin };
  expectEmpty(await api.DELETE("/v1/admin/clients/{client_id}", clientPath), 204, "deleteClient");
  expectProblem(await api.DELETE("/v1/admin/clients/{client_id}", clientPath), 404, "client_not_found", "delete it twice");

  // Disabling an account: its tokens die at once and it can no longer log in.
  const bobName = freshName();
  const bob = expectData(
    await api.POST("/v1/auth/register", {
      body: { username: bobName, password: PASSWORD, email: `${bobName}@example.test` },
    }),
    201,
    "register",
  );
  check(bob.email === `${bobName}@example.test` && !bob.email_verified, "an unverified address");
  const verifyUser = (id: string, headers: { Authorization: string }) =>
    api.POST("/v1/admin/users/{id}/verify-email", { params: { path: { id } }, headers });
  expectProblem(await verifyUser(bob.id, asAlice), 403, "insufficient_role", "verify-email");
  check(expectData(await verifyUser(bob.id, asAdmin), 200, "verify-email").email_verified, "verified");
  expectProblem(await verifyUser(admin.id, asAdmin), 409, "no_email", "an admin without an address");
  expectProblem(await verifyUser(randomUUID(), asAdmin), 404, "user_not_found", "verify nobody");
  const asBob = bearer((await login(bobName, PASSWORD)).access_token);
  const disable = (id: string, headers: { Authorization: string }) =>
    api.POST("/v1/admin/users/{id}/disable", { params: { path: { id } }, headers });
  expectProblem(await disable(bob.id, asAlice), 403, "insufficient_role", "disable");
  expectEmpty(await disable(bob.id, asAdmin), 204, "disable");
  expectProblem(await api.GET("/v1/me", { headers: asBob }), 401, "token_revoked", "a disabled account's token");
  const disabledLogin = await api.POST("/v1/auth/login", { body: { username: bobName, password: PASSWORD } });
  expectProblem(disabledLogin, 401, "invalid_credentials", "a disabled account logs in");
  expectProblem(await disable(randomUUID(), asAdmin), 404, "user_not_found", "disable nobody");
  const disabled = expectData(await audit({ user: bob.id, event: "user_disabled" }, asAdmin), 200, "audit");
  check(disabled.total === 1, "the disabling is audited");

  // Problem types (RFC 9457 §3.1.1): each `type` seen above leads to a page describing it,
  // through GET /problems/{code} when the spec has it, and as a plain GET of the type's
  // path otherwise.
  const operations = spec.operations();
  if (operations.has("GET /problems/{code}")) {
    const pages = createClient<ProblemPages>({ baseUrl });
    pages.use(recorder);
    const problemPage = (code: string) =>
      pages.GET("/problems/{code}", { params: { path: { code } }, parseAs: "text" });
    for (const code of [...problemCodes].sort()) {
      const html = expectData(await problemPage(code), 200, `the page of ${code}`);
      check(html.trim() !== "", `a page for ${code}`);
    }
    expectProblem(await problemPage("no_such_problem"), 404, null, "an unknown problem type");
  } else {
    for (const path of [...problemPaths].sort()) {
      const page = await fetch(new URL(path, baseUrl));
      check(page.status === 200 && (await page.text()).trim() !== "", `GET ${path}: ${page.status}`);
    }
  }

  const missed = [...operations].filter((op) => !called.has(op)).sort();
  check(missed.length === 0, `operations in the spec this script never called: ${missed.join(", ")}`);
  const extra = [...called].filter((op) => !operations.has(op)).sort();
  check(extra.length === 0, `calls to operations the spec lacks: ${extra.join(", ")}`);
  console.log(
    `typescript client: all ${operations.size} operations called, every answer as documented ` +
      `(problem codes ${[...problemCodes].sort().join(", ")})`,
  );
}

const [baseUrl, adminName, adminPassword, specFile] = process.argv.slice(2);
if (baseUrl === undefined || adminName === undefined || adminPassword === undefined) {
  console.error("usage: node dist/every-operation.js BASE_URL ADMIN_USERNAME ADMIN_PASSWORD [OPENAPI_JSON]");
  process.exit(2);
}
const defaultSpec = fileURLToPath(new URL("../../../openapi.json", import.meta.url));
main(baseUrl, adminName, adminPassword, specFile ?? defaultSpec).catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

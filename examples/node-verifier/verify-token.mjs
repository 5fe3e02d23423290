// How a Node.js resource server verifies Tessera access tokens: offline, against the
// keys Tessera publishes at /.well-known/jwks.json. jose's remote key set caches the
// keys, refetches when a token names an unknown `kid`, and rate-limits those refetches.
//
//   TESSERA_URL=http://127.0.0.1:8080 node verify-token.mjs <access_token>

// --8<-- [start:verifier]
import { createRemoteJWKSet, jwtVerify } from "jose";

const TESSERA_URL = process.env.TESSERA_URL ?? "http://127.0.0.1:8080";
const jwks = createRemoteJWKSet(new URL("/.well-known/jwks.json", TESSERA_URL));

/** The token's claims; throws a JOSEError (answer 401) when it is not a valid,
 *  unexpired Tessera access token for this audience. */
export async function verifyAccessToken(token, { audience = "tessera" } = {}) {
  const { payload } = await jwtVerify(token, jwks, {
    algorithms: ["RS256"], // never the header's choice
    issuer: process.env.TESSERA_ISSUER ?? TESSERA_URL, // tokens.issuer: the public URL
    audience, // tokens.audience
    typ: "at+jwt", // RFC 9068: refuse ID tokens and other JWTs
    requiredClaims: ["exp", "sub"],
    clockTolerance: 30,
  });
  return payload;
}

// Express-style middleware, the tutorial's `verifyToken` done against the JWKS.
export function requireAccessToken(req, res, next) {
  const [scheme, token] = (req.headers.authorization ?? "").split(" ");
  if (scheme !== "Bearer" || !token) return res.status(401).end();
  verifyAccessToken(token).then(
    (claims) => { req.user = claims; next(); },
    () => res.status(401).set("WWW-Authenticate", 'Bearer error="invalid_token"').end(),
  );
}
// --8<-- [end:verifier]

if (import.meta.url === `file://${process.argv[1]}`) {
  verifyAccessToken(process.argv[2] ?? "").then(
    (claims) => console.log(`valid access token for ${claims.username} (${claims.sub})`),
    (e) => { console.error(`refused: ${e.code ?? e.message}`); process.exit(1); },
  );
}

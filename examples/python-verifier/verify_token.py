"""How a Python resource server verifies Tessera access tokens: offline, against the
keys Tessera publishes at /.well-known/jwks.json (PyJWT's PyJWKClient caches them and
refetches when a token names a key it has not seen).

    python verify_token.py <access_token>        # TESSERA_URL defaults to http://127.0.0.1:8080
"""

# --8<-- [start:verifier]
import os

import jwt

TESSERA_URL = os.environ.get("TESSERA_URL", "http://127.0.0.1:8080")
ISSUER = os.environ.get("TESSERA_ISSUER", TESSERA_URL)  # tokens.issuer: the public URL
AUDIENCE = os.environ.get("TESSERA_AUDIENCE", "tessera")  # tokens.audience

jwks = jwt.PyJWKClient(f"{TESSERA_URL}/.well-known/jwks.json", cache_keys=True)


def verify_access_token(token: str) -> dict:
    """The token's claims; jwt.InvalidTokenError (answer 401) if it is not a valid,
    unexpired Tessera access token for this audience; jwt.PyJWKClientConnectionError
    (answer 503) if the JWKS cannot be fetched."""
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":  # RFC 9068
        raise jwt.InvalidTokenError("not an access token")
    try:
        key = jwks.get_signing_key_from_jwt(token)  # picks the key by `kid`
    except jwt.PyJWKClientConnectionError:
        raise
    except jwt.PyJWKClientError as e:  # no such kid
        raise jwt.InvalidTokenError(str(e)) from e
    return jwt.decode(
        token,
        key,
        algorithms=["RS256"],  # never the header's choice
        issuer=ISSUER,
        audience=AUDIENCE,
        options={"require": ["exp", "iss", "aud", "sub"]},
        leeway=30,
    )
# --8<-- [end:verifier]


if __name__ == "__main__":
    import sys

    try:
        claims = verify_access_token(sys.argv[1])
    except (IndexError, jwt.PyJWTError) as e:
        sys.exit(f"refused: {e}")
    print(f"valid access token for {claims['username']} ({claims['sub']})")

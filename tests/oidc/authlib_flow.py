"""Tessera as an OpenID provider, seen by Authlib (PyPI `authlib`) the way a server-side
web app uses it: a CONFIDENTIAL, third-party client, and plain HTTP form posts in place
of a browser (requests, cookies kept, no redirect followed by itself).

What it proves, against a live server:
  1. discovery: /.well-known/openid-configuration (and the RFC 8414 copy) names this
     issuer exactly, PKCE S256 only, and the RFC 9207 `iss` parameter;
  2. the authorization code flow with PKCE (code_challenge made by Authlib from the
     code_verifier): authorize -> Tessera's /login form (csrf, return_to) -> back to
     authorize -> the consent page of a third-party client, posted back with every
     hidden field and decision=allow -> 303 to the registered redirect URI with
     code, state and iss (the redirect is read, never followed);
  3. Authlib's fetch_token with client_secret_basic; the ID token verified with the
     keys of jwks_uri (joserfc, RS256, by kid) and its claims by Authlib's own OIDC
     rules (authlib.oidc.core.CodeIDToken: iss, aud, exp, iat, nonce, azp, at_hash);
  4. userinfo with the access token: the same subject, the username, the address;
  5. a refresh with Authlib's refresh_token: a new access token, a rotated refresh token;
  6. a second authorization of the same client: the consent is remembered, authorize
     answers straight away with a code; that code is spent once, and Authlib's second
     fetch_token with it raises OAuthError invalid_grant;
  7. client_credentials with client_secret_post: an access token, no refresh token,
     whose `sub` and `client_id` are the client.

    python tests/oidc/authlib_flow.py BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI

BASE_URL is Tessera's issuer exactly (http://127.0.0.1:PORT, no trailing slash). The
client must be confidential, not first-party, allowed authorization_code, refresh_token
and client_credentials and the scopes openid profile email, with REDIRECT_URI
registered; nothing has to listen there. The user is registered here, with an email
address. CLIENT_CREDENTIALS_SCOPE (environment) is the scope asked for with
client_credentials; unset, none is sent. Exits non-zero on the first failure.
"""

import base64
import json
import os
import secrets
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

SCOPE = "openid profile email"
PASSWORD = "correct horse battery staple"
TIMEOUT = 15


class Page(HTMLParser):
    """The forms of an HTML page (action, method, hidden fields, named submit buttons),
    its links and its meta refresh target. Attribute values come unescaped (`&amp;` is
    `&`): html.parser decodes character references in them."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.links: list[str] = []
        self.refresh: str | None = None
        self._form: dict | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {
                "action": a.get("action", ""),
                "method": a.get("method", "get").lower(),
                "hidden": {},
                "buttons": [],
            }
            self.forms.append(self._form)
        elif tag in ("input", "button") and self._form is not None and a.get("name"):
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            if kind == "hidden":
                self._form["hidden"][a["name"]] = a.get("value", "")
            elif kind == "submit":
                self._form["buttons"].append((a["name"], a.get("value", "")))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            _, _, target = a.get("content", "").partition("=")  # "0; url=…"
            self.refresh = target.strip().strip("'\"") or None

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None

    def form(self, action: str) -> dict | None:
        return next((f for f in self.forms if urlsplit(f["action"]).path == action), None)


def same_endpoint(url: str, endpoint: str) -> bool:
    """Whether `url` is `endpoint` with a query added (scheme, host, port, path equal)."""
    a, b = urlsplit(url), urlsplit(endpoint)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)


def to_client(resp: requests.Response, redirect_uri: str) -> str | None:
    """Where Tessera sends the browser back to the client, or None when this answer goes
    elsewhere. The contract is a 303 whose Location is the redirect URI; a page that
    moves on by itself (meta refresh) or by a link to the redirect URI is read the same
    way, as a browser would follow it (Chromium's CSP form-action can force such a
    page after a form post)."""
    if resp.is_redirect:
        location = resp.headers["Location"]
        if same_endpoint(location, redirect_uri):
            assert resp.status_code == 303, f"{resp.status_code} to the client, not 303"
            return location
        return None
    if resp.status_code == 200 and "html" in resp.headers.get("Content-Type", ""):
        page = Page(resp.text)
        for target in [page.refresh, *page.links]:
            if target and same_endpoint(target, redirect_uri):
                return target
    return None


def check_callback(location: str, redirect_uri: str, state: str, issuer: str) -> str:
    """The code of an authorization response, after checking state and RFC 9207 iss."""
    assert same_endpoint(location, redirect_uri), location
    query = parse_qs(urlsplit(location).query)
    assert "error" not in query, query
    assert query.get("state") == [state], query
    assert query.get("iss") == [issuer], f"iss {query.get('iss')} is not {issuer}"
    assert len(query.get("code", [])) == 1 and query["code"][0], query
    return query["code"][0]


def jwt_part(token: str, index: int) -> dict:
    """The header (0) or payload (1) of a compact JWT, unverified, for inspection."""
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def main(base: str, client_id: str, client_secret: str, redirect_uri: str) -> None:
    assert not base.endswith("/"), "BASE_URL is the issuer exactly, without a trailing slash"

    # 1. Discovery, from both well-known documents.
    meta = requests.get(f"{base}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert meta.status_code == 200, meta.text
    meta = meta.json()
    assert meta["issuer"] == base, meta["issuer"]
    assert meta["code_challenge_methods_supported"] == ["S256"], meta
    assert meta.get("authorization_response_iss_parameter_supported") is True, meta
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"], meta
    assert "RS256" in meta["id_token_signing_alg_values_supported"], meta
    rfc8414 = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=TIMEOUT)
    assert rfc8414.status_code == 200 and rfc8414.json()["issuer"] == base, rfc8414.text
    authorize_at = meta["authorization_endpoint"]
    token_at = meta["token_endpoint"]
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=TIMEOUT).json())

    # The person who signs in, with an address so that scope email has claims to give.
    username = f"authlib-{secrets.token_hex(4)}"
    email = f"{username}@example.test"
    created = requests.post(
        f"{base}/v1/auth/register",
        json={"username": username, "password": PASSWORD, "email": email},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text

    # Authlib's client: the code_challenge is computed by Authlib (S256 of the
    # code_verifier given to create_authorization_url, authlib.oauth2.rfc7636).
    rp = OAuth2Session(
        client_id,
        client_secret,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        default_timeout=TIMEOUT,
    )

    def authorization_url() -> tuple[str, str, str, str]:
        verifier = secrets.token_urlsafe(48)  # 64 characters, RFC 7636's alphabet
        nonce = secrets.token_urlsafe(16)
        url, state = rp.create_authorization_url(authorize_at, nonce=nonce, code_verifier=verifier)
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0], query
        assert query["nonce"] == [nonce] and query["scope"] == [SCOPE], query
        return url, state, nonce, verifier

    def id_token_claims(tokens: dict, nonce: str) -> CodeIDToken:
        """The ID token verified as Authlib's OpenID client verifies one."""
        header = jwt_part(tokens["id_token"], 0)
        assert header.get("alg") == "RS256" and header.get("typ") == "JWT", header
        assert header.get("kid"), header
        token = jwt.decode(
            tokens["id_token"],
            keys,
            registry=JWSRegistry(algorithms=["RS256"], strict_check_header=False),
        )
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": base},
                "aud": {"essential": True, "value": client_id},
                "sub": {"essential": True},
                "nonce": {"essential": True, "value": nonce},
            },
            {"nonce": nonce, "client_id": client_id, "access_token": tokens["access_token"]},
        )
        claims.validate(leeway=30)
        return claims

    # A browser stand-in: keeps Tessera's cookies, follows nothing by itself.
    browser = requests.Session()
    browser.headers["Accept"] = "text/html"

    def get(url: str) -> requests.Response:
        return browser.get(urljoin(base + "/", url), allow_redirects=False, timeout=TIMEOUT)

    def post(url: str, fields: dict) -> requests.Response:
        return browser.post(urljoin(base + "/", url), data=fields, allow_redirects=False, timeout=TIMEOUT)

    # 2. The first authorization: sign in, then consent.
    url, state, nonce, verifier = authorization_url()
    r = get(url)
    assert r.status_code == 303, f"authorize: {r.status_code} {r.text[:500]}"
    to_login = r.headers["Location"]
    assert urlsplit(to_login).path == "/login" and "return_to" in parse_qs(urlsplit(to_login).query), to_login
    r = get(to_login)
    assert r.status_code == 200, f"/login: {r.status_code}"
    login = Page(r.text).form("/login")
    assert login and login["method"] == "post", "the sign-in form"
    assert {"csrf", "return_to"} <= login["hidden"].keys(), login
    r = post(login["action"], {**login["hidden"], "username": username, "password": PASSWORD})
    assert r.status_code == 303, f"sign-in: {r.status_code} {r.text[:500]}"
    back = r.headers["Location"]
    assert urlsplit(urljoin(base + "/", back)).path == urlsplit(authorize_at).path, back

    r = get(back)
    assert r.status_code == 200, f"authorize after sign-in: {r.status_code} {r.headers.get('Location')}"
    consent = Page(r.text).form("/oauth2/consent")
    assert consent and consent["method"] == "post", "a third-party client gets the consent page"
    assert ("decision", "allow") in consent["buttons"] and ("decision", "deny") in consent["buttons"], consent
    r = post(consent["action"], {**consent["hidden"], "decision": "allow"})
    location = to_client(r, redirect_uri)
    assert location, f"consent: {r.status_code} {r.headers.get('Location')} {r.text[:500]}"
    check_callback(location, redirect_uri, state, base)

    # 3. The code for tokens (client_secret_basic, code_verifier), the ID token verified.
    tokens = rp.fetch_token(token_at, authorization_response=location, state=state, code_verifier=verifier)
    assert tokens["token_type"].lower() == "bearer" and tokens["expires_in"] > 0, tokens
    assert set(tokens["scope"].split()) == set(SCOPE.split()), tokens["scope"]
    assert tokens.get("refresh_token") and tokens.get("id_token"), tokens.keys()
    claims = id_token_claims(tokens, nonce)
    now = time.time()
    assert now - 300 < claims["auth_time"] <= now + 30, claims
    assert "pwd" in claims["amr"], claims
    assert claims["azp"] == client_id and claims.get("sid"), claims
    assert claims["preferred_username"] == username, claims
    assert claims["email"] == email and claims["email_verified"] is False, claims
    access = jwt_part(tokens["access_token"], 1)
    assert jwt_part(tokens["access_token"], 0).get("typ") == "at+jwt"
    assert access["client_id"] == client_id and access["sub"] == claims["sub"], access

    # 4. Userinfo, with the token Authlib holds (Authorization: Bearer).
    info = rp.get(meta["userinfo_endpoint"])
    assert info.status_code == 200, info.text
    info = info.json()
    assert info["sub"] == claims["sub"], info
    assert info["preferred_username"] == username, info
    assert info["email"] == email and info["email_verified"] is False, info

    # 5. Refresh (Authlib sends the session's scope along, as RFC 6749 allows).
    refreshed = rp.refresh_token(token_at, refresh_token=tokens["refresh_token"])
    assert refreshed["access_token"] != tokens["access_token"], "a new access token"
    assert refreshed["refresh_token"] != tokens["refresh_token"], "the refresh token rotates"

    # 6. Again, for the same person and client: no sign-in, no consent, a code at once.
    url, state, nonce, verifier = authorization_url()
    r = get(url)
    location = to_client(r, redirect_uri)
    assert location, f"remembered consent: {r.status_code} {r.headers.get('Location')} {r.text[:300]}"
    check_callback(location, redirect_uri, state, base)
    second = rp.fetch_token(token_at, authorization_response=location, state=state, code_verifier=verifier)
    assert id_token_claims(second, nonce)["sub"] == claims["sub"]
    # A code is good once: the replay is refused with invalid_grant (RFC 6749 4.1.2).
    try:
        rp.fetch_token(token_at, authorization_response=location, state=state, code_verifier=verifier)
    except OAuthError as e:
        assert e.error == "invalid_grant", repr(e)
    else:
        raise AssertionError("the same code was exchanged twice")

    # 7. client_credentials, with client_secret_post this time.
    service = OAuth2Session(
        client_id,
        client_secret,
        token_endpoint_auth_method="client_secret_post",
        scope=os.environ.get("CLIENT_CREDENTIALS_SCOPE") or None,
        default_timeout=TIMEOUT,
    )
    machine = service.fetch_token(token_at, grant_type="client_credentials")
    assert machine.get("access_token") and "refresh_token" not in machine, machine.keys()
    assert "id_token" not in machine, machine.keys()
    assert jwt_part(machine["access_token"], 0).get("typ") == "at+jwt"
    payload = jwt_part(machine["access_token"], 1)
    assert payload["client_id"] == client_id and payload["sub"] == client_id, payload

    print(
        f"authlib flow passed for {username} with client {client_id}: discovery, login, "
        f"consent, code+PKCE, ID token, userinfo, refresh, remembered consent, code replay "
        f"refused, client_credentials"
    )


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

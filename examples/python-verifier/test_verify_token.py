"""Runs the verifier example against a live Tessera (TESSERA_URL): Tessera's tokens
pass, anything else is refused.

    TESSERA_URL=http://127.0.0.1:8080 python -m unittest -v test_verify_token
"""

import base64
import json
import secrets
import unittest
import urllib.request

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

import verify_token
from verify_token import TESSERA_URL, verify_access_token


def post(path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{TESSERA_URL}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


class VerifyAccessToken(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        credentials = {
            "username": f"pyjwt-{secrets.token_hex(4)}",
            "password": "correct horse battery staple",
        }
        post("/v1/auth/register", credentials)
        cls.username = credentials["username"]
        cls.tokens = post("/v1/auth/login", credentials)

    def test_accepts_a_tessera_access_token(self):
        claims = verify_access_token(self.tokens["access_token"])
        self.assertEqual(claims["username"], self.username)
        self.assertEqual(claims["iss"], verify_token.ISSUER)

    def test_refuses_another_audience(self):
        saved = verify_token.AUDIENCE
        verify_token.AUDIENCE = "billing"
        try:
            with self.assertRaises(jwt.InvalidAudienceError):
                verify_access_token(self.tokens["access_token"])
        finally:
            verify_token.AUDIENCE = saved

    def test_refuses_a_tampered_token(self):
        header, payload, signature = self.tokens["access_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["roles"] = ["admin"]
        forged_payload = (
            base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        )
        with self.assertRaises(jwt.InvalidSignatureError):
            verify_access_token(f"{header}.{forged_payload}.{signature}")

    def test_refuses_a_token_signed_by_another_key_under_a_tessera_kid(self):
        kid = jwt.get_unverified_header(self.tokens["access_token"])["kid"]
        claims = jwt.decode(self.tokens["access_token"], options={"verify_signature": False})
        attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(
            claims, attacker, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"}
        )
        with self.assertRaises(jwt.InvalidSignatureError):
            verify_access_token(forged)

    def test_refuses_a_token_that_is_not_an_access_token(self):
        with self.assertRaises(jwt.InvalidTokenError):
            verify_access_token(self.tokens["refresh_token"])
        claims = jwt.decode(self.tokens["access_token"], options={"verify_signature": False})
        unsigned = jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"})
        with self.assertRaises(jwt.InvalidTokenError):
            verify_access_token(unsigned)


if __name__ == "__main__":
    unittest.main()

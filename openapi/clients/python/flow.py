"""The SDK flow with the Python client that openapi-python-client generates from
openapi/openapi.json (no hand edits): register with an email address, log in, read
/v1/me, refresh, log out, and see the old access token refused with a typed
problem+json answer; then verify the address from the mailed link, forget the
password, reset it from the next mailed link, and see every old session gone; then enroll
an authenticator app (pyotp) and log in with the second step, by code and by recovery
code.

    python openapi/clients/python/flow.py http://127.0.0.1:8080 MAIL_DIR

MAIL_DIR is where the SMTP server the server delivers to writes each message as JSON
(tests/smtp/sink.py, which .ci/clients runs).

The generated package must be importable as `tessera_client` (.ci/clients generates it
into target/ci-clients/python and puts that on PYTHONPATH).
"""

import base64
import glob
import json
import os
import re
import secrets
import sys
import time

import pyotp
from tessera_client import AuthenticatedClient, Client
from tessera_client.api.account import confirm_totp, enroll_totp, get_me, get_mfa
from tessera_client.api.auth import (
    complete_mfa,
    confirm_password_reset,
    login,
    logout,
    refresh,
    register,
    request_password_reset,
    verify_email,
)
from tessera_client.models import (
    CodeBody,
    Credentials,
    EmailTokenRequest,
    MfaStatus,
    PasswordResetConfirm,
    PasswordResetRequest,
    Problem,
    RecoveryCodes,
    RefreshRequest,
    Registration,
    SecondStep,
    TokenPair,
    TotpEnrollment,
    User,
)


def mailed_token(mail_dir: str, to: str, subject: str) -> str:
    """The token in the link of the mail to `to` with this subject, once it arrives."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for path in glob.glob(os.path.join(mail_dir, "*.json")):
            with open(path, encoding="utf-8") as f:
                mail = json.load(f)
            if to in mail["rcpt_to"] and mail["subject"] == subject:
                found = re.search(r"token=([A-Za-z0-9_-]{43})", mail["text"])
                assert found and found.group(0) in mail["html"], mail
                return found.group(1)
        time.sleep(0.1)
    raise SystemExit(f"no mail {subject!r} to {to} arrived in {mail_dir}")


def security_notice(mail_dir: str, to: str, subject: str, secrets: list[str]) -> str:
    """The text of the security notice to `to` with this subject, once it arrives: it
    names the client and carries no link with a token and none of `secrets`."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for path in glob.glob(os.path.join(mail_dir, "*.json")):
            with open(path, encoding="utf-8") as f:
                mail = json.load(f)
            if to in mail["rcpt_to"] and mail["subject"] == subject:
                for body in (mail["text"], mail["html"]):
                    assert "token=" not in body, body
                    assert not any(s in body for s in secrets), body
                assert "From: 127.0.0.1" in mail["text"], mail["text"]
                return mail["text"]
        time.sleep(0.1)
    raise SystemExit(f"no notice {subject!r} to {to} arrived in {mail_dir}")


def main(base_url: str, mail_dir: str) -> None:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    credentials = Credentials(
        username=f"py-{secrets.token_hex(4)}",
        password="correct horse battery staple",
    )

    email = f"{credentials.username}@example.test"
    registration = Registration(
        username=credentials.username, password=credentials.password, email=email
    )
    created = register.sync_detailed(client=anonymous, body=registration)
    assert created.status_code == 201, created
    user = created.parsed
    assert isinstance(user, User) and user.username == credentials.username

    # A weak password is a typed 422 problem, with a detail a person can act on.
    weak = register.sync(
        client=anonymous,
        body=Registration(username=f"py-{secrets.token_hex(4)}", password="password"),
    )
    assert isinstance(weak, Problem), weak
    assert (weak.status, weak.code) == (422, "weak_password"), weak
    print(f"weak password refused: {weak.detail}")

    tokens = login.sync(client=anonymous, body=credentials)
    assert isinstance(tokens, TokenPair), tokens
    assert tokens.token_type == "Bearer" and tokens.expires_in > 0

    alice = AuthenticatedClient(base_url=base_url, token=tokens.access_token)
    me = get_me.sync(client=alice)
    assert isinstance(me, User) and me.id == user.id, me

    rotated = refresh.sync(
        client=anonymous, body=RefreshRequest(refresh_token=tokens.refresh_token)
    )
    assert isinstance(rotated, TokenPair), rotated
    assert rotated.refresh_token != tokens.refresh_token

    alice = AuthenticatedClient(base_url=base_url, token=rotated.access_token)
    assert logout.sync_detailed(client=alice).status_code == 204

    refused = get_me.sync(client=alice)
    assert isinstance(refused, Problem), refused
    assert (refused.status, refused.code) == (401, "token_revoked"), refused

    # The address, verified from the mailed link.
    assert me.email == email and me.email_verified is False, me
    token = mailed_token(mail_dir, email, "Confirm your email address")
    verified = verify_email.sync_detailed(client=anonymous, body=EmailTokenRequest(token=token))
    assert verified.status_code == 204, verified
    again = verify_email.sync(client=anonymous, body=EmailTokenRequest(token=token))
    assert isinstance(again, Problem) and again.code == "invalid_email_token", again

    # Forgotten: a reset link, a new password, and every old session gone.
    signed_in = login.sync(client=anonymous, body=credentials)
    assert isinstance(signed_in, TokenPair), signed_in
    asked = request_password_reset.sync_detailed(
        client=anonymous, body=PasswordResetRequest(email=email)
    )
    assert asked.status_code == 202, asked
    token = mailed_token(mail_dir, email, "Reset your password")
    new_password = "plaid tortoise juggles quietly"
    done = confirm_password_reset.sync_detailed(
        client=anonymous, body=PasswordResetConfirm(token=token, new_password=new_password)
    )
    assert done.status_code == 204, done
    gone = get_me.sync(client=AuthenticatedClient(base_url=base_url, token=signed_in.access_token))
    assert isinstance(gone, Problem) and gone.code == "token_revoked", gone
    old = login.sync(client=anonymous, body=credentials)
    assert isinstance(old, Problem) and old.code == "invalid_credentials", old
    fresh = login.sync(
        client=anonymous,
        body=Credentials(username=credentials.username, password=new_password),
    )
    assert isinstance(fresh, TokenPair), fresh

    # An authenticator app (pyotp plays it): enroll, confirm, and log in in two steps.
    alice = AuthenticatedClient(base_url=base_url, token=fresh.access_token)
    setup = enroll_totp.sync(client=alice)
    assert isinstance(setup, TotpEnrollment), setup
    app = pyotp.parse_uri(setup.otpauth_uri)
    codes = confirm_totp.sync(client=alice, body=CodeBody(code=app.now()))
    assert isinstance(codes, RecoveryCodes) and len(codes.recovery_codes) == 10, codes
    # The owner hears of the reset and of the new factor, at the verified address.
    security_notice(mail_dir, email, "Your password was reset", [token, new_password])
    security_notice(
        mail_dir,
        email,
        "An authenticator app was added to your account",
        [setup.secret, *codes.recovery_codes],
    )
    first = login.sync(
        client=anonymous,
        body=Credentials(username=credentials.username, password=new_password),
    )
    assert isinstance(first, Problem) and first.code == "mfa_required", first
    assert first.methods == ["totp", "recovery_code"], first
    # The confirming code is spent; the next step's code is within the window.
    second = complete_mfa.sync(
        client=anonymous,
        body=SecondStep(mfa_token=first.mfa_token, code=app.at(time.time() + 30)),
    )
    assert isinstance(second, TokenPair), second
    claims = json.loads(base64.urlsafe_b64decode(second.access_token.split(".")[1] + "=="))
    assert claims["amr"] == ["pwd", "otp", "mfa"], claims
    # The phone is lost: a recovery code gets in, once.
    first = login.sync(
        client=anonymous,
        body=Credentials(username=credentials.username, password=new_password),
    )
    assert isinstance(first, Problem) and first.mfa_token, first
    recovered = complete_mfa.sync(
        client=anonymous,
        body=SecondStep(mfa_token=first.mfa_token, recovery_code=codes.recovery_codes[0]),
    )
    assert isinstance(recovered, TokenPair), recovered
    status = get_mfa.sync(client=AuthenticatedClient(base_url=base_url, token=recovered.access_token))
    assert isinstance(status, MfaStatus) and status.recovery_codes_remaining == 9, status
    print(
        f"python client flow passed for {me.username} ({me.id}): email verified and reset, "
        "security notices mailed, TOTP enrolled, two-step login with pyotp's code and with a recovery code"
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(f"usage: {sys.argv[0]} BASE_URL MAIL_DIR")
    main(sys.argv[1], sys.argv[2])

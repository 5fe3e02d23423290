"""Every module and every operation of the Python client that openapi-python-client
generates from openapi/openapi.json (no hand edits), against a live server:

1. every module of the generated `tessera_client` package is imported, so that a
   generator bug that only shows at import time (a name used but never imported, say)
   fails here rather than in a user's program;
2. every operation (every module under `tessera_client.api`) is called at least once,
   and each answer must be the documented status parsed into the documented type: the
   success model, or a `Problem` with the expected status and `code` whose `type` is
   `<server>/problems/<code>`;
3. the operations called must be exactly the operations generated, so an operation added
   to the spec without a call here fails CI.

    python openapi/clients/python/every_operation.py http://127.0.0.1:8080 ADMIN PASSWORD

ADMIN is an account with the `admin` role (`tessera users create NAME --admin`). The
generated package must be importable as `tessera_client` (.ci/clients generates it into
target/ci-clients/python and puts that on PYTHONPATH).
"""

import importlib
import inspect
import pkgutil
import secrets
import sys
import time
import uuid
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pyotp
import tessera_client

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "plaid tortoise juggles quietly"


def import_every_module() -> dict[str, ModuleType]:
    """Imports every module of the generated package; fails naming each one that raises."""
    modules: dict[str, ModuleType] = {"tessera_client": tessera_client}
    failures: list[str] = []

    def package_failed(name: str) -> None:  # walk_packages imports packages itself
        error = sys.exc_info()[1]
        failures.append(f"{name}: {type(error).__name__}: {error}")

    for info in pkgutil.walk_packages(
        tessera_client.__path__, prefix="tessera_client.", onerror=package_failed
    ):
        try:
            modules[info.name] = importlib.import_module(info.name)
        except Exception as error:  # noqa: BLE001 - every failure is reported
            failures.append(f"{info.name}: {type(error).__name__}: {error}")
    if failures:
        raise SystemExit(
            "generated modules that do not import:\n  " + "\n  ".join(sorted(set(failures)))
        )
    return modules


class AnyCode:
    """An expected `Problem` answer whose `code` this script does not pin down."""


class ListOf:
    """An expected answer that is a JSON array of one model."""

    def __init__(self, model: type) -> None:
        self.model = model


class Calls:
    """Calls operations through `sync_detailed`, checks each answer, remembers what ran."""

    def __init__(self, base_url: str) -> None:
        from tessera_client.models import Problem

        self.base_url = base_url
        self.problem_model = Problem
        self.called: set[str] = set()
        self.count = 0
        self.problem_codes: set[str] = set()
        self.problem_paths: set[str] = set()  # the path of each problem `type` seen
        self.last: Any = None  # the latest response, for its headers

    def __call__(self, operation: ModuleType, status: int, expect: Any, **kwargs: Any) -> Any:
        """`expect` is a model class, a `ListOf`, `None` (no body), `str` (text), or a
        a problem `code` (a `str` value) or `AnyCode` for a `Problem` answer."""
        name = operation.__name__
        self.called.add(name)
        self.count += 1
        response = self.last = operation.sync_detailed(**kwargs)
        short = name.rsplit(".", 1)[-1]
        where = f"{short}: HTTP {int(response.status_code)} {response.content[:300]!r}"
        assert response.status_code == status, f"expected {status}; {where}"
        parsed = response.parsed
        if isinstance(expect, str) or expect is AnyCode:
            self.check_problem(parsed, response.headers, status, expect, where)
        elif isinstance(expect, ListOf):
            assert isinstance(parsed, list), where
            assert all(isinstance(item, expect.model) for item in parsed), where
        elif expect is None:
            assert parsed is None, where
        else:
            assert isinstance(parsed, expect), f"expected {expect.__name__}; {where}"
        return parsed

    def check_problem(self, parsed: Any, headers: Any, status: int, code: Any, where: str) -> None:
        assert isinstance(parsed, self.problem_model), f"expected a Problem; {where}"
        if code is AnyCode:
            code = parsed.code
        assert (parsed.status, parsed.code) == (status, code), f"expected {status} {code}; {where}"
        assert parsed.title and parsed.detail, where
        content_type = headers.get("content-type", "")
        assert content_type.startswith("application/problem+json"), where
        # RFC 9457 §3.1.1: `type` is a URI naming the problem type; Tessera's is
        # <server>/problems/<code>, documented by GET /problems/{code} when the spec has it.
        path = urlsplit(parsed.type_).path
        assert path.endswith(f"/problems/{parsed.code}"), f"problem type {parsed.type_}; {where}"
        self.problem_codes.add(parsed.code)
        self.problem_paths.add(path)


def problem_pages_operation(operations: dict[str, ModuleType]) -> ModuleType | None:
    """The generated operation for GET /problems/{code}, whatever its operationId and tag."""
    for module in operations.values():
        get_kwargs = getattr(module, "_get_kwargs", None)
        if get_kwargs is None or list(inspect.signature(get_kwargs).parameters) != ["code"]:
            continue
        kwargs = get_kwargs(code="x")
        if kwargs["method"] == "get" and kwargs["url"] == "/problems/x":
            return module
    return None


def exercise(
    base_url: str,
    admin_name: str,
    admin_password: str,
    operations: dict[str, ModuleType],
) -> Calls:
    from tessera_client import AuthenticatedClient, Client
    from tessera_client.api.account import (
        change_email,
        change_password,
        delete_session,
        add_passkey,
        confirm_totp,
        delete_passkey,
        disable_totp,
        enroll_totp,
        get_dashboard,
        get_me,
        get_mfa,
        list_passkeys,
        list_sessions,
        passkey_registration_options,
        regenerate_recovery_codes,
        rename_passkey,
    )
    from tessera_client.api.admin import (
        create_client,
        delete_client,
        disable_user,
        list_audit_events,
        list_clients,
        list_keys,
        list_users,
        reset_user_mfa,
        revoke_key,
        rotate_keys,
        verify_user_email,
    )
    from tessera_client.api.auth import (
        complete_mfa,
        confirm_password_reset,
        login,
        logout,
        logout_all,
        mfa_webauthn_options,
        passkey_options,
        passkey_sign_in,
        reauthenticate,
        reauthenticate_options,
        refresh,
        register,
        request_password_reset,
        verify_email,
    )
    from tessera_client.api.health import get_health, get_readiness
    from tessera_client.api.keys import get_jwks
    from tessera_client.api.o_auth import introspect_token, revoke_token
    from tessera_client.models import Client as RegisteredApp  # the HTTP client is `Client`
    from tessera_client.models import (
        AdminUser,
        GrantType,
        NewClient,
        RegisteredClient,
        AuditEntry,
        AuditPage,
        CodeBody,
        Credentials,
        Dashboard,
        EmailChange,
        EmailTokenRequest,
        Health,
        Introspection,
        Jwks,
        KeyState,
        MailAccepted,
        MfaStatus,
        MfaTokenBody,
        NewPasskeyBody,
        Passkey,
        PasskeyRename,
        PasskeySignIn,
        PasskeySignInOptions,
        PasswordChange,
        PasswordResetConfirm,
        PasswordResetRequest,
        Readiness,
        Reauth,
        RecoveryCodes,
        RefreshRequest,
        Registration,
        SecondStep,
        Session,
        SigningKey,
        SteppedUp,
        StepUp,
        TokenPair,
        TokenRequest,
        TokenRequestForm,
        TokenTypeHint,
        TotpEnrollment,
        User,
        UserPage,
        WebauthnOptions,
    )

    call = Calls(base_url)
    # Undocumented statuses raise: every answer must be one the spec names.
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    def bearer(token: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)

    def sign_in(username: str, password: str) -> TokenPair:
        return call(
            login,
            200,
            TokenPair,
            client=anonymous,
            body=Credentials(username=username, password=password),
        )

    def fresh_name(prefix: str) -> str:
        return f"{prefix}-{secrets.token_hex(4)}"

    nobody = bearer("not-a-token")  # a malformed bearer token

    # Health and the key set: no authentication.
    assert call(get_health, 200, Health, client=anonymous).status == "ok"
    assert call(get_readiness, 200, Readiness, client=anonymous).status == "ok"
    jwks = call(get_jwks, 200, Jwks, client=anonymous)
    assert jwks.keys and all(k.alg == "RS256" and k.kty == "RSA" for k in jwks.keys), jwks
    etag = call.last.headers["etag"]
    call(get_jwks, 304, None, client=anonymous, if_none_match=etag)

    # Registration: created, taken, weak password, bad username.
    alice_name = fresh_name("py-every")
    alice = call(
        register,
        201,
        User,
        client=anonymous,
        body=Registration(username=alice_name, password=PASSWORD),
    )
    assert alice.username == alice_name and alice.roles == []
    call(
        register,
        409,
        "username_taken",
        client=anonymous,
        body=Registration(username=alice_name, password=PASSWORD),
    )
    call(
        register,
        422,
        "weak_password",
        client=anonymous,
        body=Registration(username=fresh_name("py"), password="password"),
    )
    call(
        register,
        422,
        "invalid_username",
        client=anonymous,
        body=Registration(username="-" + fresh_name("py"), password=PASSWORD),
    )

    # Login, then the account's own reads.
    call(
        login,
        401,
        "invalid_credentials",
        client=anonymous,
        body=Credentials(username=alice_name, password="wrong " + PASSWORD),
    )
    first = sign_in(alice_name, PASSWORD)
    assert first.token_type == "Bearer" and first.expires_in > 0 and first.refresh_expires_in > 0
    as_alice = bearer(first.access_token)
    assert call(get_me, 200, User, client=as_alice).id == alice.id
    call(get_me, 401, "invalid_token", client=nobody)
    dashboard = call(get_dashboard, 200, Dashboard, client=as_alice)
    assert dashboard.message == f"Welcome {alice_name}" and dashboard.data.user_id == alice.id
    call(get_dashboard, 401, "invalid_token", client=nobody)
    sessions = call(list_sessions, 200, ListOf(Session), client=as_alice)
    assert [s.id for s in sessions if s.current] == [dashboard.data.session_id], sessions
    call(list_sessions, 401, "invalid_token", client=nobody)

    # Refresh rotates; an unknown refresh token is refused. (Replaying the spent one
    # within `tokens.reuse_grace` answers the same new pair, so it is not used here.)
    second = sign_in(alice_name, PASSWORD)
    rotated = call(
        refresh,
        200,
        TokenPair,
        client=anonymous,
        body=RefreshRequest(refresh_token=second.refresh_token),
    )
    assert rotated.refresh_token != second.refresh_token
    call(
        refresh,
        401,
        "invalid_grant",
        client=anonymous,
        body=RefreshRequest(refresh_token="rt_not-a-token"),
    )

    # Ending another session of one's own, and an unknown one.
    third = sign_in(alice_name, PASSWORD)
    others = [
        s for s in call(list_sessions, 200, ListOf(Session), client=as_alice) if not s.current
    ]
    third_session = call(
        get_dashboard, 200, Dashboard, client=bearer(third.access_token)
    ).data.session_id
    assert third_session in [s.id for s in others], others
    call(delete_session, 204, None, client=as_alice, id=third_session)
    call(get_me, 401, "token_revoked", client=bearer(third.access_token))
    call(delete_session, 404, "session_not_found", client=as_alice, id=uuid.uuid4())
    call(delete_session, 401, "invalid_token", client=nobody, id=uuid.uuid4())

    # Password change: wrong current password, weak new one, then done.
    call(
        change_password,
        403,
        "invalid_credentials",
        client=as_alice,
        body=PasswordChange(current_password="wrong " + PASSWORD, new_password=NEW_PASSWORD),
    )
    call(
        change_password,
        422,
        "weak_password",
        client=as_alice,
        body=PasswordChange(current_password=PASSWORD, new_password="password"),
    )
    call(
        change_password,
        204,
        None,
        client=as_alice,
        body=PasswordChange(current_password=PASSWORD, new_password=NEW_PASSWORD),
    )
    call(
        change_password,
        401,
        "invalid_token",
        client=nobody,
        body=PasswordChange(current_password=PASSWORD, new_password=NEW_PASSWORD),
    )
    call(
        login,
        401,
        "invalid_credentials",
        client=anonymous,
        body=Credentials(username=alice_name, password=PASSWORD),
    )

    # Introspection (RFC 7662) needs the admin or introspect role; JSON and form bodies.
    admin_tokens = sign_in(admin_name, admin_password)
    as_admin = bearer(admin_tokens.access_token)
    admin = call(get_me, 200, User, client=as_admin)
    assert "admin" in admin.roles, admin
    call(
        introspect_token,
        403,
        "insufficient_role",
        client=as_alice,
        body=TokenRequest(token=first.access_token),
    )
    call(
        introspect_token,
        401,
        "invalid_token",
        client=nobody,
        body=TokenRequest(token=first.access_token),
    )
    live = call(
        introspect_token,
        200,
        Introspection,
        client=as_admin,
        body=TokenRequest(token=first.access_token, token_type_hint=TokenTypeHint.ACCESS_TOKEN),
    )
    assert live.active and live.sub == alice.id and live.username == alice_name, live
    unknown = call(
        introspect_token,
        200,
        Introspection,
        client=as_admin,
        body=TokenRequestForm(token="not-a-token"),
    )
    assert unknown.active is False, unknown

    # Revocation (RFC 7009): a refresh token (JSON) and an access token (form).
    fourth = sign_in(alice_name, NEW_PASSWORD)
    call(
        revoke_token,
        200,
        None,
        client=anonymous,
        body=TokenRequest(token=fourth.refresh_token, token_type_hint=TokenTypeHint.REFRESH_TOKEN),
    )
    call(
        refresh,
        401,
        "invalid_grant",
        client=anonymous,
        body=RefreshRequest(refresh_token=fourth.refresh_token),
    )
    fifth = sign_in(alice_name, NEW_PASSWORD)
    call(
        revoke_token,
        200,
        None,
        client=anonymous,
        body=TokenRequestForm(token=fifth.access_token, token_type_hint=TokenTypeHint.ACCESS_TOKEN),
    )
    call(get_me, 401, "token_revoked", client=bearer(fifth.access_token))
    gone = call(
        introspect_token,
        200,
        Introspection,
        client=as_admin,
        body=TokenRequestForm(token=fifth.access_token, token_type_hint=TokenTypeHint.ACCESS_TOKEN),
    )
    assert gone.active is False, gone
    call(
        revoke_token,
        200,
        None,
        client=anonymous,
        body=TokenRequest(token="not-a-token"),
    )

    # Logout ends this session; logout-all ends every one.
    call(logout, 204, None, client=as_alice)
    call(get_me, 401, "token_revoked", client=as_alice)
    call(logout, 204, None, client=as_alice)  # safe to retry with the same token
    call(logout, 401, "invalid_token", client=nobody)
    sixth, seventh = (
        sign_in(alice_name, NEW_PASSWORD),
        sign_in(alice_name, NEW_PASSWORD),
    )
    call(logout_all, 204, None, client=bearer(sixth.access_token))
    call(get_me, 401, "token_revoked", client=bearer(seventh.access_token))
    call(logout_all, 401, "invalid_token", client=nobody)
    as_alice = bearer(sign_in(alice_name, NEW_PASSWORD).access_token)

    # Signing keys: list; rotate without `immediate` (the new key is only published, so
    # every live token stays good); revoke that pending key, which never signed.
    call(list_keys, 403, "insufficient_role", client=as_alice)
    keys = call(list_keys, 200, ListOf(SigningKey), client=as_admin)
    assert [k.state for k in keys].count(KeyState.ACTIVE) == 1, keys
    call(rotate_keys, 403, "insufficient_role", client=as_alice)
    after = call(rotate_keys, 200, ListOf(SigningKey), client=as_admin, immediate=False)
    fresh = [k for k in after if k.kid not in {k.kid for k in keys}]
    assert len(fresh) == 1 and fresh[0].state == KeyState.PENDING, after
    call(revoke_key, 403, "insufficient_role", client=as_alice, kid=fresh[0].kid)
    call(revoke_key, 204, None, client=as_admin, kid=fresh[0].kid)
    call(revoke_key, 404, "key_not_found", client=as_admin, kid=fresh[0].kid)
    assert fresh[0].kid not in {k.kid for k in call(get_jwks, 200, Jwks, client=anonymous).keys}
    call(get_me, 200, User, client=as_admin)  # the admin's token outlives all of it

    # Users and the audit log, paged; a page size out of range is a typed 400.
    call(list_users, 403, "insufficient_role", client=as_alice)
    users = call(list_users, 200, UserPage, client=as_admin, page=1, per_page=200)
    assert users.page == 1 and users.per_page == 200 and users.total >= 2, users
    assert all(isinstance(u, AdminUser) for u in users.items)
    call(list_users, 400, "invalid_request", client=as_admin, per_page=0)
    call(list_audit_events, 403, "insufficient_role", client=as_alice)
    audit = call(
        list_audit_events,
        200,
        AuditPage,
        client=as_admin,
        user=alice.id,
        event="password_changed",
        per_page=10,
    )
    assert audit.total == 1 and len(audit.items) == 1, audit
    assert all(isinstance(e, AuditEntry) and e.user_id == alice.id for e in audit.items), audit
    call(list_audit_events, 400, "invalid_request", client=as_admin, per_page=0)

    # Email: a change of address, the links' problems (flow.py redeems mailed links), a
    # reset request whose answer never says whether the address is known, and an
    # administrator's "verified".
    accepted = call(
        change_email,
        202,
        MailAccepted,
        client=as_alice,
        body=EmailChange(email=f"{alice_name}@example.test"),
    )
    assert alice_name in accepted.detail, accepted
    call(change_email, 422, "invalid_email", client=as_alice, body=EmailChange(email="no address"))
    call(change_email, 401, "invalid_token", client=nobody, body=EmailChange(email="a@example.test"))
    call(
        verify_email,
        400,
        "invalid_email_token",
        client=anonymous,
        body=EmailTokenRequest(token="A" * 43),
    )
    unknown_reset = call(
        request_password_reset,
        202,
        MailAccepted,
        client=anonymous,
        body=PasswordResetRequest(email=f"{fresh_name('nobody')}@example.test"),
    )
    known_reset = call(
        request_password_reset,
        202,
        MailAccepted,
        client=anonymous,
        body=PasswordResetRequest(email=f"{alice_name}@example.test"),
    )
    assert unknown_reset.detail == known_reset.detail, (unknown_reset, known_reset)
    call(
        request_password_reset,
        422,
        "invalid_email",
        client=anonymous,
        body=PasswordResetRequest(email="@"),
    )
    call(
        confirm_password_reset,
        400,
        "invalid_email_token",
        client=anonymous,
        body=PasswordResetConfirm(token="A" * 43, new_password=NEW_PASSWORD),
    )

    # Second factors: TOTP with pyotp's codes, a recovery code, the second step, and the
    # passkey operations' typed refusals (a ceremony needs an authenticator, which the
    # Rust suite and the browser test have).
    carol_name = fresh_name("py-mfa")
    call(
        register,
        201,
        User,
        client=anonymous,
        body=Registration(username=carol_name, password=PASSWORD),
    )
    carol_tokens = sign_in(carol_name, PASSWORD)
    as_carol = bearer(carol_tokens.access_token)
    status = call(get_mfa, 200, MfaStatus, client=as_carol)
    assert not status.totp and status.methods == [], status
    setup = call(enroll_totp, 200, TotpEnrollment, client=as_carol)
    totp = pyotp.parse_uri(setup.otpauth_uri)
    call(confirm_totp, 400, "invalid_code", client=as_carol, body=CodeBody(code="00000x"))
    codes = call(confirm_totp, 200, RecoveryCodes, client=as_carol, body=CodeBody(code=totp.now()))
    assert len(codes.recovery_codes) == 10, codes
    call(enroll_totp, 409, "totp_already_enabled", client=as_carol)
    challenge = call(
        login,
        403,
        "mfa_required",
        client=anonymous,
        body=Credentials(username=carol_name, password=PASSWORD),
    )
    assert challenge.methods == ["totp", "recovery_code"], challenge
    call(
        complete_mfa,
        401,
        "invalid_code",
        client=anonymous,
        body=SecondStep(mfa_token=challenge.mfa_token, code="000000"),
    )
    call(
        complete_mfa,
        200,
        TokenPair,
        client=anonymous,
        body=SecondStep(mfa_token=challenge.mfa_token, code=totp.at(time.time() + 30)),
    )
    call(
        complete_mfa,
        401,
        "invalid_mfa_token",
        client=anonymous,
        body=SecondStep(mfa_token=challenge.mfa_token, recovery_code=codes.recovery_codes[0]),
    )
    call(
        mfa_webauthn_options,
        409,
        "no_passkey",
        client=anonymous,
        body=MfaTokenBody(
            mfa_token=call(
                login,
                403,
                "mfa_required",
                client=anonymous,
                body=Credentials(username=carol_name, password=PASSWORD),
            ).mfa_token
        ),
    )
    call(
        mfa_webauthn_options,
        401,
        "invalid_mfa_token",
        client=anonymous,
        body=MfaTokenBody(mfa_token="A" * 43),
    )
    call(
        regenerate_recovery_codes,
        403,
        "invalid_credentials",
        client=as_carol,
        body=Reauth(current_password=NEW_PASSWORD),
    )
    call(
        regenerate_recovery_codes,
        200,
        RecoveryCodes,
        client=as_carol,
        body=Reauth(current_password=PASSWORD),
    )
    options = call(passkey_registration_options, 200, WebauthnOptions, client=as_carol)
    assert options.public_key["challenge"], options
    call(
        add_passkey,
        400,
        "invalid_credential",
        client=as_carol,
        body=NewPasskeyBody(name="Laptop", credential={"id": "AAAA"}),
    )
    assert call(list_passkeys, 200, ListOf(Passkey), client=as_carol) == []
    call(
        rename_passkey,
        404,
        "passkey_not_found",
        client=as_carol,
        id=uuid.uuid4(),
        body=PasskeyRename(name="Phone"),
    )
    call(delete_passkey, 404, "passkey_not_found", client=as_carol, id=uuid.uuid4())
    sign_in_options = call(passkey_options, 200, PasskeySignInOptions, client=anonymous)
    call(
        passkey_sign_in,
        401,
        "invalid_passkey",
        client=anonymous,
        body=PasskeySignIn(challenge_id=sign_in_options.challenge_id, credential={}),
    )
    call(disable_totp, 400, "invalid_code", client=as_carol, body=Reauth(code="000000"))
    call(disable_totp, 204, None, client=as_carol, body=Reauth(current_password=PASSWORD))
    # The step-up: the password proves it is the owner again; without a passkey there is
    # no ceremony to start.
    call(reauthenticate, 403, "invalid_credentials", client=as_carol, body=StepUp(password=NEW_PASSWORD))
    stepped = call(reauthenticate, 200, SteppedUp, client=as_carol, body=StepUp(password=PASSWORD))
    assert stepped.amr == ["pwd"] and stepped.token_type == "Bearer", stepped
    call(reauthenticate_options, 409, "mfa_not_enrolled", client=as_carol)
    carol = call(get_me, 200, User, client=as_carol)
    call(reset_user_mfa, 403, "insufficient_role", client=as_carol, id=carol.id)
    call(reset_user_mfa, 204, None, client=as_admin, id=carol.id)
    call(reset_user_mfa, 404, "user_not_found", client=as_admin, id=uuid.uuid4())

    # The OAuth client registry: a confidential client's secret is shown once.
    app = NewClient(
        name="Python SDK app",
        redirect_uris=["https://app.example/callback"],
        grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN],
        audience="https://app.example/api",
        backchannel_logout_uri="https://app.example/backchannel-logout",
    )
    call(create_client, 403, "insufficient_role", client=as_carol, body=app)
    registered = call(create_client, 201, RegisteredClient, client=as_admin, body=app)
    assert isinstance(registered.client_secret, str) and len(registered.client_secret) == 43, registered
    assert registered.audience == "https://app.example/api", registered
    assert registered.backchannel_logout_uri == "https://app.example/backchannel-logout", registered
    bad = NewClient(name="Plain http", redirect_uris=["http://app.example/callback"])
    call(create_client, 422, "invalid_client_metadata", client=as_admin, body=bad)
    listed = call(list_clients, 200, ListOf(RegisteredApp), client=as_admin)
    assert any(c.client_id == registered.client_id for c in listed), listed
    call(delete_client, 204, None, client=as_admin, client_id=registered.client_id)
    call(delete_client, 404, "client_not_found", client=as_admin, client_id=registered.client_id)

    # Disabling an account: its tokens die at once and it can no longer log in.
    bob_name = fresh_name("py-every")
    bob = call(
        register,
        201,
        User,
        client=anonymous,
        body=Registration(username=bob_name, password=PASSWORD, email=f"{bob_name}@example.test"),
    )
    assert bob.email == f"{bob_name}@example.test" and bob.email_verified is False, bob
    call(verify_user_email, 403, "insufficient_role", client=as_alice, id=bob.id)
    verified = call(verify_user_email, 200, AdminUser, client=as_admin, id=bob.id)
    assert verified.email_verified is True, verified
    call(verify_user_email, 409, "no_email", client=as_admin, id=admin.id)
    call(verify_user_email, 404, "user_not_found", client=as_admin, id=uuid.uuid4())
    as_bob = bearer(sign_in(bob_name, PASSWORD).access_token)
    call(disable_user, 403, "insufficient_role", client=as_alice, id=bob.id)
    call(disable_user, 204, None, client=as_admin, id=bob.id)
    call(get_me, 401, "token_revoked", client=as_bob)
    call(
        login,
        401,
        "invalid_credentials",
        client=anonymous,
        body=Credentials(username=bob_name, password=PASSWORD),
    )
    call(disable_user, 404, "user_not_found", client=as_admin, id=uuid.uuid4())
    disabled = call(
        list_audit_events,
        200,
        AuditPage,
        client=as_admin,
        user=bob.id,
        event="user_disabled",
    )
    assert disabled.total == 1, disabled

    # Problem types (RFC 9457 §3.1.1): each `type` seen above leads to a page describing
    # it, through the generated operation when the spec has GET /problems/{code}, and as a
    # plain GET of the type's path otherwise.
    pages = problem_pages_operation(operations)
    if pages is not None:
        for code in sorted(call.problem_codes):
            page = call(pages, 200, str, client=anonymous, code=code)
            assert page.strip(), f"an empty page for {code}"
        call(pages, 404, AnyCode, client=anonymous, code="no_such_problem")
    else:
        for path in sorted(call.problem_paths):
            page = anonymous.get_httpx_client().get(path)
            assert page.status_code == 200 and page.text.strip(), f"GET {path}: {page.status_code}"
    return call


def main(base_url: str, admin_name: str, admin_password: str) -> None:
    modules = import_every_module()
    operations = {
        name: module
        for name, module in modules.items()
        if name.startswith("tessera_client.api.") and hasattr(module, "sync_detailed")
    }
    call = exercise(base_url, admin_name, admin_password, operations)
    missed = sorted(set(operations) - call.called)
    assert not missed, f"operations the client generated but this script never called: {missed}"
    assert call.called == set(operations), sorted(call.called - set(operations))
    print(
        f"python client: {len(modules)} modules imported, all {len(operations)} operations "
        f"called ({call.count} calls, problem codes {', '.join(sorted(call.problem_codes))})"
    )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(f"usage: {sys.argv[0]} BASE_URL ADMIN_USERNAME ADMIN_PASSWORD")
    main(*sys.argv[1:])

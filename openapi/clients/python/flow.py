"""The SDK flow with the Python client that openapi-python-client generates from
openapi/openapi.json (no hand edits): register, log in, read /v1/me, refresh, log out,
and see the old access token refused with a typed problem+json answer.

    python openapi/clients/python/flow.py http://127.0.0.1:8080

The generated package must be importable as `tessera_client` (.ci/clients generates it
into target/ci-clients/python and puts that on PYTHONPATH).
"""

import secrets
import sys

from tessera_client import AuthenticatedClient, Client
from tessera_client.api.account import get_me
from tessera_client.api.auth import login, logout, refresh, register
from tessera_client.models import Credentials, Problem, RefreshRequest, Registration, TokenPair, User


def main(base_url: str) -> None:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    credentials = Credentials(
        username=f"py-{secrets.token_hex(4)}",
        password="correct horse battery staple",
    )

    registration = Registration(username=credentials.username, password=credentials.password)
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
    print(f"python client flow passed for {me.username} ({me.id})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")

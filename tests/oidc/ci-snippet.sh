# To paste into .ci/clients after the hosted-pages block (Schemathesis stays last). It
# uses what .ci/clients has set up by then: $root, $work, $url, tessera_env, the venv's
# python on PATH, npm ci done in tests/browser, the server running.
#
# Tessera as an OpenID provider for two third-party relying-party libraries:
# openid-client (Node) with a person signing in through Chromium, for a public
# first-party client; Authlib (Python) with plain form posts, for a confidential
# third-party client that goes through the consent page. The clients are created with
# the CLI, as an operator would; each `clients create --json` prints one JSON object.

echo "== openid connect relying parties (openid-client in chromium; authlib)"
# create_client NAME ARGS...: the client's JSON, or the CLI's words and a failed run.
create_client() {
    local log=$work/clients-create.log
    env "${tessera_env[@]}" target/debug/tessera clients create --name "$@" --json 2>"$log" ||
        { cat "$log" >&2; return 1; }
}
# field NAME < JSON: one field of a client's JSON ("" when absent or null).
field() {
    python3 -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"
}
# The redirect URI must be registered before the test runs, so the test's callback
# server listens on a port chosen here (free now, bound by the test a moment later).
callback_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
callback=http://127.0.0.1:$callback_port/callback

public_client=$(create_client "openid-client test" --public --first-party \
    --redirect-uri "$callback" --post-logout-redirect-uri "$callback" \
    --grant authorization_code --grant refresh_token --scope "openid profile email")
public_id=$(field client_id <<<"$public_client")
[ -n "$public_id" ] && [ -z "$(field client_secret <<<"$public_client")" ] ||
    { echo "a public client with an id and no secret: $public_client" >&2; exit 1; }

service_client=$(create_client "openid-client service" --grant client_credentials --scope "openid profile email")
service_id=$(field client_id <<<"$service_client")
service_secret=$(field client_secret <<<"$service_client")
[ -n "$service_id" ] && [ -n "$service_secret" ] || { echo "a confidential client: $service_client" >&2; exit 1; }

# Never served: the Authlib script reads the redirect to it and goes no further.
authlib_redirect=http://127.0.0.1:9/authlib/callback
authlib_client=$(create_client "authlib test" --redirect-uri "$authlib_redirect" \
    --grant authorization_code --grant refresh_token --grant client_credentials --scope "openid profile email")
authlib_id=$(field client_id <<<"$authlib_client")
authlib_secret=$(field client_secret <<<"$authlib_client")
[ -n "$authlib_id" ] && [ -n "$authlib_secret" ] || { echo "a confidential client: $authlib_client" >&2; exit 1; }

(cd tests/browser && TESSERA_URL=$url CALLBACK_URL=$callback PUBLIC_CLIENT_ID=$public_id \
    CONFIDENTIAL_CLIENT_ID=$service_id CONFIDENTIAL_CLIENT_SECRET=$service_secret \
    SCREENSHOT_DIR="$root/target/browser" node oidc.test.mjs)
python tests/oidc/authlib_flow.py "$url" "$authlib_id" "$authlib_secret" "$authlib_redirect"

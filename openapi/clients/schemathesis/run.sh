#!/usr/bin/env bash
# Schemathesis (property-based testing from the OpenAPI document) against a live Tessera:
# every operation of openapi/openapi.json gets generated requests, valid and invalid, and
# every answer goes through all of Schemathesis's checks (documented status, Content-Type,
# headers and schema; invalid data refused, valid data accepted; auth not ignored; ...).
#
#   openapi/clients/schemathesis/run.sh URL USER_TOKEN ADMIN_TOKEN
#
# USER_TOKEN is an access token of an account without roles, ADMIN_TOKEN one of an account
# with the `admin` role; both are sent as `Authorization: Bearer` on every request of their
# runs. Both are spent by the end (run 3 logs the user out, run 5 disables the admin), so
# this runs last.
# Environment: TESSERA_OPENAPI (default openapi/openapi.json), SCHEMATHESIS_MAX_EXAMPLES
# (default 30 per operation and phase, which keeps the five runs to a few minutes on CI's
# two cores), SCHEMATHESIS_SEED (to replay a run; each run prints its seed).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 URL USER_TOKEN ADMIN_TOKEN" >&2; exit 2; }
url=$1 user_token=$2 admin_token=$3
cd "$(dirname "$0")/../../.."
spec=$(realpath "${TESSERA_OPENAPI:-openapi/openapi.json}")
config=$PWD/openapi/clients/schemathesis/schemathesis.toml
# Schemathesis keeps its crash cache (for `st replay ID`) in .schemathesis and Hypothesis
# its data in .hypothesis, both in the working directory: keep them out of the work tree.
mkdir -p target/schemathesis
cd target/schemathesis

# The allow-list, in two places, each entry with the standard that the check's
# expectation contradicts (add nothing without one):
# - schemathesis.toml beside this script: narrow allowances, per operation and check
#   (extra expected statuses);
# - exclude_checks: whole checks turned off, for all operations. None today; e.g.
#     exclude_checks+=(some_check)  # RFC nnnn §x.y requires ..., which this check refuses
exclude_checks=()

common=(
    --url "$url"
    --checks all
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}"
    --workers 1                  # the server under test shares CI's two cores
    --request-timeout 30
    --generation-database none   # each run starts afresh
    --no-shrink                  # keep failing runs short; the report shows the request
)
if [ ${#exclude_checks[@]} -gt 0 ]; then
    common+=(--exclude-checks "$(IFS=,; echo "${exclude_checks[*]}")")
fi
if [ -n "${SCHEMATHESIS_SEED:-}" ]; then
    common+=(--seed "$SCHEMATHESIS_SEED")
fi

failed=()
st() {
    local what=$1 token=$2
    shift 2
    echo "-- schemathesis: $what"
    schemathesis --config-file "$config" run "$spec" "${common[@]}" -H "Authorization: Bearer $token" "$@" ||
        failed+=("$what")
}

# Schemathesis feeds operations values it saw in earlier answers (ids, kids), infers
# links between operations (Session.id → DELETE /v1/me/sessions/{id}, AdminUser.id →
# disable, SigningKey.kid → revoke), and seeds ids from the bearer token's own claims
# (`sub` → any `id`). Some operations would then end the very token a run holds, and every
# later request of that run would only see 401. So the runs are split:
#
# 1. The user's token on every operation except those that can end the user's own
#    session: logout and logout-all end it by design, and deleteSession would be fed the
#    current session's id from listSessions/getDashboard. (changePassword ends only the
#    *other* sessions, even with the right current password; revokeToken takes the token
#    in its body, and this token is only ever sent as the Authorization header.) The
#    admin operations answer this token 403, which is checked too, with the user's own
#    id from `sub` for disableUser.
st "user token, all but the session-ending operations" "$user_token" \
    --exclude-operation-id logout \
    --exclude-operation-id logoutAll \
    --exclude-operation-id deleteSession

# 2. The admin's token on the operations where the role matters and that cannot disable
#    the admin or kill every token: disableUser would be fed the admin's own id (from
#    `sub`, or listUsers), and revokeKey the active key's kid (from listKeys), which would
#    revoke every token that key signed. rotateKeys is safe: the previous key keeps
#    verifying the tokens it signed while it retires; so is resetUserMfa (fed the admin's
#    own id, it removes factors the admin does not have: 204).
st "admin token, admin operations" "$admin_token" \
    --include-operation-id listKeys \
    --include-operation-id rotateKeys \
    --include-operation-id listUsers \
    --include-operation-id listAuditEvents \
    --include-operation-id introspectToken \
    --include-operation-id resetUserMfa

# 3. The session-ending operations with the user's token, in a run of their own so that
#    nothing can feed deleteSession a real session id (generated ids answer 404). The first
#    logout ends the token; from then on the run sees 401 answers, which must be as
#    documented too.
st "user token, session-ending operations" "$user_token" \
    --include-operation-id logout \
    --include-operation-id logoutAll \
    --include-operation-id deleteSession

# 4. revokeKey with the admin's token, alone: no operation in the run answers a kid, and
#    the token's claims hold none, so generated kids answer 404 and the signing key lives.
st "admin token, revokeKey" "$admin_token" \
    --include-operation-id revokeKey

# 5. disableUser with the admin's token, last: `sub` gives it the admin's own id, so the
#    admin disables itself (204, the success path) and the rest of the run sees 401.
#    Nothing uses the tokens afterwards.
st "admin token, disableUser (the admin disables itself)" "$admin_token" \
    --include-operation-id disableUser

if [ ${#failed[@]} -gt 0 ]; then
    printf 'schemathesis failed: %s\n' "${failed[@]}" >&2
    exit 1
fi

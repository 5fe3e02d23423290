#!/usr/bin/env python3
"""Times password-reset requests for a verified address and for unknown addresses,
interleaved, and prints their medians and 90th percentiles: they should be
indistinguishable (the answer is the same, and so must be the work behind it).

    benches/reset_timing.py http://127.0.0.1:8080 KNOWN_ADDRESS [rounds]

KNOWN_ADDRESS must be an account's verified address (benches/reset_timing.sh makes
one). Run against a release build with limits off (TESSERA_LIMITS__ENABLED=false), or
the per-address bucket answers 429s.
"""
import http.client
import json
import statistics
import sys
import time
import urllib.parse
import uuid

base = urllib.parse.urlparse(sys.argv[1])
known = sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 300
conn = http.client.HTTPConnection(base.hostname, base.port)


def reset(email):
    start = time.perf_counter()
    conn.request(
        "POST",
        "/v1/auth/password-reset",
        json.dumps({"email": email}),
        {"content-type": "application/json"},
    )
    resp = conn.getresponse()
    body = resp.read()
    return resp.status, body, (time.perf_counter() - start) * 1000


timings = {"known": [], "unknown": []}
bodies = set()
for i in range(rounds + 20):
    # Alternate which goes first, so neither always runs right after the other.
    order = ["known", "unknown"] if i % 2 == 0 else ["unknown", "known"]
    for kind in order:
        email = known if kind == "known" else f"nobody-{uuid.uuid4().hex[:12]}@example.test"
        status, body, ms = reset(email)
        assert status == 202, (status, body)
        bodies.add(body)
        if i >= 20:  # the first rounds warm up connections and caches
            timings[kind].append(ms)

assert len(bodies) == 1, f"the answers differ: {bodies}"
print(f"{'address':<10}{'requests':>10}{'median ms':>12}{'p90 ms':>10}")
for kind, values in timings.items():
    values.sort()
    p90 = values[int(len(values) * 0.9)]
    print(f"{kind:<10}{len(values):>10}{statistics.median(values):>12.3f}{p90:>10.3f}")

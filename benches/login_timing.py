#!/usr/bin/env python3
"""Times failed logins for an existing user (wrong password) and for an unknown user,
interleaved, and prints the medians: they should be indistinguishable.

    benches/login_timing.py http://127.0.0.1:8080 [rounds]

Registers a user first. Run against a release build with limits off
(TESSERA_LIMITS__ENABLED=false), or the per-account delays will answer 429s.
"""
import http.client
import json
import statistics
import sys
import time
import urllib.parse
import uuid

base = urllib.parse.urlparse(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 30
conn = http.client.HTTPConnection(base.hostname, base.port)


def post(path, body):
    start = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.status, (time.perf_counter() - start) * 1000


real = "timing_" + uuid.uuid4().hex[:8]
status, _ = post("/v1/auth/register", {"username": real, "password": "correct horse battery"})
assert status == 201, status
wrong, unknown = [], []
for i in range(rounds + 3):
    ghost = "nobody_" + uuid.uuid4().hex[:8]
    # Alternate which goes first, so warm caches favour neither.
    if i % 2:
        s1, t1 = post("/v1/auth/login", {"username": real, "password": "not the password"})
        s2, t2 = post("/v1/auth/login", {"username": ghost, "password": "not the password"})
    else:
        s2, t2 = post("/v1/auth/login", {"username": ghost, "password": "not the password"})
        s1, t1 = post("/v1/auth/login", {"username": real, "password": "not the password"})
    assert s1 == s2 == 401, (s1, s2)
    if i >= 3:  # warm-up
        wrong.append(t1)
        unknown.append(t2)
mw, mu = statistics.median(wrong), statistics.median(unknown)
print(f"wrong password: median {mw:.2f} ms over {rounds}")
print(f"unknown user:   median {mu:.2f} ms over {rounds}")
print(f"difference:     {abs(mw - mu):.2f} ms ({abs(mw - mu) / max(mw, mu) * 100:.1f} %)")

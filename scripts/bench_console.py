"""The console's pages against a large installation: 100,000 users and 10,000 groups in a source,
1,000,000 provisioning log entries. Each page is fetched signed in, many times over loopback;
the figures are its time from request to last byte (p50, p99) and the bytes it sends.

Part of scripts/bench (BENCH_ONLY=console runs only this part)."""

import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

USERS = 100_000
GROUPS = 10_000
LOG_ENTRIES = 1_000_000
PASSWORD = "a long bench password"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def request(port, method, path, body=None, headers=None, timeout=300):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def bulk(port, token, ops):
    body = json.dumps({"schemas": [BULK], "Operations": ops})
    resp, data = request(port, "POST", "/scim/v2/hr/Bulk", body,
                         {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    if resp.status != 200:
        raise SystemExit(f"bulk load answered {resp.status}: {data[:300]!r}")
    return json.loads(data)["Operations"]


def serve(idsync, data, free_port):
    port = free_port()
    env = dict(os.environ, IDSYNC_SCIM__RATE_LIMIT_PER_SECOND="0", RUST_LOG="warn")
    proc = subprocess.Popen([str(idsync), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data], env=env,
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            request(port, "GET", "/healthz", timeout=2)
            return proc, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("idsync did not start for the console benchmark")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def populate(idsync, data, free_port, log):
    token = json.loads(subprocess.run([str(idsync), "--data-dir", data, "source", "add", "--name", "hr", "--json"],
                                      check=True, capture_output=True, text=True).stdout)["token"]
    password_file = Path(data) / "admin.pw"
    password_file.write_text(PASSWORD + "\n")
    subprocess.run([str(idsync), "--data-dir", data, "admin", "create", "--local", "--name", "ann", "--password-file",
                    str(password_file)], check=True, capture_output=True)
    proc, port = serve(idsync, data, free_port)
    started = time.monotonic()
    try:
        ids = []
        for start in range(0, USERS, 1000):
            ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}",
                    "data": {"schemas": [USER_SCHEMA], "userName": f"user{i:06d}", "displayName": f"User {i}",
                             "emails": [{"value": f"user{i:06d}@example.test", "primary": True}], "active": i % 10 != 0}}
                   for i in range(start, start + 1000)]
            ids += [op["location"].rsplit("/", 1)[1] for op in bulk(port, token, ops)]
        for start in range(0, GROUPS, 500):
            ops = [{"method": "POST", "path": "/Groups", "bulkId": f"g{g}",
                    "data": {"schemas": [GROUP_SCHEMA], "displayName": f"group{g:05d}",
                             "members": [{"value": ids[(g * 10 + k) % USERS]} for k in range(10)]}}
                   for g in range(start, start + 500)]
            bulk(port, token, ops)
    finally:
        stop(proc)
    log(f"console: loaded {USERS:,} users and {GROUPS:,} groups in {time.monotonic() - started:.0f}s")
    db = sqlite3.connect(Path(data) / "idsync.db")
    actions = ["create_user", "update_user", "add_member", "deactivate_user"]
    db.executemany(
        "INSERT INTO events (at, run_id, source, target, user_name, group_name, action, reason, result, detail) "
        "VALUES (?, NULL, 'hr', 'jira', ?, NULL, ?, 'the source changed', 'applied', NULL)",
        ((f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00.000Z", f"user{i % USERS:06d}", actions[i % 4])
         for i in range(LOG_ENTRIES)))
    db.commit()
    db.close()
    log(f"console: wrote {LOG_ENTRIES:,} provisioning log entries")


def sign_in(port):
    body = urllib.parse.urlencode({"name": "ann", "password": PASSWORD})
    resp, data = request(port, "POST", "/ui/login", body, {
        "Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{port}"})
    cookie = next((v for k, v in resp.getheaders() if k.lower() == "set-cookie" and v.startswith("__Host-idsync=")), None)
    if resp.status != 303 or cookie is None:
        raise SystemExit(f"the console benchmark could not sign in: {resp.status} {data[:200]!r}")
    return cookie.split(";", 1)[0]


PAGES = [
    ("Dashboard", "/ui/"),
    ("Sources", "/ui/sources"),
    ("Source (100,000 users)", "/ui/sources/hr"),
    ("Targets", "/ui/targets"),
    ("Runs", "/ui/runs"),
    ("Log, newest 100 of 1,000,000", "/ui/log"),
    ("Log search by user", "/ui/log?user={user}"),
    ("Explain a user", "/ui/explain?user={user}"),
    ("Backup", "/ui/backup"),
    ("Troubleshooting", "/ui/troubleshooting"),
    ("Administration", "/ui/admin"),
]


def console_benchmarks(put, idsync, free_port, percentiles, log, samples):
    data = tempfile.mkdtemp(prefix="idsync-bench-console-")
    populate(idsync, data, free_port, log)
    proc, port = serve(idsync, data, free_port)
    try:
        cookie = sign_in(port)
        for name, path in PAGES:
            times, size = [], 0
            for i in range(samples):
                url = path.format(user=f"user{(i * 7919) % USERS:06d}")
                start = time.perf_counter()
                resp, body = request(port, "GET", url, headers={"Cookie": cookie})
                times.append((time.perf_counter() - start) * 1000)
                if resp.status != 200:
                    raise SystemExit(f"console page {url} answered {resp.status}: {body[:200]!r}")
                size = max(size, len(body))
                if i == 0 and re.search(rb"could not show this page", body):
                    raise SystemExit(f"console page {url} failed: {body[:200]!r}")
            p50, p99 = percentiles(times)
            put(f"Console: {name} (p50)", "ms", "idsync", p50)
            put(f"Console: {name} (p99)", "ms", "idsync", p99)
            put(f"Console: {name}, bytes sent", "bytes", "idsync", size)
            log(f"console: {name}: p50 {p50} ms, p99 {p99} ms, {size:,} bytes")
    finally:
        stop(proc)

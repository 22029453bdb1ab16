"""Benchmarks idsync against two SCIM servers people use today, in one run on one machine.

Started by scripts/bench, which builds idsync in release mode and installs the peers and wrk.
Every server gets the same data (10,000 users, 100 groups of 100 members) and the same load, sent
only to 127.0.0.1 with bounded duration. Figures go to bench/results.json and the README table.
"""

import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IDSYNC = Path(os.environ["IDSYNC_BIN"])
SCIM2_SERVER = os.environ["SCIM2_SERVER_BIN"]
SCIMMY_DIR = Path(os.environ["SCIMMY_DIR"])
USERS = int(os.environ.get("BENCH_USERS", "10000"))
GROUPS = 100
WRK_SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
CONSOLE_SAMPLES = int(os.environ.get("BENCH_CONSOLE_SAMPLES", "50"))
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    def __init__(self, key, label, port, path, token, proc):
        self.key, self.label, self.port, self.path, self.token, self.proc = key, label, port, path, token, proc
        self.local = threading.local()

    def url(self, suffix=""):
        return f"http://127.0.0.1:{self.port}{self.path}{suffix}"

    def call(self, method, suffix, body=None, timeout=120):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}
        data = json.dumps(body) if body is not None else None
        for attempt in range(2):
            try:
                conn.request(method, self.path + suffix, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.getheader("connection", "").lower() == "close" or resp.version == 10:
                    conn.close()
                return resp.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def wait_ready(self):
        for _ in range(200):
            try:
                if self.call("GET", "/ServiceProviderConfig")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{self.label} did not come up")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_idsync(data):
    out = subprocess.run([IDSYNC, "--data-dir", data, "source", "add", "--name", "bench", "--json"], check=True, capture_output=True, text=True)
    token = json.loads(out.stdout)["token"]
    port = free_port()
    env = dict(os.environ, IDSYNC_SCIM__RATE_LIMIT_PER_SECOND="0", RUST_LOG="warn")
    proc = subprocess.Popen([IDSYNC, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data], env=env, stderr=subprocess.DEVNULL)
    return Target("idsync", "idsync", port, "/scim/v2/bench", token, proc)


def start_scim2_server(token):
    port = free_port()
    proc = subprocess.Popen([SCIM2_SERVER, "--hostname", "127.0.0.1", "--port", str(port), "--bearer-token", token], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Target("scim2_server", "scim2-server", port, "/v2", token, proc)


def start_scimmy(token):
    port = free_port()
    env = dict(os.environ, NODE_PATH=str(SCIMMY_DIR / "node_modules"))
    proc = subprocess.Popen(["node", str(SCIMMY_DIR / "scimmy-peer.mjs"), str(port), token], cwd=SCIMMY_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Target("scimmy", "SCIMMY", port, "/scim/v2", token, proc)


def user_body(i):
    return {"schemas": [USER_SCHEMA], "userName": f"bench-{i}", "displayName": f"Bench User {i}", "active": True,
            "name": {"givenName": "Bench", "familyName": f"User{i}"},
            "emails": [{"value": f"bench-{i}@example.test", "type": "work", "primary": True}]}


def load(t):
    """Loads USERS users and GROUPS groups; returns the user ids in order."""
    started = time.monotonic()
    def create(i):
        status, body = t.call("POST", "/Users", user_body(i))
        if status != 201:
            raise SystemExit(f"{t.label}: creating user {i} answered {status}: {body}")
        return body["id"]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(USERS)))
    for g in range(GROUPS):
        members = [{"value": ids[i]} for i in range(g, USERS, GROUPS)]
        status, body = t.call("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": f"bench-group-{g}", "members": members})
        if status != 201:
            raise SystemExit(f"{t.label}: creating group {g} answered {status}: {body}")
    log(f"{t.label}: loaded {USERS} users and {GROUPS} groups in {time.monotonic() - started:.1f}s")
    return ids


def settle(t):
    """Waits until a server has worked off what the last run left queued, so runs do not overlap."""
    started = time.monotonic()
    t.call("GET", "/ServiceProviderConfig", timeout=600)
    waited = time.monotonic() - started
    if waited > 1:
        log(f"{t.label}: waited {waited:.0f}s for the previous run's requests to finish")


def wrk(t, script, suffix, extra_env=None):
    env = dict(os.environ, TOKEN=t.token, USERS=str(USERS), LUA_DIR=str(ROOT / "bench" / "lua"), **(extra_env or {}))
    cmd = ["wrk", "-t2", "-c16", f"-d{WRK_SECONDS}s", "--latency", "-s", str(ROOT / "bench" / "lua" / script), t.url(suffix)]
    settle(t)
    # A short unmeasured run first: caches warm, and a server's background work after loading
    # (idsync's WAL checkpoint) is not billed to the first case.
    warm = cmd[:3] + ["-d2s"] + cmd[4:]
    subprocess.run(warm, env=env, capture_output=True, text=True, timeout=120)
    settle(t)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=WRK_SECONDS + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    statuses = {int(c): int(n) for c, n in re.findall(r"status (\d+): (\d+)", out)}
    ok = sum(n for c, n in statuses.items() if 200 <= c < 300)
    bad = sum(statuses.values()) - ok
    if not rate:
        log(f"{t.label} {script}: wrk failed; counted as not run")
        return None
    if ok == 0:
        log(f"{t.label} {script}: not one request answered within {WRK_SECONDS}s")
        return 0.0
    if bad:
        log(f"{t.label} {script}: {bad} of {ok + bad} answers were not 2xx: {statuses}")
    value = float(rate.group(1)) * ok / (ok + bad)
    log(f"{t.label} {script}: {value:.0f} req/s")
    return round(value, 1)


def add_member_latency(t, size, ids, extra_ids):
    """p50 and p99 in ms of PATCH add-one-member to a group of `size` members."""
    members = ids[:size]
    status, body = t.call("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": f"latency-{size}", "members": [{"value": m} for m in members[:5000]]})
    if status != 201:
        log(f"{t.label}: group of {size} not created ({status})")
        return None, None
    gid = body["id"]
    for start in range(5000, size, 5000):
        chunk = [{"value": m} for m in members[start:start + 5000]]
        status, _ = t.call("PATCH", f"/Groups/{gid}", {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": chunk}]})
        if status not in (200, 204):
            log(f"{t.label}: growing group to {size} failed ({status})")
            return None, None
    timings = []
    deadline = time.monotonic() + 30
    for i in range(SAMPLES):
        if i >= 10 and time.monotonic() > deadline:
            log(f"{t.label}: stopped after {i} samples (30 s budget)")
            break
        extra = extra_ids[i % len(extra_ids)]
        t0 = time.perf_counter()
        status, _ = t.call("PATCH", f"/Groups/{gid}", {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": extra}]}]})
        timings.append((time.perf_counter() - t0) * 1000)
        if status not in (200, 204):
            log(f"{t.label}: add member answered {status}")
            return None, None
        t.call("PATCH", f"/Groups/{gid}", {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": f"members[value eq \"{extra}\"]"}]})
    timings.sort()
    p50, p99 = statistics.median(timings), timings[int(len(timings) * 0.99) - 1]
    log(f"{t.label}: add member to a group of {size}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    return round(p50, 3), round(p99, 3)


def grow_idsync(t, total):
    """Adds users through Bulk until idsync holds `total`; returns the new ids."""
    ids = []
    for start in range(USERS, total, 1000):
        ops = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": user_body(i)} for i in range(start, min(start + 1000, total))]
        status, body = t.call("POST", "/Bulk", {"schemas": [BULK], "Operations": ops})
        if status != 200:
            raise SystemExit(f"idsync bulk load answered {status}")
        ids += [op["location"].rsplit("/", 1)[1] for op in body["Operations"] if op["status"] == "201"]
    return ids


def plan_benchmark(put):
    """The pure planner on 100,000 users in 200 groups (engine example plan_bench)."""
    out = subprocess.run(["cargo", "run", "--quiet", "--release", "--locked", "-p", "engine", "--example", "plan_bench"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    log(f"planner: {r}")
    put(f"Plan {r['users']:,} users × {r['groups']} groups, empty target ({r['initial_operations']:,} operations)", "s", "idsync", round(r["initial_plan_seconds"], 3))
    put(f"Plan {r['users']:,} users × {r['groups']} groups, target already matching", "s", "idsync", round(r["steady_plan_seconds"], 3))
    put("Planner: memory for an empty target's plan (RSS after plan − RSS with inputs)", "MB", "idsync",
        round(r["rss_after_initial_plan_mb"] - r["rss_with_inputs_mb"], 1))


class Sim:
    """`idsync simulate jira` in its own process, reached over its REST API."""
    TOKEN = "sim-admin-token"

    def __init__(self):
        port = free_port()
        self.proc = subprocess.Popen([IDSYNC, "simulate", "jira", "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = port
        for _ in range(200):
            try:
                self.call("GET", "/rest/api/2/serverInfo")
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the Jira simulator did not start")

    def call(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, path, json.dumps(body) if body is not None else None,
                     {"Authorization": f"Bearer {self.TOKEN}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, (json.loads(data) if data else None)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_synced_idsync(sim, concurrency):
    """idsync with one push source bound to the simulated Jira."""
    data = tempfile.mkdtemp(prefix="idsync-sync-bench-")
    config = Path(data) / "idsync.toml"
    config.write_text(f"[sync]\nconcurrency = {concurrency}\nmax_backoff_seconds = 1\n\n[[binding]]\nsource = \"bench\"\ntarget = \"jira\"\n")
    out = subprocess.run([IDSYNC, "--data-dir", data, "source", "add", "--name", "bench", "--json"], check=True, capture_output=True, text=True)
    token = json.loads(out.stdout)["token"]
    env = dict(os.environ, SIM_TOKEN=Sim.TOKEN)
    subprocess.run([IDSYNC, "--data-dir", data, "target", "add", "--name", "jira", "--kind", "jira", "--url", f"http://127.0.0.1:{sim.port}",
                    "--token-env", "SIM_TOKEN"], check=True, env=env, capture_output=True)
    port = free_port()
    env = dict(os.environ, IDSYNC_SCIM__RATE_LIMIT_PER_SECOND="0", RUST_LOG="warn")
    proc = subprocess.Popen([IDSYNC, "--config", str(config), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data], env=env, stderr=subprocess.DEVNULL)
    t = Target("idsync", "idsync", port, "/scim/v2/bench", token, proc)
    t.wait_ready()
    return t


def push_to_jira_latency(put):
    """SCIM push to idsync → the user exists in the simulated Jira: p50 and p99."""
    sim = Sim()
    t = start_synced_idsync(sim, 16)
    try:
        timings = []
        for i in range(SAMPLES // 2):
            name = f"latency-{i}"
            t0 = time.perf_counter()
            status, _ = t.call("POST", "/Users", user_body(name))
            if status != 201:
                raise SystemExit(f"push answered {status}")
            while sim.call("GET", f"/rest/api/2/user?username=bench-{name}")[0] != 200:
                if time.perf_counter() - t0 > 30:
                    raise SystemExit(f"user bench-{name} never reached the simulator")
                time.sleep(0.002)
            timings.append((time.perf_counter() - t0) * 1000)
        timings.sort()
        p50, p99 = statistics.median(timings), timings[int(len(timings) * 0.99) - 1]
        log(f"push → Jira: p50 {p50:.0f} ms, p99 {p99:.0f} ms over {len(timings)} users")
        put("SCIM push → user created in Jira simulator (p50)", "ms", "idsync", round(p50, 1))
        put("SCIM push → user created in Jira simulator (p99)", "ms", "idsync", round(p99, 1))
    finally:
        t.stop()
        sim.stop()


def outbox_throughput(put, concurrency, users=3000):
    """Creates applied per second against a simulator that answers every request in 5 ms.

    The users are pushed while the simulator is down, so the outbox holds them all; the drain
    after it comes back measures the worker alone, not the worker competing with the pushes."""
    sim = Sim()
    t = start_synced_idsync(sim, concurrency)
    try:
        sim.call("POST", "/_sim/faults", {"down": True})
        def push(i):
            status, body = t.call("POST", "/Users", user_body(f"tp-{i}"))
            if status != 201:
                raise SystemExit(f"push answered {status}: {body}")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(push, range(users)))
        time.sleep(2)
        sim.call("POST", "/_sim/faults", {"delay_ms": 5})
        first = last = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            created = sim.call("GET", "/_sim/requests")[1].get("POST /rest/api/2/user", 0)
            now = time.monotonic()
            if created and first is None:
                first = now
            if created >= users:
                last = now
                break
            time.sleep(0.02)
        if last is None:
            raise SystemExit("the outbox did not drain in 300 s")
        rate = users / (last - first)
        log(f"outbox at concurrency {concurrency}: {rate:.0f} creates/s ({users} users, 5 ms per request)")
        put(f"Outbox: users created per second, target answering in 5 ms, concurrency {concurrency}", "ops/s", "idsync", round(rate))
        put(f"Peak RSS of idsync while provisioning {users:,} users (concurrency {concurrency})", "MB", "idsync", peak_rss_mb(t.proc.pid))
    finally:
        t.stop()
        sim.stop()


def pull_benchmark(put):
    """Pull runs of the real binary: a simulated Entra ID of 100,000 users and 2,000 groups and a
    real slapd of 50,000 people, each read in full, then after 100 changes (110 for slapd, with 10 deletions), then with none (example pull_bench)."""
    subprocess.run(["cargo", "build", "--quiet", "--release", "--locked", "-p", "idsync", "--example", "pull_bench"],
                   cwd=ROOT, check=True)
    out = subprocess.run([str(Path(IDSYNC).parent / "examples" / "pull_bench")], cwd=ROOT, check=True,
                         capture_output=True, text=True, env=dict(os.environ, IDSYNC_BIN=str(IDSYNC))).stdout
    r = json.loads(out)
    log(f"pull: {json.dumps({k: {a: b for a, b in v.items() if a != 'incremental_summary'} for k, v in r.items()})}")
    for key, label in (("entra", "Entra ID simulator"), ("ldap", "slapd")):
        b = r[key]
        what = f"{b['users']:,} users, {b['groups']:,} groups"
        put(f"Pull {label} ({what}): full read into the store", "s", "idsync", round(b["full_seconds"], 1))
        put(f"Pull {label} ({what}): peak RSS of the full read", "MB", "idsync", round(b["full_peak_rss_mb"], 1))
        put(f"Pull {label}: incremental read after {b['incremental_changes']} changes", "s", "idsync", round(b["incremental_seconds"], 2))
        put(f"Pull {label}: requests of that incremental read (full read: {b['full_requests']})", "requests", "idsync", b["incremental_requests"])
        if "id_listing_seconds" in b:
            put(f"Pull {label}: incremental read with no changes (the listing of {b['users']:,} ids that finds deletions)", "s", "idsync", round(b["id_listing_seconds"], 2))


def sync_benchmarks(put):
    plan_benchmark(put)
    push_to_jira_latency(put)
    for concurrency in (8, 16, 32):
        outbox_throughput(put, concurrency)


def api_call(port, token, method, path, body=None, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, "/api/v1" + path, body=data, headers=headers)
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path}: {resp.status} {text[:300]!r}")
    return text


def percentiles(samples):
    samples = sorted(samples)
    return round(statistics.median(samples), 2), round(samples[int(len(samples) * 0.99) - 1], 2)


def api_benchmarks(put):
    """The admin API: the provisioning log with a million entries, a command over HTTP from process
    start to exit, and a backup and a dry-run restore of 1,000 sources, targets and bindings."""
    import sqlite3
    data = tempfile.mkdtemp(prefix="idsync-bench-api-")
    subprocess.run([IDSYNC, "--data-dir", data, "source", "list"], check=True, capture_output=True)
    token = json.loads(subprocess.run([IDSYNC, "--data-dir", data, "admin-token", "create", "--local", "--name", "bench",
                                       "--scope", "admin", "--json"], check=True, capture_output=True, text=True).stdout)["secret"]
    entries = 1_000_000
    log(f"writing {entries:,} provisioning log entries")
    db = sqlite3.connect(Path(data) / "idsync.db")
    actions = ["create_user", "update_user", "add_member", "deactivate_user"]
    db.executemany(
        "INSERT INTO events (at, run_id, source, target, user_name, group_name, action, reason, result, detail) VALUES (?, NULL, 'hr', 'jira', ?, NULL, ?, 'the source changed', 'applied', NULL)",
        ((f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00.000Z", f"user{i % 20000:05d}", actions[i % 4]) for i in range(entries)))
    db.commit()
    db.close()
    port = free_port()
    env = dict(os.environ, RUST_LOG="warn")
    proc = subprocess.Popen([IDSYNC, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                api_call(port, token, "GET", "/diagnostics/log-level")
                break
            except (OSError, RuntimeError):
                time.sleep(0.1)
        times = []
        for i in range(SAMPLES):
            start = time.perf_counter()
            api_call(port, token, "GET", f"/log?user=user{(i * 37) % 20000:05d}&limit=100")
            times.append((time.perf_counter() - start) * 1000)
        p50, p99 = percentiles(times)
        put("GET /api/v1/log?user= of 1,000,000 entries (p50)", "ms", "idsync", p50)
        put("GET /api/v1/log?user= of 1,000,000 entries (p99)", "ms", "idsync", p99)

        env_cli = dict(os.environ, IDSYNC_TOKEN=token, IDSYNC_URL=f"http://127.0.0.1:{port}")
        on_host = {k: v for k, v in os.environ.items() if not k.startswith("IDSYNC_")}
        on_host["XDG_CONFIG_HOME"] = str(Path(data) / "no-saved-login")

        def command(args, env, name):
            times = []
            for _ in range(20):
                start = time.perf_counter()
                subprocess.run([IDSYNC, "--data-dir", data, *args], check=True, capture_output=True, env=env)
                times.append((time.perf_counter() - start) * 1000)
            put(name, "ms", "idsync", percentiles(times)[0])
        command(["status", "--json"], env_cli, "idsync status over HTTP, process start to exit (p50)")
        command(["source", "list"], env_cli, "idsync source list over HTTP with a token, start to exit (p50)")
        command(["source", "list"], on_host, "idsync source list on the server's host (host token), start to exit (p50)")

        log("adding 1,000 sources, targets and bindings through the API")
        for i in range(1000):
            api_call(port, token, "POST", "/sources", {"name": f"src-{i:04d}"})
            api_call(port, token, "POST", "/targets", {"name": f"app-{i:04d}", "kind": "scim", "url": f"http://127.0.0.1:9/{i}",
                                                       "credentials": {"type": "bearer", "token": f"t{i}"}, "check": False})
            api_call(port, token, "POST", "/bindings", {"source": f"src-{i:04d}", "target": f"app-{i:04d}"})
        command(["source", "list"], on_host, "idsync source list of 1,000 sources on the server's host, start to exit (p50)")
        times, document = [], None
        for _ in range(5):
            start = time.perf_counter()
            document = api_call(port, token, "GET", "/backup")
            times.append((time.perf_counter() - start) * 1000)
        put("Backup of 1,000 sources, targets and bindings (p50)", "ms", "idsync", percentiles(times)[0])
        doc = json.loads(document)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            api_call(port, token, "POST", "/restore", {"document": doc, "dry_run": True})
            times.append((time.perf_counter() - start) * 1000)
        put("Dry-run restore of that backup (p50)", "ms", "idsync", percentiles(times)[0])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    # With no server running, a command serves the API over the data directory for itself.
    command(["source", "list"], on_host, "idsync source list of 1,000 sources with no server running, start to exit (p50)")


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def main():
    results = {}
    def putter(part):
        def put(name, unit, key, value):
            results.setdefault((part, name, unit), {})[key] = value
        return put
    only = os.environ.get("BENCH_ONLY")
    if only is None:
        scim_benchmarks(putter("scim"))
    if only in (None, "sync"):
        sync_benchmarks(putter("sync"))
    if only in (None, "sync", "pull"):
        pull_benchmark(putter("pull"))
    if only in (None, "api"):
        api_benchmarks(putter("api"))
    if only in (None, "console"):
        from bench_console import console_benchmarks
        console_benchmarks(putter("console"), IDSYNC, free_port, percentiles, log, CONSOLE_SAMPLES)
    rows = [{"part": p, "name": n, "unit": u, "idsync": v.get("idsync"), "scimmy": v.get("scimmy"), "scim2_server": v.get("scim2_server")}
            for (p, n, u), v in results.items()]
    out = ROOT / "bench" / "results.json"
    if only is not None and out.exists():
        # Keep the figures of the parts this run left out, from the last run that measured them.
        measured = {p for (p, _, _) in results}
        kept = [r for r in json.loads(out.read_text()) if r.get("part", "scim") not in measured]
        order = {"scim": 0, "sync": 1, "pull": 2, "api": 3, "console": 4}
        rows = sorted(kept + rows, key=lambda r: order.get(r.get("part", "scim"), 3))
    out.write_text(json.dumps(rows, indent=2) + "\n")
    log(f"wrote {out}")
    update_readme(rows)


def scim_benchmarks(put):
    token = os.urandom(16).hex()
    tmp = tempfile.mkdtemp(prefix="idsync-bench-")
    targets = [start_idsync(tmp), start_scimmy(token), start_scim2_server(token)]
    try:
        for t in targets:
            t.wait_ready()
        ids = {}
        for t in targets:
            ids[t.key] = load(t)
            ids_file = Path(tmp) / f"{t.key}.ids"
            ids_file.write_text("\n".join(ids[t.key]) + "\n")
            put("GET /Users by userName eq filter", "req/s", t.key, wrk(t, "get-filter.lua", "/Users"))
            put("GET /Users list page of 100", "req/s", t.key, wrk(t, "get-list.lua", "/Users"))
            put("PATCH /Users/{id} replace displayName", "req/s", t.key, wrk(t, "patch-user.lua", "/Users", {"IDS_FILE": str(ids_file)}))
            put("POST /Users (idsync: committed to disk)", "req/s", t.key, wrk(t, "post-user.lua", "/Users"))
        extra = {}
        for t in targets:
            extra[t.key] = [t.call("POST", "/Users", user_body(f"extra-{i}"))[1]["id"] for i in range(SAMPLES)]
            for size in (1000, 10000):
                p50, p99 = add_member_latency(t, size, ids[t.key], extra[t.key])
                put(f"PATCH add one member, group of {size:,} (p50)", "ms", t.key, p50)
                put(f"PATCH add one member, group of {size:,} (p99)", "ms", t.key, p99)
        idsync = targets[0]
        more = grow_idsync(idsync, 100_000)
        p50, p99 = add_member_latency(idsync, 100_000, ids["idsync"] + more, extra["idsync"])
        put("PATCH add one member, group of 100,000 (p50)", "ms", "idsync", p50)
        put("PATCH add one member, group of 100,000 (p99)", "ms", "idsync", p99)
        put("Peak RSS with 100,000 users", "MB", "idsync", peak_rss_mb(idsync.proc.pid))
    finally:
        for t in targets:
            t.stop()


def ratio(a, b, unit):
    if a is None or b is None or a == 0 or b == 0:
        return ""
    r = a / b if unit in ("req/s", "ops/s") else b / a
    return f"{r:.1f}×"


def fmt(v):
    return "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.3g}")


def update_readme(rows):
    lines = ["| measure | unit | idsync | SCIMMY | scim2-server | vs SCIMMY | vs scim2-server |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['unit']} | {fmt(r['idsync'])} | {fmt(r['scimmy'])} | {fmt(r['scim2_server'])} | "
                     f"{ratio(r['idsync'], r['scimmy'], r['unit'])} | {ratio(r['idsync'], r['scim2_server'], r['unit'])} |")
    table = "\n".join(lines)
    readme = ROOT / "docs" / "development.md"
    text = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + start + "\n" + table + "\n" + end + rest.split(end, 1)[1]
        readme.write_text(text)
        log("updated the table in docs/development.md")


if __name__ == "__main__":
    main()

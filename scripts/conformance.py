"""Runs the public SCIM conformance checkers against a live idsync and counts their verdicts.

    python conformance.py BASE_URL TOKEN

BASE_URL is a source's SCIM base URL (the one with /ServiceProviderConfig under it). Both checkers
create, change and delete resources there. Prints one line per finding that is not a pass, a tally
per checker, and last "conformance: N passed, M failed". Exits 1 when anything failed or nothing ran.
"""

import json
import subprocess
import sys
import time
from collections import Counter


def run_scim2_tester(base_url, token):
    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import Status, check_server

    verdict = {
        Status.SUCCESS: "pass", Status.COMPLIANT: "pass", Status.ACCEPTABLE: "pass",
        Status.ERROR: "fail", Status.CRITICAL: "fail", Status.DEVIATION: "warn",
    }
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    try:
        results = check_server(SyncSCIMClient(http))
    except Exception as exc:  # the checker itself broke: count it as a failure, with the reason
        return [("fail", "scim2-tester crashed", f"{type(exc).__name__}: {exc}")]
    out = []
    for r in results:
        name = f"{r.resource_type}:{r.title}" if r.resource_type else (r.title or "?")
        out.append((verdict.get(r.status, "skip"), name, r.reason or ""))
    return out


def run_scim_sanity(base_url, token, sanity_bin):
    cmd = [sanity_bin, "probe", base_url, "--token", token, "--json-output", "--i-accept-side-effects", "--strict", "--timeout", "30"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    try:
        report = json.loads(proc.stdout)["results"]
    except (ValueError, KeyError):
        return [("fail", "scim-sanity crashed", (proc.stderr or proc.stdout)[-400:])]
    verdict = {"pass": "pass", "warn": "warn", "skip": "skip"}
    return [(verdict.get(r.get("status"), "fail"), r.get("name", "?"), r.get("message") or "") for r in report]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    base_url, token = sys.argv[1].rstrip("/"), sys.argv[2]
    sanity_bin = str(__import__("pathlib").Path(sys.executable).with_name("scim-sanity"))
    totals = Counter()
    for tool, run in (("scim2-tester", lambda: run_scim2_tester(base_url, token)),
                      ("scim-sanity", lambda: run_scim_sanity(base_url, token, sanity_bin))):
        started = time.monotonic()
        results = run()
        counts = Counter(status for status, _, _ in results)
        for status, name, reason in results:
            if status != "pass":
                print(f"{status.upper():4} [{tool}] {name} — {' '.join(reason.split())[:300]}")
        print(f"{tool}: {counts['pass']} passed, {counts['fail']} failed, {counts['warn']} warnings, "
              f"{counts['skip']} skipped ({time.monotonic() - started:.1f}s)")
        totals.update(counts)
    print(f"conformance: {totals['pass']} passed, {totals['fail']} failed", flush=True)
    sys.exit(1 if totals["fail"] or not totals["pass"] else 0)


if __name__ == "__main__":
    main()

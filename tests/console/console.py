"""The web console in real headless Chromium (Debian's), driven by Playwright, against the real
binary: first sign-in, the dashboard with what the data directory holds, sign-out, a wrong
password and then the limit on failed sign-ins, a cross-origin form refused, and the security
headers. A screenshot of every page, and of any failed step, goes to $SCREENSHOTS."""

import json
import os
import sys
import time
import urllib.request

from browser import PASSWORD, ROOT, Journey, call, expect, shot, sign_in, wait, with_browser

HR_TOKEN = os.environ.get("HR_TOKEN", "")
JIRA = os.environ.get("JIRA_URL", "")


def jira_user(name):
    status, user = call(f"{JIRA}/rest/api/2/user?username={name}", "sim-admin-token", content_type="application/json")
    return user if status == 200 else None


def journey(browser):
    walk = Journey(browser)
    page = walk.page

    def first_visit():
        response = page.goto(f"{ROOT}/")
        expect(page.url.endswith("/ui/login"), f"/ leads to the sign-in: {page.url}")
        headers = response.all_headers()
        expect("frame-ancestors 'none'" in headers.get("content-security-policy", ""), f"CSP: {headers}")
        expect(headers.get("x-content-type-options") == "nosniff", f"nosniff: {headers}")
        shot(page, "01-sign-in")

    def wrong_password():
        sign_in(page, "ann", "not the password at all")
        expect(page.url.endswith("/ui/login"), page.url)
        expect(page.get_by_role("alert").inner_text() == "the name or the password is wrong", page.content())
        shot(page, "02-wrong-password")

    def dashboard():
        sign_in(page, "ann", PASSWORD)
        expect(page.url.endswith("/ui/"), f"signed in: {page.url}")
        expect(page.get_by_role("heading", name="Dashboard").is_visible(), "the dashboard")
        card = page.locator("#source-hr")
        expect(card.is_visible() and "receives SCIM" in card.inner_text(), card.inner_text())
        expect("ann" in page.locator(".who").inner_text(), "who is signed in is shown")
        cookies = {c["name"]: c for c in page.context.cookies()}
        session = cookies.get("__Host-idsync")
        expect(session and session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict", cookies)
        shot(page, "03-dashboard")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "03-dashboard-narrow")
        page.set_viewport_size({"width": 1280, "height": 800})

    def add_okta_source():
        page.get_by_role("link", name="Sources").click()
        page.wait_for_load_state()
        expect(page.locator("#source-hr").is_visible(), "the source made on the command line is listed")
        page.get_by_label("Identity provider").select_option("okta")
        page.get_by_label("Name in idsync").fill("Not A Name")
        expect(page.evaluate("!document.getElementById('name').checkValidity()"), "the browser knows the rule")
        # The server checks too, whatever the browser did.
        page.evaluate("document.querySelector('form[action=\"/ui/sources\"]').noValidate = true")
        page.get_by_role("button", name="Add source").click()
        page.wait_for_load_state()
        expect("not a valid source name" in page.get_by_role("alert").inner_text(), page.content())
        page.get_by_label("Name in idsync").fill("okta-prod")
        page.get_by_role("button", name="Add source").click()
        page.wait_for_load_state()
        expect(page.get_by_role("heading", name="Source okta-prod added").is_visible(), page.content())
        base_url = page.get_by_label("SCIM connector base URL").input_value()
        token = page.get_by_label("API Token").input_value()
        expect(base_url == f"{ROOT}/scim/v2/okta-prod", base_url)
        expect(token.startswith("idsync_"), "the token is shown once")
        shot(page, "04-source-added")
        user = json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann.lee",
                           "displayName": "<script>alert(1)</script>"}).encode()
        request = urllib.request.Request(f"{base_url}/Users", data=user, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
        expect(urllib.request.urlopen(request, timeout=10).status == 201, "the token works for the provider")
        page.goto(f"{ROOT}/ui/sources")
        row = page.locator("#source-okta-prod").inner_text()
        expect("\t1\t" in row or " 1 " in f" {row} ", f"the pushed user is counted: {row!r}")
        expect(token not in page.content(), "the token is not shown again")
        shot(page, "05-sources")

    def add_entra_source():
        page.get_by_label("Identity provider").select_option("entra")
        page.get_by_label("Name in idsync").fill("entra-prod")
        page.get_by_role("button", name="Add source").click()
        page.wait_for_load_state()
        steps = page.locator("ol").inner_text()
        expect("Provisioning Mode" in steps and "Test Connection" in steps, f"Entra's own setup steps: {steps}")
        tenant_url = page.get_by_label("Tenant URL").input_value()
        secret = page.get_by_label("Secret Token").input_value()
        expect(tenant_url == f"{ROOT}/scim/v2/entra-prod", tenant_url)
        status, _ = call(f"{tenant_url}/Users?count=1", secret)
        expect(status == 200, f"Entra's Secret Token opens its source: {status}")
        status, _ = call(f"{ROOT}/scim/v2/okta-prod/Users?count=1", secret)
        expect(status == 401, f"and no other source: {status}")

    def targets():
        page.get_by_role("link", name="Targets").click()
        page.wait_for_load_state()
        expect("ok" in page.locator("#target-jira").inner_text(), page.locator("#target-jira").inner_text())
        page.locator("#target-jira").get_by_role("button", name="Test connection").click()
        page.wait_for_load_state()
        checks = page.locator(".checks li").all_inner_texts()
        expect(checks and not any(c.startswith("failed") for c in checks), f"jira passes its checks: {checks}")
        shot(page, "06-target")
        page.get_by_role("button", name="Ask jira").click()
        wait("what idsync leaves alone", lambda: page.locator("#unmanaged-found").count() > 0)
        left_alone = page.locator("#unmanaged-found").inner_text()
        expect("jira-administrators" in left_alone, f"the groups idsync grants nothing in: {left_alone}")
        page.get_by_label("New token").fill("not-the-token")
        page.get_by_role("button", name="Check and change").click()
        page.wait_for_load_state()
        expect("nothing was changed" in page.get_by_role("alert").inner_text(), page.content())
        expect(page.locator("#health").inner_text().startswith("ok"), "the target keeps its token")
        page.goto(f"{ROOT}/ui/targets")
        page.get_by_label("Application").select_option("confluence")
        page.get_by_label("Name in idsync").fill("jira-two")
        page.get_by_label("Base URL").fill(JIRA)
        page.get_by_label("Personal access token (or bearer token)").fill("not-the-token")
        page.get_by_role("button", name="Check and add").click()
        page.wait_for_load_state()
        expect("was not saved" in page.get_by_role("alert").inner_text(), page.content())
        checks = page.locator(".checks li").all_inner_texts()
        expect(any(c.startswith("failed") for c in checks), f"the failed check is named: {checks}")
        expect(page.locator("#target-jira-two").count() == 0, "nothing was saved")
        expect(page.get_by_label("Name in idsync").input_value() == "jira-two", "the draft stays in the form")
        expect(page.get_by_label("Application").input_value() == "confluence", "with the application chosen")
        shot(page, "07-target-refused")
        page.get_by_label("Application").select_option("jira")
        page.get_by_label("Personal access token (or bearer token)").fill("sim-admin-token")
        page.get_by_role("button", name="Check and add").click()
        page.wait_for_load_state()
        page.goto(f"{ROOT}/ui/targets/jira-two")
        page.get_by_label("Your password, to confirm").fill(PASSWORD)
        page.get_by_role("button", name="Delete target jira-two").click()
        page.wait_for_load_state()
        expect("target jira-two deleted" in page.get_by_role("status").inner_text(), page.content())
        expect(page.locator("#target-jira-two").count() == 0, "it is no longer listed")

    def target_preview_and_sync():
        page.goto(f"{ROOT}/ui/targets/jira")
        page.get_by_role("button", name="Preview a full sync").click()
        wait("the plan", lambda: page.locator("#plan").count() > 0, seconds=30)
        shot(page, "07-target-preview")
        page.get_by_role("button", name="Synchronize now").click()
        page.wait_for_load_state()
        expect("/ui/runs/" in page.url, page.url)
        wait("the sync finished on the page", lambda: page.locator("#live [data-finished]").count() > 0
             or page.locator("#outcome").count() > 0, seconds=30)
        outcome = page.locator("#outcome").inner_text()
        expect("applied" in outcome and "failed" in outcome, outcome)

    def held_run():
        # Thirty leave at once: the safeguard (at most three) holds what is beyond its limit.
        names = [f"leaver{i:02d}" for i in range(30)]
        ids = []
        for name in names:
            status, user = call(f"{ROOT}/scim/v2/hr/Users", HR_TOKEN, "POST",
                                {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
                                 "displayName": name.title(), "emails": [{"value": f"{name}@example.com", "primary": True}],
                                 "active": True})
            expect(status == 201, f"pushed {name}: {status}")
            ids.append(user["id"])
        wait("Jira has the thirty users", lambda: all(jira_user(n) for n in names), seconds=30)
        for i in ids:
            status, _ = call(f"{ROOT}/scim/v2/hr/Users/{i}", HR_TOKEN, "PATCH", {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": False}]})
            expect(status == 200, f"deactivated in the source: {status}")

        def held_listed():
            page.goto(f"{ROOT}/ui/runs")
            return page.locator("tr.held").count() > 0
        wait("a held run in the list", held_listed)
        shot(page, "08-runs")
        page.locator("tr.held a").first.click()
        page.wait_for_load_state()
        held_page = page.url

        def waiting_users():
            page.goto(held_page)
            rows = page.locator("#held-title ~ form tbody tr").all()
            return [row.locator("td").nth(2).inner_text() for row in rows]

        def inactive():
            return [n for n in names if not jira_user(n)["active"]]
        # Every leaver is either through (within the limit) or waiting here.
        wait("every leaver deactivated or held", lambda: len(set(waiting_users()) | set(inactive())) == 30, seconds=30)
        waiting = waiting_users()
        expect(len(set(waiting)) >= 20 and set(waiting) <= set(names), f"each held user is named: {waiting}")
        expect(not set(waiting) & set(inactive()), "a held deactivation waits")
        shot(page, "09-held-run")
        page.get_by_label("Your password, to confirm").fill("not my password at all")
        page.get_by_role("button", name="Approve all").click()
        page.wait_for_load_state()
        expect("the password is wrong; nothing was approved" in page.get_by_role("alert").inner_text(), page.content())
        expect(not set(waiting) & set(inactive()), "nothing was deactivated")
        # Part of it: the first two ticked.
        chosen = waiting[:2]
        for name in chosen:
            page.get_by_role("checkbox", name=f"Approve deactivate_user of {name}").check()
        page.get_by_label("Your password, to confirm").fill(PASSWORD)
        page.get_by_role("button", name="Approve selected").click()
        page.wait_for_load_state()
        notice = page.get_by_role("status").inner_text()
        expect("approved:" in notice and "wait for a decision" in notice, notice)
        now_inactive = set(inactive())
        expect(set(chosen) <= now_inactive and not (set(waiting) - set(chosen)) & now_inactive,
               f"exactly the two chosen reached Jira: {sorted(now_inactive & set(waiting))}")
        rest = waiting_users()
        expect(set(rest) == set(waiting) - set(chosen), f"the others still wait: {rest}")
        shot(page, "10-approved-selected")
        page.get_by_label("Your password, to confirm").fill(PASSWORD)
        page.get_by_role("button", name="Approve all").click()
        page.wait_for_load_state()
        expect("approved:" in page.get_by_role("status").inner_text(), page.content())
        expect(set(inactive()) == set(names), "the approved deactivations reached Jira")
        shot(page, "10-approved")

    def provisioning_log():
        page.get_by_role("link", name="Log").click()
        page.wait_for_load_state()
        page.get_by_label("User").fill("leaver00")
        page.get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        rows = page.locator("#log tbody tr").all_inner_texts()
        expect(any("deactivate_user" in r and "applied" in r for r in rows), f"leaver00's deactivation: {rows}")
        expect(all("leaver00" in r for r in rows), f"only leaver00's entries: {rows}")
        shot(page, "11-log")
        csv = page.request.get(f"{ROOT}/ui/log.csv?user=leaver00")
        expect(csv.ok and csv.headers["content-disposition"].startswith("attachment"), csv.headers)
        lines = csv.text().splitlines()
        expect(lines[0].startswith("at,result,source,target,action,user") and len(lines) == len(rows) + 1, lines)
        page.get_by_label("Since").fill("yesterday")
        page.get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        expect("not a time" in page.get_by_role("alert").inner_text(), "a bad time says how to write one")

    def stored_script_is_text():
        name = "mallory<script>window.pwned=1</script>"
        status, _ = call(f"{ROOT}/scim/v2/hr/Users", HR_TOKEN, "POST", {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
            "displayName": "<img src=x onerror=window.pwned=2>", "emails": [{"value": "m@example.com", "primary": True}]})
        expect(status == 201, f"pushed: {status}")

        def logged():
            page.goto(f"{ROOT}/ui/log?source=hr")
            return name in page.locator("#log").inner_text()
        wait("the pushed user in the log", logged)
        expect(page.evaluate("window.pwned") is None, "no stored script ran")
        expect(page.locator("#log script, #log img").count() == 0, "it is text, not markup")

    def administration():
        page.get_by_role("link", name="Administration").click()
        page.wait_for_load_state()
        page.get_by_label("Name", exact=True).fill("bob")
        page.get_by_label("Password (12 characters or more)").fill("a long and secret phrase")
        page.get_by_role("button", name="Add administrator").click()
        page.wait_for_load_state()
        expect(page.locator("#administrator-bob").is_visible(), page.content())
        page.get_by_label("Token name").fill("ci")
        page.get_by_label("Scope").select_option("read")
        page.get_by_label("Your password, to confirm").fill(PASSWORD)
        page.get_by_role("button", name="Create token").click()
        page.wait_for_load_state()
        secret = page.locator("#secret").input_value()
        expect(secret.startswith("idsync_admin_"), "the token is shown once")
        shot(page, "12-administration")
        status, _ = call(f"{ROOT}/api/v1/sources", secret, content_type="application/json")
        expect(status == 200, f"the new read token opens the API: {status}")
        status, _ = call(f"{ROOT}/api/v1/admin-tokens", secret, "POST", {"name": "x", "scope": "admin"},
                         content_type="application/json")
        expect(status == 403, f"and only as far as its scope: {status}")
        page.goto(f"{ROOT}/ui/admin")
        expect(secret not in page.content(), "the token is not shown again")
        page.locator("#token-ci").get_by_role("button", name="Revoke").click()
        page.wait_for_load_state()
        status, _ = call(f"{ROOT}/api/v1/sources", secret, content_type="application/json")
        expect(status == 401, f"a revoked token opens nothing: {status}")
        page.locator("#administrator-bob").get_by_role("button", name="Remove").click()
        page.wait_for_load_state()
        expect(page.locator("#administrator-bob").count() == 0, "bob is gone")
        audit = page.locator("#audit").inner_text()
        for action in ["administrator.add", "admin_token.add", "admin_token.revoke", "administrator.remove", "run.approve"]:
            expect(action in audit, f"{action} is audited: {audit}")
        expect("administrator ann" in audit, audit)

    def troubleshooting():
        page.get_by_role("link", name="Troubleshooting").click()
        page.wait_for_load_state()
        default = page.locator("#level").inner_text()
        page.get_by_role("button", name="Debug for 30 minutes").click()
        page.wait_for_load_state()
        expect(page.locator("#level").inner_text() == "debug", page.content())
        marker = f"console-tail-{int(time.time())}"
        page.get_by_label("Only lines containing").fill(marker)
        page.get_by_role("button", name="Filter").click()
        page.wait_for_load_state()
        expect(marker not in page.locator("#tail").inner_text(), "nothing yet")
        request = urllib.request.Request(f"{ROOT}/scim/v2/hr/Users?count=1", headers={
            "Authorization": f"Bearer {HR_TOKEN}", "x-request-id": marker})
        urllib.request.urlopen(request, timeout=10).read()
        # No reload: the tail refreshes itself.
        # (Polled from here: the page's CSP keeps Playwright's in-page predicates from running.)
        wait("the request in the live tail", lambda: marker in page.locator("#tail").inner_text(), seconds=10)
        shot(page, "13-troubleshooting")
        page.get_by_role("button", name=f"Back to {default}").click()
        page.wait_for_load_state()
        expect(page.locator("#level").inner_text() == default, page.locator("#level").inner_text())
        bundle = page.request.get(f"{ROOT}/ui/troubleshooting/bundle")
        expect(bundle.ok and bundle.body()[:2] == b"PK", f"a zip: {bundle.status}")
        expect(HR_TOKEN.encode() not in bundle.body(), "with no secret in it")

    def cross_origin_form():
        before = page.context.cookies()
        other = browser.new_page()
        other.set_content(f"""<form id=f method=post action="{ROOT}/ui/logout"></form>""")
        with other.expect_response(f"{ROOT}/ui/logout") as answered:
            other.evaluate("document.getElementById('f').submit()")
        expect(answered.value.status == 403, f"a form from another origin is refused: {answered.value.status}")
        other.close()
        page.goto(f"{ROOT}/ui/")
        expect(page.url.endswith("/ui/") and page.context.cookies() == before, "and changes nothing")

    def sign_out():
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        expect(page.url.endswith("/ui/login"), page.url)
        page.goto(f"{ROOT}/ui/")
        expect(page.url.endswith("/ui/login"), "the session has ended")

    def throttled():
        for _ in range(5):
            sign_in(page, "ann", "still not the password")
        sign_in(page, "ann", PASSWORD)
        alert = page.get_by_role("alert").inner_text()
        expect("too many failed sign-ins" in alert, f"the right password waits too: {alert}")
        shot(page, "14-throttled")

    walk.run([("first-visit", first_visit), ("wrong-password", wrong_password), ("dashboard", dashboard),
                 ("add-okta-source", add_okta_source), ("add-entra-source", add_entra_source), ("targets", targets),
                 ("target-preview-and-sync", target_preview_and_sync),
                 ("held-run", held_run),
                 ("provisioning-log", provisioning_log), ("stored-script-is-text", stored_script_is_text),
                 ("administration", administration), ("troubleshooting", troubleshooting),
                 ("cross-origin-form", cross_origin_form), ("sign-out", sign_out), ("throttled", throttled)])


def main():
    if with_browser(journey):
        return 1
    print("console checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A source idsync reads, set up and run from the console in real headless Chromium: the Keycloak
wizard (a wrong secret refused with its check, nothing saved), Synchronize now with the progress
moving over server-sent events and, with them blocked, by polling; Search user; the schedule
editor's next runs; pause and resume; rotating a push source's token with a grace period; and
deleting a source with the password again."""

import json
import os
import sys
import time
import urllib.request

from browser import PASSWORD, ROOT, Journey, call, expect, shot, sign_in, wait, with_browser

KEYCLOAK = os.environ["KEYCLOAK_URL"]
REALM = os.environ["KEYCLOAK_REALM"]
CLIENT_ID = os.environ["KEYCLOAK_CLIENT_ID"]
CLIENT_SECRET = os.environ["KEYCLOAK_CLIENT_SECRET"]
USERS = int(os.environ["KEYCLOAK_USERS"])
HR_TOKEN = os.environ["HR_TOKEN"]


def keycloak_faults(faults):
    request = urllib.request.Request(f"{KEYCLOAK}/_sim/faults", data=json.dumps(faults).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def follow_run(page):
    """What the run's live part showed, state by state, until it said how the run ended."""
    seen = []
    deadline = time.time() + 60
    while time.time() < deadline:
        text = page.locator("#live").inner_text()
        if not seen or seen[-1] != text:
            seen.append(text)
        if page.locator("#live [data-finished]").count():
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the run did not finish on the page: {seen}")


def read_users(text):
    for word, following in zip(text.split(), text.split()[1:] + [""]):
        if word.isdigit() and following == "users":
            return int(word)
    return None


def pull_journey(browser):
    walk = Journey(browser)
    page = walk.page

    def add_keycloak():
        sign_in(page, "ann", PASSWORD)
        page.get_by_role("link", name="Sources").click()
        page.get_by_role("link", name="Keycloak").click()
        page.wait_for_load_state()
        expect("view-users" in page.locator("ol.steps").inner_text(), "the setup guide names the roles to grant")
        page.get_by_label("Name in idsync").fill("kc")
        page.get_by_label("Server URL").fill(KEYCLOAK)
        page.get_by_label("Realm").fill(REALM)
        page.get_by_label("Client ID").fill(CLIENT_ID)
        page.get_by_label("Client secret").fill("not-the-secret")
        page.get_by_label("Read it").fill("")
        page.get_by_role("button", name="Check and add").click()
        page.wait_for_load_state()
        expect("nothing was saved" in page.get_by_role("alert").inner_text(), page.content())
        checks = page.locator(".checks li").all_inner_texts()
        expect(any(c.startswith("failed") for c in checks), f"the refused sign-in is named: {checks}")
        expect(page.get_by_label("Server URL").input_value() == KEYCLOAK, "the draft stays in the form")
        expect(page.get_by_label("Client secret").input_value() == "", "but never the secret")
        shot(page, "16-pull-source-refused")
        expect(page.request.get(f"{ROOT}/ui/sources/kc").status == 404, "nothing was saved")
        page.get_by_label("Client secret").fill(CLIENT_SECRET)
        page.get_by_role("button", name="Check and add").click()
        page.wait_for_load_state()
        expect(page.url.endswith("/ui/sources/kc"), f"added: {page.url}")
        expect(page.get_by_role("heading", name="Source kc").is_visible(), page.content())

    def synchronize_with_progress():
        keycloak_faults({"delay_ms": 60})
        page.get_by_role("button", name="Synchronize now").click()
        page.wait_for_load_state()
        expect("/ui/runs/" in page.url, f"the run's page: {page.url}")
        seen = follow_run(page)
        going = [t for t in seen[:-1] if (read_users(t) or 0) < USERS]
        moving = {read_users(t) for t in going} - {None}
        expect(len(going) >= 2 and len(moving) >= 2, f"at least two states on the way, with the count moving: {seen}")
        expect(f"{USERS} users" in page.locator("#outcome").inner_text(), page.locator("#live").inner_text())
        shot(page, "17-pull-run-finished")
        page.goto(f"{ROOT}/ui/sources/kc")
        expect(f"{USERS} users" in page.locator("#holds").inner_text(), page.locator("#holds").inner_text())

    def polling_fallback():
        polled = []
        page.on("request", lambda r: r.url.endswith("/progress") and polled.append(r.url))
        page.route("**/events", lambda route: route.abort())
        walk.expected += ["ERR_FAILED", "[object Event]"]
        page.get_by_label("Read everything").check()
        page.get_by_role("button", name="Synchronize now").click()
        page.wait_for_load_state()
        follow_run(page)
        expect(polled, "with its events blocked, the page asked for the progress instead")
        expect(f"{USERS} users" in page.locator("#outcome").inner_text(), page.locator("#live").inner_text())
        page.unroute("**/events")
        del walk.expected[-2:]
        keycloak_faults({})

    def preview_a_read():
        page.goto(f"{ROOT}/ui/sources/kc")
        page.get_by_role("button", name="Preview a read").click()
        wait("the preview of a read", lambda: page.locator("#read-preview").count() > 0, seconds=30)
        preview = page.locator("#read-preview").inner_text()
        expect(f"full read: {USERS} users" in preview and f"{USERS} unchanged" in preview, preview)
        expect("feeds no target" in preview, preview)

    def search_user():
        page.goto(f"{ROOT}/ui/sources/kc")
        page.get_by_label("User name or id at the provider").fill("user0001")
        page.get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        found = page.locator("#found").inner_text()
        expect("What the provider returns for user0001" in found and "What idsync stores" in found, found)
        expect(found.count("user0001") >= 2, f"the raw record and the stored one: {found}")
        shot(page, "18-search-user")

    def schedule():
        page.get_by_label("When").fill("daily 02:30")
        page.get_by_label("Time zone").fill("Europe/Berlin")
        wait("the next five runs", lambda: page.locator("#next-runs li").count() == 5)
        runs = page.locator("#next-runs li").all_inner_texts()
        expect(all("02:30" in r for r in runs), f"in the schedule's own time zone: {runs}")
        page.get_by_label("When").fill("now and then")
        wait("the mistake shown", lambda: "not a schedule" in page.locator("#next-runs").inner_text())
        page.get_by_label("When").fill("every 2h")
        page.get_by_role("button", name="Save schedule").click()
        page.wait_for_load_state()
        expect("schedule saved: every 2h" in page.get_by_role("status").inner_text(), page.content())
        expect(page.locator("#next-runs li").count() == 5, "the saved schedule's next runs")
        shot(page, "19-source-schedule")

    def pause_and_resume():
        page.get_by_role("button", name="Pause").click()
        page.wait_for_load_state()
        expect(page.locator("#paused").inner_text() == "paused", page.locator("#paused").inner_text())
        page.get_by_role("button", name="Resume").click()
        page.wait_for_load_state()
        expect("every 2h" in page.locator("#paused").inner_text(), page.locator("#paused").inner_text())

    def change_settings():
        page.get_by_role("link", name="change").click()
        page.wait_for_load_state()
        expect(page.get_by_label("Realm").input_value() == REALM, "the form holds the stored settings")
        expect(page.get_by_label("Client secret (empty: keep the stored one)").input_value() == "", "never the secret")
        page.get_by_label("Realm").fill("no-such-realm")
        page.get_by_role("button", name="Check and save").click()
        page.wait_for_load_state()
        expect("nothing was saved" in page.get_by_role("alert").inner_text(), page.content())
        checks = page.locator(".checks li").all_inner_texts()
        expect(any(c.startswith("failed") for c in checks), f"the failed check is named: {checks}")
        page.get_by_label("Realm").fill(REALM)
        page.get_by_role("button", name="Check and save").click()
        page.wait_for_load_state()
        expect("settings saved" in page.get_by_role("status").inner_text(), page.content())
        page.goto(f"{ROOT}/ui/sources/kc")
        expect(f"realm: {REALM}" in page.locator("dl").first.inner_text(), "the stored credentials still work")
        expect("every 2h" in page.locator("#paused").inner_text(), "and the schedule is kept")

    def rotate_with_grace():
        page.goto(f"{ROOT}/ui/sources/hr")
        page.get_by_label("Old token keeps working for (minutes)").fill("60")
        page.get_by_role("button", name="Issue a new token").click()
        page.wait_for_load_state()
        new = page.locator("#new-token").input_value()
        expect(new.startswith("idsync_") and new != HR_TOKEN, "a new token, shown once")
        for token in (HR_TOKEN, new):
            status, _ = call(f"{ROOT}/scim/v2/hr/Users?count=1", token)
            expect(status == 200, f"both tokens open the source during the grace period: {status}")
        page.goto(f"{ROOT}/ui/sources/hr")
        expect(new not in page.content(), "the token is not shown again")

    def delete_source():
        page.goto(f"{ROOT}/ui/sources/kc")
        page.get_by_label("Your password, to confirm").fill("not my password at all")
        page.get_by_role("button", name="Delete source kc").click()
        page.wait_for_load_state()
        expect("nothing was deleted" in page.get_by_role("alert").inner_text(), page.content())
        page.get_by_label("Your password, to confirm").fill(PASSWORD)
        page.get_by_role("button", name="Delete source kc").click()
        page.wait_for_load_state()
        expect("still holds" in page.get_by_role("alert").inner_text(), "what it holds is not deleted unasked")
        page.get_by_label("Delete what it holds too").check()
        page.get_by_label("Your password, to confirm").fill(PASSWORD)
        page.get_by_role("button", name="Delete source kc").click()
        page.wait_for_load_state()
        expect("source kc deleted" in page.get_by_role("status").inner_text(), page.content())
        expect(page.locator("#source-kc").count() == 0, "it is no longer listed")

    walk.run([("add-keycloak-source", add_keycloak), ("synchronize-with-progress", synchronize_with_progress),
              ("progress-by-polling", polling_fallback), ("preview-a-read", preview_a_read),
              ("search-user", search_user), ("schedule", schedule),
              ("pause-and-resume", pause_and_resume), ("change-settings", change_settings),
              ("rotate-with-grace", rotate_with_grace),
              ("delete-source", delete_source)])


def main():
    if with_browser(pull_journey):
        return 1
    print("pull source checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

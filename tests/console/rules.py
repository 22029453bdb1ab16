"""A binding's sync settings in real headless Chromium, with the simulated Jira checked after each
step: a push source added and fed to Jira from the console; a username transform and a group
mapping typed in, a bad regex shown with its position as it is typed, the "try it" box on a
stored user, the preview of the unsaved rules (Jira unchanged), and saving them (Jira changed)."""

import os
import sys

from browser import PASSWORD, ROOT, Journey, call, expect, shot, sign_in, wait, with_browser

JIRA = os.environ["JIRA_URL"]
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def jira_user(name):
    status, user = call(f"{JIRA}/rest/api/2/user?username={name}&expand=groups", "sim-admin-token",
                        content_type="application/json")
    return user if status == 200 else None


def jira_groups(name):
    user = jira_user(name)
    return sorted(g["name"] for g in user["groups"]["items"]) if user else None


def rules_journey(browser):
    walk = Journey(browser)
    page = walk.page
    token = {}

    def push_source_with_people():
        sign_in(page, "ann", PASSWORD)
        page.goto(f"{ROOT}/ui/sources")
        page.get_by_label("Identity provider").select_option("scim")
        page.get_by_label("Name in idsync").fill("crm")
        page.get_by_role("button", name="Add source").click()
        page.wait_for_load_state()
        token["crm"] = page.get_by_label("Bearer token").input_value()
        base = f"{ROOT}/scim/v2/crm"
        ids = {}
        for name in ["ann.lee@example.com", "bob.ray@example.com"]:
            status, user = call(f"{base}/Users", token["crm"], "POST", {
                "schemas": [USER], "userName": name, "displayName": name.split("@")[0].title(),
                "emails": [{"value": name, "primary": True}], "active": True})
            expect(status == 201, f"pushed {name}: {status}")
            ids[name] = user["id"]
        for group, members in [("Sales EU", ["ann.lee@example.com", "bob.ray@example.com"]),
                               ("app-dev", ["ann.lee@example.com"])]:
            status, _ = call(f"{base}/Groups", token["crm"], "POST", {
                "schemas": [GROUP], "displayName": group, "members": [{"value": ids[m]} for m in members]})
            expect(status == 201, f"pushed {group}: {status}")

    def feed_jira():
        page.goto(f"{ROOT}/ui/sources/crm")
        page.get_by_label("Target").select_option("jira")
        page.get_by_role("button", name="Feed this target").click()
        page.wait_for_load_state()
        expect(page.get_by_role("heading", name="crm → jira").is_visible(), page.content())
        # With the default rules, Jira gets the names as they are and groups of the same name.
        wait("the default rules reach Jira", lambda: jira_groups("ann.lee@example.com") == ["Sales EU", "app-dev"])

    def bad_regex_shown_as_typed():
        page.get_by_label("Pattern").first.fill("(.*@example\\.com")
        wait("the mistake, with its position",
             lambda: "cannot be saved" in page.locator("#checked").inner_text())
        error = page.locator("#checked pre").inner_text()
        expect("users.username_transform.pattern" in error and "^" in error, f"the field and a caret: {error}")
        shot(page, "20-rules-bad-regex")

    def try_it():
        page.get_by_label("Pattern").first.fill("(.*)@example\\.com")
        page.get_by_label("Replacement").first.fill("$1")
        page.get_by_label("Group mapping").fill("Sales EU = jira-sales, jira-eu")
        page.locator("[name='groups.name_transform.pattern']").fill("app-(.*)")
        page.locator("[name='groups.name_transform.replacement']").fill("$1")
        page.get_by_label("A user of crm (their userName there)").fill("ann.lee@example.com")
        wait("what the draft makes of ann", lambda: page.locator("#tried-username").count() > 0
             and page.locator("#tried-username").inner_text() == "ann.lee")
        tried = page.locator("#tried").inner_text()
        expect("jira-sales, jira-eu (mapped by hand)" in tried and "dev (on the fly)" in tried, tried)
        shot(page, "21-rules-try-it")

    def preview_unsaved():
        page.get_by_role("button", name="Preview these rules").click()
        wait("the plan", lambda: page.locator("#plan").count() > 0, seconds=30)
        plan = page.locator("#plan").inner_text()
        for action in ["rename_user", "add_member", "create_group"]:
            expect(action in plan, f"{action} in the plan: {plan}")
        page.locator("#plan-rename_user summary").click()
        renames = page.locator("#plan-rename_user tbody").inner_text()
        expect("ann.lee@example.com" in renames and "bob.ray@example.com" in renames, renames)
        page.get_by_label("Only operations mentioning").fill("bob")
        page.get_by_role("button", name="Preview these rules").click()
        wait("the filtered plan", lambda: "mentioning “bob”" in page.locator("#preview").inner_text(), seconds=30)
        expect("ann.lee" not in page.locator("#plan").inner_text(), page.locator("#plan").inner_text())
        shot(page, "22-rules-preview")
        expect(jira_user("ann.lee") is None and jira_user("ann.lee@example.com"), "nothing reached Jira yet")

    def save():
        page.get_by_role("button", name="Save rules").click()
        page.wait_for_load_state()
        expect("rules saved" in page.get_by_role("status").inner_text(), page.content())
        wait("the saved rules reach Jira", lambda: jira_groups("ann.lee") is not None
             and {"jira-sales", "jira-eu", "dev"} <= set(jira_groups("ann.lee")), seconds=30)
        expect(page.locator("[name='users.username_transform.pattern']").input_value() == "(.*)@example\\.com",
               "the saved rules are in the form")

    def refused_save_keeps_the_draft():
        page.get_by_label("Group mapping").fill("this line has no equals sign")
        page.get_by_role("button", name="Save rules").click()
        page.wait_for_load_state()
        alert = page.get_by_role("alert").inner_text()
        expect("not written as name = value" in alert, alert)
        audit = page.request.get(f"{ROOT}/ui/admin").text()
        expect("binding.rules" in audit, "the saved change is audited")

    def explain_from_the_log():
        page.get_by_role("link", name="Log").click()
        page.wait_for_load_state()
        page.get_by_label("User").fill("ann.lee")
        page.get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        page.locator("#log tbody a", has_text="ann.lee").first.click()
        page.wait_for_load_state()
        expect(page.get_by_role("heading", name="ann.lee@example.com in source crm").is_visible(), page.content())
        target = page.locator("#explained-crm-jira").inner_text()
        for said in ["In jira: ann.lee", "idsync manages the target user ann.lee",
                     "users.username_transform ((.*)@example\\.com → $1)", "jira-sales, jira-eu",
                     "groups.mapping.Sales EU", "groups.on_the_fly through groups.name_transform"]:
            expect(said in target, f"{said!r} in {target}")
        log = page.locator("#explain-log").inner_text()
        expect("add_member jira-sales\tapplied" in log, log)
        shot(page, "23-explain")
        page.get_by_label("User name, email address or external id").fill("nobody.at.all")
        page.get_by_role("button", name="Explain").click()
        page.wait_for_load_state()
        expect(page.locator("#no-records").is_visible(), page.content())

    def rotate_without_grace():
        # Without a grace period the token it replaces stops at once, also for the SCIM
        # endpoint's memory of tokens it accepted.
        expect(call(f"{ROOT}/scim/v2/crm/Users?count=1", token["crm"])[0] == 200, "the token works")
        page.goto(f"{ROOT}/ui/sources/crm")
        page.get_by_label("Old token keeps working for (minutes)").fill("0")
        page.get_by_role("button", name="Issue a new token").click()
        page.wait_for_load_state()
        newest = page.locator("#new-token").input_value()
        expect(call(f"{ROOT}/scim/v2/crm/Users?count=1", token["crm"])[0] == 401, "the replaced token is refused at once")
        expect(call(f"{ROOT}/scim/v2/crm/Users?count=1", newest)[0] == 200, "the new one opens the source")

    walk.run([("push-source-with-people", push_source_with_people), ("feed-jira", feed_jira),
              ("bad-regex-shown-as-typed", bad_regex_shown_as_typed), ("try-it", try_it),
              ("preview-unsaved-rules", preview_unsaved), ("save-rules", save),
              ("refused-save", refused_save_keeps_the_draft), ("explain-from-the-log", explain_from_the_log),
              ("rotate-without-grace", rotate_without_grace)])


def main():
    if with_browser(rules_journey):
        return 1
    print("sync settings checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Backup and restore through the console in real headless Chromium, across two servers:
`download` takes a backup from the first (without secrets, then sealed with a passphrase after
the password again); `restore` uploads the sealed one into a second, fresh server, checks the diff
shows what would be created while nothing is yet, and applies it."""

import json
import os
import sys

from browser import PASSWORD, ROOT, Journey, call, expect, shot, sign_in, with_browser

BACKUP = os.environ["BACKUP_FILE"]
PASSPHRASE = "a passphrase for the backup"
HR_TOKEN = os.environ.get("HR_TOKEN", "")


def confirm_password(page, label):
    field = page.get_by_label(label)
    if field.count():
        field.fill(PASSWORD)


def download_journey(browser):
    walk = Journey(browser)
    page = walk.page

    def plain():
        sign_in(page, "ann", PASSWORD)
        page.get_by_role("link", name="Backup").click()
        page.wait_for_load_state()
        with page.expect_download() as got:
            page.get_by_role("link", name="Download without secrets").click()
        document = json.loads(open(got.value.path()).read())
        expect(document["format"] == "idsync-backup" and document["secrets"]["mode"] == "omitted", document["secrets"])
        expect({"hr", "crm"} <= set(document["sources"]) and "jira" in document["targets"], list(document["sources"]))
        shot(page, "24-backup")

    def sealed():
        page.get_by_label("Passphrase (12 characters or more)").fill(PASSPHRASE)
        page.get_by_label("Your password, to confirm").fill("not my password at all")
        page.get_by_role("button", name="Download with secrets").click()
        page.wait_for_load_state()
        expect("nothing was downloaded" in page.get_by_role("alert").inner_text(), page.content())
        page.get_by_label("Passphrase (12 characters or more)").fill(PASSPHRASE)
        page.get_by_label("Your password, to confirm").fill(PASSWORD)
        with page.expect_download() as got:
            page.get_by_role("button", name="Download with secrets").click()
        got.value.save_as(BACKUP)
        document = json.loads(open(BACKUP).read())
        expect(document["secrets"]["mode"] == "sealed", document["secrets"])
        expect(document["targets"]["jira"]["credentials"].get("value"), "the target's token is in it, sealed")
        expect("sim-admin-token" not in open(BACKUP).read(), "and not in the clear")

    walk.run([("backup-download", plain), ("backup-download-sealed", sealed)])


def restore_journey(browser):
    walk = Journey(browser)
    page = walk.page

    def diff():
        sign_in(page, "ann", PASSWORD)
        page.goto(f"{ROOT}/ui/backup")
        page.get_by_label("Backup file").set_input_files(BACKUP)
        page.get_by_label("Its passphrase, if it holds secrets").fill(PASSPHRASE)
        page.get_by_role("button", name="Show what it would change").click()
        page.wait_for_load_state()
        expect(page.get_by_role("heading", name="What restoring would change").is_visible(), page.content())
        rows = {r.locator("th").inner_text(): r.locator("td").nth(1).inner_text()
                for r in page.locator("#changes tbody tr").all()}
        for obj in ["source/hr", "source/crm", "target/jira", "binding/hr/jira"]:
            expect(rows.get(obj) == "created", f"{obj} would be created: {rows}")
        shot(page, "25-restore-diff")
        expect('id="source-hr"' not in page.request.get(f"{ROOT}/ui/sources").text(), "nothing is restored yet")

    def apply():
        # crm stays out, with its binding: the rest is restored.
        for obj in ["source/crm", "binding/crm/jira"]:
            page.get_by_role("checkbox", name=f"Restore {obj}").uncheck()
        page.get_by_label("The backup's passphrase").fill(PASSPHRASE)
        confirm_password(page, "Your password, to confirm")
        page.get_by_role("button", name="Restore").click()
        page.wait_for_load_state()
        expect(page.get_by_role("heading", name="Restored").is_visible(), page.content())
        shot(page, "26-restored")
        rows = {r.locator("th").inner_text(): r.locator("td").first.inner_text()
                for r in page.locator("#changes tbody tr").all()}
        expect(rows.get("source/crm") == "left as it is: not chosen" and rows.get("source/hr") == "created", rows)
        page.goto(f"{ROOT}/ui/sources")
        expect(page.locator("#source-hr").is_visible(), page.content())
        expect(page.locator("#source-crm").count() == 0, "what was not chosen stays out")
        page.goto(f"{ROOT}/ui/targets")
        expect(page.locator("#target-jira").is_visible(), "the target came with its sealed credentials")
        if HR_TOKEN:
            status, _ = call(f"{ROOT}/scim/v2/hr/Users?count=1", HR_TOKEN)
            expect(status == 200, f"the source's token came along (its hash): {status}")

    walk.run([("restore-diff", diff), ("restore-apply", apply)])


def main():
    mode = sys.argv[1]
    if with_browser(download_journey if mode == "download" else restore_journey):
        return 1
    print(f"backup {mode} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

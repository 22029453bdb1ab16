"""A console session ends by itself: against a server whose sessions end after 3 idle seconds,
a signed-in page leads back to the sign-in once the browser has been quiet that long."""

import os
import sys
import time

from playwright.sync_api import sync_playwright

from console import CHROMIUM_ARGS, expect, shot, sign_in

ROOT = os.environ["IDSYNC_ROOT"]
PASSWORD = os.environ["ADMIN_PASSWORD"]


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            sign_in(page, "ann", PASSWORD)
            expect(page.url.endswith("/ui/"), f"signed in: {page.url}")
            time.sleep(1)
            page.goto(f"{ROOT}/ui/")
            expect(page.url.endswith("/ui/"), "a request keeps the session alive")
            time.sleep(4)
            page.goto(f"{ROOT}/ui/")
            expect(page.url.endswith("/ui/login"), f"idle too long, the session has ended: {page.url}")
            shot(page, "15-session-expired")
        except Exception as e:
            print(f"session expiry check failed: {e}")
            return 1
        finally:
            browser.close()
    print("ok   session-expires")
    return 0


if __name__ == "__main__":
    sys.exit(main())

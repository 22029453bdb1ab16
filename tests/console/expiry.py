"""A console session ends by itself: against a server whose sessions end after 3 idle seconds,
a signed-in page leads back to the sign-in once the browser has been quiet that long."""

import sys
import time

from browser import PASSWORD, ROOT, expect, shot, sign_in, with_browser


def expires(browser):
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


def main():
    if with_browser(expires):
        return 1
    print("ok   session-expires")
    return 0


if __name__ == "__main__":
    sys.exit(main())

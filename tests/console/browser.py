"""What the console's browser tests share: Debian's Chromium driven by Playwright (never a
downloaded browser), a page that fails the step on any script error or failed resource, steps
that leave a screenshot when they fail, and small helpers."""

import json
import os
import time
import urllib.error
import urllib.request

from playwright.sync_api import sync_playwright

ROOT = os.environ["IDSYNC_ROOT"]
SHOTS = os.environ["SCREENSHOTS"]
PASSWORD = os.environ["ADMIN_PASSWORD"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def call(url, token, method="GET", body=None, content_type="application/scim+json"):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, None


def wait(what, check, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")


def sign_in(page, name, password):
    page.goto(f"{ROOT}/")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


class Journey:
    """One page through named steps. A script error on the page, or a console error other than
    those `expected` (substrings), fails the step it happened in."""

    def __init__(self, browser, expected=("status of 401", "status of 429")):
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors = []
        self.expected = list(expected)
        self.steps = 0
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and not any(e in m.text for e in self.expected)
                     and self.errors.append(m.text))

    def run(self, steps):
        for name, run in steps:
            self.steps += 1
            try:
                run()
            except Exception:
                shot(self.page, f"failed-{name}")
                raise
            expect(not self.errors, f"the pages reported errors: {self.errors}")
            print(f"ok   {name}")


def with_browser(test):
    """Runs `test(browser)` in headless Chromium; 0 when it passed, 1 (with the trace) when not."""
    import traceback
    os.makedirs(SHOTS, exist_ok=True)
    urllib.request.urlopen(f"{ROOT}/healthz", timeout=10).read()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            test(browser)
        except Exception:
            traceback.print_exc()
            return 1
        finally:
            browser.close()
    return 0

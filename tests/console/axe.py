"""Accessibility of every console page: axe-core (from npm) run in real headless Chromium on each
page, signed out and in, at 1280 px and at 390 px wide. Any serious or critical violation fails,
named with the rule, what it means and where on the page."""

import os
import re
import sys

from browser import PASSWORD, ROOT, expect, sign_in, with_browser

AXE = os.environ["AXE_JS"]


def pages(page):
    """Every page of the console, with what it needs to show something."""
    page.goto(f"{ROOT}/ui/runs")
    runs = re.findall(r'href="/ui/runs/(\d+)"', page.content())
    found = [
        "/ui/", "/ui/sources", "/ui/sources/hr", "/ui/sources/new/entra", "/ui/sources/new/ldap",
        "/ui/targets", "/ui/targets/jira", "/ui/bindings/hr/jira", "/ui/runs", "/ui/log",
        "/ui/explain", "/ui/explain?user=ann.lee", "/ui/backup", "/ui/troubleshooting", "/ui/admin",
    ]
    return found + [f"/ui/runs/{runs[0]}"] if runs else found


def violations(page):
    page.add_script_tag(path=AXE)
    found = page.evaluate("""async () => {
        const results = await axe.run(document, {resultTypes: ["violations"]});
        return results.violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => `${v.id} (${v.impact}): ${v.help}; at ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`);
    }""")
    return found


def check_all(browser):
    # The pages' Content-Security-Policy forbids injected scripts; the checker is let in here only.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    failures = []
    page.goto(f"{ROOT}/ui/login")
    failures += [f"/ui/login: {v}" for v in violations(page)]
    sign_in(page, "ann", PASSWORD)
    expect(page.url.endswith("/ui/"), f"signed in: {page.url}")
    checked = 0
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 844})
        for path in pages(page):
            page.goto(f"{ROOT}{path}")
            failures += [f"{path} at {width} px: {v}" for v in violations(page)]
            checked += 1
    expect(not failures, "accessibility violations:\n  " + "\n  ".join(failures))
    print(f"ok   axe-core on {checked + 1} pages: no serious or critical violations")
    context.close()


def main():
    return 1 if with_browser(check_all) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers for the browser tests: signing in through the login page, visiting a page with its
accessibility checked (axe-core, and a few basics by hand), its Content-Security-Policy
compliance checked and a screenshot kept, and waiting on a condition in the page (polled from the
test, since the page's CSP forbids the string evaluation Playwright's own wait_for_function
uses)."""

from __future__ import annotations

import json
import time
from pathlib import Path

# axe-core (tests/web/package.json, installed by scripts/bootstrap.sh chromium) is loaded into
# every page as an init script, which the page's CSP does not govern.
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}"""

# Runs before any page script (through the DevTools protocol, which CSP does not govern) and
# records every violation the page's own content causes.
CSP_WATCH = """window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"""

# Every form control and media element needs an accessible name, every image an alt text, the
# document a language and a viewport for phones.
A11Y_PROBLEMS = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("html has no lang");
  if (!document.querySelector("meta[name=viewport]")) problems.push("no viewport meta");
  const named = (el) => {
    if (el.labels && el.labels.length && [...el.labels].some((l) => l.textContent.trim())) return true;
    if ((el.getAttribute("aria-label") || "").trim()) return true;
    const by = el.getAttribute("aria-labelledby");
    if (by && document.getElementById(by) && document.getElementById(by).textContent.trim()) return true;
    return el.tagName === "BUTTON" && el.textContent.trim() !== "";
  };
  for (const el of document.querySelectorAll(
      "input:not([type=hidden]), select, textarea, button, audio, video, canvas")) {
    if (!named(el)) problems.push("unlabelled: " + el.outerHTML.slice(0, 100));
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("image without alt: " + img.outerHTML.slice(0, 100));
  }
  for (const a of document.querySelectorAll("a")) {
    if (!a.textContent.trim() && !a.getAttribute("aria-label")) problems.push("empty link: " + a.outerHTML.slice(0, 100));
  }
  return problems;
}"""


def axe_violations(page) -> list[dict]:
    """Every accessibility rule axe-core finds the page breaking, with its impact."""
    return page.evaluate(AXE_RUN)


def check_and_snap(page, artifacts: Path, name: str) -> None:
    """Assert that axe-core finds no serious or critical violation on the page, its
    accessibility basics, and that nothing on it broke its CSP; keep a full-page screenshot and
    axe's findings (every impact) beside it. A page that reloads itself meanwhile (the host's
    space page does as stages arrive) is checked again once loaded."""
    from playwright.sync_api import Error

    for attempt in range(3):
        try:
            return _check_and_snap(page, artifacts, name)
        except Error as error:
            if "context was destroyed" not in str(error) or attempt == 2:
                raise
            page.wait_for_load_state()


def _check_and_snap(page, artifacts: Path, name: str) -> None:
    violations = axe_violations(page)
    (artifacts / f"{name}.axe.json").write_text(json.dumps(violations, indent=1))
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert failing == [], f"{page.url}: " + "; ".join(
        f"{v['impact']} {v['id']} ({v['help']}): {', '.join(v['nodes'])}" for v in failing
    )
    assert page.evaluate(A11Y_PROBLEMS) == [], page.url
    assert page.evaluate("window.__csp || []") == [], page.url
    # A full-page screenshot of a long page takes long on a busy machine.
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True, timeout=90_000)


def wait_for(page, expression: str, *, timeout_ms: float = 20_000) -> None:
    """Wait until ``expression`` is truthy in the page (across a navigation the page makes)."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            if page.evaluate(expression):
                return
        except Error as error:  # the page navigated meanwhile: ask the new document
            if "context was destroyed" not in str(error) and "navigat" not in str(error):
                raise
        assert time.monotonic() < deadline, f"still false after {timeout_ms:.0f} ms: {expression}"
        time.sleep(0.05)


def signed_in(browser, base_url: str, key: str | None, **context_options):
    """A new browser page, signed in with ``key`` through the login form (None: anonymous)."""
    assert AXE.is_file(), f"{AXE} is missing: run scripts/bootstrap.sh chromium"
    context = browser.new_context(base_url=base_url, **context_options)
    context.add_init_script(CSP_WATCH)
    context.add_init_script(path=AXE)
    context.set_default_timeout(20_000)
    page = context.new_page()
    if key:
        page.goto("/login")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url)
    return page

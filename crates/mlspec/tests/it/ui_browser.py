"""The web UI in a real browser: Playwright driving Debian's chromium (never a downloaded one).

Run by tests/it/ui.rs with a plan (JSON) of the pages of a seeded store and what each must
show. For every page, in the light and the dark theme: no console error, no failed request, no
answer >= 400 but the ones expected, the expected texts present, no injected script run
(`window.__pwned`), a full-page screenshot; then axe-core (vendored, injected in a context that
bypasses our CSP) must report no serious or critical violation. Then the flows: filter (good
and bad), sort, select and compare with the charts drawn, a lineage node clicked through, a 404,
keyboard focus on the skip link, and the pages on a phone's viewport; with `audit_flow`, a
logged line pasted into the audit form. A plan with `live` (a
running pipeline's page, and the file its waiting step waits for) then ends the pipeline and
checks the page follows it to its end.

Prints one JSON report on stdout: {"failures": [...], "checked": N}; exits 1 when anything
failed, so the Rust test names the page and the check.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

failures = []


def fail(page_name, check, detail):
    failures.append({"page": page_name, "check": check, "detail": str(detail)[:2000]})


def watch(page, name, expected_statuses):
    """Collects what must not happen on a page: console errors, page errors, failed requests,
    unexpected error answers."""
    def on_console(message):
        if message.type == "error" and "status of 404" not in message.text:
            fail(name, "console error", message.text)

    def on_response(response):
        if response.status >= 400 and response.status not in expected_statuses:
            fail(name, "error answer", f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: fail(name, "page error", error))
    page.on("requestfailed", lambda request: fail(name, "request failed", f"{request.url} {request.failure}"))
    page.on("response", on_response)


def wait_until(page, expression, seconds=30):
    """Polls `expression` in the page until it is true (Playwright's wait_for_function evaluates
    text with eval, which our Content-Security-Policy refuses, as it should)."""
    deadline = time.monotonic() + seconds
    while not holds(page, expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression} did not hold within {seconds} s")
        time.sleep(0.01)


def holds(page, expression):
    try:
        return page.evaluate(expression)
    except PlaywrightError:
        return False  # the page is being (re)loaded


def settle(page, entry):
    page.wait_for_load_state("networkidle")
    if entry.get("charts"):
        wait_until(page, "performance.getEntriesByName('mlspec:charts-drawn').length > 0")


def check_content(page, name, entry):
    body = page.inner_text("body")
    for text in entry.get("texts", []):
        if text not in body:
            fail(name, "text missing", text)
    for selector, count in entry.get("counts", {}).items():
        found = page.locator(selector).count()
        if found != count:
            fail(name, f"count of {selector}", f"{found} != {count}")
    if page.evaluate("window.__pwned") is not None:
        fail(name, "injected script ran", "window.__pwned is set")
    if entry.get("charts"):
        charts = page.evaluate("window.__mlspecCharts")
        expected = entry["charts"]
        if len(charts) != expected["keys"]:
            fail(name, "charts", f"{len(charts)} charts, expected {expected['keys']}: {charts}")
        for chart in charts:
            if chart["series"] != expected["series"]:
                fail(name, "chart series", chart)
            if expected.get("total") and expected["total"] not in chart["totals"]:
                fail(name, "chart points", chart)


def visit_pages(browser, args, plan, out):
    for scheme in ["light", "dark"]:
        context = browser.new_context(
            viewport={"width": 1280, "height": 800},
            color_scheme=scheme,
            http_credentials={"username": "ui", "password": args.token},
        )
        for entry in plan["pages"]:
            name = f"{entry['name']} ({scheme})"
            page = context.new_page()
            watch(page, name, entry.get("statuses", []))
            answer = page.goto(args.base + entry["path"])
            status = answer.status if answer else None
            if status != entry.get("status", 200):
                fail(name, "status", f"{status} for {entry['path']}")
            settle(page, entry)
            check_content(page, name, entry)
            page.screenshot(path=str(out / f"{entry['name']}-{scheme}.png"), full_page=True)
            page.close()
        context.close()


def axe_pages(browser, args, plan):
    """axe-core in a context that bypasses the CSP (ours forbids injected scripts)."""
    for scheme in ["light", "dark"]:
        context = browser.new_context(
            viewport={"width": 1280, "height": 800},
            bypass_csp=True,
            color_scheme=scheme,
            http_credentials={"username": "ui", "password": args.token},
        )
        for entry in plan["pages"]:
            if not entry.get("axe", True):
                continue  # not HTML (a raw document)
            page = context.new_page()
            page.goto(args.base + entry["path"])
            settle(page, entry)
            page.add_script_tag(path=args.axe)
            result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            for violation in result["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    targets = [node["target"] for node in violation["nodes"][:5]]
                    fail(f"{entry['name']} ({scheme})", f"axe {violation['id']}", f"{violation['help']}: {targets}")
            page.close()
        context.close()


def watched_page(browser, args, name):
    """A new desktop-sized page with the token, watched for errors."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        http_credentials={"username": "ui", "password": args.token},
    )
    page = context.new_page()
    watch(page, name, [])
    return context, page


def live(browser, args, plan, out):
    """A running pipeline's page: its waiting step shown running; then the file it waits for
    appears, the pipeline ends, and the page's refresh reloads it into the ended Run."""
    entry = plan["live"]
    context, page = watched_page(browser, args, "live")
    page.goto(args.base + entry["path"])
    cell = f'[data-step-state="{entry["step"]}"]'
    if page.inner_text(cell) != "running":
        fail("live", "step state", page.inner_text(cell))
    Path(entry["flag"]).write_text("")
    try:
        wait_until(page, "document.getElementById('pipeline-data') === null", 60)
        page.wait_for_load_state("networkidle")
        body = page.inner_text("body")
        if "Steps, live" in body:
            fail("live", "ended page", "the ended Run still shows its live steps")
        for text in entry.get("ended_texts", []):
            if text not in body:
                fail("live", "ended page: text missing", text)
        if page.locator("svg.lineage .state-running").count() != 0:
            fail("live", "ended page", "a step is still drawn running")
    except TimeoutError as error:
        fail("live", "pipeline end", error)
    page.screenshot(path=str(out / "pipeline-ended.png"), full_page=True)
    context.close()


def audit_flow(browser, args, plan, out):
    """The audit form: a log chosen, a line pasted, the audit shown."""
    entry = plan["audit_flow"]
    context, page = watched_page(browser, args, "audit flow")
    page.goto(args.base + "/ui/audit")
    page.select_option("select[name=log]", entry["log"])
    page.fill("textarea[name=paste]", entry["paste"])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    body = page.inner_text("body")
    for text in entry["texts"]:
        if text not in body:
            fail("audit flow", "text missing", text)
    page.screenshot(path=str(out / "audit-flow.png"), full_page=True)
    context.close()


def flows(browser, args, plan, out):
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        http_credentials={"username": "ui", "password": args.token},
    )
    page = context.new_page()
    watch(page, "flows", [404])
    flow = plan["flows"]

    # A filter that matches, then one that does not parse (shown in place, not an error).
    page.goto(args.base + "/ui/runs")
    page.fill("input[name=where]", flow["filter"])
    page.press("input[name=where]", "Enter")
    page.wait_for_load_state("networkidle")
    rows = page.locator("table.list tbody tr").count()
    if rows != flow["filter_rows"]:
        fail("flows", "filter rows", f"{rows} != {flow['filter_rows']}")
    with page.expect_navigation() as navigation:
        page.fill("input[name=where]", "metrics.acc >")
        page.press("input[name=where]", "Enter")
    if navigation.value.status != 200:
        fail("flows", "bad filter status", navigation.value.status)
    if page.locator("[role=alert] mark").count() != 1:
        fail("flows", "bad filter marked", page.inner_text("main"))

    # Sort by a metric column: ascending, then descending.
    page.goto(args.base + "/ui/runs?columns=metrics.acc")
    page.click("thead >> text=metrics.acc")
    page.wait_for_load_state("networkidle")
    page.click("thead >> text=metrics.acc")
    page.wait_for_load_state("networkidle")
    first = page.locator("table.list tbody tr th a").first.inner_text()
    if first != flow["highest"]:
        fail("flows", "sort descending", f"first row {first}, expected {flow['highest']}")

    # Select runs and compare them; the charts draw every run's curve.
    page.goto(args.base + "/ui/runs?order=metrics.acc%20desc")
    boxes = page.locator("table.list tbody input[type=checkbox]")
    for i in range(flow["compare"]):
        boxes.nth(i).check()
    page.click("text=Compare selected runs")
    page.wait_for_load_state("networkidle")
    if page.locator("table.compare tr.differs").count() == 0:
        fail("flows", "compare differences", "no row is marked as differing")
    if page.locator("[data-chart]").count() > 0:
        wait_until(page, "performance.getEntriesByName('mlspec:charts-drawn').length > 0")
        charts = page.evaluate("window.__mlspecCharts")
        if any(chart["series"] != flow["compare"] for chart in charts):
            fail("flows", "compare charts", charts)
    page.screenshot(path=str(out / "compare-flow.png"), full_page=True)

    # Lineage: every node drawn, and a node is a link to its page.
    page.goto(args.base + flow["lineage"])
    nodes = page.locator("svg.lineage g.nodes > a").count()
    if nodes != flow["lineage_nodes"]:
        fail("flows", "lineage nodes", f"{nodes} != {flow['lineage_nodes']}")
    page.locator("svg.lineage g.nodes > a").nth(1).click()
    page.wait_for_load_state("networkidle")
    if "/ui/objects/" not in page.url:
        fail("flows", "lineage click", page.url)

    # Unknown addresses are a 404 page.
    answer = page.goto(args.base + "/ui/objects/no-such-object")
    if answer.status != 404 or "Not found" not in page.inner_text("h1"):
        fail("flows", "404 page", answer.status)

    # Keyboard: the first Tab reaches the skip link.
    page.goto(args.base + "/")
    page.keyboard.press("Tab")
    if page.evaluate("document.activeElement.className") != "skip":
        fail("flows", "skip link", page.evaluate("document.activeElement.outerHTML"))
    context.close()

    # A phone: nothing wider than the screen but the tables' own scrolling boxes.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        http_credentials={"username": "ui", "password": args.token},
    )
    page = phone.new_page()
    for entry in plan["pages"][:3]:
        page.goto(args.base + entry["path"])
        settle(page, entry)
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > 391:
            fail(f"{entry['name']} (phone)", "page wider than the screen", wide)
        page.screenshot(path=str(out / f"{entry['name']}-phone.png"), full_page=True)
    phone.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--axe", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--plan", required=True)
    args = parser.parse_args()
    plan = json.loads(Path(args.plan).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
        visit_pages(browser, args, plan, out)
        axe_pages(browser, args, plan)
        if "flows" in plan:
            flows(browser, args, plan, out)
        if "live" in plan:
            live(browser, args, plan, out)
        if "audit_flow" in plan:
            audit_flow(browser, args, plan, out)
        browser.close()
    print(json.dumps({"failures": failures, "checked": len(plan["pages"])}, indent=1))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

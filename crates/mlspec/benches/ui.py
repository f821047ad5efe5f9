"""The web UI benchmark (issue 20): mlspec's UI and MLflow's, side by side in one run, on the
same data, timed in a real browser (Playwright driving Debian's chromium) and at the HTTP level.

Data, the same for both:
- an experiment of --runs runs (default 100,000): one template run logged through the MLflow
  API, then copies (mlspec: `POST /api/v1/apply`; MLflow: straight into its SQLite tables), as
  the server benchmark does (benches/server.py, whose helpers this reuses);
- 20 runs × 10 metric keys × --points points (default 100,000) of history: mlspec through
  `POST /api/v1/ids/{id}/series`, MLflow straight into its `metrics` table;
- one run with one key of 1,000,000 points;
- (mlspec) a lineage fixture: an experiment with 50 chains of 10 runs (each run's parent is the
  one before): 501 nodes within depth 10.

Timings (each the median of --reps, the first, cold, reported too):
- runs page, server time: `GET /ui/runs` with the experiment, a metric filter, an order by a
  metric and three columns, keep-alive, --page-reps times (p50/p95); and a deep page (page 1000);
- compare, in the browser: navigation start → every chart drawn (`mlspec:charts-drawn`), for
  20 runs × 10 keys and for the 1,000,000-point curve;
- lineage, in the browser: navigation start → the graph ready (`mlspec:graph-drawn`);
- MLflow: its runs table (`/#/experiments/ID/runs`, until the grid shows rows) and its metric
  page (`/#/metric/?runs=…&metric=…`, as its compare view links it: one metric's history across
  the 20 runs, until Plotly has drawn a trace per run; one cold load, as it reads every point
  first); "did not load" after 60 s (300 s for the metric page).

    python ui.py --mlspec BIN --mlflow-venv DIR --chromium PATH [--runs N] [--points N] [--json F]
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as bench  # noqa: E402  (the server benchmark's launchers and fillers)

from playwright.sync_api import sync_playwright  # noqa: E402

KEYS = [f"k{i}" for i in range(10)]
COMPARED = 20
POST_POINTS = 10_000
FILTER = "metrics.acc > 0.5"
ORDER = "metrics.acc desc"
COLUMNS = "params.lr,metrics.acc,metrics.m1"
TIMEOUT_MS = 60_000
# MLflow's metric page reads every point of every run (get-history, paged) before it draws: at
# 20 × 100,000 points it takes minutes, so it gets one cold load and a longer wait.
METRIC_PAGE_TIMEOUT_MS = 300_000


def timed_get(conn, path):
    """Seconds for one keep-alive GET, which must answer 200."""
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        bench.fail(f"GET {path} answered {response.status}: {body[:300]!r}")
    return elapsed, body


def new_runs(api, template, count, prefix):
    """`count` copies of the template run (fresh ids), applied at once: their ids."""
    document = api.call("GET", f"/api/v1/ids/{template}")["document"]
    copies, ids = [], []
    for i in range(count):
        copy = json.loads(json.dumps(document))
        copy["metadata"]["id"] = uuid.uuid4().hex
        copy["metadata"]["name"] = f"{prefix}-{i}"
        copies.append(copy)
        ids.append(copy["metadata"]["id"])
    api.call("POST", "/api/v1/apply", copies)
    return ids


def value(key_index, step, points):
    return (1.0 + key_index) / (1.0 + step) + (0.5 if step == points // 2 else 0.0)


def append_series(api, run, keys, points):
    """Every key's `points` points, in posts of 10,000; points appended per second."""
    per_post = max(1, POST_POINTS // len(keys))
    start_time = time.perf_counter()
    for start in range(0, points, per_post):
        batch = [{"key": key, "value": value(k, step, points), "step": step,
                  "timestampUs": 1_764_000_000_000_000 + step * 1_000_000}
                 for step in range(start, min(points, start + per_post)) for k, key in enumerate(keys)]
        api.call("POST", f"/api/v1/ids/{run}/series", {"points": batch})
    return len(keys) * points / (time.perf_counter() - start_time)


def lineage_fixture(api):
    """An experiment with 50 chains of 10 runs: its id."""
    docs = [{"apiVersion": "mlspec/v1", "kind": "Experiment", "metadata": {"name": "lineage-bench"}, "spec": {}}]
    for chain in range(50):
        for link in range(10):
            spec = {"experiment": "Experiment/lineage-bench", "status": "Running"}
            if link:
                spec["parent"] = f"Run/chain-{chain}-{link - 1}"
            docs.append({"apiVersion": "mlspec/v1", "kind": "Run",
                         "metadata": {"name": f"chain-{chain}-{link}"}, "spec": spec})
    api.call("POST", "/api/v1/apply", docs)
    return api.call("GET", "/api/v1/Experiment/lineage-bench")["id"]


def poll(page, expression, timeout_ms=TIMEOUT_MS):
    """Waits until `expression` holds in the page, checking every 10 ms (Playwright's
    wait_for_function evaluates text with eval, which mlspec's Content-Security-Policy refuses).
    The time is read in the page afterwards, so the polling does not add to it."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression} did not hold within {timeout_ms / 1000} s")
        time.sleep(0.01)


def browser_mark(browser, url, mark, reps):
    """Milliseconds from navigation start to `mark`, per fresh page: first, median, all."""
    times = []
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    for _ in range(reps):
        page = context.new_page()
        page.goto(url, timeout=TIMEOUT_MS)
        poll(page, f"performance.getEntriesByName('{mark}').length > 0")
        times.append(page.evaluate(f"performance.getEntriesByName('{mark}')[0].startTime"))
        page.close()
    context.close()
    return timings(times)


def timings(times):
    return {"first_ms": round(times[0], 1), "median_ms": round(statistics.median(times), 1),
            "all_ms": [round(t) for t in times]}


def browser_until(browser, url, ready, reps, timeout_ms=TIMEOUT_MS):
    """Milliseconds from navigation start until the JavaScript condition `ready` holds (polled
    by the page); (first, median), or "did not load"."""
    times = []
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    for _ in range(reps):
        page = context.new_page()
        try:
            page.goto(url, timeout=TIMEOUT_MS)
            poll(page, ready, timeout_ms)
            times.append(page.evaluate("performance.now()"))
        except Exception as error:  # noqa: BLE001  (a page that never loads is a result)
            page.close()
            context.close()
            return {"did_not_load": str(error).splitlines()[0][:200]}
        page.close()
    context.close()
    return timings(times)


def measure_mlspec(args, browser, work):
    port = bench.free_port()
    with open(os.path.join(work, "mlspec.log"), "w") as log:
        proc, launched = bench.launch_mlspec(args.mlspec, work, port, log)
        try:
            bench.wait_ready(port, proc, launched, 30)
            api = bench.Http(port)
            result = {}
            _, template = bench.template_run(api, "bench-ui")
            start = time.perf_counter()
            bench.fill_mlspec(api, template, args.runs)
            result["fill_s"] = round(time.perf_counter() - start, 1)
            experiment = api.call("GET", f"/api/v1/ids/{template}")["document"]["spec"]["experiment"]
            compared = new_runs(api, template, COMPARED, "curves")
            rates = [append_series(api, run, KEYS, args.points) for run in compared]
            result["append_points_per_s"] = round(statistics.median(rates))
            (million,) = new_runs(api, template, 1, "million")
            append_series(api, million, ["loss"], 1_000_000)
            lineage_root = lineage_fixture(api)

            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            query = urllib.parse.urlencode({"experiment": experiment, "where": FILTER, "order": ORDER, "columns": COLUMNS})
            page_times = [timed_get(conn, f"/ui/runs?{query}")[0] * 1000 for _ in range(args.page_reps)]
            deep = [timed_get(conn, f"/ui/runs?{query}&page=1000")[0] * 1000 for _ in range(20)]
            result["runs_page_ms"] = {"p50": round(bench.percentile(page_times, 50), 1),
                                      "p95": round(bench.percentile(page_times, 95), 1)}
            result["runs_deep_page_ms"] = {"p50": round(bench.percentile(deep, 50), 1),
                                           "p95": round(bench.percentile(deep, 95), 1)}
            series = f"/ui/series?key=loss&run={million}&width=1000"
            series_times = [timed_get(conn, series)[0] * 1000 for _ in range(20)]
            result["million_series_server_ms"] = round(statistics.median(series_times), 1)
            lineage_path = f"/ui/lineage/{lineage_root}?depth=10"
            _, body = timed_get(conn, lineage_path)
            result["lineage_nodes"] = body.decode().count("<rect ")
            lineage_times = [timed_get(conn, lineage_path)[0] * 1000 for _ in range(10)]
            result["lineage_server_ms"] = round(statistics.median(lineage_times), 1)
            conn.close()

            base = f"http://127.0.0.1:{port}"
            runs = "&".join(f"run={r}" for r in compared)
            result["compare_20x10"] = browser_mark(browser, f"{base}/ui/runs/compare?{runs}", "mlspec:charts-drawn", args.reps)
            result["compare_1m"] = browser_mark(browser, f"{base}/ui/runs/compare?run={million}", "mlspec:charts-drawn", args.reps)
            result["lineage"] = browser_mark(browser, f"{base}{lineage_path}", "mlspec:graph-drawn", args.reps)
            result["runs_page_browser"] = browser_until(browser, f"{base}/ui/runs?{query}", "document.readyState === 'complete'", args.reps)
            return result
        finally:
            bench.stop(proc)


def fill_mlflow_history(db, runs, points):
    """MLflow's metric rows for `runs` × KEYS × `points`, straight into its SQLite tables."""
    import sqlite3
    conn = sqlite3.connect(db, timeout=60)
    with conn:
        for run in runs:
            for k, key in enumerate(KEYS):
                rows = ((key, value(k, step, points), 1_764_000_000_000 + step * 1000, run, step, 0)
                        for step in range(points))
                conn.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)", rows)
                conn.execute("INSERT OR REPLACE INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)",
                             (key, value(k, points - 1, points), 1_764_000_000_000 + points * 1000, points - 1, 0, run))
    conn.close()


def mlflow_runs_table(browser, base, experiment, reps):
    """MLflow's runs table (its "Model training" view of the experiment) until its grid shows
    rows."""
    return browser_until(browser, f"{base}/#/experiments/{experiment}/runs",
                         "document.querySelectorAll('.ag-row').length > 0", reps)


def mlflow_metric_page(browser, base, experiment, runs, reps):
    """MLflow's metric page (its chart of one metric's history across runs, the page its
    compare view links to) for the 20 runs and the first key, until Plotly has drawn a trace
    per run. Its address as MLflow's own getMetricPageRoute writes it: `runs` and
    `experiments` as raw JSON, `metric` and `plot_metric_keys` as URI-encoded JSON (fully
    URL-encoding the raw ones makes its router read `undefined`)."""
    quoted = lambda value: urllib.parse.quote(json.dumps(value, separators=(",", ":")), safe="")
    raw = lambda value: json.dumps(value, separators=(",", ":"))
    query = (f"runs={raw(runs)}&metric={quoted(KEYS[0])}&experiments={raw([experiment])}"
             f"&plot_metric_keys={quoted([KEYS[0]])}&plot_layout={{}}&x_axis=step&y_axis_scale=linear"
             "&line_smoothness=1&show_point=false&deselected_curves=[]&last_linear_y_axis_range=[]")
    return browser_until(browser, f"{base}/#/metric/?{query}",
                         f"document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length >= {len(runs)}",
                         reps, METRIC_PAGE_TIMEOUT_MS)


def measure_mlflow(args, browser, work):
    port = bench.free_port()
    with open(os.path.join(work, "mlflow.log"), "w") as log:
        proc, launched = bench.launch_mlflow(args.mlflow_venv, work, port, log)
        try:
            bench.wait_ready(port, proc, launched, 120)
            api = bench.Http(port)
            experiment, template = bench.template_run(api, "bench-ui")
            compared = [api.call("POST", "/api/2.0/mlflow/runs/create",
                                 {"experiment_id": experiment, "run_name": f"curves-{i}"})["run"]["info"]["run_id"]
                        for i in range(COMPARED)]
        finally:
            bench.stop(proc)
        db = os.path.join(work, "mlflow.db")
        start = time.perf_counter()
        bench.fill_mlflow(db, template, args.runs)
        fill_mlflow_history(db, compared, args.points)
        result = {"fill_s": round(time.perf_counter() - start, 1)}
        proc, launched = bench.launch_mlflow(args.mlflow_venv, work, port, log)
        try:
            bench.wait_ready(port, proc, launched, 120)
            base = f"http://127.0.0.1:{port}"
            result["runs_table"] = mlflow_runs_table(browser, base, experiment, args.reps)
            result["metric_page_20_runs"] = mlflow_metric_page(browser, base, experiment, compared, 1)
            return result
        finally:
            bench.stop(proc)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mlspec", required=True)
    parser.add_argument("--mlflow-venv", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--page-reps", type=int, default=200)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        results["mlspec"] = measure_mlspec(args, browser, tempfile.mkdtemp(prefix="bench-ui-mlspec-"))
        if not args.skip_mlflow:
            results["mlflow"] = measure_mlflow(args, browser, tempfile.mkdtemp(prefix="bench-ui-mlflow-"))
        browser.close()
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text)


if __name__ == "__main__":
    main()

"""The server benchmark (issue 17): `mlspec server` and `mlflow server` side by side, one after
the other in one run, under the same workload through the real MLflow client.

Each server gets a fresh temp directory and a SQLite store (mlspec: a project made by
`mlspec init`; MLflow: `--backend-store-uri sqlite:///…`, lean as in the anchor's baseline: one
uvicorn worker, the job runner off) and goes through the same phases:

1. **startup**: launch → the first answered `POST /api/2.0/mlflow/experiments/search` (as the
   client sends it; polled every 2 ms);
2. **idle**: the summed VmRSS of the server's process tree, 2 s after ready, for 1 s;
3. **workload**: `mlflow_bench_client.py` (the anchor's client, unchanged: 50 runs with one
   `log_batch` of 200 metric points each, 1,000 single `log_metric` calls, searches, history);
4. **raw writes**: four keep-alive connections, each creating a run and sending one `log-batch`
   of 1,000 points, again and again for 15 s (bodies built once: the server's capacity, not the
   Python client's);
5. **search at small N**: `POST /api/2.0/mlflow/runs/search` with a metric filter over the
   workload's 55 runs, timed at the HTTP level (keep-alive, no MLflow client parsing);
6. **search at large N**: a second experiment filled to --runs runs (one template run made
   through the MLflow API, then copies: for mlspec through `POST /api/v1/apply` in batches, for
   MLflow straight into its SQLite tables — its API has no bulk path), then the same search.

Last, the client's ceiling: the workload's log_batch phase against `mlflow_null_server.py`, a
server that answers at once and keeps nothing — what the Python client costs by itself, so what
no server can beat through it.

The peak RSS of the tree from the workload to the end is "RSS under load". Every answer is
checked (status, rows returned, the client's own error field): a failed step exits non-zero,
so a failure cannot look like speed.

    python server.py --mlspec BIN --mlflow-venv DIR [--runs N] [--search-reps N] [--json FILE]

The memory sampling follows the anchor's `proc_sampler.py` (summed VmRSS of the tree found
through the ppid field of /proc/*/stat).
"""

import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "mlflow_bench_client.py")
NULL_SERVER = os.path.join(HERE, "mlflow_null_server.py")

# The filter of the anchor's client; about a quarter of the runs match it.
FILTER = "metrics.acc > 0.5 and params.lr = '0.1'"
# Rows asked for per search at large N: one page, as a UI or a script paging through asks.
PAGE = 100
# Parameters and metric keys of each filler run (the workload's runs carry 10 and 2).
FILLER_PARAMS = 10
# Connections of the raw write phase: twice the cores of the machine the numbers were taken on.
RAW_THREADS = 4

# The targets.
POINTS_RATIO_TARGET = 5.0
SEARCH_P99_TARGET_MS = 50.0
STARTUP_TARGET_S = 0.1
IDLE_RSS_TARGET_MB = 50.0
LOAD_RSS_TARGET_MB = 150.0


def fail(message):
    sys.exit(f"bench-server: {message}")


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the process tree's memory (after anchors/mlflow/proc_sampler.py) --------------------------


def parents():
    """pid → ppid of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                out[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    return out


def tree(root):
    children = {}
    for pid, ppid in parents().items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(root):
    return sum(rss_kb(pid) for pid in tree(root)) / 1024.0


class Sampler(threading.Thread):
    """Samples the tree's RSS every 50 ms; `peak_since(mark)` is the largest sample after it."""

    def __init__(self, root):
        super().__init__(daemon=True)
        self.root = root
        self.samples = []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.samples.append((time.monotonic(), tree_rss_mb(self.root)))
            time.sleep(0.05)

    def peak_since(self, mark):
        return max((mb for t, mb in self.samples if t >= mark), default=0.0)

    def mean_between(self, start, end):
        window = [mb for t, mb in self.samples if start <= t <= end]
        return sum(window) / len(window) if window else 0.0


# --- HTTP ------------------------------------------------------------------------------------------


class Http:
    """One keep-alive connection; every call checks the status."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method, path, body=None, expect=200):
        return self.raw(method, path, None if body is None else json.dumps(body).encode(), expect)

    def raw(self, method, path, data, expect=200):
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):  # a server may close a keep-alive connection left idle: reconnect once
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                text = response.read()
                break
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                if attempt == 2 or not isinstance(e, (BrokenPipeError, http.client.RemoteDisconnected)):
                    fail(f"{method} {path} on port {self.port}: {e}")
        if response.status != expect:
            fail(f"{method} {path} answered {response.status}: {text[:500]!r}")
        return json.loads(text) if text else {}


def wait_ready(port, proc, start, cap_s):
    """Seconds from `start` until the MLflow API first answers 200 (polled every 2 ms)."""
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/api/2.0/mlflow/experiments/search", body=b'{"max_results": 1}',
                         headers={"Content-Type": "application/json"})
            if conn.getresponse().status == 200:
                return time.monotonic() - start
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        if proc.poll() is not None:
            fail(f"the server exited with {proc.returncode} before answering")
        if time.monotonic() - start > cap_s:
            fail(f"the server did not answer within {cap_s} s")
        time.sleep(0.002)


# --- the two servers -----------------------------------------------------------------------------


def launch_mlspec(binary, work, port, log):
    project = os.path.join(work, "project")
    os.mkdir(project)
    done = subprocess.run([binary, "init"], cwd=project, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"`mlspec init` failed: {done.stdout}{done.stderr}")
    launched = time.monotonic()
    return subprocess.Popen(
        [binary, "server", "--listen", f"127.0.0.1:{port}"], cwd=project, stdout=log, stderr=log
    ), launched


def launch_mlflow(venv, work, port, log):
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    launched = time.monotonic()
    return subprocess.Popen(
        [os.path.join(venv, "bin", "mlflow"), "server", "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
         "--artifacts-destination", f"{work}/mlartifacts", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        cwd=work, stdout=log, stderr=log, env=env, start_new_session=True,
    ), launched


def stop(proc):
    """SIGTERM to the server, then SIGKILL to whatever of its tree is left after 20 s."""
    pids = tree(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:
        if os.path.exists(f"/proc/{pid}"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    proc.wait()


# --- filling an experiment with many runs --------------------------------------------------------


def template_run(api, name):
    """A new experiment with one run logged through the MLflow API: (experiment id, run id)."""
    experiment = api.call("POST", "/api/2.0/mlflow/experiments/create", {"name": name})["experiment_id"]
    run = api.call("POST", "/api/2.0/mlflow/runs/create",
                   {"experiment_id": experiment, "run_name": "template", "start_time": int(time.time() * 1000)})
    run_id = run["run"]["info"]["run_id"]
    ts = int(time.time() * 1000)
    api.call("POST", "/api/2.0/mlflow/runs/log-batch", {
        "run_id": run_id,
        "params": [{"key": "lr", "value": "0.1"}] + [{"key": f"p{j}", "value": "x"} for j in range(1, FILLER_PARAMS)],
        "metrics": [{"key": "acc", "value": 0.75, "timestamp": ts, "step": 0},
                    {"key": "m1", "value": 0.5, "timestamp": ts, "step": 0}],
    })
    api.call("POST", "/api/2.0/mlflow/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": ts})
    return experiment, run_id


def filler(i):
    """The values of filler run i: lr alternates, acc is spread over [0, 1) so half pass 0.5."""
    acc = random.Random(i).random()
    return ("0.1" if i % 2 == 0 else "0.01"), acc, [f"v{i}-{j}" for j in range(1, FILLER_PARAMS)]


def fill_mlspec(api, run_id, count, batch=1000):
    document = api.call("GET", f"/api/v1/ids/{run_id}")["document"]
    for start in range(0, count, batch):
        docs = []
        for i in range(start, min(count, start + batch)):
            lr, acc, values = filler(i)
            copy = json.loads(json.dumps(document))
            new_id = uuid.uuid4().hex
            copy["metadata"]["id"] = new_id
            copy["metadata"]["name"] = f"filler-{i}-{new_id[-8:]}"
            spec = copy["spec"]
            spec["params"] = {"lr": lr, **{f"p{j}": v for j, v in enumerate(values, 1)}}
            spec["tags"]["mlflow.runName"] = f"filler-{i}"
            for metric in spec["metrics"]:
                if metric["key"] == "acc":
                    metric["value"] = acc
            docs.append(copy)
        api.call("POST", "/api/v1/apply", docs)


def fill_mlflow(db, run_id, count):
    """Copies the template run's rows `count` times, in one transaction (the server is idle)."""
    conn = sqlite3.connect(db, timeout=60)
    conn.row_factory = sqlite3.Row
    try:
        tables = {t: [dict(r) for r in conn.execute(f"SELECT * FROM {t} WHERE run_uuid = ?", (run_id,))]
                  for t in ("runs", "params", "metrics", "latest_metrics", "tags")}
        if not tables["runs"]:
            fail(f"the template run {run_id} is not in MLflow's database {db}")
        with conn:
            for i in range(count):
                lr, acc, values = filler(i)
                new_id = uuid.uuid4().hex
                for table, rows in tables.items():
                    for row in rows:
                        row = dict(row, run_uuid=new_id)
                        if table == "runs":
                            row["name"] = f"filler-{i}"
                            row["artifact_uri"] = row["artifact_uri"].replace(run_id, new_id)
                        elif table == "params":
                            row["value"] = lr if row["key"] == "lr" else values[int(row["key"][1:]) - 1]
                        elif table in ("metrics", "latest_metrics") and row["key"] == "acc":
                            row["value"] = acc
                        elif table == "tags" and row["key"] == "mlflow.runName":
                            row["value"] = f"filler-{i}"
                        columns = ", ".join(row)
                        marks = ", ".join("?" for _ in row)
                        conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values()))
    finally:
        conn.close()


# --- raw write capacity ------------------------------------------------------------------------


def raw_log_batches(port, experiment, threads, seconds):
    """Metric points/s the server takes from `threads` keep-alive connections for `seconds`, each
    looping over: create a run, one `log-batch` of 1,000 points (MLflow's limit: 10 keys × 100
    steps), with bodies built once, so that the Python client's own cost is left out."""
    ts = int(time.time() * 1000)
    metrics = [{"key": f"k{k}", "value": 1.0 / (st + 1), "timestamp": ts + st, "step": st}
               for k in range(10) for st in range(100)]
    tail = json.dumps({"metrics": metrics})[1:]
    done = [0] * threads
    errors = []

    def worker(index):
        api = Http(port)
        try:
            while time.monotonic() < deadline:
                run = api.call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": experiment, "start_time": ts})
                body = '{"run_id": "%s", %s' % (run["run"]["info"]["run_id"], tail)
                api.raw("POST", "/api/2.0/mlflow/runs/log-batch", body.encode())
                done[index] += len(metrics)
        except SystemExit as e:  # fail() in a thread ends only the thread: hand it to the caller
            errors.append(str(e))

    start = time.monotonic()
    deadline = start + seconds
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        fail(errors[0].removeprefix("bench-server: "))
    return round(sum(done) / (time.monotonic() - start), 1)


# --- searches ----------------------------------------------------------------------------------


def expected_rows(count, page):
    matching = sum(1 for i in range(count) if filler(i)[0] == "0.1" and filler(i)[1] > 0.5)
    return min(page, matching + 1)  # + the template run (lr 0.1, acc 0.75)


def searches(api, experiment, reps, page, rows, cap_s):
    """Latencies (ms) of `reps` searches (fewer if cap_s passes first), each checked for `rows`."""
    body = {"experiment_ids": [experiment], "filter": FILTER, "max_results": page}
    for _ in range(3):  # warm-up: caches, the connection
        api.call("POST", "/api/2.0/mlflow/runs/search", body)
    latencies = []
    deadline = time.monotonic() + cap_s
    while len(latencies) < reps and time.monotonic() < deadline:
        start = time.perf_counter()
        answer = api.call("POST", "/api/2.0/mlflow/runs/search", body)
        latencies.append((time.perf_counter() - start) * 1000.0)
        got = len(answer.get("runs", []))
        if got != rows:
            fail(f"runs/search on experiment {experiment} returned {got} runs, expected {rows}")
    return latencies


def percentile(values, q):
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1)))))]


def summary(latencies):
    return {"n": len(latencies), "p50_ms": round(percentile(latencies, 50), 2),
            "p99_ms": round(percentile(latencies, 99), 2), "max_ms": round(max(latencies), 2)}


# --- one server, every phase ---------------------------------------------------------------------


def measure(name, launch, client_python, args, fill):
    work = tempfile.mkdtemp(prefix=f"bench-server-{name}-")
    port = free_port()
    log_path = os.path.join(work, "server.log")
    result = {"server": name}
    with open(log_path, "w") as log:
        proc, launched = launch(work, port, log)
        sampler = Sampler(proc.pid)
        sampler.start()
        try:
            result["startup_s"] = round(wait_ready(port, proc, launched, 180), 4)
            ready = time.monotonic()
            time.sleep(3.0)
            result["idle_rss_mb"] = round(sampler.mean_between(ready + 2.0, ready + 3.0), 1)
            load_start = time.monotonic()
            result["client"] = run_client(client_python, port, work)
            api = Http(port)
            small_rows = result["client"]["phases"]["search_runs"]["rows_returned"]
            small_exp = result["client"]["phases"]["create_experiment"]["experiment_id"]
            raw_exp = api.call("POST", "/api/2.0/mlflow/experiments/create", {"name": f"bench-raw-{name}"})
            result["raw_points_per_s"] = raw_log_batches(port, raw_exp["experiment_id"], RAW_THREADS, args.raw_seconds)
            result["search_small"] = summary(searches(api, small_exp, args.search_reps, 1000, small_rows, 60))
            experiment, run_id = template_run(api, f"bench-fill-{name}")
            start = time.perf_counter()
            fill(work, api, run_id, args.runs)
            result["fill_s"] = round(time.perf_counter() - start, 2)
            result["search_large"] = summary(
                searches(api, experiment, args.search_reps, PAGE, expected_rows(args.runs, PAGE), args.search_cap))
            result["load_rss_mb"] = round(sampler.peak_since(load_start), 1)
        except SystemExit:
            log.flush()
            with open(log_path) as f:
                sys.stderr.write(f"--- {name} server log (last lines) ---\n{''.join(f.readlines()[-30:])}")
            raise
        finally:
            sampler.stopped.set()
            stop(proc)
            subprocess.run(["rm", "-rf", work])
    return result


def run_client(python, port, work, extra=()):
    out = os.path.join(work, "client.json")
    done = subprocess.run([python, CLIENT, "--tracking-uri", f"http://127.0.0.1:{port}", "--max-seconds", "240",
                           "--out", out, *extra], capture_output=True, text=True, timeout=330)
    try:
        with open(out) as f:
            result = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"the MLflow client wrote no result ({e}); exit {done.returncode}:\n{done.stderr[-2000:]}")
    if done.returncode != 0 or result.get("error") or result.get("truncated"):
        fail(f"the MLflow client failed (exit {done.returncode}): {result.get('error')}, "
             f"truncated: {result.get('truncated')}\n{done.stderr[-2000:]}")
    return result


def client_ceiling(python):
    """Metric points/s of the workload's log_batch phase against a server that does no work
    (mlflow_null_server.py): the Python client's own cost, which bounds any server's number."""
    work = tempfile.mkdtemp(prefix="bench-server-null-")
    port = free_port()
    server = subprocess.Popen([sys.executable, NULL_SERVER, str(port)])
    try:
        wait_ready(port, server, time.monotonic(), 30)
        client = run_client(python, port, work, ["--single-runs", "0", "--search-reps", "0", "--history-reps", "0"])
        return client["phases"]["log_batch"]["metric_points_per_s"]
    finally:
        stop(server)
        subprocess.run(["rm", "-rf", work])


# --- the table -------------------------------------------------------------------------------------


def verdict(met):
    return "met" if met else "NOT met"


def table(ours, theirs, ceiling, runs):
    def phase(r, name):
        return r["client"]["phases"][name]

    points = [phase(r, "log_batch")["metric_points_per_s"] for r in (ours, theirs)]
    ratio = points[0] / points[1]
    rows = [
        ("metric points/s (client log_batch phase)", f"{points[0]:,.0f}", f"{points[1]:,.0f}",
         f"≥ 5× MLflow: {ratio:.1f}× — {verdict(ratio >= POINTS_RATIO_TARGET)}"),
        ("the same against a server that does no work (the client's ceiling)", f"{ceiling:,.0f}", f"{ceiling:,.0f}",
         f"no server can pass {ceiling / points[1]:.1f}× MLflow through this client; mlspec reaches "
         f"{points[0] / ceiling:.0%} of the ceiling, MLflow {points[1] / ceiling:.0%}"),
        (f"metric points/s, raw log-batch of 1,000 points, {RAW_THREADS} connections", f"{ours['raw_points_per_s']:,.0f}",
         f"{theirs['raw_points_per_s']:,.0f}", f"{ours['raw_points_per_s'] / theirs['raw_points_per_s']:.1f}× — "
         f"{verdict(ours['raw_points_per_s'] >= POINTS_RATIO_TARGET * theirs['raw_points_per_s'])}"),
        ("single log_metric calls/s", f"{phase(ours, 'log_metric_single')['log_metric_calls_per_s']:,.0f}",
         f"{phase(theirs, 'log_metric_single')['log_metric_calls_per_s']:,.0f}", ""),
        ("client workload wall time", f"{ours['client']['total_seconds']:.1f} s",
         f"{theirs['client']['total_seconds']:.1f} s", ""),
        ("runs/search, 55 runs: p50 / p99", search_cell(ours["search_small"]), search_cell(theirs["search_small"]), ""),
        (f"runs/search, {runs + 1:,} runs, page of {PAGE}: p50 / p99", search_cell(ours["search_large"]),
         search_cell(theirs["search_large"]),
         f"p99 ≤ 50 ms — {verdict(ours['search_large']['p99_ms'] <= SEARCH_P99_TARGET_MS)}"),
        (f"filling to {runs:,} runs", f"{ours['fill_s']:.1f} s (REST apply)", f"{theirs['fill_s']:.1f} s (direct SQL)", ""),
        ("startup → first answered request", f"{ours['startup_s']:.3f} s", f"{theirs['startup_s']:.2f} s",
         f"≤ 0.1 s — {verdict(ours['startup_s'] <= STARTUP_TARGET_S)}"),
        ("idle RSS (whole tree)", f"{ours['idle_rss_mb']:.1f} MB", f"{theirs['idle_rss_mb']:.1f} MB",
         f"≤ 50 MB — {verdict(ours['idle_rss_mb'] <= IDLE_RSS_TARGET_MB)}"),
        ("peak RSS under the load", f"{ours['load_rss_mb']:.1f} MB", f"{theirs['load_rss_mb']:.1f} MB",
         f"≤ 150 MB — {verdict(ours['load_rss_mb'] <= LOAD_RSS_TARGET_MB)}"),
    ]
    print("| measurement | mlspec server | mlflow server 3.17.2 | target (issue 17) |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def search_cell(s):
    return f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} ms (n={s['n']})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlspec", required=True, help="the mlspec binary (a release build)")
    parser.add_argument("--mlflow-venv", required=True, help="a venv with the full PyPI mlflow 3.17.2")
    parser.add_argument("--runs", type=int, default=100_000, help="filler runs of the large search")
    parser.add_argument("--search-reps", type=int, default=200, help="timed searches per phase")
    parser.add_argument("--search-cap", type=float, default=60.0, help="seconds at most per large search phase")
    parser.add_argument("--raw-seconds", type=float, default=15.0, help="seconds of the raw log-batch phase")
    parser.add_argument("--json", help="also write every result here")
    args = parser.parse_args()
    python = os.path.join(args.mlflow_venv, "bin", "python")
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")

    ours = measure("mlspec", lambda work, port, log: launch_mlspec(args.mlspec, work, port, log), python, args,
                   lambda work, api, run_id, n: fill_mlspec(api, run_id, n))
    theirs = measure("mlflow", lambda work, port, log: launch_mlflow(args.mlflow_venv, work, port, log), python, args,
                     lambda work, api, run_id, n: fill_mlflow(os.path.join(work, "mlflow.db"), run_id, n))
    ceiling = client_ceiling(python)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mlspec": ours, "mlflow": theirs, "client_ceiling_points_per_s": ceiling}, f, indent=2)
    table(ours, theirs, ceiling, args.runs)


if __name__ == "__main__":
    main()

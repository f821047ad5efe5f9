#!/usr/bin/env python3
# Copied unchanged (but for this comment) from the MLflow anchor of the MLSpec project
# (anchors/mlflow/bench_client.py, written with the anchor's measured baseline of `mlflow server`
# 3.17.2). It drives the real MLflow Python client (Apache-2.0, github.com/mlflow/mlflow); the
# workload must stay identical to the anchor's so that the numbers compare. Used by
# benches/server.py (scripts/bench-server) against both `mlspec server` and `mlflow server`.
"""Bounded tracking-API workload driven by the real MLflow Python client.

Works against any server that speaks the MLflow tracking REST API (the
reference `mlflow server`, or our own server once it implements the subset).

    python bench_client.py --tracking-uri http://127.0.0.1:5000 [--max-seconds 120]

Phases (each stops early once the global deadline passes; `truncated` marks it):
  1. create_experiment   1 experiment (unique name)
  2. log_batch           50 runs: create_run, ONE log_batch (10 params + 200 metric
                         points = 2 keys x 100 steps), set_terminated
  3. log_metric_single   5 runs: create_run, 200 individual log_metric calls,
                         set_terminated
  4. search_runs         filter "metrics.acc > 0.5 and params.lr = '0.1'", repeated
  5. get_metric_history  one metric of one run, repeated

Prints one JSON object (wall seconds per phase, ops/sec, latency percentiles).
Request retries are disabled and per-request timeout lowered (unless set in the
environment) so that a stuck server cannot stretch the run past the cap; a
SIGALRM watchdog aborts at max_seconds + 30 as a last resort.
"""
import argparse
import json
import os
import signal
import statistics
import sys
import time

# Must be set before mlflow is imported/used.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1)))))
    return round(s[k] * 1000.0, 2)


def lat(values):
    if not values:
        return None
    return {
        "n": len(values),
        "p50_ms": pct(values, 50),
        "p95_ms": pct(values, 95),
        "max_ms": round(max(values) * 1000.0, 2),
        "mean_ms": round(statistics.fmean(values) * 1000.0, 2),
    }


def rate(n, secs):
    return round(n / secs, 2) if secs > 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--batch-runs", type=int, default=50)
    ap.add_argument("--params", type=int, default=10)
    ap.add_argument("--metric-keys", type=int, default=2)
    ap.add_argument("--steps", type=int, default=100, help="points per metric key")
    ap.add_argument("--single-runs", type=int, default=5)
    ap.add_argument("--single-calls", type=int, default=200)
    ap.add_argument("--search-reps", type=int, default=5)
    ap.add_argument("--history-reps", type=int, default=5)
    ap.add_argument("--out", help="also write the JSON result to this file")
    a = ap.parse_args()
    if not a.tracking_uri:
        ap.error("--tracking-uri or MLFLOW_TRACKING_URI is required")
    if a.params < 1 or a.metric_keys < 1:
        ap.error("need at least 1 param (lr) and 1 metric key (acc)")

    result = {"tracking_uri": a.tracking_uri, "config": vars(a).copy(), "phases": {},
              "truncated": False, "error": None}
    result["config"].pop("out", None)

    def emit():
        txt = json.dumps(result, indent=2)
        print(txt, flush=True)
        if a.out:
            with open(a.out, "w") as f:
                f.write(txt + "\n")

    def watchdog(signum, frame):
        result["truncated"] = True
        result["error"] = "watchdog: hard time cap hit"
        emit()
        os._exit(3)

    signal.signal(signal.SIGALRM, watchdog)
    signal.alarm(int(a.max_seconds) + 30)

    t_import = time.perf_counter()
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    result["mlflow_client_version"] = mlflow.__version__
    result["client_import_s"] = round(time.perf_counter() - t_import, 3)
    client = MlflowClient(tracking_uri=a.tracking_uri)

    t_start = time.perf_counter()
    deadline = t_start + a.max_seconds

    def over():
        return time.perf_counter() > deadline

    try:
        # 1. experiment
        t0 = time.perf_counter()
        exp_name = f"bench-{int(time.time() * 1000)}-{os.getpid()}"
        exp_id = client.create_experiment(exp_name)
        result["phases"]["create_experiment"] = {"seconds": round(time.perf_counter() - t0, 4),
                                                 "experiment_id": exp_id}

        # 2. log_batch mode
        ph = {"runs": 0, "requests": 0, "metric_points": 0, "params": 0, "truncated": False}
        l_create, l_batch, l_term = [], [], []
        t0 = time.perf_counter()
        n_metrics_per_run = a.metric_keys * a.steps
        for i in range(a.batch_runs):
            if over():
                ph["truncated"] = True
                break
            s = time.perf_counter()
            run = client.create_run(exp_id, run_name=f"batch-{i}")
            l_create.append(time.perf_counter() - s)
            rid = run.info.run_id
            params = [Param("lr", "0.1" if i % 2 == 0 else "0.01")]
            params += [Param(f"p{j}", f"v{i}-{j}") for j in range(1, a.params)]
            ts = int(time.time() * 1000)
            final_acc = (i + 1) / a.batch_runs  # about half the runs end with acc > 0.5
            metrics = []
            for k in range(a.metric_keys):
                key = "acc" if k == 0 else f"m{k}"
                for st in range(a.steps):
                    v = final_acc * (st + 1) / a.steps if k == 0 else 1.0 / (st + 1)
                    metrics.append(Metric(key, v, ts + st, st))
            s = time.perf_counter()
            client.log_batch(rid, metrics=metrics, params=params)
            l_batch.append(time.perf_counter() - s)
            s = time.perf_counter()
            client.set_terminated(rid)
            l_term.append(time.perf_counter() - s)
            ph["runs"] += 1
            ph["requests"] += 3
            ph["metric_points"] += n_metrics_per_run
            ph["params"] += len(params)
        secs = time.perf_counter() - t0
        ph.update({
            "seconds": round(secs, 3),
            "runs_per_s": rate(ph["runs"], secs),
            "requests_per_s": rate(ph["requests"], secs),
            "metric_points_per_s": rate(ph["metric_points"], secs),
            "latency": {"create_run": lat(l_create), "log_batch": lat(l_batch),
                        "set_terminated": lat(l_term)},
        })
        result["phases"]["log_batch"] = ph
        first_run_id = None

        # 3. individual log_metric mode
        ph = {"runs": 0, "log_metric_calls": 0, "truncated": False}
        l_metric = []
        t0 = time.perf_counter()
        for i in range(a.single_runs):
            if over():
                ph["truncated"] = True
                break
            run = client.create_run(exp_id, run_name=f"single-{i}")
            rid = run.info.run_id
            first_run_id = first_run_id or rid
            client.log_param(rid, "lr", "0.1")
            for st in range(a.single_calls):
                if over():
                    ph["truncated"] = True
                    break
                s = time.perf_counter()
                client.log_metric(rid, "acc", 0.5 + 0.5 * (st + 1) / a.single_calls, step=st)
                l_metric.append(time.perf_counter() - s)
                ph["log_metric_calls"] += 1
            client.set_terminated(rid)
            ph["runs"] += 1
            if ph["truncated"]:
                break
        secs = time.perf_counter() - t0
        ph.update({
            "seconds": round(secs, 3),
            "log_metric_calls_per_s": rate(ph["log_metric_calls"], secs),
            "latency": {"log_metric": lat(l_metric)},
        })
        result["phases"]["log_metric_single"] = ph

        # 4. search_runs with a filter
        flt = "metrics.acc > 0.5 and params.lr = '0.1'"
        ph = {"filter": flt, "reps": 0, "truncated": False}
        l_search = []
        rows = None
        t0 = time.perf_counter()
        for _ in range(a.search_reps):
            if over():
                ph["truncated"] = True
                break
            s = time.perf_counter()
            runs = client.search_runs([exp_id], filter_string=flt, max_results=1000)
            l_search.append(time.perf_counter() - s)
            rows = len(runs)
            ph["reps"] += 1
        secs = time.perf_counter() - t0
        ph.update({"seconds": round(secs, 3), "rows_returned": rows,
                   "searches_per_s": rate(ph["reps"], secs), "latency": lat(l_search)})
        result["phases"]["search_runs"] = ph

        # 5. get_metric_history
        ph = {"reps": 0, "truncated": False}
        l_hist = []
        points = None
        t0 = time.perf_counter()
        if first_run_id:
            for _ in range(a.history_reps):
                if over():
                    ph["truncated"] = True
                    break
                s = time.perf_counter()
                points = len(client.get_metric_history(first_run_id, "acc"))
                l_hist.append(time.perf_counter() - s)
                ph["reps"] += 1
        secs = time.perf_counter() - t0
        ph.update({"seconds": round(secs, 3), "points_returned": points,
                   "latency": lat(l_hist)})
        result["phases"]["get_metric_history"] = ph
    except Exception as e:  # report what we have
        result["error"] = f"{type(e).__name__}: {str(e)[:500]}"

    result["total_seconds"] = round(time.perf_counter() - t_start, 3)
    result["truncated"] = result["truncated"] or any(
        p.get("truncated") for p in result["phases"].values())
    signal.alarm(0)
    emit()
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())

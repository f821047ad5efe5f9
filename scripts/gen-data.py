#!/usr/bin/env python3
"""Deterministic synthetic tabular data for the mlspec data-stage benchmarks and acceptance tests.

The project's own copy of the generator its benchmarks were first measured with; the tests
(crates/mlspec/tests/it/data.rs) and scripts/bench-* run it from here.

Writes, into --out-dir (keep it OUTSIDE the repo, e.g. /tmp/mlspec-data):

  base.csv     N rows, the "training" / reference data
  drifted.csv  N rows, the "serving" data: shifted distributions, new
               categories, more nulls (for drift / skew / anomaly tests)
  base.parquet, drifted.parquet   typed copies (only if pyarrow is importable)
  manifest.json  seed, row counts, sha256 of every file written, column notes

Requires numpy + pandas (pyarrow optional). Same seed + same N + same
numpy/pandas major versions => byte-identical CSVs (the manifest records the
sha256 so a run can be checked).

Columns (14):
  row_id          int64, unique, 0..N-1 (exclude it when hashing rows)
  user_id         int64, ~N/5 distinct users (group key for leakage-free splits)
  age             int64, 18..90, no nulls
  household_size  int64 nullable, 1..8, ~3% null
  num_purchases   int64, Poisson(1.2): many zeros
  income          float64, log-normal, ~5% null, a few extreme outliers
  score           float64, N(0,1), ~2% null, 0.1% outliers at +-8..12 sigma
  session_seconds float64, exponential, ~1% null
  country         string, 20 values, skewed (small cardinality)
  device          string, 4 values (tiny cardinality)
  merchant        string, ~50,000 distinct, Zipf-like (large cardinality)
  is_member       bool ("true"/"false" in CSV)
  event_ts        timestamp, ISO-8601 "YYYY-MM-DDTHH:MM:SS" (UTC), year 2024
  gender          string, sensitive attribute: female/male/nonbinary, ~1% null
  label           int64 0/1, logistic in (age, score, is_member, gender,...)

Plus: ~1% of rows are exact copies (all columns but row_id) of other rows,
so a random split leaks identical examples from train into test.

drifted.csv differs by: age +6, income x1.3 and 15% null, score N(0.4,1.3),
session_seconds 8% null, new country "ZZ" (~5%) and a reshuffled country
mix, new device "smart_tv", more members, gender mix shifted, event_ts in
2025, label base rate up.

Usage:
  python3 scripts/gen-data.py --out-dir /tmp/mlspec-data            # 1M rows
  python3 scripts/gen-data.py --out-dir /tmp/mlspec-data --rows 10000 --variant base
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import pandas as pd

DEFAULT_SEED = 20240601

COUNTRIES = [
    "US", "IN", "BR", "DE", "GB", "FR", "JP", "MX", "CA", "ES",
    "IT", "NG", "ID", "KR", "AU", "PL", "NL", "TR", "AR", "SE",
]
DEVICES = ["mobile", "desktop", "tablet", "other"]
GENDERS = ["female", "male", "nonbinary"]
N_MERCHANTS = 50_000


def _country_probs(drifted: bool) -> np.ndarray:
    w = 0.8 ** np.arange(len(COUNTRIES))  # geometric: US most common
    if drifted:
        w = w[::-1].copy() * 0.5 + w * 0.5  # flatten/reshuffle the mix
    return w / w.sum()


def make_frame(n: int, seed: int, drifted: bool) -> pd.DataFrame:
    """Build the frame with typed columns (nullable where documented)."""
    rng = np.random.default_rng(seed + (1 if drifted else 0))

    row_id = np.arange(n, dtype=np.int64)
    user_id = rng.integers(0, max(1, n // 5), size=n, dtype=np.int64)

    age = np.clip(np.round(rng.normal(40 + (6 if drifted else 0), 13, n)), 18, 90).astype(np.int64)

    household = rng.integers(1, 9, size=n, dtype=np.int64)
    household_null = rng.random(n) < 0.03

    num_purchases = rng.poisson(1.2 if not drifted else 1.5, n).astype(np.int64)

    income = np.round(rng.lognormal(mean=10.8, sigma=0.6, size=n) * (1.3 if drifted else 1.0), 2)
    out_idx = rng.choice(n, size=max(1, n // 20000), replace=False)
    income[out_idx] = np.round(income[out_idx] * 100.0, 2)  # rare extreme incomes
    income[rng.random(n) < (0.15 if drifted else 0.05)] = np.nan

    score = rng.normal(0.4 if drifted else 0.0, 1.3 if drifted else 1.0, n)
    k = max(1, n // 1000)
    sidx = rng.choice(n, size=k, replace=False)
    score[sidx] = rng.choice([-1.0, 1.0], size=k) * rng.uniform(8, 12, size=k)
    score = np.round(score, 6)
    score_null = rng.random(n) < 0.02
    score[score_null] = np.nan

    session = np.round(rng.exponential(180.0, n), 3)
    session[rng.random(n) < (0.08 if drifted else 0.01)] = np.nan

    countries = np.array(COUNTRIES + (["ZZ"] if drifted else []), dtype=object)
    cp = _country_probs(drifted)
    if drifted:
        cp = np.append(cp * 0.95, 0.05)
    country = countries[rng.choice(len(countries), size=n, p=cp)]

    devices = np.array(DEVICES + (["smart_tv"] if drifted else []), dtype=object)
    dp = np.array([0.55, 0.30, 0.10, 0.05]) if not drifted else np.array([0.50, 0.25, 0.10, 0.05, 0.10])
    device = devices[rng.choice(len(devices), size=n, p=dp)]

    merchants = np.array([f"m{i:05d}" for i in range(N_MERCHANTS)], dtype=object)
    midx = (rng.zipf(1.3, size=n) - 1) % N_MERCHANTS
    if drifted:
        midx = (midx + 7) % N_MERCHANTS  # popularity moves to other merchants
    merchant = merchants[midx]

    is_member = rng.random(n) < (0.45 if drifted else 0.30)

    start = np.datetime64("2025-01-01T00:00:00" if drifted else "2024-01-01T00:00:00", "s")
    secs = rng.integers(0, 366 * 24 * 3600, size=n)
    event_ts = start + secs.astype("timedelta64[s]")

    gp = np.array([0.44, 0.52, 0.04]) if not drifted else np.array([0.52, 0.44, 0.04])
    gender = np.array(GENDERS, dtype=object)[rng.choice(3, size=n, p=gp)]
    gender[rng.random(n) < 0.01] = None

    s0 = np.nan_to_num(score, nan=0.0)
    logit = (
        -1.2
        + (0.4 if drifted else 0.0)
        + 0.02 * (age - 40)
        + 0.8 * np.clip(s0, -3, 3)
        + 0.5 * is_member
        + 0.15 * (gender == "male")
        + 0.1 * np.minimum(num_purchases, 5)
    )
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    df = pd.DataFrame(
        {
            "row_id": row_id,
            "user_id": user_id,
            "age": age,
            "household_size": pd.array(np.where(household_null, 0, household), dtype="Int64"),
            "num_purchases": num_purchases,
            "income": income,
            "score": score,
            "session_seconds": session,
            "country": pd.array(country, dtype=object),
            "device": pd.array(device, dtype=object),
            "merchant": pd.array(merchant, dtype=object),
            "is_member": is_member,
            "event_ts": event_ts,
            "gender": pd.array(gender, dtype=object),
            "label": label,
        }
    )
    df.loc[household_null, "household_size"] = pd.NA

    # ~1% exact duplicates (every column except row_id) of earlier rows.
    n_dup = n // 100
    if n_dup:
        dst = rng.choice(np.arange(1, n), size=n_dup, replace=False)
        src = (rng.random(n_dup) * dst).astype(np.int64)  # src < dst
        cols = [c for c in df.columns if c != "row_id"]
        for c in cols:
            vals = df[c].to_numpy(copy=True)
            vals[dst] = vals[src]
            df[c] = pd.array(vals, dtype=df[c].dtype) if c == "household_size" else vals
    return df


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write(df: pd.DataFrame, out_dir: str, name: str, parquet: bool) -> dict:
    files = {}
    csv_df = df.copy()
    csv_df["event_ts"] = np.datetime_as_string(df["event_ts"].to_numpy().astype("datetime64[s]"), unit="s")
    csv_df["is_member"] = np.where(df["is_member"].to_numpy(), "true", "false")
    p = os.path.join(out_dir, f"{name}.csv")
    csv_df.to_csv(p, index=False, lineterminator="\n")
    files[f"{name}.csv"] = {"bytes": os.path.getsize(p), "sha256": sha256(p)}
    if parquet:
        pq = df.copy()
        for c in ("country", "device", "merchant", "gender"):
            pq[c] = pq[c].astype("string")
        pq["event_ts"] = pq["event_ts"].astype("datetime64[s]")
        p = os.path.join(out_dir, f"{name}.parquet")
        pq.to_parquet(p, index=False, engine="pyarrow", compression="snappy")
        files[f"{name}.parquet"] = {"bytes": os.path.getsize(p), "sha256": sha256(p)}
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", required=True, help="output folder (outside the repo)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--variant", choices=["base", "drifted", "both"], default="both")
    ap.add_argument("--no-parquet", action="store_true")
    a = ap.parse_args(argv)
    if a.rows < 1 or a.rows > 50_000_000:
        ap.error("--rows must be in 1..50,000,000")

    try:
        import pyarrow  # noqa: F401
        parquet = not a.no_parquet
    except ImportError:
        parquet = False

    os.makedirs(a.out_dir, exist_ok=True)
    manifest = {
        "generator": "bench/data/gen.py",
        "seed": a.seed,
        "rows": a.rows,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "files": {},
    }
    variants = ["base", "drifted"] if a.variant == "both" else [a.variant]
    for v in variants:
        t0 = time.perf_counter()
        df = make_frame(a.rows, a.seed, drifted=(v == "drifted"))
        manifest["files"].update(write(df, a.out_dir, v, parquet))
        print(f"{v}: {a.rows} rows in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    mp = os.path.join(a.out_dir, "manifest.json")
    old = {}
    if os.path.exists(mp):
        try:
            with open(mp) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = {}
    if old.get("rows") == a.rows and old.get("seed") == a.seed:
        old.get("files", {}).update(manifest["files"])
        manifest["files"] = old.get("files", manifest["files"])
    with open(mp, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    print(json.dumps(manifest["files"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

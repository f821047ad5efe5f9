"""The independent reference for `mlspec data profile`: recomputes every statistic of a
profile, and of each of its slices, with pandas from the CSV it describes, and exits 1 listing
each disagreement.

Usage: profile_reference.py DATA.csv PROFILE.json

Exact: count, missing, mean and population standard deviation (to 1e-9 relative), min, max,
zeros, distinct values and top-value counts (while exact), true counts, time ranges, and the
outlier counts against the profile's own fences (Q1/Q3 as reported, mean ± z·σ). Approximate,
within the stated bounds: quantiles (the true rank within the reported rank error) and
estimated distinct counts (5%, about three HyperLogLog standard errors).
"""
import json
import math
import sys

import numpy as np
import pandas as pd

data = pd.read_csv(sys.argv[1], keep_default_na=False, na_values=[""])
profile = json.load(open(sys.argv[2]))["spec"]
problems = []


def check(feature, what, ours, theirs, tolerance=0.0):
    if isinstance(ours, float) or isinstance(theirs, float):
        scale = max(abs(ours), abs(theirs), 1.0)
        same = abs(ours - theirs) <= tolerance * scale
    else:
        same = ours == theirs
    if not same:
        problems.append(f"{feature}: {what} is {ours}, the reference says {theirs}")


def numeric(name, stats, column):
    values = column.dropna().astype(float)
    values = values[~np.isnan(values)]
    n = len(values)
    mean = float(values.mean())
    std = float(values.std(ddof=0))
    check(name, "mean", stats["mean"], mean, 1e-9)
    check(name, "stdDev", stats["stdDev"], std, 1e-9)
    check(name, "min", stats["min"], float(values.min()))
    check(name, "max", stats["max"], float(values.max()))
    check(name, "zeros", stats["zeros"], int((values == 0).sum()))
    ordered = np.sort(values.to_numpy())
    error = stats["rankError"]
    for q in stats["quantiles"]:
        below = np.searchsorted(ordered, q["value"], side="left") / n
        at_or_below = np.searchsorted(ordered, q["value"], side="right") / n
        if not (below - error <= q["q"] <= at_or_below + error):
            problems.append(f"{name}: quantile {q['q']} = {q['value']} ranks {below}..{at_or_below}")
    by_q = {q["q"]: q["value"] for q in stats["quantiles"]}
    q1, q3 = by_q[0.25], by_q[0.75]
    for outliers in stats["outliers"]:
        k = outliers["threshold"]
        if outliers["method"] == "iqr":
            low, high = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
        else:
            low, high = stats["mean"] - k * stats["stdDev"], stats["mean"] + k * stats["stdDev"]
        beyond = values[(values < low) | (values > high)]
        check(name, f"{outliers['method']} outliers", outliers["count"], len(beyond))
        check(name, f"{outliers['method']} outliers estimated", outliers.get("estimated", False), False)
        for row in outliers.get("exampleRows", []):
            if row not in column.index:
                problems.append(f"{name}: example row {row} is not in this table")
                continue
            value = float(column.loc[row])
            if low <= value <= high:
                problems.append(f"{name}: example row {row} ({value}) is inside the fences")


def strings(name, stats, values):
    values = values.dropna().astype(str)
    counts = values.value_counts()
    if stats.get("distinctEstimated"):
        if abs(stats["distinct"] - len(counts)) > 0.05 * len(counts):
            problems.append(f"{name}: distinct ≈ {stats['distinct']}, the reference says {len(counts)}")
    else:
        check(name, "distinct", stats["distinct"], len(counts))
        if not stats.get("topValues"):
            # No top values are listed exactly when no value repeats.
            check(name, "largest value count", int(counts.max()) if len(counts) else 1, 1)
        for top in stats.get("topValues", []):
            check(name, f"count of {top['value']!r}", top["count"], int(counts.get(top["value"], 0)))
    lengths = values.str.len()
    check(name, "minLength", stats["minLength"], int(lengths.min()))
    check(name, "maxLength", stats["maxLength"], int(lengths.max()))
    check(name, "meanLength", stats["meanLength"], float(lengths.mean()), 1e-9)


def table(label, frame, rows, features):
    check(label, "rows", rows, len(frame))
    for feature in features:
        name = feature["name"]
        where = f"{label} {name}"
        column = frame[name]
        check(where, "count", feature["count"], int(column.notna().sum()))
        check(where, "missing", feature["missing"], int(column.isna().sum()))
        if "numeric" in feature:
            numeric(where, feature["numeric"], column)
        if "string" in feature:
            strings(where, feature["string"], column)
        if "trueCount" in feature:
            trues = int((column.astype(str).str.lower() == "true").sum())
            check(where, "trueCount", feature["trueCount"], trues)
        if "earliest" in feature:
            times = pd.to_datetime(column.dropna(), utc=True)
            check(where, "earliest", pd.Timestamp(feature["earliest"]), times.min())
            check(where, "latest", pd.Timestamp(feature["latest"]), times.max())


table("(whole)", data, profile["rows"], profile["features"])
for piece in profile.get("slices", []):
    rows = pd.Series(True, index=data.index)
    for column, value in piece["filter"].items():
        rows &= data[column].astype(str).str.lower() == value.lower()
    table(f"[{piece['name']}]", data[rows], piece["rows"], piece["features"])

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{len(profile['features'])} features and {len(profile.get('slices', []))} slices agree with the reference")

"""The independent reference for `mlspec data profile` on real files as their packages ship
them: pandas reads the CSV with its default missing values (`NA`, `N/A`, `NULL`, empty, …) and
its own type inference, and this script exits 1 listing every disagreement with the profile.

Usage: real_reference.py DATA.csv PROFILE.json

Compared: the row count; per column the missing count, the type (pandas' integer, float or
object dtype; an object column whose values all parse as year-first dates is a timestamp),
min, max and mean of numeric columns (1e-9 relative), the first and last date. Distinct counts
are printed as `distinct NAME OURS THEIRS` lines for the caller to compare.
"""
import json
import sys

import pandas as pd

data = pd.read_csv(sys.argv[1])
profile = json.load(open(sys.argv[2]))["spec"]
problems = []


def check(feature, what, ours, theirs, tolerance=0.0):
    if isinstance(ours, float) or isinstance(theirs, float):
        same = abs(ours - theirs) <= tolerance * max(abs(ours), abs(theirs), 1.0)
    else:
        same = ours == theirs
    if not same:
        problems.append(f"{feature}: {what} is {ours}, pandas says {theirs}")


def kind(column):
    if pd.api.types.is_integer_dtype(column):
        return "integer"
    if pd.api.types.is_float_dtype(column):
        # pandas makes an integer column with missing values float.
        values = column.dropna()
        return "integer" if len(values) and (values == values.round()).all() and column.isna().any() else "float"
    values = column.dropna()
    dates = pd.to_datetime(values, format="%Y/%m/%d", errors="coerce")
    if len(values) and dates.notna().all():
        return "timestamp"
    return "string"


check("(table)", "rows", profile["rows"], len(data))
features = {f["name"]: f for f in profile["features"]}
check("(table)", "columns", sorted(features), sorted(data.columns))
for name in data.columns:
    feature = features.get(name)
    if feature is None:
        continue
    column = data[name]
    check(name, "missing", feature["missing"], int(column.isna().sum()))
    check(name, "count", feature["count"], int(column.notna().sum()))
    expected = kind(column)
    check(name, "type", feature["type"], expected)
    if expected in ("integer", "float") and "numeric" in feature:
        values = column.dropna().astype(float)
        check(name, "min", feature["numeric"]["min"], float(values.min()))
        check(name, "max", feature["numeric"]["max"], float(values.max()))
        check(name, "mean", feature["numeric"]["mean"], float(values.mean()), 1e-9)
    if expected == "timestamp":
        dates = pd.to_datetime(column.dropna(), format="%Y/%m/%d", utc=True)
        check(name, "earliest", pd.Timestamp(feature.get("earliest")), dates.min())
        check(name, "latest", pd.Timestamp(feature.get("latest")), dates.max())
    if "string" in feature:
        print(f"distinct {name} {feature['string']['distinct']} {column.dropna().nunique()}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{len(data.columns)} columns agree with pandas")

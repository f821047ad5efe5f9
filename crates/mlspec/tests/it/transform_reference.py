"""The independent reference for `mlspec data transform`: fits scikit-learn's transformers on
the training CSV, transforms the test CSV, and compares every value with mlspec's output
(CSV) to 1e-12 (absolute, or relative beyond 1): SimpleImputer (median, mean, most_frequent,
constant), StandardScaler, MinMaxScaler (after np.clip), KBinsDiscretizer (its edges set to
the given boundaries), OrdinalEncoder (unknown values to the code after the last) and
OneHotEncoder (unknown values all zeros); and the fitted quantile boundaries against numpy's
percentiles. Exits 1 listing each disagreement.

Usage: transform_reference.py sklearn TRAIN.csv TEST.csv OUT.csv FITTED.json
       transform_reference.py outliers TRAIN.csv TEST.csv
         (prints the rows each outlier rule of the test spec removes: `iqr=N zscore=N range=N`)
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from sklearn.impute import SimpleImputer

problems = []


def close(name, ours, theirs):
    ours = np.asarray(ours, dtype=float)
    theirs = np.asarray(theirs, dtype=float)
    if ours.shape != theirs.shape:
        problems.append(f"{name}: {ours.shape} values, scikit-learn {theirs.shape}")
        return
    both_missing = np.isnan(ours) & np.isnan(theirs)
    bad = ~both_missing & ~(np.abs(ours - theirs) <= 1e-12 * np.maximum(1.0, np.abs(theirs)))
    for row in np.flatnonzero(bad)[:5]:
        problems.append(f"{name} row {row}: mlspec {ours[row]!r}, scikit-learn {theirs[row]!r}")


def column(frame, name):
    return frame[[name]]


def sklearn_mode(train_path, test_path, out_path, fitted_path):
    train = pd.read_csv(train_path)
    test = pd.read_csv(test_path)
    ours = pd.read_csv(out_path)
    fitted = json.load(open(fitted_path))

    age = make_pipeline(SimpleImputer(strategy="median"), StandardScaler()).fit(column(train, "age"))
    close("age", ours["age"], age.transform(column(test, "age"))[:, 0])

    income = make_pipeline(
        SimpleImputer(strategy="mean"),
        FunctionTransformer(lambda x: np.clip(x, 0, 50000)),
        MinMaxScaler(),
    ).fit(column(train, "income"))
    close("income", ours["income"], income.transform(column(test, "income"))[:, 0])

    bins = KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="uniform", quantile_method="averaged_inverted_cdf")
    bins.fit(column(train, "score"))
    bins.bin_edges_ = np.array([np.array([-np.inf, 0.2, 0.5, 0.8, np.inf])], dtype=object)
    close("score", ours["score"], bins.transform(column(test, "score"))[:, 0])

    city = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
    ).fit(column(train, "city"))
    known = len(city[-1].categories_[0])
    expected = city.transform(column(test, "city"))[:, 0]
    expected[expected == -1] = known
    close("city", ours["city"], expected)

    count = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(column(train, "count"))
    expected = count.transform(column(test, "count"))[:, 0]
    expected[expected == -1] = len(count.categories_[0])
    close("count", ours["count"], expected)

    color = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(column(train, "color"))
    names = color.get_feature_names_out(["color"])
    expected = color.transform(column(test, "color"))
    missing = [n for n in names if n not in ours.columns]
    if missing:
        problems.append(f"one-hot columns missing: {missing} (have {list(ours.columns)})")
    else:
        for i, name in enumerate(names):
            close(name, ours[name], expected[:, i])

    height = SimpleImputer(strategy="constant", fill_value=170.0).fit(column(train, "height"))
    close("height", ours["height"], height.transform(column(test, "height"))[:, 0])

    weight = StandardScaler().fit(column(train, "weight"))
    close("weight", ours["weight"], weight.transform(column(test, "weight"))[:, 0])

    quantiles = next(m for m in fitted["spec"]["mappings"] if m["feature"] == "weight2")
    expected = np.percentile(train["weight2"].dropna(), [25, 50, 75], method="linear")
    close("weight2 boundaries", quantiles["boundaries"], expected)


def outliers_mode(train_path, test_path):
    train = pd.read_csv(train_path)
    test = pd.read_csv(test_path)
    q1, q3 = np.percentile(train["income"].dropna(), [25, 75])
    iqr_low, iqr_high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    mean, std = train["age"].mean(), train["age"].std(ddof=0)
    z_low, z_high = mean - 2.0 * std, mean + 2.0 * std
    income, age, score = test["income"].to_numpy(), test["age"].to_numpy(), test["score"].to_numpy()
    # NaN compares false: a missing value removes nothing.
    by_iqr = (income < iqr_low) | (income > iqr_high)
    by_z = ~by_iqr & ((age < z_low) | (age > z_high))
    by_range = ~by_iqr & ~by_z & ((score < 0.1) | (score > 0.9))
    print(f"iqr={by_iqr.sum()} zscore={by_z.sum()} range={by_range.sum()} kept={len(test) - by_iqr.sum() - by_z.sum() - by_range.sum()}")


if __name__ == "__main__":
    if sys.argv[1] == "sklearn":
        sklearn_mode(*sys.argv[2:6])
    else:
        outliers_mode(*sys.argv[2:4])
    if problems:
        print("\n".join(problems))
        sys.exit(1)

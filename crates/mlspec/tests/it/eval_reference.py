"""The independent reference for `mlspec eval`: recomputes an Evaluation's metrics with
scikit-learn (and fairlearn for fairness) from the predictions it describes, overall and per
slice, and exits 1 listing each disagreement beyond 1e-9 (relative).

Usage: eval_reference.py PREDICTIONS.csv EVALUATION.json [--score COL] [--regression]

Where the definitions differ, mlspec reports "undefined" and scikit-learn a number or an
error: precision of a class never predicted and recall of a class absent from the labels
(scikit-learn with zero_division=np.nan agrees: NaN, left out of averages); ROC AUC, average
precision and log loss with one class in the labels (scikit-learn raises or warns); R² of
constant labels (scikit-learn returns 0 or 1); MAPE with a zero label (scikit-learn divides by
machine epsilon). The equalized odds difference leaves out, for the TPR spread, groups with no
positive label and, for the FPR spread, groups with no negative one (fairlearn counts their
undefined rate as 0): it is computed here with fairlearn's MetricFrame over the groups that
define each rate — and with fairlearn's own function when every group defines both. The
expected calibration error has no scikit-learn function: it is computed
here from its definition (ten equal-width bins of the score, bin = min(floor(10·p), 9)).
"""
import json
import math
import sys
import warnings

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    false_positive_rate,
    true_positive_rate,
    demographic_parity_ratio,
    equalized_odds_difference,
)
from sklearn import metrics as sk

warnings.filterwarnings("ignore")

frame = pd.read_csv(sys.argv[1], keep_default_na=False, na_values=[""], dtype={"label": str, "prediction": str})
spec = json.load(open(sys.argv[2]))["spec"]
score_column = sys.argv[sys.argv.index("--score") + 1] if "--score" in sys.argv else None
regression = "--regression" in sys.argv
problems = []
checked = 0


def close(a, b):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def compare(where, key, ours, theirs):
    """`ours` is the recorded value (None: recorded as undefined); `theirs` may be NaN."""
    global checked
    checked += 1
    undefined = theirs is None or (isinstance(theirs, float) and math.isnan(theirs))
    if ours is None and undefined:
        return
    if ours is None or undefined or not close(ours, theirs):
        problems.append(f"{where} {key}: mlspec {ours}, reference {theirs}")


def recorded(metrics, undefined):
    values = {m["key"]: m["value"] for m in metrics}
    for u in undefined:
        values[u["key"]] = None
    return values


def classification(where, part, values):
    y, p = part["label"].to_numpy(), part["prediction"].to_numpy()
    classes = sorted(set(frame["label"]) | set(frame["prediction"]))
    compare(where, "accuracy", values.get("accuracy"), sk.accuracy_score(y, p))
    recalls = sk.recall_score(y, p, labels=classes, average=None, zero_division=np.nan)
    support = np.array([(y == c).sum() for c in classes])
    balanced = np.nanmean(np.where(support > 0, recalls, np.nan)) if (support > 0).any() else np.nan
    compare(where, "balanced_accuracy", values.get("balanced_accuracy"), balanced)
    for name, fn in [("precision", sk.precision_score), ("recall", sk.recall_score), ("f1", sk.f1_score)]:
        per_class = fn(y, p, labels=classes, average=None, zero_division=np.nan)
        present = [k for k, c in enumerate(classes) if support[k] > 0 or (p == c).any()]
        for k, c in enumerate(classes):
            if k in present:
                compare(where, f"{name}/{c}", values.get(f"{name}/{c}"), float(per_class[k]))
        defined = [per_class[k] for k in present if not math.isnan(per_class[k])]
        compare(where, f"{name}_macro", values.get(f"{name}_macro"), float(np.mean(defined)) if defined else None)
        weights = [(per_class[k], support[k]) for k in present if not math.isnan(per_class[k])]
        total = sum(w for _, w in weights)
        weighted = sum(v * w for v, w in weights) / total if total else None
        compare(where, f"{name}_weighted", values.get(f"{name}_weighted"), weighted)
        compare(where, f"{name}_micro", values.get(f"{name}_micro"), fn(y, p, labels=classes, average="micro"))
    matrix = sk.confusion_matrix(y, p, labels=classes)
    ours = values.get("confusion_matrix") or {}
    for i, a in enumerate(classes):
        for j, b in enumerate(classes):
            compare(where, f"confusion[{a}][{b}]", ours.get(a, {}).get(b), float(matrix[i][j]))
    if score_column:
        s = part[score_column].to_numpy(dtype=float)
        positive = (y == "1") if "1" in classes else (y == "true")
        both = positive.any() and (~positive).any()
        compare(where, "roc_auc", values.get("roc_auc"), sk.roc_auc_score(positive, s) if both else None)
        compare(where, "average_precision", values.get("average_precision"),
                sk.average_precision_score(positive, s) if positive.any() else None)
        compare(where, "log_loss", values.get("log_loss"), sk.log_loss(positive, s, labels=[False, True]))
        bins = np.minimum((s * 10).astype(int), 9)
        ece = sum((bins == b).sum() / len(s) * abs(positive[bins == b].mean() - s[bins == b].mean())
                  for b in range(10) if (bins == b).any())
        compare(where, "expected_calibration_error", values.get("expected_calibration_error"), ece)


def regression_metrics(where, part, values):
    y, p = part["label"].astype(float).to_numpy(), part["prediction"].astype(float).to_numpy()
    compare(where, "mae", values.get("mae"), sk.mean_absolute_error(y, p))
    compare(where, "rmse", values.get("rmse"), sk.root_mean_squared_error(y, p))
    compare(where, "r2", values.get("r2"), sk.r2_score(y, p) if len(set(y)) > 1 else None)
    compare(where, "mape", values.get("mape"), sk.mean_absolute_percentage_error(y, p) if (y != 0).all() else None)


def check(where, part, metrics, undefined):
    values = recorded(metrics, undefined)
    (regression_metrics if regression else classification)(where, part, values)


check("(whole)", frame, spec["metrics"], spec.get("undefined", []))
for piece in spec.get("slices", []):
    rows = pd.Series(True, index=frame.index)
    for column, value in piece["filter"].items():
        rows &= frame[column].astype(str) == value
    part = frame[rows]
    if len(part) != piece["rows"]:
        problems.append(f"[{piece['name']}] rows: mlspec {piece['rows']}, reference {len(part)}")
    check(f"[{piece['name']}]", part, piece["metrics"], piece.get("undefined", []))

for fairness in spec.get("fairness", []):
    groups = frame[fairness["attribute"]].astype(str)
    positive_label = "1" if "1" in set(frame["label"]) | set(frame["prediction"]) else "true"
    y = frame["label"] == positive_label
    p = frame["prediction"] == positive_label
    where = f"fairness by {fairness['attribute']}"
    for key, fn in [("demographicParityDifference", demographic_parity_difference),
                    ("demographicParityRatio", demographic_parity_ratio)]:
        compare(where, key, fairness.get(key), float(fn(y, p, sensitive_features=groups)))
    with_positives = set(groups[y]); with_negatives = set(groups[~y])
    if with_positives == with_negatives == set(groups):
        odds = float(equalized_odds_difference(y, p, sensitive_features=groups))
    else:
        def spread(rate, defined):
            by_group = MetricFrame(metrics=rate, y_true=y, y_pred=p, sensitive_features=groups).by_group
            values = [v for g, v in by_group.items() if g in defined]
            return max(values) - min(values) if len(values) > 1 else None
        tpr, fpr = spread(true_positive_rate, with_positives), spread(false_positive_rate, with_negatives)
        odds = None if tpr is None or fpr is None else max(tpr, fpr)
    compare(where, "equalizedOddsDifference", fairness.get("equalizedOddsDifference"), odds)

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{checked} values agree with scikit-learn and fairlearn")

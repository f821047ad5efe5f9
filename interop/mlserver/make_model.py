"""Trains a small scikit-learn model and writes what MLServer needs to serve it.

Usage: make_model.py DIR HTTP_PORT GRPC_PORT METRICS_PORT (run with the MLServer venv's python).

DIR gets `model.joblib` (a LogisticRegression on 2 features, fixed seed: the same model on
every run), `model-settings.json` (model `churn`, served by mlserver_sklearn.SKLearnModel,
answering its `predict` output) and `settings.json` (MLServer on 127.0.0.1 at the given
ports, `parallel_workers: 0`: with the uvloop pip resolves today the parallel inference workers
fail to start and the model is unloaded). Then `mlserver start DIR` serves it.
"""

import json
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

MODEL = "churn"


def train():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(500, 2))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    return LogisticRegression().fit(features, labels)


def main():
    out, http_port, grpc_port, metrics_port = Path(sys.argv[1]), *map(int, sys.argv[2:5])
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(train(), out / "model.joblib")
    model_settings = {
        "name": MODEL,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "inputs": [{"name": "features", "datatype": "FP64", "shape": [-1, 2]}],
        "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1]}],
        "parameters": {"uri": "./model.joblib", "extra": {"predict_fn": "predict"}},
    }
    settings = {
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": 0,
    }
    (out / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    (out / "settings.json").write_text(json.dumps(settings, indent=2))


if __name__ == "__main__":
    main()

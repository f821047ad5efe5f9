"""The MLflow client, unchanged, against mlspec's MLflow API (MLFLOW_TRACKING_URI).

Runs the classic tracking flow and asserts what the client reads back. The last line of stdout
is a JSON object naming what was made, for the Rust side to check the store's documents.
"""

import json
import math
import pathlib
import tempfile

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

EXPERIMENT = "mlspec interop/flow 1"  # free text: not an MLSpec name as it stands


def expect_error(code, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except MlflowException as error:
        assert error.error_code == code, (code, error.error_code, str(error))
        return str(error)
    raise AssertionError(f"expected {code} from {call.__name__}")


client = MlflowClient()
experiment_id = mlflow.set_experiment(EXPERIMENT).experiment_id
assert client.get_experiment_by_name(EXPERIMENT).experiment_id == experiment_id
assert client.get_experiment_by_name("no such experiment") is None

work = pathlib.Path(tempfile.mkdtemp())
frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 0, 1, 1]})
features = frame[["x"]].to_numpy()
labels = frame["y"].to_numpy()

with mlflow.start_run(run_name="parent") as parent:
    run_id = parent.info.run_id
    mlflow.log_param("lr", 0.1)
    mlflow.log_params({"batch_size": 32, "optimizer": "adam"})
    for step in range(5):
        mlflow.log_metric("acc", 0.5 + step / 10, step=step)
    mlflow.log_metrics({"loss": 0.2, "nan_metric": float("nan")}, step=3)
    mlflow.log_metric("inf_metric", float("inf"))
    mlflow.set_tag("team", "mlspec")
    mlflow.set_tag("to_delete", "x")
    client.delete_tag(run_id, "to_delete")
    mlflow.log_dict({"a": 1, "b": [1, 2]}, "config.json")
    (work / "notes.txt").write_text("hello mlspec\n")
    mlflow.log_artifact(str(work / "notes.txt"), artifact_path="files")
    (work / "many" / "sub").mkdir(parents=True)
    (work / "many" / "a.txt").write_text("A")
    (work / "many" / "sub" / "b.txt").write_text("B")
    mlflow.log_artifacts(str(work / "many"), artifact_path="many")
    dataset = mlflow.data.from_pandas(frame, name="train", targets="y")
    mlflow.log_input(dataset, context="training")
    with mlflow.start_run(run_name="child", nested=True) as child:
        child_id = child.info.run_id
        mlflow.log_metric("acc", 0.7)
    model = LogisticRegression().fit(features, labels)
    logged = mlflow.sklearn.log_model(model, name="model")

# What the client reads back.
run = client.get_run(run_id)
assert run.info.status == "FINISHED", run.info.status
assert run.info.run_name == "parent"
assert run.data.params == {"lr": "0.1", "batch_size": "32", "optimizer": "adam"}, run.data.params
assert math.isclose(run.data.metrics["acc"], 0.9), run.data.metrics
assert run.data.metrics["loss"] == 0.2
assert math.isnan(run.data.metrics["nan_metric"])
assert run.data.metrics["inf_metric"] == float("inf")
assert run.data.tags["team"] == "mlspec"
assert "to_delete" not in run.data.tags
assert not any(key.startswith("mlspec.") for key in run.data.tags)
inputs = run.inputs.dataset_inputs
assert len(inputs) == 1 and inputs[0].dataset.name == "train", inputs
assert inputs[0].tags[0].value == "training"
assert client.get_run(child_id).data.tags["mlflow.parentRunId"] == run_id
client.update_run(child_id, name="child renamed")
assert client.get_run(child_id).info.run_name == "child renamed"

history = client.get_metric_history(run_id, "acc")
assert [m.step for m in history] == [0, 1, 2, 3, 4], history
assert [round(m.value, 6) for m in history] == [0.5, 0.6, 0.7, 0.8, 0.9]

# Search: AND, comparisons, ordering.
found = mlflow.search_runs(
    experiment_ids=[experiment_id], filter_string="metrics.acc > 0.8 and params.lr = '0.1'"
)
assert list(found["run_id"]) == [run_id], found
found = client.search_runs([experiment_id], "metrics.acc < 0.8 AND attributes.status = 'FINISHED'")
assert [r.info.run_id for r in found] == [child_id], found
found = client.search_runs([experiment_id], "tags.team = 'mlspec'")
assert [r.info.run_id for r in found] == [run_id]
found = client.search_runs([experiment_id], "", order_by=["metrics.acc DESC"])
assert [r.info.run_id for r in found] == [run_id, child_id]
found = client.search_runs([experiment_id], "params.optimizer LIKE 'ad%' and datasets.name = 'train'")
assert [r.info.run_id for r in found] == [run_id]
message = expect_error("INVALID_PARAMETER_VALUE", client.search_runs, [experiment_id], "metrics.acc >> 1")
assert "position" in message, message

# Artifacts: list, download a file and a directory.
listed = sorted((f.path, f.is_dir) for f in client.list_artifacts(run_id))
assert listed == [("config.json", False), ("files", True), ("many", True)], listed
assert [f.path for f in client.list_artifacts(run_id, "many/sub")] == ["many/sub/b.txt"]
assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == {"a": 1, "b": [1, 2]}
downloaded = pathlib.Path(client.download_artifacts(run_id, "many", str(work / "down")))
assert (downloaded / "a.txt").read_text() == "A"
assert (downloaded / "sub" / "b.txt").read_text() == "B"

# The registry, and the model back.
version = mlflow.register_model(f"runs:/{run_id}/model", "mlspec-registered")
assert version.version == "1" and version.status == "READY", version
client.set_registered_model_alias("mlspec-registered", "champion", version.version)
assert client.get_model_version_by_alias("mlspec-registered", "champion").version == "1"
loaded = mlflow.sklearn.load_model("models:/mlspec-registered@champion")
assert (loaded.predict(features) == model.predict(features)).all()
assert client.get_registered_model("mlspec-registered").aliases == {"champion": "1"}
assert [m.name for m in client.search_registered_models("name = 'mlspec-registered'")] == ["mlspec-registered"]
assert [v.version for v in client.search_model_versions(f"run_id = '{run_id}'")] == ["1"]
pyfunc = mlflow.pyfunc.load_model("models:/mlspec-registered/1")
assert (pyfunc.predict(features) == model.predict(features)).all()
assert [e.experiment_id for e in client.search_experiments(filter_string="name LIKE 'mlspec interop%'")] == [
    experiment_id
]

# Errors the client branches on.
expect_error("RESOURCE_ALREADY_EXISTS", client.create_experiment, EXPERIMENT)
expect_error("RESOURCE_ALREADY_EXISTS", client.create_registered_model, "mlspec-registered")
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_run, "0123456789abcdef0123456789abcdef")
expect_error("INVALID_PARAMETER_VALUE", client.log_param, run_id, "lr", "0.2")
expect_error("INVALID_PARAMETER_VALUE", client.log_param, run_id, "big", "x" * 6001)

print(
    json.dumps(
        {
            "experiment": experiment_id,
            "run": run_id,
            "child": child_id,
            "model": logged.model_id,
        }
    )
)

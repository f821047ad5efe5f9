"""Fifty MLflow clients logging at once, one metric point per call: nothing may be lost.

Each thread logs POINTS points to a run of its own and POINTS points under its own key to one
run they all share (the hardest case: every call rewrites the same document), then everything
is read back through the client.
"""

import json
import sys
import threading

from mlflow import MlflowClient

CLIENTS = 50
POINTS = 10

client = MlflowClient()
experiment_id = client.create_experiment("mlspec-concurrency")
shared = client.create_run(experiment_id, run_name="shared").info.run_id
own = [client.create_run(experiment_id, run_name=f"client-{i}").info.run_id for i in range(CLIENTS)]
errors = []
start = threading.Barrier(CLIENTS)


def log(index):
    try:
        mine = MlflowClient()
        start.wait()
        mine.log_param(own[index], "client", str(index))
        for step in range(POINTS):
            mine.log_metric(own[index], "value", index + step / 100, step=step)
            mine.log_metric(shared, f"client_{index}", step, step=step)
    except Exception as error:  # reported below, with the thread that hit it
        errors.append(f"client {index}: {error!r}")


threads = [threading.Thread(target=log, args=(i,)) for i in range(CLIENTS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
if errors:
    sys.exit("\n".join(errors))

for index, run_id in enumerate(own):
    history = client.get_metric_history(run_id, "value")
    assert [m.step for m in history] == list(range(POINTS)), (index, history)
    assert client.get_run(run_id).data.params == {"client": str(index)}
metrics = client.get_run(shared).data.metrics
assert len(metrics) == CLIENTS, sorted(metrics)
for index in range(CLIENTS):
    history = client.get_metric_history(shared, f"client_{index}")
    assert [m.value for m in history] == [float(s) for s in range(POINTS)], (index, history)

print(json.dumps({"shared": shared, "points": CLIENTS * POINTS * 2}))

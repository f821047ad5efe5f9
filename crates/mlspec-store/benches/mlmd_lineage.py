"""The anchor for the store's lineage benchmark: ML Metadata's get_lineage_subgraph on the same
pipeline shape (ingest -> raw -> prepare -> features -> train -> model -> evaluate -> report;
training also reads the previous pipeline's model), in MLMD's SQLite store.

    python3 -m venv /tmp/mlmd && /tmp/mlmd/bin/pip install ml-metadata==1.17.1
    /tmp/mlmd/bin/python crates/mlspec-store/benches/mlmd_lineage.py [PIPELINES] [QUERIES]

MLMD has no parent-run or code edges (it keeps those as contexts), so each of its pipelines has
8 nodes where mlspec's has 9 plus the shared modules; the default 125000 pipelines give
1,000,000 artifacts and executions.

It builds the store twice and prints both sizes: bare (names and URIs only, the nodes and edges
of the lineage graph) and with the information mlspec's documents of the benchmark carry
(artifacts: type, digest, size, media type; executions: status and module; each pipeline a
context its executions belong to, as mlspec's parent run). The lineage queries run on the
second.
"""

import atexit
import os
import shutil
import sys
import tempfile
import time

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

PIPELINES = int(sys.argv[1]) if len(sys.argv) > 1 else 125_000
QUERIES = int(sys.argv[2]) if len(sys.argv) > 2 else 200
BATCH = 125  # pipelines per put_lineage_subgraph call: 1000 nodes

INPUT, OUTPUT = pb.Event.INPUT, pb.Event.OUTPUT
DIGEST = "sha256:" + "ab" * 32


def event(kind):
    return pb.Event(type=kind)


def open_store():
    workdir = tempfile.mkdtemp()
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(workdir, "mlmd.db")
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return workdir, metadata_store.MetadataStore(config)


def build(described):
    """Builds the store; `described` adds the properties and contexts mlspec's documents carry."""
    workdir, store = open_store()
    artifact_type = pb.ArtifactType(name="Artifact")
    execution_type = pb.ExecutionType(name="Run")
    if described:
        for key in ("type", "digest", "mediaType"):
            artifact_type.properties[key] = pb.STRING
        artifact_type.properties["size"] = pb.INT
        for key in ("status", "module"):
            execution_type.properties[key] = pb.STRING
    artifact_type = store.put_artifact_type(artifact_type)
    execution_type = store.put_execution_type(execution_type)
    pipeline_type = store.put_context_type(pb.ContextType(name="Pipeline"))

    def artifact(name):
        a = pb.Artifact(type_id=artifact_type, name=name, uri=f"/lake/{name}")
        if described:
            a.properties["type"].string_value = "data"
            a.properties["digest"].string_value = DIGEST
            a.properties["mediaType"].string_value = "application/octet-stream"
            a.properties["size"].int_value = 1
        return a

    def execution(step, i):
        e = pb.Execution(type_id=execution_type, name=f"{step}-{i}")
        if described:
            e.properties["status"].string_value = "Running"
            e.properties["module"].string_value = f"{step}@1"
        return e

    started = time.perf_counter()
    previous_model = None  # (id) of the last pipeline's model
    model_ids = []
    for first in range(0, PIPELINES, BATCH):
        executions, artifacts, edges, models = [], [], [], []
        if previous_model is not None:
            # The previous batch's last model, referred to by id.
            artifacts.append(pb.Artifact(id=previous_model, type_id=artifact_type))
            models.append(0)
        for i in range(first, min(first + BATCH, PIPELINES)):
            e0 = len(executions)
            for step in ("ingest", "prepare", "train", "evaluate"):
                executions.append(execution(step, i))
            a0 = len(artifacts)
            for name in ("raw", "features", "model", "report"):
                artifacts.append(artifact(f"{name}-{i}"))
            ingest, prepare, train, evaluate = range(e0, e0 + 4)
            raw, features, model, report = range(a0, a0 + 4)
            edges += [
                (ingest, raw, event(OUTPUT)),
                (prepare, raw, event(INPUT)),
                (prepare, features, event(OUTPUT)),
                (train, features, event(INPUT)),
                (train, model, event(OUTPUT)),
                (evaluate, model, event(INPUT)),
                (evaluate, features, event(INPUT)),
                (evaluate, report, event(OUTPUT)),
            ]
            if models:
                edges.append((train, models[-1], event(INPUT)))
            models.append(model)
        execution_ids, artifact_ids, _ = store.put_lineage_subgraph(executions, artifacts, [], edges)
        if described:
            # Not through put_lineage_subgraph, which ties every node to every context it is given.
            pipelines = range(first, min(first + BATCH, PIPELINES))
            context_ids = store.put_contexts([pb.Context(type_id=pipeline_type, name=f"pipeline-{i}") for i in pipelines])
            store.put_attributions_and_associations(
                [],
                [pb.Association(context_id=context_ids[n // 4], execution_id=e) for n, e in enumerate(execution_ids)],
            )
        new_models = [artifact_ids[m] for m in models[1 if previous_model is not None else 0 :]]
        model_ids += new_models
        previous_model = new_models[-1]
    built = time.perf_counter() - started
    nodes = PIPELINES * 8
    size = sum(os.path.getsize(os.path.join(workdir, f)) for f in os.listdir(workdir))
    what = "described" if described else "bare"
    print(f"mlmd store ({what}): {PIPELINES} pipelines, {nodes} artifacts and executions in {built:.1f} s ({nodes / built:.0f} nodes/s)")
    print(f"mlmd store size ({what}): {size / 1048576:.1f} MiB")
    return store, model_ids


build(described=False)
store, model_ids = build(described=True)

timings = []
for q in range(QUERIES):
    i = PIPELINES // 2 + (q * 7919) % (PIPELINES // 2)
    options = pb.LineageSubgraphQueryOptions(
        starting_artifacts=pb.LineageSubgraphQueryOptions.StartingNodes(filter_query=f"id = {model_ids[i]}"),
        max_num_hops=10,
        direction=pb.LineageSubgraphQueryOptions.UPSTREAM,
    )
    t = time.perf_counter()
    graph = store.get_lineage_subgraph(options)
    timings.append(time.perf_counter() - t)
timings.sort()
pct = lambda p: timings[round((len(timings) - 1) * p)] * 1e3
print(
    f"mlmd get_lineage_subgraph upstream 10 hops ({len(graph.artifacts)} artifacts, {len(graph.executions)} executions):"
    f" p50 {pct(0.5):.2f} ms, p95 {pct(0.95):.2f} ms, max {timings[-1] * 1e3:.2f} ms over {QUERIES} queries"
)

"""Offline OpenLineage event validator: the core spec (OpenLineage.json, 2-0-2) plus every
known facet, against the vendored official JSON Schemas, with format assertions (uuid,
date-time, uri) -- the check OpenLineage's own pre-commit does with `jv`.

Usage: python openlineage_validate.py SCHEMA_DIR [--facets DIR]... EVENTS.ndjson|EVENT.json...

--facets DIR adds the facet schemas in DIR (e.g. mlspec's published `schemas/openlineage/1-0-0`)
to the known ones: each must itself be a valid 2020-12 schema, and every facet it defines is
then validated like an official one. A facet no schema defines is counted as custom (only the
core BaseFacet rules apply to it). Exit status 0 when every event is valid.
Needs: pip install jsonschema rfc3339-validator rfc3986-validator referencing"""
import json, pathlib, sys
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

args = sys.argv[1:]
root = pathlib.Path(args.pop(0))
extra_dirs = []
while args and args[0] == "--facets":
    args.pop(0)
    extra_dirs.append(pathlib.Path(args.pop(0)))

core = json.loads((root / "OpenLineage.json").read_text())
facet_files = [json.loads(p.read_text()) for p in sorted((root / "facets").glob("*.json"))]
for d in extra_dirs:
    for p in sorted(d.glob("*.json")):
        s = json.loads(p.read_text())
        Draft202012Validator.check_schema(s)
        facet_files.append(s)
reg = Registry().with_resources(
    [(s["$id"], Resource.from_contents(s)) for s in [core] + facet_files])
fc = FormatChecker()
for fmt in ("date-time", "uri", "uuid"):
    assert fmt in fc.checkers, f"format {fmt} not checkable; install rfc3339-validator rfc3986-validator"

# facet key -> schema, per container kind (Run/Job/Dataset/InputDataset/OutputDataset)
by_kind = {}
for s in facet_files:
    for key, ref in s.get("properties", {}).items():
        d = s["$defs"][ref["$ref"].split("/")[-1]]
        alts = [s["$defs"][a["$ref"].split("/")[-1]] for a in d["oneOf"]] if "oneOf" in d else [d]
        for a in alts:                                    # e.g. subset: Input- or Output- facet
            base = a["allOf"][0]["$ref"].split("/")[-1]   # e.g. DatasetFacet
            by_kind.setdefault(base, {})[key] = s

def check(schema, inst, where):
    errs = sorted(Draft202012Validator(schema, registry=reg, format_checker=fc).iter_errors(inst),
                  key=lambda e: list(e.absolute_path))
    for e in errs:
        print(f"  INVALID {where}/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
    return not errs

def validate(ev, label):
    kind = "RunEvent" if "run" in ev else "DatasetEvent" if "dataset" in ev else "JobEvent"
    ok = check({"$ref": core["$id"] + "#/$defs/" + kind}, ev, label)  # precise messages
    ok &= check(core, ev, label)                                       # whole oneOf
    known = unknown = 0
    def facets(container, kind, where):
        nonlocal ok, known, unknown
        for k, v in (container or {}).items():
            s = by_kind.get(kind, {}).get(k)
            if s is None:
                unknown += 1; continue                # custom facet: core BaseFacet rules only
            known += 1
            ok &= check(s, {k: v}, f"{where}/{k}")
    facets(ev.get("run", {}).get("facets"), "RunFacet", "run.facets")
    facets(ev.get("job", {}).get("facets"), "JobFacet", "job.facets")
    for i, d in enumerate(ev.get("inputs", []) or []):
        facets(d.get("facets"), "DatasetFacet", f"inputs[{i}].facets")
        facets(d.get("inputFacets"), "InputDatasetFacet", f"inputs[{i}].inputFacets")
    for i, d in enumerate(ev.get("outputs", []) or []):
        facets(d.get("facets"), "DatasetFacet", f"outputs[{i}].facets")
        facets(d.get("outputFacets"), "OutputDatasetFacet", f"outputs[{i}].outputFacets")
    print(f"{'OK ' if ok else 'BAD'} {label}: {ev.get('eventType')} known facets={known} custom facets={unknown}")
    return ok

all_ok = True
for path in args:
    text = pathlib.Path(path).read_text()
    try:
        events = [json.loads(text)]
    except json.JSONDecodeError:                       # NDJSON: one event per line
        events = [json.loads(l) for l in text.splitlines() if l.strip()]
    for n, ev in enumerate(events):
        all_ok &= validate(ev, f"{path}#{n}")
sys.exit(0 if all_ok else 1)

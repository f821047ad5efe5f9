"""Offline Argo Workflows manifest check: JSON Schema (vendored api/jsonschema/schema.json,
Argo v4.1.2) + the DAG rules `argo lint` enforces that a schema cannot (entrypoint and
template refs exist, task deps exist, no cycles, unique names), and these rules of Argo's
workflow/validate/validate.go: template and task names, parameter and artifact names, no task
name starting with a digit when it has dependencies, `from: {{tasks.X...}}` only from an
ancestor, an artifact argument needs `from` or a location/key.
--strict additionally rejects unknown fields (the upstream schema allows any extra key).
Usage: python validate_argo.py SCHEMA.json [--strict] FILE.yaml [...]   (multi-doc YAML ok)"""
import copy, json, sys
import yaml
from jsonschema import Draft202012Validator

args = sys.argv[1:]
schema = json.load(open(args.pop(0)))
strict = "--strict" in args
# upstream quirk: IntOrString is generated as {"type":"string"}, but Kubernetes/Argo accept ints
# (upstream's own examples use `retryStrategy.limit: 10`); accept both.
schema["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["integer", "string"]}
args = [a for a in args if a != "--strict"]
if strict:
    schema = copy.deepcopy(schema)
    for d in schema["definitions"].values():
        if "properties" in d and "additionalProperties" not in d:
            d["additionalProperties"] = False
KINDS = {"Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow", "WorkflowEventBinding"}
def validator(kind):          # pin the top-level oneOf to the document's kind -> precise messages
    s = dict(schema)
    if kind in KINDS:
        s.pop("oneOf"); s["$ref"] = "#/definitions/io.argoproj.workflow.v1alpha1." + kind
    return Draft202012Validator(s)

def dag_checks(doc):
    errs, spec = [], doc.get("spec", {})
    if doc.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec", {})
    names = [t.get("name") for t in spec.get("templates", [])]
    if len(names) != len(set(names)): errs.append(f"duplicate template names {names}")
    ep = spec.get("entrypoint")
    if ep and ep not in names and not spec.get("workflowTemplateRef"): errs.append(f"entrypoint {ep!r} not a template")
    for t in spec.get("templates", []):
        kinds = [k for k in ("container", "script", "dag", "steps", "resource", "suspend", "data", "http",
                             "containerSet", "plugin") if k in t]
        if len(kinds) != 1: errs.append(f"template {t.get('name')!r} must have exactly one type, has {kinds}")
        tasks = (t.get("dag") or {}).get("tasks", [])
        tn = [x["name"] for x in tasks]
        if len(tn) != len(set(tn)): errs.append(f"dag {t['name']!r}: duplicate task names")
        graph = {}
        for x in tasks:
            if "template" in x and x["template"] not in names: errs.append(f"task {x['name']!r}: unknown template {x['template']!r}")
            if "dependencies" in x and "depends" in x: errs.append(f"task {x['name']!r}: both dependencies and depends")
            deps = list(x.get("dependencies", []))
            if "depends" in x:   # 'A && (B.Succeeded || C)' -> A, B, C
                import re
                deps += [m.split(".")[0] for m in re.findall(r"[A-Za-z0-9_-]+(?:\.[A-Za-z]+)?", x["depends"])
                         if m not in ("&&", "||")]
            for d in deps:
                if d not in tn: errs.append(f"task {x['name']!r}: unknown dependency {d!r}")
            graph[x["name"]] = [d for d in deps if d in tn]
        state = {}
        def visit(n):                   # cycle detection (DFS colours)
            if state.get(n) == 1: errs.append(f"dag {t['name']!r}: cycle through {n!r}"); return
            if state.get(n) == 2: return
            state[n] = 1
            for d in graph.get(n, []): visit(d)
            state[n] = 2
        for n in graph: visit(n)
    errs += argo_validate_rules(spec)
    return errs

import re
FIELD_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")            # workflowFieldNameFmt, max 128
ITEM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")                        # paramOrArtifactNameRegex
LOCATIONS = ("artifactory", "azure", "gcs", "git", "hdfs", "http", "oss", "raw", "s3", "plugin")

def task_deps(task):
    deps = set(task.get("dependencies", []))
    if "depends" in task:   # 'A && (B.Succeeded || C)' -> A, B, C
        deps |= {m.split(".")[0] for m in re.findall(r"[A-Za-z0-9_-]+(?:\.[A-Za-z]+)?", task["depends"])}
    return deps

def argo_validate_rules(spec):
    errs = []
    def item_names(where, items):
        for x in items or []:
            if not ITEM_NAME.match(str(x.get("name", ""))): errs.append(f"{where}: invalid name {x.get('name')!r}")
    args = spec.get("arguments", {})
    item_names("spec.arguments.parameters", args.get("parameters"))
    item_names("spec.arguments.artifacts", args.get("artifacts"))
    for a in args.get("artifacts", []):
        if "from" not in a and not any(a.get(k) for k in LOCATIONS):
            errs.append(f"spec.arguments.artifacts.{a.get('name')}.from, artifact location, or key is required")
    for t in spec.get("templates", []):
        name = t.get("name", "")
        if not FIELD_NAME.match(name) or len(name) > 128: errs.append(f"template name {name!r} is invalid")
        for io in ("inputs", "outputs"):
            item_names(f"templates.{name}.{io}.parameters", (t.get(io) or {}).get("parameters"))
            item_names(f"templates.{name}.{io}.artifacts", (t.get(io) or {}).get("artifacts"))
        tasks = (t.get("dag") or {}).get("tasks", [])
        deps = {x["name"]: task_deps(x) for x in tasks}
        def ancestors(n, seen):
            for d in deps.get(n, ()):
                if d not in seen: seen.add(d); ancestors(d, seen)
            return seen
        for x in tasks:
            if not FIELD_NAME.match(x["name"]) or len(x["name"]) > 128: errs.append(f"task name {x['name']!r} is invalid")
            if x.get("dependencies") and x["name"][0].isdigit(): errs.append(f"task {x['name']!r}: name cannot begin with a digit when using dependencies")
            for a in (x.get("arguments") or {}).get("artifacts", []):
                m = re.match(r"\{\{tasks\.([^.]+)\.", a.get("from", ""))
                if m and m.group(1) not in ancestors(x["name"], set()):
                    errs.append(f"task {x['name']!r}: artifact {a.get('name')!r} from {m.group(1)!r}, which is not an ancestor")
    return errs

ok = True
for path in args:
    for i, doc in enumerate(yaml.safe_load_all(open(path))):
        if doc is None: continue
        errs = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:160]}"
                for e in sorted(validator(doc.get('kind')).iter_errors(doc), key=lambda e: list(e.absolute_path))]
        if not errs:                  # DAG rules only on schema-valid documents
            errs = dag_checks(doc)
        print(("OK " if not errs else "BAD") + f" {path}#{i} {doc.get('kind')} {doc.get('metadata', {}).get('name') or doc.get('metadata', {}).get('generateName')}")
        for e in errs: print("   ", e)
        ok &= not errs
sys.exit(0 if ok else 1)

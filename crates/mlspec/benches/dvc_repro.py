"""The anchor of the pipeline benchmark: `dvc repro` over the same no-op stages as
`benches/pipeline.rs` (a chain of 100, and 10 parallel chains of 10): cold, fully cached, and
cached once more.

Each case gets a fresh project (`dvc init --no-scm`, analytics and the update check off, the site
cache inside the project so no earlier run can answer). Stage i is `touch o_i` at the head of a
chain and `cp o_(i-1) o_i` after it, with its `deps` and `outs` declared, as mlspec's modules
run them. The cold `dvc repro` must run every stage and the later ones must skip every one (counted
from DVC's own messages), or this exits non-zero: a failure must not look like speed.

    python dvc_repro.py [--runs N] [--json FILE] [--table MLSPEC_JSON]

With --table, prints the side-by-side table of `scripts/bench-pipeline` from mlspec's results
(the JSON `pipeline.rs` wrote) and these.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# Each shape: (name, number of chains, stages per chain); the same as pipeline.rs.
SHAPES = [("chain", 1, 100), ("fan-out", 10, 10)]

# The runs of a case, in order, in one project: cold, the re-run the issue asks about, once more.
PHASES = ("cold", "cached", "again")

# The targets: the runner's own overhead per step, and how much faster than DVC.
OVERHEAD_TARGET_MS = 15.0
RATIO_TARGET = 20.0


def stage_name(chain, position):
    return f"c{chain:02d}s{position:02d}"


def commands(chains, length):
    """(stage, command, dependency or None, output) for every stage, in a runnable order."""
    stages = []
    for chain in range(chains):
        for position in range(length):
            name = stage_name(chain, position)
            out = f"o_{name}"
            if position == 0:
                stages.append((name, f"touch {out}", None, out))
            else:
                dep = f"o_{stage_name(chain, position - 1)}"
                stages.append((name, f"cp {dep} {out}", dep, out))
    return stages


def dvc_yaml(stages):
    lines = ["stages:"]
    for name, cmd, dep, out in stages:
        lines.append(f"  {name}:")
        lines.append(f"    cmd: {cmd}")
        if dep:
            lines.append(f"    deps: [{dep}]")
        lines.append(f"    outs: [{out}]")
    return "\n".join(lines) + "\n"


def run(args, cwd, env):
    """Runs a command; its output, or exits naming it when it failed."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"`{' '.join(args)}` failed with exit code {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def timed(args, cwd, env):
    start = time.perf_counter()
    output = run(args, cwd, env)
    return time.perf_counter() - start, output


def fresh_project(dvc, stages, env):
    project = tempfile.mkdtemp(prefix="dvc-bench-")
    run([dvc, "init", "--no-scm", "-q"], project, env)
    run([dvc, "config", "core.analytics", "false"], project, env)
    run([dvc, "config", "core.check_update", "false"], project, env)
    run([dvc, "config", "core.site_cache_dir", os.path.join(project, ".site-cache")], project, env)
    with open(os.path.join(project, "dvc.yaml"), "w") as f:
        f.write(dvc_yaml(stages))
    return project


def check(case, output, ran, skipped, total):
    """DVC must have run (or skipped) exactly the stages it was meant to."""
    ran_count = output.count("Running stage '")
    skipped_count = output.count("didn't change, skipping")
    if ran_count != ran or skipped_count != skipped:
        sys.exit(
            f"{case}: dvc repro ran {ran_count} and skipped {skipped_count} of {total} stages; "
            f"expected {ran} and {skipped}:\n{output[-2000:]}"
        )


def commands_alone(stages):
    """Seconds the commands themselves take, run one after another by a shell script."""
    work = tempfile.mkdtemp(prefix="dvc-bench-cmds-")
    try:
        script = os.path.join(work, "commands.sh")
        with open(script, "w") as f:
            f.write("set -e\n" + "\n".join(cmd for _, cmd, _, _ in stages) + "\n")
        start = time.perf_counter()
        subprocess.run(["sh", script], cwd=work, check=True)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(dvc, name, chains, length, runs, env):
    stages = commands(chains, length)
    total = len(stages)
    times = {phase: [] for phase in PHASES}
    for _ in range(runs):
        project = fresh_project(dvc, stages, env)
        try:
            seconds, output = timed([dvc, "repro"], project, env)
            check(f"{name}, cold", output, total, 0, total)
            missing = [out for _, _, _, out in stages if not os.path.exists(os.path.join(project, out))]
            if missing:
                sys.exit(f"{name}: dvc repro left {len(missing)} outputs unwritten, e.g. {missing[0]}")
            times["cold"].append(seconds)
            for phase in PHASES[1:]:
                seconds, output = timed([dvc, "repro"], project, env)
                check(f"{name}, {phase}", output, 0, total, total)
                times[phase].append(seconds)
        finally:
            shutil.rmtree(project, ignore_errors=True)
    alone = statistics.median(commands_alone(stages) for _ in range(3))
    result = {"steps": total, "commands_s": alone}
    for phase, seconds in times.items():
        result[f"{phase}_s"] = statistics.median(seconds)
        result[f"{phase}_runs_s"] = seconds
    phases = "; ".join(
        f"{phase} {result[f'{phase}_s']:.2f} s (runs {', '.join(f'{s:.2f}' for s in times[phase])})" for phase in PHASES
    )
    print(
        f"dvc repro, {name} ({total} stages; the commands alone {alone * 1e3:.0f} ms, "
        f"cold {(result['cold_s'] - alone) / total * 1e3:.1f} ms/stage beyond them): {phases}",
        flush=True,
    )
    return result


def verdict(met):
    return "met" if met else "NOT met"


def table(mlspec, dvc):
    """The side-by-side table: per case, both tools' seconds, the ratio, and each target."""
    rows = [(
        "case",
        "mlspec",
        "dvc repro",
        "dvc / mlspec",
        f">= {RATIO_TARGET:.0f}x",
        "mlspec overhead/step",
        f"<= {OVERHEAD_TARGET_MS:.0f} ms",
        "mlspec CPU/step",
    )]
    for name, _, _ in SHAPES:
        for phase in PHASES:
            ours = mlspec[name][f"{phase}_s"]
            theirs = dvc[name][f"{phase}_s"]
            overhead = mlspec[name][f"{phase}_overhead_ms"]
            ratio = theirs / ours
            rows.append((
                f"{name} ({mlspec[name]['steps']} steps), {phase}",
                f"{ours:.3f} s",
                f"{theirs:.2f} s",
                f"{ratio:.1f}x",
                verdict(ratio >= RATIO_TARGET),
                f"{overhead:.1f} ms",
                verdict(overhead <= OVERHEAD_TARGET_MS),
                f"{mlspec[name][f'{phase}_cpu_ms_per_step']:.1f} ms",
            ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    small, large = mlspec["fan-out"], mlspec.get("dag-1000")
    if large:
        for phase in PHASES[:2]:
            parts = [
                f"{what} {small[key]:.2f} -> {large[key]:.2f} ms ({large[key] / small[key]:.2f}x)"
                for what, key in (("overhead", f"{phase}_overhead_ms"), ("CPU", f"{phase}_cpu_ms_per_step"))
            ]
            print(f"per step, {small['steps']} -> {large['steps']} steps, {phase}: {', '.join(parts)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dvc", default=shutil.which("dvc") or "dvc", help="the dvc executable")
    parser.add_argument("--runs", type=int, default=1, help="rounds (cold, cached, again) per case (median)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--table", help="mlspec's results (JSON) to print side by side")
    args = parser.parse_args()
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    version = run([args.dvc, "--version"], None, env).strip()
    print(f"dvc {version}", flush=True)
    results = {name: measure(args.dvc, name, chains, length, args.runs, env) for name, chains, length in SHAPES}
    results["version"] = version
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if args.table:
        with open(args.table) as f:
            table(json.load(f), results)


if __name__ == "__main__":
    main()

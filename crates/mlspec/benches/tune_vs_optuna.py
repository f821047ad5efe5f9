"""`mlspec tune` against Optuna, side by side (issue 18; scripts/bench-tune runs it).

The same no-op objective — `sh trial.sh`, which reports the parameter x as the score — run as a
subprocess per trial, N trials, one at a time, TPE with seed 1, by:
  - a bare loop that only starts the command N times (the trial itself: the floor);
  - `mlspec tune` (whole process: each trial a recorded step with its own endpoints, a Run and a
    new version of the Training document committed to the project's SQLite store per trial);
  - Optuna's study.optimize, its own time only (imports excluded), with in-memory storage and
    with its SQLite storage (durable, like mlspec's).
Overhead per trial = (time − bare time) / N. Best of --runs. Prints a Markdown table.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

TRIAL = """v="$MLSPEC_PARAM_X"
if [ -n "$MLSPEC_METRICS_FILE" ]; then
  printf '{"key":"score","value":%s}\\n' "$v" >> "$MLSPEC_METRICS_FILE"
else
  echo "$v"
fi
"""


def bare(n, directory):
    started = time.perf_counter()
    for i in range(n):
        env = dict(os.environ, MLSPEC_PARAM_X=str(i / n))
        env.pop("MLSPEC_METRICS_FILE", None)
        subprocess.run(["sh", "trial.sh"], cwd=directory, env=env, check=True, stdout=subprocess.PIPE)
    return time.perf_counter() - started


def mlspec(binary, n, directory, run):
    started = time.perf_counter()
    subprocess.run(
        [binary, "tune", "--space", "space.yaml", "--trials", str(n), "--sampler", "tpe", "--seed", "1",
         "--objective", "maximize metrics.score", "--name", f"bench-{run}", "--fresh", "--", "sh", "trial.sh"],
        cwd=directory, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def optuna_study(n, directory, storage, run):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        x = trial.suggest_float("x", -5, 5)
        env = dict(os.environ, MLSPEC_PARAM_X=repr(x))
        env.pop("MLSPEC_METRICS_FILE", None)
        out = subprocess.run(["sh", "trial.sh"], cwd=directory, env=env, check=True, stdout=subprocess.PIPE)
        return float(out.stdout)

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=1),
        storage=storage, study_name=f"bench-{run}",
    )
    started = time.perf_counter()
    study.optimize(objective, n_trials=n)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mlspec", required=True)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import optuna

    with tempfile.TemporaryDirectory() as directory:
        with open(os.path.join(directory, "trial.sh"), "w") as f:
            f.write(TRIAL)
        with open(os.path.join(directory, "space.yaml"), "w") as f:
            f.write("x: {min: -5, max: 5}\n")
        subprocess.run([args.mlspec, "init"], cwd=directory, check=True, stdout=subprocess.DEVNULL)
        n = args.trials
        sqlite = f"sqlite:///{directory}/optuna.db"
        times = {"bare": [], "mlspec": [], "memory": [], "sqlite": []}
        for run in range(args.runs):
            times["bare"].append(bare(n, directory))
            times["mlspec"].append(mlspec(args.mlspec, n, directory, run))
            times["memory"].append(optuna_study(n, directory, None, run))
            times["sqlite"].append(optuna_study(n, directory, sqlite, run))
        best = {k: min(v) for k, v in times.items()}
        floor = best["bare"] / n * 1000
        print(f"{n} trials of a no-op subprocess objective, TPE seed 1, best of {args.runs} "
              f"(Optuna {optuna.__version__}, Python {sys.version.split()[0]})\n")
        print("| | per trial | overhead per trial (beyond the command) |")
        print("|---|---|---|")
        rows = [("the command alone (bare loop)", "bare"), ("**mlspec tune** (SQLite store, every trial a recorded step)", "mlspec"),
                ("Optuna, in-memory storage", "memory"), ("Optuna, SQLite storage", "sqlite")]
        for label, key in rows:
            per = best[key] / n * 1000
            overhead = "—" if key == "bare" else f"{per - floor:.2f} ms"
            print(f"| {label} | {per:.2f} ms | {overhead} |")


if __name__ == "__main__":
    main()

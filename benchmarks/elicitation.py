"""Elicitation strategies in simulated campaigns: AUC against annotation cost (Collins Fig. 3 right, unequal costs).

Runs ``manage.py simulate`` for every strategy and seed (one child process per
seed, each on its own SQLite database, running the strategies one after the
other on the same images), then prints JSON: the target AUC (95% of the best
held-out AUC that ``all`` reaches within the budget, on its mean curve over
seeds), the cost each strategy needs to reach it (per seed and the median),
the AUC each has at fixed budgets (mean over seeds), in how many seeds it got
there no later than ``coarse`` did in the same seed, the labels bought, and
the final aggregator weights. The figure goes to ``benchmarks/out/elicitation.png``
and the raw results to ``benchmarks/out/elicitation.json`` (``elicitation_joint.*``
with ``--cbm-mode joint``: the CBM's coarse labels then train its concept network too;
``--tree``, ``--retrain-every-s`` and a subset of ``--strategies`` add their own suffixes).

    python benchmarks/elicitation.py                          # 6 strategies x 5 seeds
    python benchmarks/elicitation.py --seeds 2 --budget 12000 # quicker look
    python benchmarks/elicitation.py --tree strict --cbm-mode joint --retrain-every 50 --seeds 10 --task-time-limit 60
    python benchmarks/elicitation.py --scores --items 10000   # time of scores_recompute (SQLite; --database for PG)

A model "reaches" the target at the charged cost of the first retrain whose
held-out AUC is at or above it (the model in force from then on).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))

from rewardlab.synthetic.truth import TREES  # noqa: E402

STRATEGIES = ["all", "coarse", "random", "uncertainty_per_cost", "voi_per_cost", "attribute_value"]
COST_AWARE = ["uncertainty_per_cost", "voi_per_cost", "attribute_value"]


# ---------------------------------------------------------------- simulations
def run_seed(seed: int, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    out = work / f"seed-{seed}.json"
    command = [sys.executable, str(ROOT / "manage.py"), "simulate", "--strategy", ",".join(args.strategies),
               "--budget", str(args.budget), "--seed", str(seed), "--prompts", str(args.prompts),
               "--retrain-every", str(args.retrain_every), "--retrain-every-s", str(args.retrain_every_s),
               "--annotators", str(args.annotators), "--task-time-limit", str(args.task_time_limit),
               "--cbm-mode", args.cbm_mode, "--tree", args.tree,
               "--json", str(out), "--var-dir", str(work / f"var-{seed}")]
    started = time.monotonic()
    log = work / f"seed-{seed}.log"
    with open(log, "w") as fh:
        result = subprocess.run(command, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if result.returncode != 0:
        raise RuntimeError(f"seed {seed} failed; see {log}")
    print(json.dumps({"seed": seed, "wall_s": round(time.monotonic() - started, 1)}), file=sys.stderr)
    data = json.loads(out.read_text())
    return data if isinstance(data, list) else [data]


def step_at(curve: list[dict], costs: np.ndarray) -> np.ndarray:
    from elicitation.plots import step_at as step

    return step(curve, costs)


def cost_to_reach(curve: list[dict], target: float) -> float | None:
    for point in curve:
        if point["auc"] >= target:
            return point["cost"]
    return None


def _median_reached(costs: list[float | None]) -> float | None:
    median = statistics.median([math.inf if c is None else c for c in costs]) if costs else math.inf
    return None if math.isinf(median) else median


def _paired(runs: list[dict], reach: list[float | None], coarse_reach: dict[int, float | None]) -> str:
    """'k/n': the seeds in which a strategy reached the target and `coarse` did not do so earlier."""
    wins = sum(c is not None and (coarse_reach[run["seed"]] is None or c <= coarse_reach[run["seed"]])
               for run, c in zip(runs, reach))
    return f"{wins}/{len(runs)}"


def summarise(results: dict[str, list[dict]], budgets: list[float], budget: float) -> dict[str, Any]:
    grid = np.linspace(0, budget, 401)
    all_mean = np.mean([step_at(run["curve"], grid) for run in results["all"]], axis=0)
    best_all = float(np.max(all_mean))
    target = round(0.95 * best_all, 4)
    reaches = {name: [cost_to_reach(run["curve"], target) for run in runs] for name, runs in results.items()}
    coarse_reach = {run["seed"]: c for run, c in zip(results.get("coarse", []), reaches.get("coarse", []))}
    table = {}
    for name, runs in results.items():
        reach = reaches[name]
        reached = [c for c in reach if c is not None]
        curves = np.array([step_at(run["curve"], np.array(budgets, dtype=float)) for run in runs])
        labels = {key: round(statistics.mean(run["labels_usable"].get(key, 0) for run in runs), 1)
                  for key in sorted({k for run in runs for k in run["labels_usable"]})}
        weights = {key: round(statistics.mean(run["aggregator_weights"].get(key, 0.0) for run in runs), 3)
                   for key in sorted({k for run in runs for k in run["aggregator_weights"]})}
        table[name] = {
            "cost_to_target_per_seed": reach,
            # A seed that never reached the target counts as "more than the budget"; the median is
            # null only when it falls on such a seed.
            "cost_to_target_median": _median_reached(reach),
            "seeds_reaching_target": f"{len(reached)}/{len(runs)}",
            # Spent before the first model (until then every strategy asks `all`): a floor under its cost to target.
            "first_model_cost_median": _median_reached([run["curve"][0]["cost"] if run["curve"] else None
                                                        for run in runs]),
            # Seeds (same images, same simulated annotators) where this strategy reached the target no
            # later than `coarse` did in that seed: steadier than comparing two medians of 5-10 seeds.
            "seeds_no_later_than_coarse": (_paired(runs, reach, coarse_reach)
                                           if coarse_reach and name != "coarse" else None),
            "auc_at_budget_mean": {str(int(b)): round(float(curves[:, i].mean()), 4) for i, b in enumerate(budgets)},
            "final_auc_mean": round(statistics.mean(run["final_auc"] or float("nan") for run in runs), 4),
            "usable_labels_mean": labels,
            "aggregator_weights_mean": weights,
            "tasks_mean": round(statistics.mean(run["tasks"] for run in runs), 1),
        }
    all_cost = table["all"]["cost_to_target_median"]
    coarse_cost = table.get("coarse", {}).get("cost_to_target_median")
    aware = {n: table[n]["cost_to_target_median"] for n in COST_AWARE if n in table}
    best = min((n for n, c in aware.items() if c is not None), key=lambda n: aware[n], default=None)
    verdict = {"best_cost_aware": best, "best_cost_aware_cost": aware.get(best) if best else None,
               "all_cost": all_cost, "coarse_cost": coarse_cost}
    if best and all_cost:
        verdict["ratio_to_all"] = round(aware[best] / all_cost, 3)
        verdict["at_most_60pct_of_all"] = aware[best] <= 0.6 * all_cost
    if best and coarse_cost:
        verdict["no_later_than_coarse"] = aware[best] <= coarse_cost
        verdict["seeds_no_later_than_coarse"] = table[best]["seeds_no_later_than_coarse"]
    return {"target_auc": target, "best_all_auc": round(best_all, 4), "strategies": table, "verdict": verdict}


def simulations(args: argparse.Namespace) -> None:
    from elicitation.plots import auc_cost_png

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if args.from_json:
        # Summarise and draw again from the raw runs of an earlier invocation.
        results = json.loads(Path(args.from_json).read_text())["runs"]
        seeds = sorted({run["seed"] for runs in results.values() for run in runs})
    else:
        work = Path(args.work or tempfile.mkdtemp(prefix="elicitation-bench-"))
        work.mkdir(parents=True, exist_ok=True)
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            per_seed = list(pool.map(lambda s: run_seed(s, args, work), seeds))
        results = {name: [] for name in args.strategies}
        for runs in per_seed:
            for run in runs:
                results[run["strategy"]].append(run)
    budgets = [float(b) for b in args.budgets.split(",")] if args.budgets else [
        args.budget * f for f in (0.25, 0.5, 0.75, 1.0)]
    summary = summarise(results, budgets, args.budget)
    summary.update({"benchmark": "elicitation", "seeds": seeds, "budget_s": args.budget, "prompts": args.prompts,
                    "retrain_every": args.retrain_every, "retrain_every_s": args.retrain_every_s,
                    "annotators": args.annotators, "task_time_limit_s": args.task_time_limit,
                    "cbm_mode": args.cbm_mode,
                    "tree": args.tree,
                    "wall_s": round(time.monotonic() - started, 1)})
    stem = "_".join(["elicitation", *([args.tree] if args.tree != "linear" else []),
                     *([args.cbm_mode] if args.cbm_mode != "sequential" else []),
                     *(["spend"] if args.retrain_every_s > 0 else []),
                     *([f"task{args.task_time_limit:g}s"] if args.task_time_limit != 90.0 else []),
                     # A run of some strategies keeps the full comparison's files (the dashboard shows the default's).
                     *(["partial"] if set(STRATEGIES) - set(args.strategies) else [])])
    (OUT / f"{stem}.png").write_bytes(auc_cost_png(
        results=results, target_auc=summary["target_auc"], budgets=budgets,
        title=f"Simulated campaigns ({len(seeds)} seeds, collins attributes, Table 2 costs, {args.cbm_mode} CBM, "
              f"tree {args.tree})"))
    if not args.from_json:
        (OUT / f"{stem}.json").write_text(json.dumps({"summary": summary, "runs": results}, indent=1) + "\n")
    print(json.dumps(summary, indent=2))


# ---------------------------------------------------------------- scores_recompute timing
SCORES_CODE = """
import django, json, time
django.setup()
import numpy as np
from benchmarks._campaign import build_campaign
from benchmarks.elicitation import scores_time
cid, _ = build_campaign(n_items={n_items}, presets="collins", policy="voi_per_cost", n_users=1)
print(json.dumps(scores_time(campaign_id=cid, repeats={repeats})))
"""


def fake_outputs(*, campaign, seed: int = 0) -> dict[str, Any]:
    """Model outputs of the shape rewardlab writes, for every item target (random but plausible)."""
    from annotator.models import Attribute, Target

    rng = np.random.default_rng(seed)
    targets = np.array(sorted(Target.objects.filter(campaign=campaign, type="item").values_list("pk", flat=True)))
    keys = list(Attribute.objects.filter(campaign=campaign, active=True, is_coarse=False, kind="binary")
                .values_list("key", flat=True))
    concept = rng.uniform(0.02, 0.98, size=(len(targets), len(keys)))
    weights = rng.normal(0, 1.5, size=len(keys))
    coarse = 1 / (1 + np.exp(-(concept @ weights - weights.sum() / 2)))
    return {"version": 1, "target_ids": targets, "concept_keys": np.array(keys), "concept_proba": concept,
            "coarse_proba": coarse, "aggregator_weights": weights, "aggregator_intercept": -weights.sum() / 2,
            "attribute_value": rng.uniform(-0.01, 0.05, size=len(keys)),
            "concept_samples": np.clip(concept[None] + rng.normal(0, 0.05, size=(8, *concept.shape)), 0, 1)}


def scores_prime(*, campaign_id: int) -> dict[str, Any]:
    """Store scores for a campaign from fake model outputs (load tests of a model-based policy)."""
    from annotator.models import Campaign
    from elicitation.services import scores as service

    campaign = Campaign.objects.get(pk=campaign_id)
    raw = fake_outputs(campaign=campaign)
    service._active_outputs = lambda campaign: raw  # noqa: SLF001 - stands in for a trained model
    state = service.scores_recompute(campaign=campaign, version_id=1)
    return {"n_slots": state.n_slots, "duration_ms": round(state.duration_ms, 1), "strategy": state.used_strategy}


def scores_time(*, campaign_id: int, repeats: int = 3) -> dict[str, Any]:
    from annotator.models import Campaign
    from django.db import connection
    from elicitation.services.scores import frontier_size, slot_scores_changes, slot_scores_compute, slot_scores_write

    campaign = Campaign.objects.get(pk=campaign_id)
    out: dict[str, Any] = {"vendor": connection.vendor}
    for frontier in (frontier_size(), 0):
        compute, write, written = [], [], []
        for repeat in range(repeats):
            raw = fake_outputs(campaign=campaign, seed=repeat)  # a new model each time: the frontier moves
            t0 = time.perf_counter()
            ids, scores, used = slot_scores_compute(campaign=campaign, raw_outputs=raw, strategy="voi_per_cost")
            t1 = time.perf_counter()
            changes = slot_scores_changes(campaign=campaign, slot_ids=ids, scores=scores, frontier=frontier)
            slot_scores_write(changes=changes, version=repeat + 1)
            t2 = time.perf_counter()
            compute.append(t1 - t0)
            write.append(t2 - t1)
            written.append(len(changes))
        out[f"frontier_{frontier or 'all'}"] = {
            "n_slots_scored": int(len(ids)), "rows_written_median": int(statistics.median(written)),
            "compute_s_median": round(statistics.median(compute), 3),
            "write_s_median": round(statistics.median(write), 3),
            "total_s_median": round(statistics.median(c + w for c, w in zip(compute, write)), 3)}
    return out


def scores_benchmark(args: argparse.Namespace) -> None:
    var_dir = tempfile.mkdtemp(prefix="elicitation-scores-")
    database = args.database or f"sqlite:///{var_dir}/db.sqlite3"
    env = {**os.environ, "DATABASE_URL": database, "VAR_DIR": var_dir, "DJANGO_SETTINGS_MODULE": "config.settings",
           "PYTHONPATH": str(ROOT)}
    if database.startswith("postgres"):
        from benchmarks.annotate_load import reset_database

        reset_database(database)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([sys.executable, "-c", SCORES_CODE.format(n_items=args.items, repeats=args.repeats)],
                         cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(json.dumps({"benchmark": "elicitation_scores", "items": args.items, **result}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", type=lambda s: s.split(","), default=STRATEGIES)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--budget", type=float, default=24_000.0, help="Annotator-seconds per simulated campaign.")
    parser.add_argument("--budgets", default="", help="Budgets to report AUC at (default: 25/50/75/100%%).")
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--retrain-every", type=int, default=75)
    parser.add_argument("--retrain-every-s", type=float, default=0.0,
                        help="Retrain every this many charged seconds instead of every --retrain-every values, so "
                             "every strategy's cost to the target is read off the same grid (outputs go to "
                             "elicitation_..._spend.*).")
    parser.add_argument("--cbm-mode", default="sequential", choices=["sequential", "independent", "joint"],
                        help="How the campaigns' CBMs train (outputs go to elicitation_<mode>.* unless sequential).")
    parser.add_argument("--tree", default="linear", choices=sorted(TREES),
                        help="The simulated world's decision tree of overall_good (outputs go to elicitation_<tree>.* "
                             "unless linear).")
    parser.add_argument("--annotators", type=int, default=8)
    parser.add_argument("--task-time-limit", type=float, default=90.0,
                        help="Estimated seconds bundled into one task (the campaign's task_time_limit_s).")
    parser.add_argument("--parallel", type=int, default=3, help="Seeds simulated at once (processes).")
    parser.add_argument("--work", default="", help="Folder for the per-seed databases and JSON.")
    parser.add_argument("--from-json", default="", help="Summarise the runs saved in an earlier elicitation.json.")
    parser.add_argument("--scores", action="store_true", help="Time scores_recompute instead.")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", default="", help="For --scores: a PostgreSQL URL (the database is reset).")
    args = parser.parse_args()
    if args.scores:
        scores_benchmark(args)
    else:
        simulations(args)


if __name__ == "__main__":
    main()

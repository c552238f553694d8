"""Collins et al. Experiment 2 on the controlled synthetic dataset: CBM vs coarse reward models.

The coarse target ``overall_good`` is a decision tree over three image
attributes (``rewardlab.synthetic.TREES``; default "linear": good iff
photorealistic and (visually_compelling or not chaotic), which a linear
aggregator can represent; ``--tree strict``: photorealistic and visually
compelling and not chaotic, also linear but with few good images; ``--tree
xor``: photorealistic XOR chaotic, which it cannot). Models, trained on N
images with the ground truth as labels:

- ``coarse``: the coarse model on the tree's output only;
- ``cbm_tree``: CBM whose concepts are the three tree attributes;
- ``cbm_all``: CBM on every image attribute (the tree's and the others);
- ``cbm_outside``: CBM on only the attributes outside the tree.

N in {100, 200, 500, 1000, 2000}, 5 seeds (a new sample of training prompts
and a new initialisation each), held-out ROC-AUC on a fixed set of 1,000
images whose prompts never appear in training (split by prompt). Image
features: the offline ``pixelstats`` encoder (``--with-prompt`` adds
``hashbow`` prompt features; Collins feed only image embeddings in
Experiment 2). Model hyperparameters are the library defaults (the small-N
step floor included). Also reported, as diagnostics: stage 1's held-out AUC
per attribute of ``cbm_all`` at each N (which attribute the features fail to
carry) and the aggregator on the *true* attributes (the ceiling a perfect
stage 1 would reach).

Prints JSON (mean and std per model and N) and writes
``benchmarks/out/cbm_vs_coarse[_<tree>].png`` (AUC against N with error bars,
like Collins Fig. 4) and ``.json``. Features are cached in ``benchmarks/out/``.

    python benchmarks/cbm_vs_coarse.py                 # linear tree
    python benchmarks/cbm_vs_coarse.py --tree xor
    python benchmarks/cbm_vs_coarse.py --tree strict
    python benchmarks/cbm_vs_coarse.py --n 100 200 --seeds 2   # quick look
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "out"

from rewardlab.synthetic import COLLINS_QUALITY, generate, resolve_tree, tree_attributes  # noqa: E402
from rewardlab.synthetic.truth import TREES, evaluate_tree  # noqa: E402

N_VALUES = (100, 200, 500, 1000, 2000)
IMAGES_PER_PROMPT = 4
HELDOUT_IMAGES = 1000
TRAIN_POOL_IMAGES = 2800
DATA_SEED = 2024
COLOURS = {"coarse": "#222222", "cbm_tree": "#d62728", "cbm_all": "#1f77b4", "cbm_outside": "#ff7f0e"}
LABELS = {"coarse": "coarse (tree output only)", "cbm_tree": "CBM: the 3 tree attributes",
          "cbm_all": "CBM: all 9 image attributes", "cbm_outside": "CBM: only attributes outside the tree"}


# ---------------------------------------------------------------- data and features
def _encode(args: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Render and encode one prompt's images in a worker process (pixelstats, + hashbow of the prompt)."""
    from rewardlab.ml.encoders import get_encoder
    from rewardlab.synthetic.dataset import make_image
    from rewardlab.synthetic.spec import sample_spec

    seed, p, k_images, size = args
    spec = sample_spec(np.random.default_rng(np.random.SeedSequence([seed, p, 0])))
    images = [make_image(seed, p, k, spec, size=size) for k in range(k_images)]
    pixels = get_encoder("pixelstats").encode_images([im.render() for im in images])
    text = get_encoder("hashbow").encode_texts([spec.prompt] * k_images)
    return pixels, text


def dataset(*, size: int, workers: int) -> dict[str, np.ndarray]:
    """Features, truth and prompt index of the whole pool, cached (the tree only changes the labels)."""
    from rewardlab.ml.encoders import get_encoder

    n_prompts = (TRAIN_POOL_IMAGES + HELDOUT_IMAGES) // IMAGES_PER_PROMPT
    key = f"s{DATA_SEED}-p{n_prompts}x{IMAGES_PER_PROMPT}-{size}px-{get_encoder('pixelstats').cache_key}"
    cache = OUT / f"cbm_vs_coarse_features_{key.replace(':', '_')}.npz"
    plans = generate(n_prompts, IMAGES_PER_PROMPT, DATA_SEED, size=size)
    truth = [im.truth for im in plans]
    if cache.exists():
        with np.load(cache) as npz:
            pixels, text, seconds = npz["pixels"], npz["text"], float(npz["seconds"])
    else:
        started = time.perf_counter()
        jobs = [(DATA_SEED, p, IMAGES_PER_PROMPT, size) for p in range(n_prompts)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_encode, jobs, chunksize=8))
        pixels = np.concatenate([p for p, _ in parts])
        text = np.concatenate([t for _, t in parts])
        seconds = time.perf_counter() - started
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez(cache, pixels=pixels, text=text, seconds=seconds)
    return {"pixels": pixels, "text": text, "truth": truth, "seconds": seconds,
            "prompt": np.repeat(np.arange(n_prompts), IMAGES_PER_PROMPT), "n_prompts": n_prompts}


# ---------------------------------------------------------------- one fit
def _fit_one(job: dict) -> dict:
    from sklearn.metrics import roc_auc_score

    from rewardlab.ml.cbm import ConceptBottleneckRewardModel
    from rewardlab.ml.coarse import CoarseRewardModel

    X, y, C, Xt, yt, Ct = (job[k] for k in ("X", "y", "C", "Xt", "yt", "Ct"))
    started = time.perf_counter()
    if job["model"] == "coarse":
        model = CoarseRewardModel(random_state=job["seed"]).fit(X, y)
        scores = model.decision_function(Xt)
        extra = {}
    else:
        model = ConceptBottleneckRewardModel(random_state=job["seed"], concept_names=job["concepts"]).fit(X, C, y)
        scores = model.decision_function(Xt)
        concepts = model.predict_concepts(Xt)
        extra = {"per_concept_auc": {k: float(roc_auc_score(Ct[:, j], concepts[:, j]))
                                     for j, k in enumerate(job["concepts"]) if len(np.unique(Ct[:, j])) == 2}}
    return {"model": job["model"], "n": job["n"], "seed": job["seed"], "roc_auc": float(roc_auc_score(yt, scores)),
            "fit_s": time.perf_counter() - started, **extra}


def _oracle_auc(C: np.ndarray, y: np.ndarray, Ct: np.ndarray, yt: np.ndarray) -> float:
    """The paper's class-balanced logistic aggregator fitted and evaluated on the true attributes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    agg = LogisticRegression(class_weight="balanced", max_iter=1000).fit(C, y)
    return float(roc_auc_score(yt, agg.decision_function(Ct)))


# ---------------------------------------------------------------- plot
def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ns = result["n_values"]
    for name, per_n in result["models"].items():
        means = [per_n[str(n)]["mean"] for n in ns]
        stds = [per_n[str(n)]["std"] for n in ns]
        label = LABELS[name].replace("the 3 tree", f"the {len(result['tree_attributes'])} tree")
        ax.errorbar(ns, means, yerr=stds, marker="o", capsize=3, color=COLOURS[name], label=label)
    ax.set_xscale("log")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("training images N")
    ax.set_ylabel(f"held-out ROC-AUC ({result['n_heldout']} images, unseen prompts)")
    ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax.grid(alpha=0.3)
    ax.set_title(f"Collins Exp. 2 on synthetic data: tree '{result['tree']}', {result['seeds']} seeds (mean ± std)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


# ---------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", default="linear", choices=sorted(TREES))
    parser.add_argument("--n", type=int, nargs="+", default=list(N_VALUES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--size", type=int, default=512, help="Image side of the synthetic renderings.")
    parser.add_argument("--with-prompt", action="store_true", help="Append hashbow prompt features.")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    args = parser.parse_args()

    data = dataset(size=args.size, workers=args.jobs)
    tree = resolve_tree(args.tree)
    in_tree = tree_attributes(tree)
    all_attrs = list(COLLINS_QUALITY)
    outside = [a for a in all_attrs if a not in in_tree]
    concept_sets = {"cbm_tree": in_tree, "cbm_all": all_attrs, "cbm_outside": outside}

    X_all = data["pixels"] if not args.with_prompt else np.hstack([data["pixels"], data["text"]])
    y_all = np.array([evaluate_tree(tree, t) for t in data["truth"]], dtype=float)
    truth_matrix = {a: np.array([t[a] for t in data["truth"]], dtype=float) for a in all_attrs}
    # Split by prompt: the last prompts are the fixed held-out set.
    heldout_prompts = HELDOUT_IMAGES // IMAGES_PER_PROMPT
    held = data["prompt"] >= data["n_prompts"] - heldout_prompts
    pool_prompts = np.arange(data["n_prompts"] - heldout_prompts)
    Xt, yt = X_all[held], y_all[held]

    jobs, samples = [], {}
    for n in args.n:
        for seed in range(args.seeds):
            rng = np.random.default_rng([DATA_SEED, n, seed])
            chosen = rng.choice(pool_prompts, size=int(np.ceil(n / IMAGES_PER_PROMPT)), replace=False)
            rows = np.flatnonzero(np.isin(data["prompt"], chosen))[:n]
            samples[(n, seed)] = rows
            for name in ("coarse", *concept_sets):
                concepts = concept_sets.get(name, [])
                C = np.column_stack([truth_matrix[a] for a in concepts]) if concepts else None
                jobs.append({"model": name, "n": n, "seed": seed, "concepts": concepts,
                             "X": X_all[rows], "y": y_all[rows], "C": None if C is None else C[rows],
                             "Xt": Xt, "yt": yt, "Ct": None if C is None else C[held]})
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(_fit_one, jobs))
    fit_wall = time.perf_counter() - started

    models: dict[str, dict[str, dict]] = {}
    for name in ("coarse", *concept_sets):
        models[name] = {}
        for n in args.n:
            aucs = [r["roc_auc"] for r in runs if r["model"] == name and r["n"] == n]
            models[name][str(n)] = {"mean": round(float(np.mean(aucs)), 4), "std": round(float(np.std(aucs)), 4),
                                    "runs": [round(a, 4) for a in aucs]}
    per_concept = {}
    for n in args.n:
        per_concept[str(n)] = {}
        for a in all_attrs:
            values = [r["per_concept_auc"][a] for r in runs
                      if r["model"] == "cbm_all" and r["n"] == n and a in r.get("per_concept_auc", {})]
            per_concept[str(n)][a] = round(float(np.mean(values)), 4) if values else None
    C_all = np.column_stack([truth_matrix[a] for a in all_attrs])
    pool_rows = ~held
    oracle = {name: round(_oracle_auc(np.column_stack([truth_matrix[a] for a in concepts])[pool_rows],
                                      y_all[pool_rows], np.column_stack([truth_matrix[a] for a in concepts])[held],
                                      yt), 4)
              for name, concepts in concept_sets.items()}
    result = {
        "benchmark": "cbm_vs_coarse", "tree": args.tree, "tree_attributes": in_tree,
        "outside_attributes": outside, "n_values": args.n, "seeds": args.seeds,
        "n_heldout": int(held.sum()), "heldout_positive_share": round(float(yt.mean()), 4),
        "train_pool_images": int(pool_rows.sum()), "image_size": args.size,
        "features": "pixelstats" + (" + hashbow" if args.with_prompt else ""), "feature_dim": int(X_all.shape[1]),
        "models": models,
        "stage1_per_concept_auc_cbm_all": per_concept,
        "aggregator_on_true_attributes_auc": oracle,
        "positive_share_per_attribute": {a: round(float(C_all[:, j].mean()), 3) for j, a in enumerate(all_attrs)},
        "feature_seconds": round(data["seconds"], 1), "fit_wall_seconds": round(fit_wall, 1),
        "fit_seconds_median": round(float(np.median([r["fit_s"] for r in runs])), 2),
        "n_fits": len(runs), "jobs": args.jobs,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.tree == "linear" else f"_{args.tree}"
    if args.with_prompt:
        suffix += "_prompt"
    plot(result, OUT / f"cbm_vs_coarse{suffix}.png")
    (OUT / f"cbm_vs_coarse{suffix}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

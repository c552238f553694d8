"""Dataset export at RichHF-18K size.

Builds the consolidate benchmark's campaign (``benchmarks.consolidate.build``:
18,000 512x512 items, 3 annotators, artifact and misalignment points, four
Likert scores, misaligned keywords = 378,000 responses) in a temporary SQLite
database, consolidates it once (36,000 heatmap PNGs), then times
``dataset_export`` of every format in a fresh child process per run, so each
run's peak RSS is the export's own. Two configurations are timed:

* ``all``: jsonl, parquet, pairs, heatmaps with PNGs and uint8 NPZ shards;
* ``no_npz``: the same without the NPZ shards (``--no-npz``), the PNGs only.

Prints JSON: per configuration the median of the runs, each run, peak RSS of
the export process and of its largest NPZ worker, and the manifest's counts.

    python benchmarks/export.py                     # 18,000 items, 3 runs per configuration
    python benchmarks/export.py --items 2000 --runs 1
    python benchmarks/export.py --keep ...          # keeps the built campaign; then
    python benchmarks/export.py --reuse /tmp/bench-export-xxxx --configs no_npz

Targets: <= 30 s per run, peak RSS <= 500 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.consolidate import N_ANNOTATORS, _django, build  # noqa: E402

CONFIGS = {"all": {"npz": True}, "no_npz": {"npz": False}}


def consolidate(var_dir: Path, campaign_id: int) -> dict:
    _django(var_dir)
    from annotator.models import Campaign
    from annotator.services.consolidation import campaign_consolidate

    t0 = time.perf_counter()
    summary = campaign_consolidate(campaign=Campaign.objects.get(pk=campaign_id))
    return {**summary, "seconds": round(time.perf_counter() - t0, 1)}


def run_once(var_dir: Path, campaign_id: int, config: str, workers: int | None) -> dict:
    """One timed export of every format into a fresh directory (child process)."""
    _django(var_dir)
    from annotator.models import Campaign
    from annotator.services.exports import dataset_export

    out = var_dir / f"export-{config}"
    shutil.rmtree(out, ignore_errors=True)
    campaign = Campaign.objects.get(pk=campaign_id)
    t0, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    manifest = dataset_export(campaign=campaign, out_dir=out, options={**CONFIGS[config], "workers": workers})
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "seconds": round(seconds, 2),
        # CPU time of the export process (NPZ workers not included): less sensitive to a busy machine.
        "cpu_seconds": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2),
        # CPU time of the NPZ worker processes (all of them, since this child process started).
        "workers_cpu_seconds": round(children.ru_utime + children.ru_stime, 2),
        "load_average": round(os.getloadavg()[0], 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_worker_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "export_mb": round(size / 2**20, 1),
        "counts": manifest["counts"],
        "files": len(manifest["files"]),
    }


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=18000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--configs", default="all,no_npz", help=f"comma-separated, of {','.join(CONFIGS)}")
    parser.add_argument("--workers", type=int, default=None, help="NPZ shard processes (default: one per CPU)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--reuse", type=Path, help="a folder kept by --keep: skip building and consolidating")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step, var_dir, *rest = args.step
        if step == "build":
            result = build(Path(var_dir), int(rest[0]), int(rest[1]))
        elif step == "consolidate":
            result = consolidate(Path(var_dir), int(rest[0]))
        else:
            result = run_once(Path(var_dir), int(rest[0]), rest[1], args.workers)
        print(json.dumps(result))
        return

    work = args.reuse or Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        if args.reuse:
            info, consolidated, build_s = json.loads((work / "bench-info.json").read_text())
        else:
            t0 = time.perf_counter()
            info = _child("--step", "build", str(work), str(args.items), str(args.seed))
            build_s = time.perf_counter() - t0
            consolidated = _child("--step", "consolidate", str(work), str(info["campaign"]))
            (work / "bench-info.json").write_text(json.dumps([info, consolidated, build_s]))
        results = {}
        for config in args.configs.split(","):
            extra = ["--workers", str(args.workers)] if args.workers is not None else []
            runs = [_child("--step", "run", str(work), str(info["campaign"]), config, *extra)
                    for _ in range(args.runs)]
            results[config] = {
                "median_seconds": statistics.median(r["seconds"] for r in runs),
                "runs_seconds": [r["seconds"] for r in runs],
                "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
                "median_workers_cpu_seconds": statistics.median(r["workers_cpu_seconds"] for r in runs),
                "load_average_after_runs": [r["load_average"] for r in runs],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                "peak_rss_worker_mb": max(r["peak_rss_worker_mb"] for r in runs),
                "export_mb": runs[-1]["export_mb"],
                "files": runs[-1]["files"],
                "counts": runs[-1]["counts"],
            }
        print(json.dumps({
            "benchmark": "dataset_export",
            "items": info["items"], "annotators": N_ANNOTATORS, "responses": info["responses"],
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "build_seconds": round(build_s, 1),
            "consolidate_seconds": consolidated["seconds"],
            "heatmaps": consolidated.get("heatmaps"),
            "configs": results,
            "targets": {"seconds": 30, "peak_rss_mb": 500},
        }, indent=2))
    finally:
        if args.keep or args.reuse:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

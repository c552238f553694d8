"""Full-campaign consolidation at RichHF-18K size.

Builds, directly with ``bulk_create`` into a temporary SQLite database, a
richhf campaign of 18,000 512x512 items with 3 annotators each: artifact and
misalignment points (two 512x512 heatmaps per item), the four Likert scores
and misaligned keywords, i.e. 378,000 responses. Each run then
recomputes the whole campaign with ``campaign_consolidate`` in a fresh child
process (so its peak RSS is the consolidation's own, not the build's), after
deleting every Consolidated row and heatmap file so that each run does the
full work. Prints JSON: median of the runs, each run, peak RSS of the
process and of its largest pool worker.

    python benchmarks/consolidate.py                 # 18,000 items, 3 runs
    python benchmarks/consolidate.py --items 2000 --runs 1

Target on a 2-core machine: <= 30 s per run, peak RSS <= 1.5 GB.
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

N_ANNOTATORS = 3
IMAGE_SIDE = 512
WORDS = ("a red cube on top of a blue sphere next to an old wooden chair in a sunny garden with "
         "two small dogs and a tall lamp").split()


def _django(var_dir: Path) -> None:
    # Everything (database, media, broker folders) lives in the temporary folder.
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ["MEDIA_ROOT"] = str(var_dir / "media")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    # No message to rewardlab from a benchmark.
    settings.REWARDLAB_NOTIFY = False


def _answers(rng, n_tokens: int, flaws) -> dict[str, dict]:
    """One annotator's richhf answers for one item; points near the item's flaw centres so maps overlap."""
    import numpy as np

    out = {}
    for key, label, p_none, most in (("artifact_points", "artifact", 0.25, 5),
                                     ("misalignment_points", "misalignment", 0.45, 3)):
        if rng.random() < p_none:
            out[key] = {"points": [], "none": True}
        else:
            centre = flaws[key]
            pts = np.clip(centre + rng.normal(0, 0.04, size=(int(rng.integers(1, most + 1)), 2)), 0, 1)
            out[key] = {"points": [{"x": round(float(x), 4), "y": round(float(y), 4), "label": label}
                                   for x, y in pts], "none": False}
    flagged = np.flatnonzero(rng.random(n_tokens) < 0.12)
    out["misaligned_keywords"] = {"tokens": [int(i) for i in flagged]}
    for key in ("plausibility", "alignment", "aesthetics", "overall"):
        out[key] = {"value": int(rng.integers(1, 6))}
    return out


def build(var_dir: Path, n_items: int, seed: int) -> dict:
    _django(var_dir)
    import hashlib

    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from annotator.models import Assignment, Image, Item, Prompt, Response, Target
    from annotator.services.campaigns import campaign_create
    from annotator.tokens import tokenize

    call_command("migrate", verbosity=0)
    campaign, _ = campaign_create(name="bench-richhf", presets=["richhf"], overlap=N_ANNOTATORS)
    attributes = {a.key: a for a in campaign.attributes.all()}
    User = get_user_model()
    users = [User.objects.create(username=f"bench-ann{i}") for i in range(N_ANNOTATORS)]
    rng = np.random.default_rng(seed)
    now = timezone.now()
    batch = 2000
    n_responses = 0
    for start in range(0, n_items, batch):
        stop = min(n_items, start + batch)
        texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(6, 16)))) + f" #{i}" for i in range(start, stop)]
        prompts = Prompt.objects.bulk_create([
            Prompt(text=t, text_sha256=hashlib.sha256(t.encode()).hexdigest(), tokens=tokenize(t)) for t in texts])
        images = Image.objects.bulk_create([
            Image(file=f"images/bench/{i}.png", width=IMAGE_SIDE, height=IMAGE_SIDE, format="PNG",
                  sha256=hashlib.sha256(f"bench-{i}".encode()).hexdigest(), prompt=p)
            for i, p in zip(range(start, stop), prompts)])
        items = Item.objects.bulk_create([Item(campaign=campaign, image=img, external_id=f"bench-{img.pk}")
                                          for img in images])
        targets = Target.objects.bulk_create([Target(campaign=campaign, type="item", item=item, prompt=p)
                                              for item, p in zip(items, prompts)])
        assignments = Assignment.objects.bulk_create([
            Assignment(campaign=campaign, annotator=u, target=t, status="submitted", lease_expires_at=now,
                       submitted_at=now) for t in targets for u in users])
        responses = []
        flaws = {t.pk: {"artifact_points": rng.random(2), "misalignment_points": rng.random(2)} for t in targets}
        for assignment, target, prompt in zip(assignments, [t for t in targets for _ in users],
                                              [p for p in prompts for _ in users]):
            for key, value in _answers(rng, len(prompt.tokens), flaws[target.pk]).items():
                responses.append(Response(assignment=assignment, attribute=attributes[key], target=target,
                                          annotator_id=assignment.annotator_id, value=value, active_ms=5000))
        Response.objects.bulk_create(responses, batch_size=5000)
        n_responses += len(responses)
    return {"campaign": campaign.pk, "items": n_items, "responses": n_responses}


def _cpu_seconds() -> dict[str, float]:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"main": me.ru_utime + me.ru_stime, "workers": children.ru_utime + children.ru_stime,
            # Kernel time (file creation): on this machine's disk it grows for a while after mass deletes.
            "main_sys": me.ru_stime, "workers_sys": children.ru_stime}


def run_once(var_dir: Path, campaign_id: int, workers: int | None, warm: bool = False) -> dict:
    """One timed full recompute from nothing (child process)."""
    _django(var_dir)
    from django.conf import settings

    from annotator.models import Campaign, Consolidated
    from annotator.services.consolidation import campaign_consolidate

    Consolidated.objects.filter(campaign_id=campaign_id).delete()
    # The previous run's maps are moved aside (deleted with the work folder at the end), not deleted here:
    # deleting 36,000 files makes the next minute of file creation several times slower on this machine's
    # ext4 (online discard), and that would be timed as the next run's consolidation.
    heatmaps = Path(settings.MEDIA_ROOT) / "heatmaps"
    if heatmaps.exists():
        trash = var_dir / "old-heatmaps"
        trash.mkdir(exist_ok=True)
        os.replace(heatmaps, trash / f"{time.time_ns()}")
    campaign = Campaign.objects.get(pk=campaign_id)
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    summary = campaign_consolidate(campaign=campaign, workers=workers)
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds()
    cpu = {key: round(cpu[key] - cpu0[key], 2) for key in cpu}
    out = {
        "seconds": round(seconds, 2),
        # CPU time of this process and of the heatmap workers: on a shared machine the wall
        # time depends on what else runs, the CPU time much less.
        "cpu_seconds": cpu,
        "summary": summary,
    }
    if warm:
        # Unchanged data: every value is recomputed, no row is rewritten.
        t1 = time.perf_counter()
        again = campaign_consolidate(campaign=campaign, workers=workers)
        out.update(warm_seconds=round(time.perf_counter() - t1, 2), warm_changed=again["changed"])
    return {
        **out,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_worker_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=18000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None, help="heatmap processes (default: one per CPU)")
    parser.add_argument("--warm", action="store_true", help="also time a second, no-change recompute per run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--run-only", nargs=2, metavar=("VAR_DIR", "CAMPAIGN_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_only:
        print(json.dumps(run_once(Path(args.run_only[0]), int(args.run_only[1]), args.workers, args.warm)))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-consolidate-"))
    try:
        t0 = time.perf_counter()
        built = subprocess.run([sys.executable, "-c",
                                "import json, sys; sys.path.insert(0, sys.argv[1]); "
                                "from benchmarks.consolidate import build; "
                                "print(json.dumps(build(__import__('pathlib').Path(sys.argv[2]), int(sys.argv[3]), "
                                "int(sys.argv[4]))))", str(ROOT), str(work), str(args.items), str(args.seed)],
                               check=True, capture_output=True, text=True)
        info = json.loads(built.stdout.strip().splitlines()[-1])
        build_s = time.perf_counter() - t0
        runs = []
        load_before = [round(x, 2) for x in os.getloadavg()]
        for _ in range(args.runs):
            command = [sys.executable, __file__, "--run-only", str(work), str(info["campaign"])]
            if args.workers is not None:
                command += ["--workers", str(args.workers)]
            if args.warm:
                command.append("--warm")
            out = subprocess.run(command, check=True, capture_output=True, text=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        heatmaps = sum(1 for _ in (work / "media" / "heatmaps").rglob("*.png"))
        heatmap_bytes = sum(p.stat().st_size for p in (work / "media" / "heatmaps").rglob("*.png"))
        print(json.dumps({
            "benchmark": "campaign_consolidate",
            "items": info["items"], "annotators": N_ANNOTATORS, "responses": info["responses"],
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "build_seconds": round(build_s, 1),
            "median_seconds": statistics.median(r["seconds"] for r in runs),
            "runs_seconds": [r["seconds"] for r in runs],
            "runs_cpu_seconds": [r["cpu_seconds"] for r in runs],
            # 1/5/15-minute load averages: on a shared 2-core machine, other work stretches the wall time.
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "median_warm_seconds": (statistics.median(r["warm_seconds"] for r in runs) if args.warm else None),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "peak_rss_worker_mb": max(r["peak_rss_worker_mb"] for r in runs),
            "summary": runs[-1]["summary"],
            "heatmap_files": heatmaps,
            "heatmap_mb": round(heatmap_bytes / 2**20, 1),
            "targets": {"seconds": 30, "peak_rss_mb": 1536},
        }, indent=2))
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

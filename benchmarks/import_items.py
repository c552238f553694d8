"""Import throughput: 1,000 synthetic 512x512 PNGs through ``items_import``.

The dataset is rendered once (in a child process, so its memory does not
count towards the import's peak) into a temporary folder by the synthetic
generator. Each run then imports the whole manifest into a fresh campaign on
a temporary SQLite database: read, sha256, Pillow verify + full decode, copy
into MEDIA_ROOT, bulk insert of prompts, images, items, groups, pairs,
targets and slots. Between runs the campaign, its images and the media are
deleted, so every run does the same work. Prints JSON.

    python benchmarks/import_items.py                      # 1,000 images, 3 runs
    python benchmarks/import_items.py --images 200 --runs 1
    python benchmarks/import_items.py --data /tmp/import-bench-data   # render once, reuse later

Target: >= 200 images/s on a 2-core machine.
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
IMAGES_PER_PROMPT = 4


def generate(out_dir: Path, n_images: int, seed: int) -> None:
    """Render the dataset (runs in its own process; no Django needed)."""
    from rewardlab.synthetic import generate as plan, write_dataset

    n_prompts = (n_images + IMAGES_PER_PROMPT - 1) // IMAGES_PER_PROMPT
    images = plan(n_prompts, IMAGES_PER_PROMPT, seed, size=512)[:n_images]
    write_dataset(out_dir, images, workers=os.cpu_count() or 1)


def _dataset_ready(data_dir: Path, n_images: int) -> bool:
    manifest = data_dir / "manifest.jsonl"
    return manifest.exists() and sum(1 for _ in manifest.open()) == n_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--presets", default="richhf,imagereward,collins")
    parser.add_argument("--data", metavar="DIR", help="Keep the rendered dataset here and reuse it next time.")
    parser.add_argument("--generate-only", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(Path(args.generate_only), args.images, args.seed)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        data_dir = Path(args.data) if args.data else work / "data"
        t0 = time.perf_counter()
        if not _dataset_ready(data_dir, args.images):
            subprocess.run([sys.executable, __file__, "--generate-only", str(data_dir), "--images", str(args.images),
                            "--seed", str(args.seed)], check=True)
        generate_s = time.perf_counter() - t0

        # Settings read the environment once, at django.setup().
        os.environ["VAR_DIR"] = str(work / "var")
        os.environ["DATABASE_URL"] = f"sqlite:///{work / 'var' / 'bench.sqlite3'}"
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        os.environ.pop("MEDIA_ROOT", None)
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from annotator.models import Campaign, Image, Prompt
        from annotator.services.campaigns import campaign_create
        from annotator.services.imports import items_import

        call_command("migrate", verbosity=0)
        manifest = data_dir / "manifest.jsonl"
        n_bytes = sum(p.stat().st_size for p in (data_dir / "images").iterdir())
        runs = []
        for run in range(args.runs):
            campaign, _ = campaign_create(name=f"bench-{run}", presets=args.presets.split(","))
            load = os.getloadavg()[0]
            start, cpu_start = time.perf_counter(), time.process_time()
            report = items_import(campaign=campaign, manifest_path=manifest)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            assert report.imported == args.images and not report.refused, report.summary()
            # CPU seconds of all threads: with other processes on the machine, wall time alone misleads.
            runs.append({"seconds": round(elapsed, 3), "images_per_s": round(args.images / elapsed, 1),
                         "cpu_s": round(cpu, 3), "cpu_ms_per_image": round(1000 * cpu / args.images, 2),
                         "load_avg_1m_before": round(load, 2),
                         "groups": report.groups, "pairs": report.pairs, "targets": report.targets,
                         "slots": campaign.slots.count()})
            Campaign.objects.filter(pk=campaign.pk).delete()
            Image.objects.all().delete()
            Prompt.objects.all().delete()
            shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)

        rates = [r["images_per_s"] for r in runs]
        print(json.dumps({
            "benchmark": "import_items",
            "images": args.images,
            "image_size": "512x512",
            "mean_png_kib": round(n_bytes / args.images / 1024, 1),
            "presets": args.presets,
            "database": "sqlite",
            "cpus": os.cpu_count(),
            "generate_s": round(generate_s, 1),
            "runs": runs,
            "images_per_s": rates,
            "median_images_per_s": round(statistics.median(rates), 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "target_images_per_s": 200,
        }, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

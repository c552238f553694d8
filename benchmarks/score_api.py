"""Latency of ``POST /api/score`` for one 512x512 image on CPU (target: p50 <= 50 ms).

Builds, in a temporary folder (SQLite, media, artifacts), a Collins campaign
from the synthetic generator (``seed_synthetic``) with consolidated values
from its ground truth, trains a CBM in-process (eager Celery), then posts a
512x512 PNG and a prompt through Django's full request stack (middleware,
token authentication, multipart parsing, DRF) ``--runs`` times. The first
request loads the model (and torch) and is reported apart as ``cold_ms``.
Also times the parts in-process: Pillow validation, the image encoder,
the prompt encoder and the model. Prints JSON.

    python benchmarks/score_api.py
    python benchmarks/score_api.py --runs 100
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _django(var_dir: Path) -> None:
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ["MEDIA_ROOT"] = str(var_dir / "media")
    os.environ["ARTIFACTS_ROOT"] = str(var_dir / "artifacts")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # the training run happens inline, no worker needed
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.REWARDLAB_NOTIFY = False


def _build(prompts: int) -> tuple[int, str]:
    """A trained campaign; returns (campaign id, API token)."""
    from django.core.management import call_command

    from annotator.models import Attribute, Consolidated, Item
    from annotator.services.users import user_create
    from rewardlab.services.training import training_run_start

    call_command("migrate", verbosity=0)
    call_command("seed_synthetic", "score-bench", "--prompts", str(prompts), "--images-per-prompt", "4",
                 "--seed", "7", "--size", "256", "--presets", "collins", verbosity=0)
    items = list(Item.objects.select_related("target").filter(campaign__name="score-bench"))
    campaign_id = items[0].campaign_id
    attributes = {a.key: a for a in Attribute.objects.filter(campaign_id=campaign_id, kind="binary")}
    rows = []
    for item in items:
        for key, attribute in attributes.items():
            value = bool(item.meta["truth"][key])
            rows.append(Consolidated(campaign_id=campaign_id, target=item.target, attribute=attribute,
                                     value={"value": value, "yes": int(value), "no": int(not value), "unsure": 0},
                                     score=float(value), agreement=1.0, n_responses=1, complete=False))
    Consolidated.objects.bulk_create(rows, batch_size=1000)
    version = training_run_start(campaign=items[0].campaign, kind="cbm")
    version.refresh_from_db()
    if version.status != "done":
        raise SystemExit(f"training failed: {version.error}")
    _, token, _ = user_create(username="score-bench", role="annotator")
    return campaign_id, token.key


def _timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--prompts", type=int, default=40, help="Prompts of the training campaign (4 images each).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        _django(Path(tmp))
        import io

        import numpy as np
        from django.test import Client
        from PIL import Image as PILImage

        from annotator.images import image_validate
        from rewardlab.models import ModelVersion
        from rewardlab.selectors.scoring import loaded_model
        from rewardlab.synthetic import generate

        started = time.perf_counter()
        campaign_id, token = _build(args.prompts)
        build_s = time.perf_counter() - started
        sample = generate(1, 1, seed=99, size=512)[0]
        png, prompt = sample.png_bytes(), sample.prompt
        client = Client(HTTP_AUTHORIZATION=f"Token {token}")

        def post() -> None:
            response = client.post("/api/score", {"image": io.BytesIO(png), "prompt": prompt,
                                                  "campaign": campaign_id})
            assert response.status_code == 200, response.content

        cold = _timed(post, 1)[0]
        warm = _timed(post, args.runs)
        body = client.post("/api/score", {"image": io.BytesIO(png), "prompt": prompt}).json()

        version = ModelVersion.objects.get(pk=body["model_version"])
        loaded = loaded_model(version=version)
        picture = PILImage.open(io.BytesIO(png)).convert("RGB")
        X = loaded.features.vector(image=picture, prompt=prompt)
        parts = {
            "validate_ms": _timed(lambda: image_validate(data=png, name="x.png"), args.runs),
            "decode_ms": _timed(lambda: PILImage.open(io.BytesIO(png)).convert("RGB"), args.runs),
            "image_encoder_ms": _timed(lambda: loaded.features.image.encode_images([picture]), args.runs),
            "prompt_encoder_ms": _timed(lambda: loaded.features.text.encode_texts([prompt]), args.runs),
            "model_ms": _timed(lambda: loaded.model.predict_proba(X), args.runs),
        }
        print(json.dumps({
            "benchmark": "score_api", "image": "512x512 PNG", "bytes": len(png), "runs": args.runs,
            "p50_ms": round(statistics.median(warm), 2),
            "p90_ms": round(float(np.percentile(warm, 90)), 2), "min_ms": round(min(warm), 2),
            "cold_ms": round(cold, 1), "target_p50_ms": 50,
            "parts_p50_ms": {k: round(statistics.median(v), 2) for k, v in parts.items()},
            "model_version": body["model_version"], "attributes": len(body["attributes"]),
            "encoders": loaded.features.describe(), "device": "cpu",
            "training_items": version.n_train, "setup_s": round(build_s, 1),
        }, indent=1))


if __name__ == "__main__":
    main()

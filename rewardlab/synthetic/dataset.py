"""Generate a seeded synthetic dataset and write it in the project's import format.

Each prompt (a scene spec) gets ``images_per_prompt`` renderings that differ
in layout, style and defects, like several samples of one text-to-image
model, so groups (ranking) and pairs (side-by-side) make sense. Every random
choice comes from ``SeedSequence([seed, prompt, image])``: an image does not
depend on how many prompts or images were asked for, and the same seed
gives the same bytes.
"""
from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rewardlab.synthetic.defects import (Drawn, Misalignment, Quality, describe_misalignments, drawn_scene,
                                         plan_misalignments, sample_quality)
from rewardlab.synthetic.layout import Placed, layout_scene
from rewardlab.synthetic.render import QUALITY_STAGES, render_scene
from rewardlab.synthetic.spec import SceneSpec, sample_spec
from rewardlab.synthetic.style import Style, sample_style
from rewardlab.synthetic.truth import Tree, compute_truth, tree_to_json

GENERATOR = "synthetic-v1"
PNG_OPTIONS = {"format": "PNG", "optimize": False, "compress_level": 4}


@dataclass(frozen=True)
class SyntheticImage:
    """One rendering with everything that determines it and its ground truth."""

    seed: int
    prompt_index: int
    image_index: int
    spec: SceneSpec
    style: Style
    drawn: Drawn
    layout: tuple[Placed, ...]
    misalignments: tuple[Misalignment, ...]
    quality: Quality
    render_seed: int
    size: int
    truth: dict[str, Any] = field(compare=False)
    tree: Any = field(default="linear", compare=False)  # the decision tree of overall_good, as JSON

    @property
    def prompt(self) -> str:
        return self.spec.prompt

    @property
    def group(self) -> str:
        return f"syn-{self.seed}-{self.prompt_index:04d}"

    @property
    def external_id(self) -> str:
        return f"{self.group}-{self.image_index}"

    @property
    def image(self) -> Image.Image:
        """The rendered image (rendered anew on each access; keep it if you need it twice)."""
        return self.render()

    def render(self, *, skip: Iterable[str] = (), clean: bool = False) -> Image.Image:
        """Render; ``clean`` leaves out every quality defect (alignment-only), ``skip`` only the named stages."""
        return render_scene(size=self.size, drawn=self.drawn, layout=self.layout, style=self.style,
                            quality=self.quality, seed=self.render_seed,
                            skip=QUALITY_STAGES if clean else tuple(skip))

    def png_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.render().save(buf, **PNG_OPTIONS)
        return buf.getvalue()

    def defects_json(self) -> dict:
        return {"misalignments": [m.to_json() for m in self.misalignments], "quality": self.quality.to_json()}

    def to_json(self) -> dict:
        """Everything but the pixels, as plain JSON."""
        return {
            "external_id": self.external_id, "prompt": self.prompt, "group": self.group,
            "truth": self.truth, "defects": self.defects_json(), "spec": self.spec.to_json(),
            "style": self.style.to_json(), "layout": [p.to_json() for p in self.layout],
            "drawn": {"counts": list(self.drawn.counts), "colours": list(self.drawn.colours),
                      "shapes": list(self.drawn.shapes), "relation": self.drawn.relation,
                      "action": self.drawn.action},
        }


def make_image(seed: int, prompt_index: int, image_index: int, spec: SceneSpec, *, size: int = 512,
               tree: "str | Tree" = "linear", defect_rate: float = 1.0) -> SyntheticImage:
    """Plan one rendering of ``spec``: style, misalignments, layout, quality defects, truth."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, prompt_index, image_index, 1]))
    style = sample_style(rng)
    plan = plan_misalignments(spec, rng, defect_rate)
    drawn = drawn_scene(spec, plan)
    counts = [d if d > 0 else e.count for d, e in zip(drawn.counts, spec.entities)]
    layout = layout_scene(counts, list(drawn.shapes), [d > 0 for d in drawn.counts], drawn.relation, rng)
    misalignments = describe_misalignments(spec, plan, layout)
    quality = sample_quality(rng, defect_rate, layout)
    render_seed = int(rng.integers(2**62))
    truth = compute_truth(spec, style, misalignments, quality, tree)
    return SyntheticImage(seed, prompt_index, image_index, spec, style, drawn, layout, misalignments, quality,
                          render_seed, size, truth, tree_to_json(tree))


def iter_generate(n_prompts: int, images_per_prompt: int, seed: int, *, size: int = 512,
                  tree: "str | Tree" = "linear", defect_rate: float = 1.0) -> Iterator[SyntheticImage]:
    """Lazily plan ``n_prompts * images_per_prompt`` images, prompt by prompt (nothing is rendered yet)."""
    if n_prompts < 0 or images_per_prompt < 1:
        raise ValueError("n_prompts must be >= 0 and images_per_prompt >= 1")
    if defect_rate < 0:
        raise ValueError("defect_rate must be >= 0")
    for p in range(n_prompts):
        spec = sample_spec(np.random.default_rng(np.random.SeedSequence([seed, p, 0])))
        for k in range(images_per_prompt):
            yield make_image(seed, p, k, spec, size=size, tree=tree, defect_rate=defect_rate)


def generate(n_prompts: int, images_per_prompt: int, seed: int, *, size: int = 512, tree: "str | Tree" = "linear",
             defect_rate: float = 1.0) -> list[SyntheticImage]:
    """Plan a dataset. ``defect_rate`` multiplies every defect probability (0: no defects, 1: the balanced default).

    ``tree`` is a preset name ("linear", "strict", "xor"), a ``Node`` or nested
    ``(attribute, if_true, if_false)`` tuples; it decides ``overall_good``.
    Images render on demand (``.image``, ``.png_bytes()``), so planning is cheap.
    """
    return list(iter_generate(n_prompts, images_per_prompt, seed, size=size, tree=tree, defect_rate=defect_rate))


def _json_line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) + "\n"


def manifest_row(img: SyntheticImage, rel_path: str) -> dict:
    """One line of ``manifest.jsonl``, the item import format: no ground truth in it."""
    return {
        "prompt": img.prompt, "image": rel_path, "group": img.group, "generator": GENERATOR,
        "seed": img.seed, "external_id": img.external_id,
        "meta": {"prompt_index": img.prompt_index, "image_index": img.image_index,
                 "prompt_category": img.spec.category, "width": img.size, "height": img.size},
    }


def write_dataset(out_dir: "str | Path", images: Sequence[SyntheticImage] | Iterable[SyntheticImage], *,
                  workers: int = 1) -> Path:
    """Write ``images/<external_id>.png``, ``manifest.jsonl``, ``ground_truth.jsonl`` and ``dataset.json``.

    Deterministic: the same images give the same bytes (PNG without
    metadata, fixed compression; JSON lines in input order). ``workers > 1``
    renders in a process pool (same bytes). Returns the manifest path.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    images = list(images)
    if workers > 1 and len(images) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            blobs: Iterable[bytes] = list(pool.map(_png_of, images, chunksize=8))
    else:
        blobs = (img.png_bytes() for img in images)
    manifest_path = out / "manifest.jsonl"
    checksums = {}
    with open(manifest_path, "w", encoding="utf-8") as mf, open(out / "ground_truth.jsonl", "w", encoding="utf-8") as gf:
        for img, blob in zip(images, blobs):
            rel = f"images/{img.external_id}.png"
            (out / rel).write_bytes(blob)
            checksums[rel] = hashlib.sha256(blob).hexdigest()
            mf.write(_json_line(manifest_row(img, rel)))
            gf.write(_json_line(img.to_json()))
    header = {
        "generator": GENERATOR, "n_images": len(images),
        "seeds": sorted({img.seed for img in images}),
        "n_prompts": len({img.group for img in images}),
        "size": images[0].size if images else None,
        "trees": sorted({json.dumps(img.tree) for img in images}),
        "sha256": checksums,
    }
    (out / "dataset.json").write_text(json.dumps(header, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest_path


def _png_of(img: SyntheticImage) -> bytes:
    return img.png_bytes()

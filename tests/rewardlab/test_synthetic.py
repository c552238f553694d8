"""The synthetic dataset: deterministic bytes, and ground truth that matches the pixels.

Pure tests (no database): the generator is plain Python + numpy + Pillow.
"""
from __future__ import annotations

import colorsys
import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from annotator.presets import PRESETS
from annotator.tokens import tokenize
from rewardlab.synthetic import (COLLINS_ALIGNMENT, COLLINS_QUALITY, LINEAR, PALETTE, XOR, Node, distortion_box,
                                 evaluate_tree, generate, make_image, ranking_levels, sample_spec, sxs_choice,
                                 tree_attributes, truth_response_values, truth_to_response_value, write_dataset)
from rewardlab.synthetic.defects import (MISSING_ACTION, MISSING_OBJECT, SWAPPED_RELATION, WRONG_COLOUR,
                                         WRONG_COUNT)
from rewardlab.synthetic.spec import NUMERALS, PLURALS, RELATION_HEAD

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def planned():
    """300 planned (not rendered) images: 75 prompts x 4."""
    return generate(75, 4, seed=2024)


def _sha(img) -> str:
    return hashlib.sha256(img.png_bytes()).hexdigest()


# -- colour masks ------------------------------------------------------------------

_HUES = {name: colorsys.rgb_to_hsv(*(c / 255 for c in rgb))[0] for name, rgb in PALETTE.items()}


def colour_components(image: Image.Image, min_area: int = 15) -> dict[str, list[tuple[float, float]]]:
    """Per palette colour, the centroids (normalised x, y) of its connected components in the image."""
    hsv = np.asarray(image.convert("HSV"), np.float32) / 255.0
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    saturated = (s > 0.45) & (v > 0.2)
    names = list(_HUES)
    hues = np.array([_HUES[n] for n in names], np.float32)
    dist = np.abs(h[..., None] - hues[None, None, :])
    dist = np.minimum(dist, 1.0 - dist)
    nearest = np.argmin(dist, axis=-1)
    out = {}
    size = image.size[0]
    for i, name in enumerate(names):
        labels, n = ndimage.label(saturated & (nearest == i))
        if n == 0:
            out[name] = []
            continue
        areas = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
        cents = ndimage.center_of_mass(np.ones_like(labels), labels, index=np.arange(1, n + 1))
        out[name] = [(cx / size, cy / size) for (cy, cx), a in zip(cents, areas) if a >= min_area]
    return out


# -- determinism -----------------------------------------------------------------------

def test_same_seed_same_png_bytes_and_other_seed_differs():
    a = generate(3, 3, seed=11)
    b = generate(3, 3, seed=11)
    c = generate(3, 3, seed=12)
    assert [i.external_id for i in a] == [f"syn-11-{p:04d}-{k}" for p in range(3) for k in range(3)]
    sha_a = [_sha(i) for i in a]
    assert sha_a == [_sha(i) for i in b]
    assert [i.truth for i in a] == [i.truth for i in b]
    assert len(set(sha_a)) == len(sha_a)
    assert not set(sha_a) & {_sha(i) for i in c}
    # an image does not depend on how many prompts were asked for
    assert _sha(generate(1, 1, seed=11)[0]) == sha_a[0]


def test_write_dataset_is_byte_identical_and_import_shaped(tmp_path):
    images = generate(3, 2, seed=5, size=128)
    m1 = write_dataset(tmp_path / "one", images)
    m2 = write_dataset(tmp_path / "two", generate(3, 2, seed=5, size=128))
    files1 = sorted(p.relative_to(m1.parent) for p in m1.parent.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(m2.parent) for p in m2.parent.rglob("*") if p.is_file())
    assert files1 == files2
    for rel in files1:
        assert (m1.parent / rel).read_bytes() == (m2.parent / rel).read_bytes(), rel

    rows = [json.loads(line) for line in m1.read_text().splitlines()]
    truths = [json.loads(line) for line in (m1.parent / "ground_truth.jsonl").read_text().splitlines()]
    assert len(rows) == len(truths) == 6
    for row, gt, img in zip(rows, truths, images):
        assert set(row) == {"prompt", "image", "group", "generator", "seed", "external_id", "meta"}
        assert row["generator"] == "synthetic-v1" and row["seed"] == 5
        assert row["prompt"] == img.prompt and row["group"] == img.group
        png = m1.parent / row["image"]
        assert not Path(row["image"]).is_absolute() and png.exists()
        with Image.open(png) as im:
            assert im.size == (128, 128) and im.mode == "RGB"
            assert not im.info.get("exif") and "dpi" not in im.info
        assert gt["external_id"] == row["external_id"] == img.external_id
        assert gt["truth"] == json.loads(json.dumps(img.truth))
        assert set(gt) >= {"truth", "defects", "spec"}
    groups = {r["group"] for r in rows}
    assert len(groups) == 3  # images of one prompt share its group


def test_process_pool_writes_the_same_bytes(tmp_path):
    images = generate(2, 2, seed=9, size=96)
    serial = write_dataset(tmp_path / "serial", images)
    pooled = write_dataset(tmp_path / "pooled", images, workers=2)
    for p in sorted((serial.parent / "images").iterdir()):
        assert p.read_bytes() == (pooled.parent / "images" / p.name).read_bytes()


# -- prompt tokens -------------------------------------------------------------------

def test_prompt_words_are_the_tokenizer_tokens():
    rng = np.random.default_rng(0)
    for _ in range(200):
        spec = sample_spec(rng)
        toks = [t["text"] for t in tokenize(spec.prompt)]
        assert toks == [w for w, _, _ in spec.words()]


def test_misaligned_tokens_are_exactly_the_changed_words(planned):
    seen = set()
    for img in planned:
        toks = [t["text"] for t in tokenize(img.prompt)]
        spec = img.spec
        for m in img.misalignments:
            seen.add(m.kind)
            words = sorted(toks[i] for i in m.tokens)
            if m.kind == WRONG_COLOUR:
                assert words == [spec.entities[m.entity].colour]
                assert img.drawn.colours[m.entity] != spec.entities[m.entity].colour
            elif m.kind == WRONG_COUNT:
                ent = spec.entities[m.entity]
                assert words == [NUMERALS[ent.count]]
                assert abs(img.drawn.counts[m.entity] - ent.count) == 1
            elif m.kind == SWAPPED_RELATION:
                assert words == [RELATION_HEAD[spec.relation]]
                assert img.drawn.relation != spec.relation
            elif m.kind == MISSING_ACTION:
                assert words == [spec.action]
                assert img.drawn.action is None
            elif m.kind == MISSING_OBJECT:
                ent = spec.entities[m.entity]
                expected = [ent.colour, PLURALS[ent.shape] if ent.count > 1 else ent.shape]
                if ent.count > 1:
                    expected.append(NUMERALS[ent.count])
                if m.entity == 0 and spec.action:
                    expected.append(spec.action)
                if spec.relation:
                    expected.append(RELATION_HEAD[spec.relation])
                assert words == sorted(expected)
                assert img.drawn.counts[m.entity] == 0
        assert img.truth["misaligned_keywords"] == sorted({t for m in img.misalignments for t in m.tokens})
        assert not any(toks[i] in {"a", "an", "to", "the", "of", "and"} for i in img.truth["misaligned_keywords"])
    assert seen == {WRONG_COLOUR, WRONG_COUNT, SWAPPED_RELATION, MISSING_ACTION, MISSING_OBJECT}


def test_alignment_classes_follow_the_misalignments(planned):
    for img in planned:
        t, kinds = img.truth, {m.kind for m in img.misalignments}
        assert t["align_objects"] == (MISSING_OBJECT not in kinds)
        assert t["align_attributes"] == (not kinds & {WRONG_COLOUR, WRONG_COUNT})
        if img.spec.action is None:
            assert t["align_actions"]
        if img.spec.relation is None:
            assert t["align_relations"]
        assert t["aligned"] == all(t[k] for k in COLLINS_ALIGNMENT)
        assert (t["alignment"] == 5) == (not img.misalignments)
        assert (t["misalignment_points"] == []) == (not img.misalignments)


# -- pixels match the ground truth ---------------------------------------------------

def test_object_counts_colours_and_relations_are_in_the_pixels(planned):
    checked = 0
    for img in planned[:40]:
        comps = colour_components(img.render(clean=True))
        drawn = img.drawn
        want = {c: 0 for c in PALETTE}
        for n, colour in zip(drawn.counts, drawn.colours):
            want[colour] += n
        got = {c: len(v) for c, v in comps.items()}
        assert got == want, (img.external_id, img.prompt, drawn, got)
        checked += 1
        if drawn.relation and all(drawn.counts):
            a, b = comps[drawn.colours[0]], comps[drawn.colours[1]]
            ax, ay = np.array([p[0] for p in a]), np.array([p[1] for p in a])
            bx, by = np.array([p[0] for p in b]), np.array([p[1] for p in b])
            ok = {"left of": ax.max() < bx.min(), "right of": ax.min() > bx.max(),
                  "above": ay.max() < by.min(), "below": ay.min() > by.max()}[drawn.relation]
            assert ok, (img.external_id, img.prompt, drawn.relation)
        # misalignment points of drawn objects sit on an object of the drawn colour
        for m in img.misalignments:
            if m.kind == MISSING_OBJECT:
                continue
            cents = [c for e, col in enumerate(drawn.colours) if drawn.counts[e] for c in comps[col]]
            for x, y in m.points:
                assert min(np.hypot(x - cx, y - cy) for cx, cy in cents) < 0.08
    assert checked == 40


def test_wrong_count_shows_the_wrong_number_of_objects():
    found = 0
    for p in range(200):
        img = make_image(77, p, 0, sample_spec(np.random.default_rng(p)), size=384)
        m = next((m for m in img.misalignments if m.kind == WRONG_COUNT), None)
        if m is None:
            continue
        comps = colour_components(img.render(clean=True))
        colour = img.drawn.colours[m.entity]
        assert len(comps[colour]) == img.drawn.counts[m.entity] != img.spec.entities[m.entity].count
        found += 1
        if found == 5:
            break
    assert found == 5


def test_distortions_change_pixels_at_the_recorded_points_only(planned):
    distorted = [img for img in planned if img.quality.distortions][:12]
    assert distorted
    for img in distorted:
        size = img.size
        base = ("blur", "noise", "exposure")
        with_d = np.asarray(img.render(skip=base), np.int16)
        without = np.asarray(img.render(skip=base + ("distortions",)), np.int16)
        diff = np.abs(with_d - without).sum(axis=-1)
        allowed = np.zeros((size, size), bool)
        for d in img.quality.distortions:
            x0, y0, x1, y1 = distortion_box(d, size)
            allowed[y0:y1, x0:x1] = True
            h = max(3, int(d.radius * size / 2))
            cx, cy = int(d.x * size), int(d.y * size)
            window = diff[cy - h:cy + h, cx - h:cx + h]
            assert (window > 0).mean() > 0.05, (img.external_id, d)
        assert not diff[~allowed].any()
        assert [{"x": d.x, "y": d.y, "label": "artifact"} for d in img.quality.distortions] == \
            img.truth["artifact_points"]
        # the full pipeline spreads the change by the blur only
        full = np.asarray(img.image, np.int16)
        full_without = np.asarray(img.render(skip=("distortions",)), np.int16)
        spread = int(np.ceil(4 * img.quality.blur * size)) + 2
        far = ~ndimage.binary_dilation(allowed, iterations=spread)
        assert not np.abs(full - full_without).sum(axis=-1)[far].any()


def test_bright_blurry_and_chaotic_are_visible(planned):
    imgs = planned[:48]
    for img in imgs:
        arr = np.asarray(img.image.convert("L"), np.float32) / 255.0
        assert (arr.mean() > 0.5) == img.truth["bright"], (img.external_id, arr.mean())
    blurry = [img for img in planned if img.truth["blurry"]][:5]
    for img in blurry:
        def sharpness(im):
            a = np.asarray(im.convert("L"), np.float32)
            return ndimage.laplace(a).var()
        assert sharpness(img.render(skip=("noise",))) < 0.5 * sharpness(img.render(skip=("noise", "blur")))
    chaotic = [img for img in planned if img.truth["chaotic"]][:5]
    for img in chaotic:
        comps = colour_components(img.render(skip=("blur", "noise", "exposure", "distortions")), min_area=4)
        assert sum(len(v) for v in comps.values()) > 30


# -- decision trees --------------------------------------------------------------------

def test_tree_presets_compute_overall_good_as_specified(planned):
    for p, v, c in itertools.product([False, True], repeat=3):
        attrs = {"photorealistic": p, "visually_compelling": v, "chaotic": c}
        assert evaluate_tree("linear", attrs) == (p and (v or not c))
        assert evaluate_tree(LINEAR, attrs) == evaluate_tree("linear", attrs)
        assert evaluate_tree("xor", attrs) == (p != c)
        assert evaluate_tree(XOR, attrs) == (p != c)
        assert evaluate_tree("strict", attrs) == (p and v and not c)
    assert tree_attributes("linear") == ["photorealistic", "visually_compelling", "chaotic"]
    for img in planned:
        t = img.truth
        assert t["overall_good"] == (t["photorealistic"] and (t["visually_compelling"] or not t["chaotic"]))
    assert tree_attributes("strict") == ["photorealistic", "visually_compelling", "chaotic"]
    xor = generate(20, 2, seed=2024, tree="xor")
    assert all(i.truth["overall_good"] == (i.truth["photorealistic"] != i.truth["chaotic"]) for i in xor)
    custom = generate(20, 2, seed=2024, tree=("funny", True, ("blurry", False, True)))
    assert all(i.truth["overall_good"] == (i.truth["funny"] or not i.truth["blurry"]) for i in custom)
    assert evaluate_tree(Node("bright", False, True), {"bright": True}) is False
    with pytest.raises(ValueError):
        generate(1, 1, seed=1, tree="nope")


def test_label_balance(planned):
    rates = {k: float(np.mean([img.truth[k] for img in planned])) for k in COLLINS_QUALITY + COLLINS_ALIGNMENT}
    for key, rate in rates.items():
        assert 0.15 <= rate <= 0.8, (key, rate)
    good = float(np.mean([img.truth["overall_good"] for img in planned]))
    assert 0.3 <= good <= 0.6
    assert 0.15 <= float(np.mean([img.truth["aligned"] for img in planned])) <= 0.7
    clean = generate(20, 2, seed=3, defect_rate=0.0)
    assert all(not i.misalignments and not i.quality.distortions and i.truth["aligned"] for i in clean)


# -- every preset key, in the API's value shapes -----------------------------------------

def test_truth_covers_every_item_and_prompt_attribute(planned):
    kinds = {a.key: a for specs in PRESETS.values() for a in specs}
    per_image = {k for k, a in kinds.items() if a.target_type in ("item", "prompt")}
    for img in planned[:40]:
        t = img.truth
        assert per_image <= set(t)
        values = truth_response_values(t)
        for key in per_image:
            a, v = kinds[key], values[key]
            if a.kind == "binary":
                assert v == {"value": t[key]} and isinstance(t[key], bool)
            elif a.kind == "likert":
                assert 1 <= v["value"] <= a.likert_points
            elif a.kind == "points":
                assert v["none"] == (not v["points"])
                assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 and p["label"] in a.options for p in v["points"])
            elif a.kind == "keywords":
                n = len(tokenize(img.prompt))
                assert all(0 <= i < n for i in v["tokens"])
            elif a.kind == "choice":
                assert set(v["value"]) <= set(a.options) | {"none"} and v["value"]
            elif a.kind == "category":
                assert v["value"] in a.options
    assert truth_to_response_value("choice", []) == {"value": ["none"]}
    assert truth_to_response_value("choice", [], empty_choice=None) == {"value": []}
    fuzzy = [i for i in planned if i.truth["blurry"]]
    assert fuzzy and all("fuzzy" in i.truth["ir_issues"] for i in fuzzy)


def test_ranking_and_side_by_side_agree_with_the_overall_ratings(planned):
    group = [(img.external_id, img.truth) for img in planned[:4]]
    for n in (4, 6, 9):
        truths = [(f"{i}", img.truth) for i, img in enumerate(planned[:n])]
        levels = ranking_levels(truths)
        assert len(levels) == 5 and all(len(lv) <= 2 for lv in levels)
        assert sorted(x for lv in levels for x in lv) == sorted(t[0] for t in truths)
        rating = {k: t["ir_overall"] for k, t in truths}
        flat = [(li, x) for li, lv in enumerate(levels) for x in lv]
        for (la, a), (lb, b) in itertools.combinations(flat, 2):
            if la < lb:
                assert rating[a] >= rating[b]
    a, b = group[0][1], group[1][1]
    mirror = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}
    assert mirror[sxs_choice(a, b)] == sxs_choice(b, a)


def test_no_django_import():
    code = ("import sys, rewardlab.synthetic as s; s.generate(1, 1, seed=0)[0].png_bytes(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)

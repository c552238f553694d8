"""Ground truth for every preset attribute, and the controlled coarse target.

Every answer is a deterministic function of what was drawn (spec, style and
defects), never of a random draw of its own, so a model that reads the
pixels can in principle recover it.

Collins yes/no attributes (``collins`` preset):

- ``distorted``: at least one local distortion patch (swirl / scramble).
- ``photorealistic``: photo style (textured gradient light, shaded objects,
  drop shadows) rather than flat cartoon.
- ``bright``: (light background and not under-exposed) or over-exposed.
  The mean luma of a bright image is above 0.5, of the others below.
- ``chaotic``: clutter (many small random shapes) is drawn.
- ``visually_compelling``: the harmonious glow composition (tinted radial
  light behind the objects, vignette).
- ``captivating``: something draws the eye (glow or funny faces) and the
  image shows it crisply: not blurry and not badly exposed.
- ``disturbing``: a swarm of staring eyes in the background.
- ``funny``: googly eyes and smiles on the objects.
- ``blurry``: Gaussian blur.
- ``align_objects`` / ``align_attributes`` / ``align_actions`` /
  ``align_relations``: no misalignment breaks that class; a prompt without
  an action or relation is aligned on it, as in Collins et al.
- ``overall_good``: the decision tree (Collins Experiment 2) over the
  attributes above; see ``TREES``.

RichHF: ``artifact_points`` = distortion centres; ``misalignment_points`` =
points of all misalignments; ``misaligned_keywords`` = union of their
tokens; the four 5-point scores subtract fixed penalties from 5 (aesthetics
starts at 3) and overall is the rounded mean of the other three.
ImageReward: 7-point fidelity and alignment the same way, overall a rounded
weighted mean; ``ir_issues``: ``fuzzy`` if blurry or noisy,
``body_problem`` if distorted, ``repeated_generation`` if an entity is drawn
with more objects than asked. TIA2 ``aligned``: all four classes aligned.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from rewardlab.synthetic.defects import (MISSING_ACTION, MISSING_OBJECT, SWAPPED_RELATION, WRONG_COLOUR,
                                         WRONG_COUNT, Misalignment, Quality)
from rewardlab.synthetic.spec import SceneSpec
from rewardlab.synthetic.style import Style

COLLINS_QUALITY = ("distorted", "photorealistic", "bright", "captivating", "chaotic", "visually_compelling",
                   "disturbing", "funny", "blurry")
COLLINS_ALIGNMENT = ("align_objects", "align_attributes", "align_actions", "align_relations")
ALIGN_CLASS = {"objects": "align_objects", "attributes": "align_attributes", "actions": "align_actions",
               "relations": "align_relations"}
MAX_POINTS = 50


# -- decision tree ------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    """A decision node: ``if_true`` when ``attributes[attribute]`` is true, else ``if_false``."""

    attribute: str
    if_true: "Tree"
    if_false: "Tree"


Tree = Union[Node, bool]

# Collins Experiment 2: photorealistic, then visually compelling, then chaotic.
# good iff photorealistic and (visually_compelling or not chaotic): linearly separable
# (2*photorealistic + visually_compelling - chaotic >= 2).
LINEAR = Node("photorealistic", Node("visually_compelling", True, Node("chaotic", False, True)), False)
# photorealistic XOR chaotic: no linear aggregator over the attributes can fit it.
XOR = Node("photorealistic", Node("chaotic", False, True), Node("chaotic", True, False))
# good iff photorealistic and visually_compelling and not chaotic: every check must pass (about 16% good).
# Also linearly separable (photorealistic + visually_compelling - chaotic >= 2), but the good images are
# rare, so a model of the coarse label alone sees few of them while each concept label stays balanced.
STRICT = Node("photorealistic", Node("visually_compelling", Node("chaotic", False, True), False), False)
TREES: dict[str, Tree] = {"linear": LINEAR, "xor": XOR, "strict": STRICT}


def resolve_tree(tree: "str | Tree | Sequence") -> Tree:
    """A tree from a preset name, a ``Node``/bool, or nested ``(attribute, if_true, if_false)`` tuples."""
    if isinstance(tree, str):
        try:
            return TREES[tree]
        except KeyError:
            raise ValueError(f"unknown tree {tree!r}; presets: {sorted(TREES)}") from None
    if isinstance(tree, (bool, Node)):
        return tree
    if isinstance(tree, Sequence) and len(tree) == 3 and isinstance(tree[0], str):
        return Node(tree[0], resolve_tree(tree[1]), resolve_tree(tree[2]))
    raise TypeError(f"not a decision tree: {tree!r}")


def evaluate_tree(tree: "str | Tree | Sequence", attributes: Mapping[str, Any]) -> bool:
    node = resolve_tree(tree)
    while isinstance(node, Node):
        node = node.if_true if attributes[node.attribute] else node.if_false
    return bool(node)


def tree_attributes(tree: "str | Tree | Sequence") -> list[str]:
    """The attributes the tree reads, in first-visit order."""
    out: list[str] = []

    def walk(n: Tree) -> None:
        if isinstance(n, Node):
            if n.attribute not in out:
                out.append(n.attribute)
            walk(n.if_true)
            walk(n.if_false)

    walk(resolve_tree(tree))
    return out


def tree_to_json(tree: "str | Tree | Sequence") -> Any:
    n = resolve_tree(tree)
    if isinstance(n, Node):
        return [n.attribute, tree_to_json(n.if_true), tree_to_json(n.if_false)]
    return bool(n)


# -- per-image truth ----------------------------------------------------------------

def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _clamp(x: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, x)))


def collins_quality(style: Style, quality: Quality) -> dict[str, bool]:
    blurry = quality.blur > 0
    badly_exposed = quality.exposure is not None
    return {
        "distorted": bool(quality.distortions),
        "photorealistic": style.photo,
        "bright": (style.light and quality.exposure != "dark") or quality.exposure == "bright",
        "captivating": (style.glow or style.funny) and not blurry and not badly_exposed,
        "chaotic": quality.clutter > 0,
        "visually_compelling": style.glow,
        "disturbing": style.disturbing,
        "funny": style.funny,
        "blurry": blurry,
    }


def compute_truth(spec: SceneSpec, style: Style, misalignments: Sequence[Misalignment], quality: Quality,
                  tree: "str | Tree | Sequence" = "linear") -> dict[str, Any]:
    """Plain-valued ground truth for every item-level preset attribute key."""
    truth: dict[str, Any] = dict(collins_quality(style, quality))
    broken = {c for m in misalignments for c in m.classes}
    for cls, key in ALIGN_CLASS.items():
        truth[key] = cls not in broken
    truth["overall_good"] = evaluate_tree(tree, truth)

    kinds = [m.kind for m in misalignments]
    n_missing, n_count = kinds.count(MISSING_OBJECT), kinds.count(WRONG_COUNT)
    n_colour, n_swap, n_action = kinds.count(WRONG_COLOUR), kinds.count(SWAPPED_RELATION), kinds.count(MISSING_ACTION)
    distorted, blurry, noisy = truth["distorted"], truth["blurry"], quality.noise > 0
    exposed = quality.exposure is not None
    many_patches = len(quality.distortions) >= 2

    # RichHF (5 points).
    artifact = [{"x": d.x, "y": d.y, "label": "artifact"} for d in quality.distortions][:MAX_POINTS]
    seen: set[tuple[float, float]] = set()
    mis_points = []
    for m in misalignments:
        for x, y in m.points:
            if (x, y) not in seen:
                seen.add((x, y))
                mis_points.append({"x": x, "y": y, "label": "misalignment"})
    truth["artifact_points"] = artifact
    truth["misalignment_points"] = mis_points[:MAX_POINTS]
    truth["misaligned_keywords"] = sorted({t for m in misalignments for t in m.tokens})
    mis_penalty = 2 * n_missing + n_count + n_colour + n_swap + n_action
    plaus = _clamp(5 - 2 * distorted - many_patches - blurry - noisy - exposed, 1, 5)
    align = _clamp(5 - mis_penalty, 1, 5)
    aesth = _clamp(3 + truth["visually_compelling"] + truth["photorealistic"] - truth["chaotic"] - blurry
                   - exposed - truth["disturbing"], 1, 5)
    truth["plausibility"] = plaus
    truth["alignment"] = align
    truth["aesthetics"] = aesth
    truth["overall"] = _clamp(_round_half_up((plaus + align + aesth) / 3), 1, 5)

    # ImageReward (7 points), issues, prompt annotation.
    fid = _clamp(7 - 3 * distorted - many_patches - 2 * blurry - noisy - exposed - truth["chaotic"], 1, 7)
    ir_align = _clamp(7 - _round_half_up(1.5 * mis_penalty), 1, 7)
    aesth7 = 1 + 1.5 * (aesth - 1)
    truth["ir_fidelity"] = fid
    truth["ir_alignment"] = ir_align
    truth["ir_overall"] = _clamp(_round_half_up(0.4 * ir_align + 0.4 * fid + 0.2 * aesth7), 1, 7)
    issues = []
    if any(m.kind == WRONG_COUNT and m.detail.get("drawn_count", 0) > spec.entities[m.entity].count
           for m in misalignments):
        issues.append("repeated_generation")
    if distorted:
        issues.append("body_problem")
    if blurry or noisy:
        issues.append("fuzzy")
    truth["ir_issues"] = issues
    truth["prompt_category"] = spec.category
    truth["prompt_flags"] = []

    # TIA2.
    truth["aligned"] = all(truth[k] for k in COLLINS_ALIGNMENT)
    return truth


# -- API value shapes (DESIGN §4) -------------------------------------------------

def truth_to_response_value(kind: str, value: Any, *, empty_choice: str | None = "none") -> dict:
    """The JSON value a browser would send for this plain ground-truth value.

    An empty multi-select becomes ``[empty_choice]`` ("none" is the exclusive
    option); pass ``empty_choice=None`` to keep it empty.
    """
    if kind == "binary":
        return {"value": bool(value)}
    if kind == "likert":
        return {"value": int(value)}
    if kind == "choice":
        vals = list(value)
        return {"value": vals if vals or empty_choice is None else [empty_choice]}
    if kind == "points":
        pts = [{"x": float(p["x"]), "y": float(p["y"]), "label": p["label"]} for p in value][:MAX_POINTS]
        return {"points": pts, "none": not pts}
    if kind == "keywords":
        return {"tokens": [int(t) for t in value]}
    if kind == "category":
        return {"value": str(value)}
    if kind == "ranking":
        return {"levels": [list(level) for level in value]}
    if kind == "sxs":
        return {"choice": str(value)}
    raise ValueError(f"unknown attribute kind {kind!r}")


def truth_response_values(truth: Mapping[str, Any], *, empty_choice: str | None = "none") -> dict[str, dict]:
    """Every truth key that a preset names, as its API value (kinds from ``annotator.presets``)."""
    from annotator.presets import PRESETS  # pure Python: dataclasses only

    kinds = {a.key: a.kind for specs in PRESETS.values() for a in specs}
    return {k: truth_to_response_value(kinds[k], v, empty_choice=empty_choice) for k, v in truth.items() if k in kinds}


# -- group and pair targets ---------------------------------------------------------

def preference_score(truth: Mapping[str, Any]) -> float:
    """A fine scalar consistent with ``ir_overall`` (it dominates), for ranking and side-by-side."""
    return truth["ir_overall"] + 0.01 * (truth["ir_alignment"] + truth["ir_fidelity"]) + 0.001 * truth["overall"]


def ranking_levels(truths: Sequence[tuple[Any, Mapping[str, Any]]], *, levels: int = 5,
                   max_per_level: int = 2) -> list[list[Any]]:
    """ImageReward ranking of a group: ``[(image id, truth), ...]`` -> levels best to worst.

    Sorted by ``preference_score``; images share a level only where needed
    to fit (or when their scores are equal), preferring pairs with equal
    ``ir_overall`` so the ranking never contradicts the overall ratings
    more than the level limit forces.
    """
    n = len(truths)
    if n > levels * max_per_level:
        raise ValueError(f"{n} images do not fit {levels} levels of {max_per_level}")
    order = sorted(truths, key=lambda t: (-preference_score(t[1]), str(t[0])))
    scores = [preference_score(t[1]) for t in order]
    overall = [t[1]["ir_overall"] for t in order]
    merges_needed = max(0, n - levels)

    def cost(i: int) -> float:  # sharing a level: free for equal scores, cheap for equal ratings
        if scores[i] == scores[i + 1]:
            return -1.0
        return (1.0 if overall[i] == overall[i + 1] else 10.0) + scores[i] - scores[i + 1]

    best: tuple[float, tuple[int, ...]] | None = None
    for bits in range(1 << max(0, n - 1)):  # n <= 10: every set of non-overlapping neighbour pairs
        chosen = tuple(i for i in range(n - 1) if bits >> i & 1)
        if len(chosen) < merges_needed or any(b - a < 2 for a, b in zip(chosen, chosen[1:])):
            continue
        cand = (sum(cost(i) for i in chosen), chosen)
        if best is None or cand < best:
            best = cand
    merged = set(best[1]) if best else set()
    out: list[list[Any]] = []
    i = 0
    while i < n:
        if i in merged:
            out.append([order[i][0], order[i + 1][0]])
            i += 2
        else:
            out.append([order[i][0]])
            i += 1
    out += [[] for _ in range(levels - len(out))]
    return out


def sxs_choice(truth_a: Mapping[str, Any], truth_b: Mapping[str, Any]) -> str:
    """Side-by-side ground truth from the 7-point overall ratings (never "unsure")."""
    d = truth_a["ir_overall"] - truth_b["ir_overall"]
    if d >= 2:
        return "A>>B"
    if d == 1:
        return "A>B"
    if d == 0:
        return "A=B"
    if d == -1:
        return "B>A"
    return "B>>A"

"""Known defects: what goes wrong in an image, and exactly where.

Two families, as in RichHF (Liang et al.) and Collins et al.:

*Misalignment* (the image does not depict the prompt). Each records the
prompt tokens it falsifies (indices into ``annotator.tokens.tokenize``) and
the image points of the objects it affects (normalised centres), which are
the ground truth of RichHF's misaligned keywords and blue points:

- ``wrong_count``: an entity with a numeral ("two", "three") is drawn with
  one object more or fewer. Token: the numeral. Points: the drawn objects.
- ``wrong_colour``: an entity is drawn in a palette colour no entity of the
  prompt has. Token: the colour word. Points: its objects.
- ``missing_object``: an entity is not drawn at all. Tokens: every word of
  it that is not depicted: numeral (articles are never marked), colour,
  shape, and the action verb / relation word that can no longer be seen.
  Points: where its objects were planned.
- ``swapped_relation``: the two entities trade places ("left" drawn as
  right). Token: the relation word ("left", "right", "above", "below").
  Points: the objects of both entities.
- ``missing_action``: the motion cue of the action is not drawn. Token: the
  verb. Points: the objects that should act.

*Quality* (image-level or local flaws): Gaussian blur, Gaussian noise,
under/over exposure, clutter (many small random shapes behind the objects)
and local distortions (a swirled or a tile-scrambled square patch) centred
at recorded points, which are the ground truth of RichHF's red points.
A distortion only changes pixels inside the square of half-size ``radius``
around its point.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rewardlab.synthetic.layout import Placed
from rewardlab.synthetic.spec import COLOURS, OPPOSITE, SceneSpec

WRONG_COUNT = "wrong_count"
WRONG_COLOUR = "wrong_colour"
MISSING_OBJECT = "missing_object"
SWAPPED_RELATION = "swapped_relation"
MISSING_ACTION = "missing_action"
MISALIGNMENT_KINDS = (MISSING_OBJECT, WRONG_COUNT, WRONG_COLOUR, SWAPPED_RELATION, MISSING_ACTION)

# Default shares; ``defect_rate`` multiplies every one of them.
MISALIGNED_SHARE = 0.65  # images with at least one misalignment
KIND_SHARE = 0.5  # each applicable kind, given a misaligned image
QUALITY_RATES = {"blur": 0.25, "noise": 0.2, "dark": 0.1, "bright": 0.1, "clutter": 0.3, "distortion": 0.3}


@dataclass(frozen=True)
class Misalignment:
    kind: str
    entity: int | None
    tokens: tuple[int, ...]
    points: tuple[tuple[float, float], ...]
    classes: tuple[str, ...]  # Collins alignment classes it breaks: objects/attributes/actions/relations
    detail: dict = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict:
        return {"kind": self.kind, "entity": self.entity, "tokens": list(self.tokens),
                "points": [list(p) for p in self.points], "classes": list(self.classes), "detail": self.detail}


@dataclass(frozen=True)
class Drawn:
    """What is actually drawn, after the misalignments are applied to the spec."""

    counts: tuple[int, ...]  # 0 = entity missing
    colours: tuple[str, ...]
    shapes: tuple[str, ...]
    relation: str | None
    action: str | None  # the action cue drawn on entity 0, None if not drawn


@dataclass(frozen=True)
class Distortion:
    kind: str  # "swirl" | "scramble"
    x: float
    y: float
    radius: float  # half-size of the affected square, fraction of the image size
    seed: int

    def to_json(self) -> dict:
        return {"kind": self.kind, "x": self.x, "y": self.y, "radius": self.radius, "seed": self.seed}


@dataclass(frozen=True)
class Quality:
    blur: float = 0.0  # Gaussian radius as a fraction of the size; 0 = sharp
    noise: float = 0.0  # Gaussian sigma on [0, 1] intensities; 0 = clean
    exposure: str | None = None  # "dark" | "bright" | None
    clutter: int = 0  # number of small random shapes; 0 = none
    distortions: tuple[Distortion, ...] = ()

    def to_json(self) -> dict:
        return {"blur": self.blur, "noise": self.noise, "exposure": self.exposure, "clutter": self.clutter,
                "distortions": [d.to_json() for d in self.distortions]}


# -- misalignment ------------------------------------------------------------------

def plan_misalignments(spec: SceneSpec, rng: np.random.Generator, rate: float) -> list[tuple[str, int | None, dict]]:
    """``(kind, entity, detail)`` for each misalignment of one image; consistent with each other."""
    draws = rng.random(8)  # always the same number of draws, whatever is chosen
    if draws[0] >= min(1.0, MISALIGNED_SHARE * rate):
        return []
    n = len(spec.entities)
    applicable = [MISSING_OBJECT, WRONG_COLOUR]
    if any(e.count >= 2 for e in spec.entities):
        applicable.append(WRONG_COUNT)
    if spec.relation:
        applicable.append(SWAPPED_RELATION)
    if spec.action:
        applicable.append(MISSING_ACTION)
    chosen = [k for i, k in enumerate(applicable) if draws[1 + i] < KIND_SHARE]
    if not chosen:
        chosen = [applicable[int(rng.integers(len(applicable)))]]

    plan: list[tuple[str, int | None, dict]] = []
    present = list(range(n))
    if MISSING_OBJECT in chosen:
        e = int(rng.integers(n))
        present.remove(e)
        plan.append((MISSING_OBJECT, e, {}))
    if WRONG_COUNT in chosen:
        cands = [e for e in present if spec.entities[e].count >= 2]
        if cands:
            e = cands[int(rng.integers(len(cands)))]
            c = spec.entities[e].count
            plan.append((WRONG_COUNT, e, {"drawn_count": c + (1 if rng.random() < 0.5 else -1)}))
    if WRONG_COLOUR in chosen and present:
        e = present[int(rng.integers(len(present)))]
        unused = [c for c in COLOURS if c not in {x.colour for x in spec.entities}]
        plan.append((WRONG_COLOUR, e, {"drawn_colour": unused[int(rng.integers(len(unused)))]}))
    if SWAPPED_RELATION in chosen and len(present) == n:
        plan.append((SWAPPED_RELATION, None, {"drawn_relation": OPPOSITE[spec.relation]}))
    if MISSING_ACTION in chosen and 0 in present:
        plan.append((MISSING_ACTION, 0, {}))
    if not plan:  # everything chosen was ruled out by a missing object: keep that one
        plan.append((MISSING_OBJECT, int(rng.integers(n)), {}))
    return plan


def drawn_scene(spec: SceneSpec, plan: list[tuple[str, int | None, dict]]) -> Drawn:
    counts = [e.count for e in spec.entities]
    colours = [e.colour for e in spec.entities]
    relation, action = spec.relation, spec.action
    for kind, e, detail in plan:
        if kind == MISSING_OBJECT:
            counts[e] = 0
            if e == 0:
                action = None
        elif kind == WRONG_COUNT:
            counts[e] = detail["drawn_count"]
        elif kind == WRONG_COLOUR:
            colours[e] = detail["drawn_colour"]
        elif kind == SWAPPED_RELATION:
            relation = detail["drawn_relation"]
        elif kind == MISSING_ACTION:
            action = None
    return Drawn(tuple(counts), tuple(colours), tuple(e.shape for e in spec.entities), relation, action)


def _centres(layout: tuple[Placed, ...], entities: set[int]) -> tuple[tuple[float, float], ...]:
    return tuple((p.x, p.y) for p in layout if p.entity in entities)


def describe_misalignments(spec: SceneSpec, plan: list[tuple[str, int | None, dict]],
                           layout: tuple[Placed, ...]) -> tuple[Misalignment, ...]:
    """Attach the falsified tokens, affected points and broken alignment classes to each planned misalignment."""
    out = []
    for kind, e, detail in plan:
        if kind == MISSING_OBJECT:
            tokens = [spec.token_index("count", e), spec.token_index("colour", e), spec.token_index("shape", e)]
            classes = ["objects"]
            if e == 0 and spec.action:
                tokens.append(spec.token_index("action"))
                classes.append("actions")
            if spec.relation:
                tokens.append(spec.token_index("relation"))
                classes.append("relations")
            points = _centres(layout, {e})
        elif kind == WRONG_COUNT:
            tokens, classes, points = [spec.token_index("count", e)], ["attributes"], _centres(layout, {e})
        elif kind == WRONG_COLOUR:
            tokens, classes, points = [spec.token_index("colour", e)], ["attributes"], _centres(layout, {e})
        elif kind == SWAPPED_RELATION:
            tokens, classes, points = [spec.token_index("relation")], ["relations"], _centres(layout, {0, 1})
        elif kind == MISSING_ACTION:
            tokens, classes, points = [spec.token_index("action")], ["actions"], _centres(layout, {0})
        else:  # pragma: no cover
            raise ValueError(kind)
        out.append(Misalignment(kind, e, tuple(sorted(t for t in tokens if t is not None)), points,
                                tuple(classes), dict(detail)))
    return tuple(out)


# -- quality ------------------------------------------------------------------------

def sample_quality(rng: np.random.Generator, rate: float, layout: tuple[Placed, ...]) -> Quality:
    """Independent quality defects; distortions sit on object outlines so they always change pixels."""
    d = rng.random(6)
    p = {k: min(1.0, v * rate) for k, v in QUALITY_RATES.items()}
    blur = round(float(rng.uniform(0.006, 0.011)), 4) if d[0] < p["blur"] else 0.0
    noise = round(float(rng.uniform(0.06, 0.1)), 4) if d[1] < p["noise"] else 0.0
    exposure = "dark" if d[2] < p["dark"] else ("bright" if d[2] > 1.0 - p["bright"] else None)
    clutter = int(rng.integers(80, 140)) if d[3] < p["clutter"] else 0
    distortions: list[Distortion] = []
    if d[4] < p["distortion"]:
        n = 1 if d[5] < 0.6 else 2
        drawn = [pl for pl in layout if pl.drawn]
        for _ in range(n):
            radius = round(float(rng.uniform(0.05, 0.07)), 4)
            if drawn:
                pl = drawn[int(rng.integers(len(drawn)))]
                a = float(rng.uniform(0, 2 * np.pi))
                x, y = pl.x + 0.75 * pl.r * np.cos(a), pl.y + 0.75 * pl.r * np.sin(a)
            else:
                x, y = rng.uniform(0.2, 0.8, size=2)
            x = float(np.clip(x, radius, 1 - radius))
            y = float(np.clip(y, radius, 1 - radius))
            kind = "swirl" if rng.random() < 0.5 else "scramble"
            distortions.append(Distortion(kind, round(x, 4), round(y, 4), radius, int(rng.integers(2**31))))
    return Quality(blur, noise, exposure, clutter, tuple(distortions))


def _square(d: Distortion, size: int) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) of the distortion's square, inside the image."""
    cx, cy, h = d.x * size, d.y * size, max(4, int(round(d.radius * size)))
    x0, y0 = int(round(cx)) - h, int(round(cy)) - h
    x0, y0 = max(0, x0), max(0, y0)
    return x0, y0, min(size, x0 + 2 * h), min(size, y0 + 2 * h)


def apply_distortion(arr: np.ndarray, d: Distortion) -> None:
    """Distort ``arr`` (H, W, 3) in place inside the distortion's square only."""
    size = arr.shape[0]
    x0, y0, x1, y1 = _square(d, size)
    patch = arr[y0:y1, x0:x1].copy()
    h, w = patch.shape[:2]
    rng = np.random.default_rng(d.seed)
    if d.kind == "swirl":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        dy, dx = yy - cy, xx - cx
        rad = min(h, w) / 2
        dist = np.sqrt(dx * dx + dy * dy)
        theta = np.where(dist < rad, 3.0 * (1.0 - dist / rad) ** 2, 0.0) * (1 if rng.random() < 0.5 else -1)
        c, s = np.cos(theta), np.sin(theta)
        sx = np.clip(np.rint(cx + c * dx - s * dy), 0, w - 1).astype(np.intp)
        sy = np.clip(np.rint(cy + s * dx + c * dy), 0, h - 1).astype(np.intp)
        arr[y0:y1, x0:x1] = patch[sy, sx]
    else:  # scramble: a derangement of 4 x 4 tiles
        t = 4
        th, tw = h // t, w // t
        tiles = [patch[r * th:(r + 1) * th, c * tw:(c + 1) * tw].copy() for r in range(t) for c in range(t)]
        cycle = rng.permutation(len(tiles))
        target = np.empty_like(cycle)
        target[cycle] = np.roll(cycle, 1)  # tile cycle[i] receives tile cycle[i-1]: nobody keeps its own
        for i in range(len(tiles)):
            r, c = divmod(i, t)
            arr[y0 + r * th:y0 + (r + 1) * th, x0 + c * tw:x0 + (c + 1) * tw] = tiles[int(target[i])]


def distortion_box(d: Distortion, size: int) -> tuple[int, int, int, int]:
    """The only pixels a distortion may change: ``arr[y0:y1, x0:x1]``."""
    return _square(d, size)

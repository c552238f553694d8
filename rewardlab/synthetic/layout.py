"""Where the objects go: a jittered grid that makes spatial relations exact.

The canvas (normalised to [0, 1]) is a 4 x 4 grid of cells. An entity that
is "left of" another takes cells of the left two columns and the other the
right two, so every object of the first is left of every object of the
second; "above" does the same with rows. Objects are smaller than their
cells, so they never touch: a colour mask of the image has exactly one
connected component per object, which is how the tests count them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = 4
MARGIN = 0.04
CELL = (1.0 - 2 * MARGIN) / GRID  # 0.23
R_MIN, R_MAX = 0.05, 0.072  # circumradius of an object, as a fraction of the image size
CUE_REACH = 1.45  # motion cues reach this many radii from the centre
GAP = 0.012


@dataclass(frozen=True)
class Placed:
    """One object on the canvas; ``drawn`` is False for a planned object left out (missing object)."""

    entity: int
    x: float
    y: float
    r: float
    angle: float
    drawn: bool = True

    def to_json(self) -> dict:
        return {"entity": self.entity, "x": self.x, "y": self.y, "r": self.r, "angle": self.angle,
                "drawn": self.drawn}


def _cells(relation: str | None, entity: int) -> list[tuple[int, int]]:
    """(col, row) cells an entity may use under the relation entity 0 REL entity 1."""
    all_cells = [(c, r) for r in range(GRID) for c in range(GRID)]
    if relation is None:
        return all_cells
    first = entity == 0
    if relation == "left of":
        cols = (0, 1) if first else (2, 3)
        return [(c, r) for c, r in all_cells if c in cols]
    if relation == "right of":
        cols = (2, 3) if first else (0, 1)
        return [(c, r) for c, r in all_cells if c in cols]
    if relation == "above":
        rows = (0, 1) if first else (2, 3)
        return [(c, r) for c, r in all_cells if r in rows]
    if relation == "below":
        rows = (2, 3) if first else (0, 1)
        return [(c, r) for c, r in all_cells if r in rows]
    raise ValueError(f"unknown relation {relation!r}")


def layout_scene(counts: list[int], shapes: list[str], drawn: list[bool], relation: str | None,
                 rng: np.random.Generator) -> tuple[Placed, ...]:
    """Place ``counts[e]`` objects of each entity; ``relation`` is the one to depict (maybe swapped)."""
    used: set[tuple[int, int]] = set()
    placed: list[Placed] = []
    for e, n in enumerate(counts):
        free = [c for c in _cells(relation, e) if c not in used]
        order = rng.permutation(len(free))[:n]
        r = float(rng.uniform(R_MIN, R_MAX))
        # Objects stay GAP inside their cell; motion cues may reach a little beyond it.
        jitter = min(CELL / 2 - r - GAP, CELL / 2 - r * CUE_REACH + 0.02)
        for i in order:
            col, row = free[int(i)]
            used.add((col, row))
            cx = MARGIN + (col + 0.5) * CELL + float(rng.uniform(-jitter, jitter))
            cy = MARGIN + (row + 0.5) * CELL + float(rng.uniform(-jitter, jitter))
            shape = shapes[e]
            if shape == "circle":
                angle = 0.0
            elif shape == "moon":
                angle = float(rng.uniform(0, 360))
            else:
                angle = float(rng.uniform(-20, 20))
            placed.append(Placed(e, round(cx, 4), round(cy, 4), round(r, 4), round(angle, 2), drawn[e]))
    return tuple(placed)

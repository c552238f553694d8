"""Consolidated values in export shape, per attribute kind (pure: no Django).

In items.jsonl every attribute of an item is an *entry*::

    {"value": <headline>, "detail": <the stored consolidated value>, "score": float | null,
     "agreement": float | null, "n_responses": int, "n_skipped": int, "complete": bool}

The headline is what a training script wants first: binary -> the majority
label (bool), likert -> the mean of (k-1)/(points-1), choice -> the options
with a majority, category -> the plurality option, keywords -> the token
indices flagged by a majority, points -> {label: heatmap PNG path}.

items.parquet flattens every entry into typed columns ``<key>.<field>``
(``plausibility.value``, ``overall_good.score``,
``artifact_points.artifact.heatmap``). The columns come from the attributes
alone, never from the data, so every export of a campaign has the same schema
whatever was answered; a missing entry is a row of nulls.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from scipy.stats import rankdata

# Column types, mapped to Arrow types by the Parquet exporter.
BOOL, INT32, INT64, FLOAT, STRING, STRINGS, INTS = "bool", "int32", "int64", "float64", "string", "list<string>", "list<int32>"

ENTRY_FIELDS = (("n_responses", INT32), ("n_skipped", INT32), ("complete", BOOL), ("agreement", FLOAT))


def _get(mapping: Mapping[str, Any] | None, *path: str) -> Any:
    for part in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(part)
    return mapping


def _labels(attribute: Mapping[str, Any]) -> list[str]:
    return list(attribute.get("options") or []) or ["point"]


def _choice_options(attribute: Mapping[str, Any]) -> list[str]:
    return [o for o in attribute.get("options") or [] if o != "none"]


# kind -> (headline of a stored value, extra columns as [(field, type)], their values from an entry)
class KindShape:
    def __init__(self, headline: Callable[[dict], Any],
                 columns: Callable[[Mapping[str, Any]], list[tuple[str, str]]],
                 values: Callable[[Mapping[str, Any], dict], dict[str, Any]]) -> None:
        self.headline, self.columns, self.values = headline, columns, values


def _binary_values(attribute, entry):
    detail = entry["detail"]
    return {"value": entry["value"], "score": entry["score"], "yes": detail.get("yes"), "no": detail.get("no"),
            "unsure": detail.get("unsure")}


def _likert_values(attribute, entry):
    detail = entry["detail"]
    return {"value": entry["value"], "score": entry["score"], "mean": detail.get("mean"), "std": detail.get("std"),
            "spread": detail.get("spread")}


def _choice_values(attribute, entry):
    shares = entry["detail"].get("shares") or {}
    return {"value": entry["value"], **{f"{o}.share": shares.get(o) for o in _choice_options(attribute)}}


def _points_values(attribute, entry):
    heatmaps = entry["detail"].get("heatmaps") or {}
    out: dict[str, Any] = {"score": entry["score"]}
    for label in _labels(attribute):
        info = heatmaps.get(label) or {}
        out.update({f"{label}.heatmap": info.get("path"), f"{label}.share": info.get("share"),
                    f"{label}.iou": info.get("iou"), f"{label}.max": info.get("max")})
    return out


SHAPES: dict[str, KindShape] = {
    "binary": KindShape(
        lambda v: v.get("value"),
        lambda a: [("value", BOOL), ("score", FLOAT), ("yes", INT32), ("no", INT32), ("unsure", INT32)],
        _binary_values),
    "likert": KindShape(
        lambda v: v.get("value"),
        lambda a: [("value", FLOAT), ("score", FLOAT), ("mean", FLOAT), ("std", FLOAT), ("spread", FLOAT)],
        _likert_values),
    "choice": KindShape(
        lambda v: v.get("value"),
        lambda a: [("value", STRINGS)] + [(f"{o}.share", FLOAT) for o in _choice_options(a)],
        _choice_values),
    "category": KindShape(
        lambda v: v.get("value"),
        lambda a: [("value", STRING)],
        lambda a, e: {"value": e["value"]}),
    "keywords": KindShape(
        lambda v: v.get("tokens"),
        lambda a: [("value", INTS)],
        lambda a, e: {"value": e["value"]}),
    "points": KindShape(
        lambda v: {label: info.get("path") for label, info in sorted((v.get("heatmaps") or {}).items())},
        lambda a: [("score", FLOAT)] + [(f"{label}.{f}", t) for label in _labels(a)
                                        for f, t in (("heatmap", STRING), ("share", FLOAT), ("iou", FLOAT),
                                                     ("max", FLOAT))],
        _points_values),
}
# Group and pair kinds only appear in groups.jsonl (after ``ranking_public`` / ``sxs_public``);
# in Parquet, anything without its own columns is carried as JSON text.
_json_columns = (lambda a: [("value", STRING)], lambda a, e: {"value": json.dumps(e["value"], sort_keys=True)})
SHAPES["ranking"] = KindShape(lambda v: v.get("mean_rank"), *_json_columns)
SHAPES["sxs"] = KindShape(lambda v: v.get("majority"), *_json_columns)
_FALLBACK = KindShape(lambda v: v, *_json_columns)


def shape(kind: str) -> KindShape:
    return SHAPES.get(kind, _FALLBACK)


def entry_make(*, kind: str, value: dict, score: float | None, agreement: float | None, n_responses: int,
               n_skipped: int, complete: bool) -> dict[str, Any]:
    return {"value": shape(kind).headline(value), "detail": value, "score": score, "agreement": agreement,
            "n_responses": n_responses, "n_skipped": n_skipped, "complete": complete}


def attribute_columns(attribute: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[(column name, type)]`` of one attribute in items.parquet."""
    key = attribute["key"]
    fields = shape(attribute["kind"]).columns(attribute) + list(ENTRY_FIELDS)
    return [(f"{key}.{name}", kind) for name, kind in fields]


def attribute_row(attribute: Mapping[str, Any], entry: dict | None,
                  columns: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The attribute's columns for one item (all null when the item has no consolidated value yet).

    ``columns``: ``attribute_columns(attribute)``, passed in by callers that flatten many rows.
    """
    columns = columns if columns is not None else attribute_columns(attribute)
    if entry is None:
        return {name: None for name, _ in columns}
    key = attribute["key"]
    values = shape(attribute["kind"]).values(attribute, entry)
    values.update({name: entry[name] for name, _ in ENTRY_FIELDS})
    return {name: values.get(name[len(key) + 1:]) for name, _ in columns}


def generation_ranks(mean_levels: list[float]) -> list[int]:
    """ImageReward's ``ranking``: 1 = best (lowest mean level); equal means share a rank ("1224")."""
    return [int(r) for r in rankdata(mean_levels, method="min")]


def ranking_public(value: Mapping[str, Any], images: list[int]) -> dict[str, Any]:
    """A stored ranking value with image ids replaced by positions in the group's ``images`` list.

    ``mean_rank`` becomes a list aligned with ``images``; ``pairs`` keeps every
    strictly ordered or tied pair with its win and tie counts over annotators.
    """
    index = {image_id: i for i, image_id in enumerate(images)}
    mean_rank = value.get("mean_rank") or {}
    return {
        "mean_rank": [mean_rank.get(str(image_id)) for image_id in images],
        "order": [index[i] for i in value.get("order") or [] if i in index],
        "pairs": [{"a": index[p["a"]], "b": index[p["b"]], "a_wins": p["a_wins"], "b_wins": p["b_wins"],
                   "ties": p["ties"]} for p in value.get("pairs") or [] if p["a"] in index and p["b"] in index],
        "training_pairs": [{"better": index[p["better"]], "worse": index[p["worse"]], "count": p["count"]}
                           for p in value.get("training_pairs") or []
                           if p["better"] in index and p["worse"] in index],
    }


def sxs_public(value: Mapping[str, Any], image_a: int, image_b: int) -> dict[str, Any]:
    """A stored side-by-side value with image ids replaced by ``"a"`` / ``"b"`` (the pair's own order)."""
    side = {str(image_a): "a", str(image_b): "b"}
    majority = value.get("majority")
    return {
        "tallies": dict(value.get("tallies") or {}),
        "votes": {side.get(k, k): v for k, v in (value.get("votes") or {}).items()},
        "strength": {side.get(k, k): v for k, v in (value.get("strength") or {}).items()},
        "majority": side.get(str(majority), majority),
        "unsure_share": value.get("unsure_share"),
    }


def imagereward_entry(*, id: str, prompt: str, generations: list[str], mean_levels: list[float | None]
                      ) -> dict[str, Any] | None:
    """``{id, prompt, generations, ranking}`` as ImageReward's released data; None without a full ranking."""
    if len(generations) < 2 or any(level is None for level in mean_levels):
        return None
    return {"id": id, "prompt": prompt, "generations": generations, "ranking": generation_ranks(mean_levels)}


# Majority of a side-by-side pair -> ImageReward ranks of (a, b); "unsure" gives no entry.
SXS_RANKS = {"a": [1, 2], "b": [2, 1], "tie": [1, 1]}

"""Value validators, one per attribute kind (DESIGN §4).

Pure: no database queries. The API's submit and the raw-response import both
call :func:`value_validate` with whatever they know about the target in a
:class:`ValueContext`, so a value is judged the same way whichever door it
came through. Every refusal is an :class:`ApplicationError` naming the field
(``responses.artifact_points.points[3].x``) and the rule it broke.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from annotator.errors import ApplicationError
from annotator.presets import SXS_CHOICES, SXS_CHOICES_3WAY

MAX_POINTS = 50
NONE_OPTION = "none"
# PositiveIntegerField's ceiling: a larger active time cannot be stored.
MAX_ACTIVE_MS = 2_147_483_647
DEFAULT_RANKING_LEVELS = 5
DEFAULT_MAX_PER_LEVEL = 2


class AttributeLike(Protocol):
    """What a validator reads from an attribute (an ``Attribute`` row or a stand-in)."""

    key: str
    kind: str
    options: list
    likert_points: int | None
    config: dict
    required: bool


@dataclass(frozen=True)
class ValueContext:
    """What a value is checked against besides its attribute.

    ``image_ids``: the target's images in display order (a pair: the image shown
    as A, then B). ``n_tokens``: tokens of the target's prompt. ``ratings``:
    this annotator's ratings ``{image_id: k}`` that a ranking must not
    contradict. ``prefix``: the field path errors are reported under.
    """

    image_ids: tuple[int, ...] = ()
    n_tokens: int = 0
    ratings: Mapping[int, int] = field(default_factory=dict)
    prefix: str = ""

    def at(self, *parts: str | int) -> str:
        path = self.prefix
        for part in parts:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path = f"{path}.{part}" if path else part
        return path


@dataclass(frozen=True)
class ValidResponse:
    attribute: Any
    value: dict
    active_ms: int | None


def _refuse(message: str, *, field: str, rule: str) -> ApplicationError:
    return ApplicationError(message, field=field, rule=rule)


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as Python bools, which are ints: never a number here.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _require_object(value: Any, ctx: ValueContext, keys: set[str], required: Sequence[str]) -> dict:
    if not isinstance(value, dict):
        raise _refuse("The value must be a JSON object.", field=ctx.at(), rule="type")
    unexpected = sorted(set(value) - keys)
    if unexpected:
        raise _refuse(f"Unexpected key {unexpected[0]!r}; allowed: {', '.join(sorted(keys))}.",
                      field=ctx.at(unexpected[0]), rule="type")
    for key in required:
        if key not in value:
            raise _refuse(f"{key!r} is missing.", field=ctx.at(key), rule="required")
    return value


def _binary(attribute: AttributeLike, value: Any, ctx: ValueContext) -> dict:
    value = _require_object(value, ctx, {"value", "skipped"}, ())
    if "skipped" in value:
        if value["skipped"] is not True or "value" in value:
            raise _refuse('A skip is {"skipped": true} alone.', field=ctx.at("skipped"), rule="type")
        return {"skipped": True}
    if "value" not in value:
        raise _refuse("'value' is missing.", field=ctx.at("value"), rule="required")
    if not isinstance(value["value"], bool):
        raise _refuse("The answer must be true or false.", field=ctx.at("value"), rule="type")
    return {"value": value["value"]}


def _likert(attribute: AttributeLike, value: Any, ctx: ValueContext) -> dict:
    value = _require_object(value, ctx, {"value"}, ("value",))
    k = value["value"]
    if not _is_int(k):
        raise _refuse("A rating is a whole number.", field=ctx.at("value"), rule="type")
    points = attribute.likert_points or 5
    if not 1 <= k <= points:
        raise _refuse(f"A rating is between 1 and {points}.", field=ctx.at("value"), rule="range")
    return {"value": k}


def _choice(attribute: AttributeLike, value: Any, ctx: ValueContext) -> dict:
    value = _require_object(value, ctx, {"value"}, ("value",))
    chosen = value["value"]
    if not isinstance(chosen, list) or not all(isinstance(option, str) for option in chosen):
        raise _refuse("The answer is a list of option names.", field=ctx.at("value"), rule="type")
    if not chosen:
        raise _refuse('Tick at least one option, or ["none"] for none of these.', field=ctx.at("value"),
                      rule="required")
    options = list(attribute.options)
    for index, option in enumerate(chosen):
        if option != NONE_OPTION and option not in options:
            raise _refuse(f"Unknown option {option!r}.", field=ctx.at("value", index), rule="unknown_option")
    if NONE_OPTION in chosen and len(set(chosen)) > 1:
        raise _refuse('"none" cannot be ticked together with other options.', field=ctx.at("value"),
                      rule="none_exclusive")
    if chosen == [NONE_OPTION] or set(chosen) == {NONE_OPTION}:
        return {"value": [NONE_OPTION]}
    # The attribute's option order, without repeats: equal answers compare equal.
    return {"value": [option for option in options if option in set(chosen)]}


def _category(attribute: AttributeLike, value: Any, ctx: ValueContext) -> dict:
    value = _require_object(value, ctx, {"value"}, ("value",))
    chosen = value["value"]
    if not isinstance(chosen, str):
        raise _refuse("The answer is one option name.", field=ctx.at("value"), rule="type")
    if chosen not in attribute.options:
        raise _refuse(f"Unknown option {chosen!r}.", field=ctx.at("value"), rule="unknown_option")
    return {"value": chosen}


def _points(attribute: AttributeLike, value: Any, ctx: ValueContext) -> dict:
    value = _require_object(value, ctx, {"points", "none"}, ())
    points = value.get("points", [])
    none = value.get("none", False)
    if not isinstance(none, bool):
        raise _refuse("'none' is true or false.", field=ctx.at("none"), rule="type")
    if not isinstance(points, list):
        raise _refuse("'points' is a list.", field=ctx.at("points"), rule="type")
    if len(points) > MAX_POINTS:
        raise _refuse(f"At most {MAX_POINTS} points.", field=ctx.at("points"), rule="max_points")
    if none and points:
        raise _refuse("Mark points or none, not both.", field=ctx.at("none"), rule="none_exclusive")
    if not none and not points:
        raise _refuse('Mark at least one point, or send "none": true.', field=ctx.at("points"),
                      rule="empty_points")
    labels = list(attribute.options)
    clean = []
    for index, point in enumerate(points):
        if not isinstance(point, dict):
            raise _refuse("A point is an object {x, y, label}.", field=ctx.at("points", index), rule="type")
        unexpected = sorted(set(point) - {"x", "y", "label"})
        if unexpected:
            raise _refuse(f"Unexpected key {unexpected[0]!r} in a point.",
                          field=ctx.at("points", index, unexpected[0]), rule="type")
        for axis in ("x", "y"):
            if axis not in point:
                raise _refuse(f"{axis!r} is missing.", field=ctx.at("points", index, axis), rule="required")
            if not (_is_int(point[axis]) or isinstance(point[axis], float)):
                raise _refuse(f"{axis!r} is a number.", field=ctx.at("points", index, axis), rule="type")
            if not (_is_number(point[axis]) and 0.0 <= point[axis] <= 1.0):
                raise _refuse(f"{axis!r} lies in [0, 1] (a fraction of the image size).",
                              field=ctx.at("points", index, axis), rule="range")
        # An attribute with a single label (the presets' case) may leave it out.
        label = point.get("label", labels[0] if len(labels) == 1 else None)
        if not isinstance(label, str) or label not in labels:
            raise _refuse(f"Unknown label {label!r}; allowed: {', '.join(labels)}.",
                          field=ctx.at("points", index, "label"), rule="unknown_label")
        clean.append({"x": float(point["x"]), "y": float(point["y"]), "label": label})
    return {"points": clean, "none": none}


def _keywords(attribute: AttributeLike, value: Any, ctx: ValueContext) -> dict:
    value = _require_object(value, ctx, {"tokens"}, ("tokens",))
    tokens = value["tokens"]
    if not isinstance(tokens, list):
        raise _refuse("'tokens' is a list of token indices.", field=ctx.at("tokens"), rule="type")
    seen: set[int] = set()
    for index, token in enumerate(tokens):
        if not _is_int(token):
            raise _refuse("A token index is a whole number.", field=ctx.at("tokens", index), rule="type")
        if not 0 <= token < ctx.n_tokens:
            raise _refuse(f"Token index {token} is outside the prompt's {ctx.n_tokens} tokens.",
                          field=ctx.at("tokens", index), rule="token_index")
        if token in seen:
            raise _refuse(f"Token {token} is listed twice.", field=ctx.at("tokens", index), rule="token_repeated")
        seen.add(token)
    return {"tokens": sorted(seen)}


def _ranking(attribute: AttributeLike, value: Any, ctx: ValueContext) -> dict:
    value = _require_object(value, ctx, {"levels"}, ("levels",))
    levels = value["levels"]
    config = attribute.config or {}
    n_levels = int(config.get("levels", DEFAULT_RANKING_LEVELS))
    capacity = int(config.get("max_per_level", DEFAULT_MAX_PER_LEVEL))
    if not isinstance(levels, list):
        raise _refuse("'levels' is a list of lists of image ids.", field=ctx.at("levels"), rule="type")
    if len(levels) != n_levels:
        raise _refuse(f"A ranking has exactly {n_levels} levels.", field=ctx.at("levels"), rule="level_count")
    known = set(ctx.image_ids)
    level_of: dict[int, int] = {}
    for li, level in enumerate(levels):
        if not isinstance(level, list):
            raise _refuse("A level is a list of image ids.", field=ctx.at("levels", li), rule="type")
        if len(level) > capacity:
            raise _refuse(f"At most {capacity} images share a level.", field=ctx.at("levels", li),
                          rule="level_capacity")
        for ii, image_id in enumerate(level):
            here = ctx.at("levels", li, ii)
            if not _is_int(image_id):
                raise _refuse("An image id is a whole number.", field=here, rule="type")
            if image_id not in known:
                raise _refuse(f"Image {image_id} is not in this group.", field=here, rule="ranking_unknown_image")
            if image_id in level_of:
                raise _refuse(f"Image {image_id} is ranked twice.", field=here, rule="ranking_repeated_image")
            level_of[image_id] = li
    missing = [image_id for image_id in ctx.image_ids if image_id not in level_of]
    if missing:
        raise _refuse(f"Image {missing[0]} is not ranked; every image goes on one level.",
                      field=ctx.at("levels"), rule="ranking_missing_image")
    # A strictly better level for a strictly lower rating contradicts the
    # annotator's own ratings (ImageReward's consistency check).
    rated = [(image_id, level_of[image_id], k) for image_id, k in ctx.ratings.items() if image_id in level_of]
    for better, better_level, better_k in rated:
        for worse, worse_level, worse_k in rated:
            if better_level < worse_level and better_k < worse_k:
                raise _refuse(
                    f"Image {better} is ranked above image {worse} but you rated it lower "
                    f"({better_k} < {worse_k}); change the ranking or the rating.",
                    field=ctx.at("levels"), rule="ranking_contradicts_ratings")
    return {"levels": [list(level) for level in levels]}


def _sxs(attribute: AttributeLike, value: Any, ctx: ValueContext) -> dict:
    value = _require_object(value, ctx, {"choice"}, ("choice",))
    choice = value["choice"]
    options = list(attribute.options) or (
        SXS_CHOICES_3WAY if (attribute.config or {}).get("mode") == "3way" else SXS_CHOICES)
    if not isinstance(choice, str):
        raise _refuse("The choice is one option name.", field=ctx.at("choice"), rule="type")
    if choice not in options:
        raise _refuse(f"Unknown choice {choice!r}; allowed: {', '.join(options)}.", field=ctx.at("choice"),
                      rule="unknown_option")
    if len(ctx.image_ids) != 2:
        raise _refuse("A side-by-side value needs the pair's two images.", field=ctx.at(), rule="type")
    # Sides were randomised at issue: keep which image was shown as A and B.
    return {"choice": choice, "a": ctx.image_ids[0], "b": ctx.image_ids[1]}


Validator = Callable[[AttributeLike, Any, ValueContext], dict]

VALIDATORS: dict[str, Validator] = {
    "binary": _binary,
    "likert": _likert,
    "choice": _choice,
    "category": _category,
    "points": _points,
    "keywords": _keywords,
    "ranking": _ranking,
    "sxs": _sxs,
}


def value_validate(*, attribute: AttributeLike, value: Any, context: ValueContext) -> dict:
    """The normalised value, or ApplicationError(field=..., rule=...)."""
    validator = VALIDATORS.get(attribute.kind)
    if validator is None:
        raise _refuse(f"Attribute {attribute.key!r} has an unknown kind {attribute.kind!r}.",
                      field=context.at(), rule="unknown_kind")
    return validator(attribute, value, context)


def active_ms_validate(*, active_ms: Any, prefix: str = "active_ms") -> dict[str, int]:
    """``{attribute key: non-negative int}``; refusals use the rule ``active_ms``."""
    if active_ms is None:
        return {}
    if not isinstance(active_ms, dict):
        raise _refuse("active_ms is an object {attribute key: milliseconds}.", field=prefix, rule="active_ms")
    for key, ms in active_ms.items():
        if not _is_int(ms) or not 0 <= ms <= MAX_ACTIVE_MS:
            raise _refuse("Active time is a non-negative whole number of milliseconds.",
                          field=f"{prefix}.{key}", rule="active_ms")
    return dict(active_ms)


def submission_validate(*, requested: Sequence[AttributeLike], known_keys: set[str], responses: Any,
                        active_ms: Any, context: ValueContext) -> list[ValidResponse]:
    """Check a whole submission; the first broken rule refuses all of it.

    ``requested`` are the assignment's attributes in display order,
    ``known_keys`` every attribute key of the campaign (to tell a typo,
    ``unknown_attribute``, from a real attribute this task did not ask,
    ``not_requested``). A value of ``null`` counts as not answered.
    """
    if not isinstance(responses, dict):
        raise _refuse("responses is an object {attribute key: value}.", field="responses", rule="type")
    times = active_ms_validate(active_ms=active_ms)
    by_key = {attribute.key: attribute for attribute in requested}
    for key in responses:
        if key not in known_keys:
            raise _refuse(f"No attribute {key!r} in this campaign.", field=f"responses.{key}",
                          rule="unknown_attribute")
        if key not in by_key:
            raise _refuse(f"This task does not ask for {key!r}.", field=f"responses.{key}", rule="not_requested")
    valid = []
    for attribute in requested:
        value = responses.get(attribute.key)
        if value is None:
            if attribute.required:
                raise _refuse(f"{attribute.key!r} needs an answer.", field=f"responses.{attribute.key}",
                              rule="required")
            continue
        clean = value_validate(attribute=attribute, value=value,
                               context=replace(context, prefix=f"responses.{attribute.key}"))
        valid.append(ValidResponse(attribute=attribute, value=clean, active_ms=times.get(attribute.key)))
    if not valid:
        raise _refuse("Answer at least one question.", field="responses", rule="required")
    return valid

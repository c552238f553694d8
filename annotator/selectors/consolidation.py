"""Reads for consolidation: answers per (target, attribute), specs, heatmaps and agreement.

``campaign_agreement`` and ``annotator_agreement`` feed the dashboard and
quality control. Both read the valid responses of the campaign streamed in
(target, attribute) order, so their memory follows one attribute's answers,
not the whole campaign's.
"""
from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from annotator.consolidation import CONSOLIDATORS, Spec, Unit
from annotator.consolidation.base import HEATMAP_MAX_SIDE, answer_agreements
from annotator.consolidation.points import grid_size, heatmap_from_png
from annotator.dbjson import json_parse, json_text
from annotator.models import (
    Attribute, AttributeKind, Campaign, Consolidated, GoldAnswer, GroupImage, Response, Target, TargetType,
)

STREAM_CHUNK = 5000


def _ids(ids: Iterable[int] | QuerySet) -> list[int] | QuerySet:
    return ids if isinstance(ids, QuerySet) else list(ids)


# ---------------------------------------------------------------- specs
def attribute_spec(*, attribute: Attribute, campaign: Campaign) -> Spec:
    """The target-independent part of a consolidator's ``Spec``."""
    return Spec(
        kind=attribute.kind,
        options=tuple(attribute.options or ()),
        likert_points=attribute.likert_points,
        config=dict(attribute.config or {}),
        radius_frac=campaign.point_radius_frac,
    )


def target_infos(*, target_ids: Sequence[int] | None = None, campaign: Campaign | None = None,
                 id_range: tuple[int, int] | None = None, with_tokens: bool = True) -> dict[int, dict[str, Any]]:
    """Per target what specs need: image size (items), image ids (groups, pairs), prompt length.

    A handful of flat queries for any number of targets (no per-target query).
    """
    targets = Target.objects.all()
    if target_ids is not None:
        targets = targets.filter(pk__in=_ids(target_ids))
    if campaign is not None:
        targets = targets.filter(campaign=campaign)
    if id_range is not None:
        targets = targets.filter(pk__gte=id_range[0], pk__lte=id_range[1])
    fields = ["pk", "type", "item__image__width", "item__image__height", "pair__image_a_id", "pair__image_b_id",
              "group_id"]
    if with_tokens:
        fields.append("prompt__tokens")
    infos: dict[int, dict[str, Any]] = {}
    group_targets: dict[int, int] = {}
    for row in targets.values_list(*fields).iterator(chunk_size=STREAM_CHUNK):
        pk, kind, width, height, image_a, image_b, group_id = row[:7]
        info: dict[str, Any] = {}
        if kind == TargetType.ITEM:
            info.update(width=width, height=height)
        elif kind == TargetType.PAIR:
            info["image_ids"] = (image_a, image_b)
        elif kind == TargetType.GROUP:
            group_targets[group_id] = pk
            info["image_ids"] = ()
        if with_tokens:
            info["n_tokens"] = len(row[7] or [])
        infos[pk] = info
    if group_targets:
        members: dict[int, list[int]] = defaultdict(list)
        for group_id, image_id in (GroupImage.objects.filter(group_id__in=list(group_targets))
                                   .order_by("group_id", "position").values_list("group_id", "image_id")):
            members[group_id].append(image_id)
        for group_id, pk in group_targets.items():
            infos[pk]["image_ids"] = tuple(members[group_id])
    return infos


# The target facts each kind's consolidation depends on.
_SPEC_FIELDS = {
    AttributeKind.POINTS: ("width", "height"),
    AttributeKind.KEYWORDS: ("n_tokens",),
    AttributeKind.RANKING: ("image_ids",),
    AttributeKind.SXS: ("image_ids",),
}


def needs_target_info(kind: str) -> bool:
    """Kinds whose consolidation depends on the target (image size, image ids, prompt length)."""
    return kind in _SPEC_FIELDS


def target_spec(base: Spec, info: dict[str, Any] | None, cache: dict | None = None) -> Spec:
    """``base`` completed with the target facts its kind uses.

    With a ``cache`` dict, targets with the same facts (most items share an
    image size) share one Spec instead of building one per target.
    """
    fields = _SPEC_FIELDS.get(base.kind, ())
    if not info or not fields:
        return base
    facts = tuple(info.get(name) for name in fields)
    if cache is None:
        return dataclasses.replace(base, **dict(zip(fields, facts)))
    key = (id(base), facts)
    spec = cache.get(key)
    if spec is None:
        spec = cache[key] = dataclasses.replace(base, **dict(zip(fields, facts)))
    return spec


# ---------------------------------------------------------------- responses
def responses_for(*, target_id: int, attribute_ids: Iterable[int] | None = None,
                  valid: bool | None = True) -> list[dict[str, Any]]:
    """The responses to one target (by default only valid ones), in (attribute, id) order."""
    qs = Response.objects.filter(target_id=target_id)
    if valid is not None:
        qs = qs.filter(valid=valid)
    if attribute_ids is not None:
        qs = qs.filter(attribute_id__in=list(attribute_ids))
    return list(qs.order_by("attribute_id", "id").values("id", "attribute_id", "annotator_id", "assignment_id",
                                                         "value", "valid", "created_at"))


def valid_answers_grouped(*, attribute_ids: Sequence[int], id_range: tuple[int, int] | None = None,
                          target_ids: Iterable[int] | None = None
                          ) -> Iterator[tuple[int, int, list[int], list[dict[str, Any]]]]:
    """Stream ``(target_id, attribute_id, annotator_ids, values)`` of valid responses in (target, attribute) order.

    One ordered query read in chunks (``iterator``): memory stays at one
    chunk of rows whatever the campaign's size.
    """
    qs = Response.objects.filter(attribute_id__in=list(attribute_ids), valid=True)
    if id_range is not None:
        qs = qs.filter(target_id__gte=id_range[0], target_id__lte=id_range[1])
    if target_ids is not None:
        qs = qs.filter(target_id__in=_ids(target_ids))
    rows = (qs.order_by("target_id", "attribute_id", "id").annotate(value_text=json_text("value"))
            .values_list("target_id", "attribute_id", "annotator_id", "value_text").iterator(chunk_size=STREAM_CHUNK))
    for (target_id, attribute_id), group in groupby(rows, key=lambda r: (r[0], r[1])):
        group = list(group)
        yield target_id, attribute_id, [r[2] for r in group], [json_parse(r[3]) for r in group]


# ---------------------------------------------------------------- consolidated values and heatmaps
def consolidated_for_target(*, target_id: int) -> dict[str, Consolidated]:
    """The consolidated rows of one target, keyed by attribute key."""
    return {c.attribute.key: c for c in Consolidated.objects.filter(target_id=target_id).select_related("attribute")}


def heatmap_load(*, consolidated: Consolidated, label: str) -> np.ndarray | None:
    """One label's consolidated heatmap as float32 in [0, 1] (PNG / 255); None if the value has no such label."""
    info = (consolidated.value.get("heatmaps") or {}).get(label)
    if info is None:
        return None
    if info.get("path"):
        path = os.path.join(settings.MEDIA_ROOT, info["path"])
        if os.path.exists(path):
            return heatmap_from_png(path)
    # No file (nobody answered, or the file was removed): an empty map of the stored size.
    return np.zeros((consolidated.value["height"], consolidated.value["width"]), dtype=np.float32)


def heatmap_arrays(*, consolidated: Consolidated) -> dict[str, np.ndarray]:
    """Every label's heatmap of a consolidated points value."""
    return {label: heatmap_load(consolidated=consolidated, label=label)
            for label in (consolidated.value.get("heatmaps") or {})}


# ---------------------------------------------------------------- agreement
def _attributes(campaign: Campaign, attribute_keys: Iterable[str] | None) -> list[Attribute]:
    qs = Attribute.objects.filter(campaign=campaign).order_by("order", "id")
    if attribute_keys is not None:
        qs = qs.filter(key__in=list(attribute_keys))
    return [a for a in qs if a.kind in CONSOLIDATORS]


def campaign_agreement(*, campaign: Campaign, attribute_keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per attribute key, the campaign-level agreement of its kind (see each consolidator).

    Binary: Krippendorff's alpha (nominal, yes/no/unsure), Fleiss' kappa over
    the targets with exactly ``overlap`` answers, unanimous and unsure shares.
    Likert: ordinal alpha, RichHF's max-min spread histogram. Choice: alpha per
    option. Category: nominal alpha, Fleiss' kappa. Keywords: alpha and
    agreement per (target, token). Ranking: Kendall's W and mean pairwise tau
    per group. Sxs: unsure share. Points: mean pairwise IoU of the annotators'
    disk masks, read from the stored consolidated values (no pixel work here).
    """
    out: dict[str, dict[str, Any]] = {}
    for attribute in _attributes(campaign, attribute_keys):
        kind = CONSOLIDATORS[attribute.kind]
        if attribute.kind == AttributeKind.POINTS:
            values = (Consolidated.objects.filter(attribute=attribute).annotate(value_text=json_text("value"))
                      .values_list("value_text", flat=True))
            out[attribute.key] = kind.campaign_agreement_from_values(
                [json_parse(text) for text in values.iterator(chunk_size=STREAM_CHUNK)])
            continue
        base = attribute_spec(attribute=attribute, campaign=campaign)
        infos = (target_infos(campaign=campaign, with_tokens=attribute.kind == AttributeKind.KEYWORDS)
                 if needs_target_info(attribute.kind) else {})
        specs: dict = {}
        # A generator: each consolidator reads the units once, keeping compact rows, never the answers.
        units = (Unit(spec=target_spec(base, infos.get(target_id), specs), answers=values)
                 for target_id, _, _, values in valid_answers_grouped(attribute_ids=[attribute.pk], target_ids=None))
        out[attribute.key] = kind.campaign_agreement(units, overlap=campaign.overlap)
    return out


def annotator_agreement(*, campaign: Campaign, annotator_id: int | None = None,
                        attribute_keys: Iterable[str] | None = None,
                        points_max_side: int = HEATMAP_MAX_SIDE) -> dict[int, dict[str, Any]]:
    """Per annotator: agreement of their answers with the consensus and with gold answers.

    The consensus is recomputed from the valid responses (the annotator's own
    answer included, as the consolidated majority is), so it never lags
    behind the stored values. Each kind defines the agreement of one answer
    (in [0, 1]): binary / category / sxs: equals the majority; choice and
    keywords: share of options / tokens on the majority's side; likert:
    1 - |k - mean| / (points - 1), with ``abs_dev`` = |k - mean|; ranking:
    pairwise order agreement with the mean ranks (and Kendall's ``tau``);
    points: IoU of the annotator's disk mask with the region more than half
    of the annotators covered (on the stored heatmaps' grid unless
    ``points_max_side`` says otherwise). Unsure / skipped answers are not
    compared.

    Returns ``{annotator_id: {"n", "agreement", "abs_dev", "gold_n",
    "gold_agreement", "attributes": {key: {...same...}}}}``; with
    ``annotator_id`` only that annotator's entry (computed on the targets
    they answered).
    """
    sums: dict[int, dict[str, dict[str, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for attribute in _attributes(campaign, attribute_keys):
        kind = CONSOLIDATORS[attribute.kind]
        base = attribute_spec(attribute=attribute, campaign=campaign)
        if attribute.kind == AttributeKind.POINTS:
            base = dataclasses.replace(base, max_side=points_max_side)
        target_ids = None
        if annotator_id is not None:
            # A subquery, not a list: an annotator may have answered more targets than SQLite takes parameters.
            target_ids = Response.objects.filter(attribute=attribute, annotator_id=annotator_id,
                                                 valid=True).values("target_id")
            if not target_ids.exists():
                continue
        gold = dict(GoldAnswer.objects.filter(attribute=attribute).values_list("target_id", "value"))
        specs: dict = {}
        infos = (target_infos(campaign=campaign, target_ids=target_ids,
                              with_tokens=attribute.kind == AttributeKind.KEYWORDS)
                 if needs_target_info(attribute.kind) else {})
        for target_id, _, annotators, values in valid_answers_grouped(attribute_ids=[attribute.pk],
                                                                      target_ids=target_ids):
            spec = target_spec(base, infos.get(target_id), specs)
            gold_reference = (kind.reference(kind.consolidate([gold[target_id]], spec), spec)
                              if target_id in gold else None)
            for who, value, compared in zip(annotators, values, answer_agreements(kind, values, spec)):
                if annotator_id is not None and who != annotator_id:
                    continue
                metrics = sums[who][attribute.key]
                for metric, number in (compared or {}).items():
                    metrics[metric].append(number)
                if gold_reference is not None:
                    for metric, number in (kind.compare(value, gold_reference, spec) or {}).items():
                        metrics["gold_" + metric].append(number)
    return {who: _annotator_summary(per_attribute) for who, per_attribute in sums.items()}


def _summary(metrics: dict[str, list]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(metrics.get("agreement", [])), "gold_n": len(metrics.get("gold_agreement", []))}
    for metric, numbers in metrics.items():
        out[metric] = float(np.mean(numbers)) if numbers else None
    out.setdefault("agreement", None)
    out.setdefault("gold_agreement", None)
    return out


def _annotator_summary(per_attribute: dict[str, dict[str, list]]) -> dict[str, Any]:
    overall: dict[str, list] = defaultdict(list)
    for metrics in per_attribute.values():
        for metric in ("agreement", "gold_agreement"):
            overall[metric] += metrics.get(metric, [])
    summary = _summary(overall)
    summary["attributes"] = {key: _summary(metrics) for key, metrics in per_attribute.items()}
    return summary


def grid_for(*, width: int, height: int, max_side: int = 512) -> tuple[int, int]:
    """(width, height) of the heatmap grid of an image (long side capped, same aspect)."""
    return grid_size(width, height, max_side)

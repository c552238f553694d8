"""The three export streams, read from the database in id order, one chunk at a time.

* items: one record per item with its consolidated values and those of its prompt;
* groups: one record per ranking group, then one per side-by-side pair;
* responses: one record per raw response, valid and invalidated, in the
  import format of ``annotator.services.response_import`` (so a file can be
  imported again), annotators pseudonymised.

Each chunk costs a fixed number of queries (targets, consolidated rows,
images), so time grows linearly with the campaign and memory stays at one chunk.
"""
from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import quote

from annotator.dbjson import json_parse, json_text
from annotator.exporters.base import ExportContext, chunked
from annotator.exporters.flatten import entry_make, ranking_public, sxs_public
from annotator.models import (
    AnnotatorStanding, Attribute, Consolidated, GroupImage, Image, Item, Response, Target, TargetType,
)
from annotator.services.quality import pseudonym_make


def annotator_pseudonyms(*, campaign_id: int) -> dict[int, str]:
    """annotator id -> the pseudonym the dashboard shows (the standing's, else ``pseudonym_make``'s)."""
    return {user_id: pseudonym or pseudonym_make(campaign_id=campaign_id, annotator_id=user_id)
            for user_id, pseudonym in AnnotatorStanding.objects.filter(campaign_id=campaign_id)
            .values_list("annotator_id", "pseudonym")}


def attribute_descriptions(*, campaign_id: int) -> list[dict[str, Any]]:
    return [
        {"id": a.pk, "key": a.key, "kind": a.kind, "target_type": a.target_type, "question": a.question,
         "options": list(a.options or []), "likert_points": a.likert_points, "category": a.category,
         "is_coarse": a.is_coarse, "active": a.active, "config": dict(a.config or {})}
        for a in Attribute.objects.filter(campaign_id=campaign_id).order_by("order", "id")
    ]


def file_name(external_id: str) -> str:
    """An external id as one safe path segment (ids may hold slashes or spaces)."""
    name = quote(external_id, safe="")
    return "%2E" + name[1:] if name.startswith(".") else name


def heatmap_label_names(attributes: Iterable[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(attribute key, label) -> the label's folder name: the label, or ``key.label`` where two share it."""
    pairs = [(a["key"], label) for a in attributes if a["kind"] == "points" for label in (a["options"] or ["point"])]
    seen = defaultdict(int)
    for _, label in pairs:
        seen[label] += 1
    return {(key, label): label if seen[label] == 1 else f"{key}.{label}" for key, label in pairs}


@dataclass(frozen=True)
class HeatmapRef:
    external_id: str
    name: str       # label folder name
    source: str     # relative to MEDIA_ROOT
    path: str       # relative to the export directory


@dataclass
class ItemRow:
    """An items.jsonl record plus the heatmap files it refers to (for the heatmaps exporter)."""

    record: dict[str, Any]
    heatmaps: list[HeatmapRef] = field(default_factory=list)


def stream_totals(*, campaign_id: int) -> dict[str, int]:
    by_type = defaultdict(int)
    for type_ in Target.objects.filter(campaign_id=campaign_id).values_list("type", flat=True).iterator():
        by_type[type_] += 1
    return {"items": by_type[TargetType.ITEM], "groups": by_type[TargetType.GROUP] + by_type[TargetType.PAIR],
            "responses": Response.objects.filter(target__campaign_id=campaign_id).count()}


def _entries(target_ids: list[int], attributes: dict[int, dict[str, Any]]) -> dict[int, dict[str, tuple]]:
    """target id -> {attribute key: (attribute, value, score, agreement, n_responses, n_skipped, complete)}."""
    out: dict[int, dict[str, tuple]] = defaultdict(dict)
    rows = (Consolidated.objects.filter(target_id__in=target_ids, attribute_id__in=list(attributes))
            .annotate(value_text=json_text("value"))
            .values_list("target_id", "attribute_id", "value_text", "score", "agreement", "n_responses", "n_skipped",
                         "complete"))
    for target_id, attribute_id, value, score, agreement, n, n_skipped, complete in rows:
        attribute = attributes[attribute_id]
        out[target_id][attribute["key"]] = (attribute, json_parse(value), score, agreement, n, n_skipped, complete)
    return out


def _entry(kind: str, value: dict, score, agreement, n, n_skipped, complete) -> dict[str, Any]:
    return entry_make(kind=kind, value=value, score=score, agreement=agreement, n_responses=n,
                      n_skipped=n_skipped, complete=complete)


def item_rows(ctx: ExportContext, *, campaign_id: int) -> Iterator[list[ItemRow]]:
    item_attributes = {a["id"]: a for a in ctx.attributes_for(TargetType.ITEM)}
    prompt_attributes = {a["id"]: a for a in ctx.attributes_for(TargetType.PROMPT)}
    names = heatmap_label_names(item_attributes.values())
    media_root = str(ctx.media_root)
    targets = (Target.objects.filter(campaign_id=campaign_id, type=TargetType.ITEM).order_by("item_id")
               .values_list("id", "prompt_id", "item__external_id", "item__split", "item__meta", "item__image__file",
                            "item__image__sha256", "item__image__width", "item__image__height",
                            "item__image__generator", "item__image__seed", "prompt__text", "prompt__tokens",
                            "prompt__category"))
    for chunk in chunked(targets.iterator(chunk_size=ctx.chunk_size), ctx.chunk_size):
        entries = _entries([row[0] for row in chunk], item_attributes)
        prompt_targets = dict(Target.objects.filter(campaign_id=campaign_id, type=TargetType.PROMPT,
                                                    prompt_id__in={row[1] for row in chunk})
                              .values_list("prompt_id", "id"))
        prompt_entries = _entries(list(prompt_targets.values()), prompt_attributes)
        rows = []
        for (target_id, prompt_id, external_id, split, meta, image, sha256, width, height, generator, seed,
             text, tokens, category) in chunk:
            heatmaps: list[HeatmapRef] = []
            consolidated: dict[str, Any] = {a["key"]: None for a in item_attributes.values()}
            for key, (attribute, value, *numbers) in entries.get(target_id, {}).items():
                if attribute["kind"] == "points":
                    for label, info in (value.get("heatmaps") or {}).items():
                        source = info.get("path")
                        if not source or not os.path.exists(os.path.join(media_root, source)):
                            info["path"] = None
                            continue
                        if ctx.heatmaps_in_export:
                            name = names.get((key, label), label)
                            info["path"] = f"heatmaps/{name}/{file_name(external_id)}.png"
                            heatmaps.append(HeatmapRef(external_id, name, source, info["path"]))
                consolidated[key] = _entry(attribute["kind"], value, *numbers)
            prompt_consolidated: dict[str, Any] = {a["key"]: None for a in prompt_attributes.values()}
            for key, (attribute, value, *numbers) in prompt_entries.get(prompt_targets.get(prompt_id), {}).items():
                prompt_consolidated[key] = _entry(attribute["kind"], value, *numbers)
            rows.append(ItemRow(record={
                "external_id": external_id, "split": split, "meta": meta or {},
                "image": image, "sha256": sha256, "width": width, "height": height, "generator": generator,
                "seed": seed, "prompt": text, "prompt_tokens": [t["text"] for t in tokens or []],
                "prompt_category": category, "consolidated": consolidated,
                "prompt_consolidated": prompt_consolidated,
            }, heatmaps=heatmaps))
        yield rows


def _image_info(*, campaign_id: int, image_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """image id -> {image, sha256, external_id} (external_id: the campaign item's, or null)."""
    image_ids = set(image_ids)
    external = dict(Item.objects.filter(campaign_id=campaign_id, image_id__in=image_ids)
                    .values_list("image_id", "external_id"))
    return {pk: {"image": file, "sha256": sha256, "external_id": external.get(pk)}
            for pk, file, sha256 in Image.objects.filter(pk__in=image_ids).values_list("id", "file", "sha256")}


def comparison_records(ctx: ExportContext, *, campaign_id: int) -> Iterator[list[dict[str, Any]]]:
    """Groups (ranking) then pairs (side-by-side), each with its images and consolidated values."""
    group_attributes = {a["id"]: a for a in ctx.attributes_for(TargetType.GROUP)}
    targets = (Target.objects.filter(campaign_id=campaign_id, type=TargetType.GROUP).order_by("group_id")
               .values_list("id", "group_id", "group__name", "prompt__text"))
    for chunk in chunked(targets.iterator(chunk_size=ctx.chunk_size), ctx.chunk_size):
        members: dict[int, list[int]] = defaultdict(list)
        for group_id, image_id in (GroupImage.objects.filter(group_id__in=[row[1] for row in chunk])
                                   .order_by("group_id", "position", "id").values_list("group_id", "image_id")):
            members[group_id].append(image_id)
        info = _image_info(campaign_id=campaign_id, image_ids=[i for ids in members.values() for i in ids])
        entries = _entries([row[0] for row in chunk], group_attributes)
        records = []
        for target_id, group_id, name, text in chunk:
            images = members[group_id]
            consolidated: dict[str, Any] = {a["key"]: None for a in group_attributes.values()}
            for key, (attribute, value, *numbers) in entries.get(target_id, {}).items():
                public = ranking_public(value, images) if attribute["kind"] == "ranking" else value
                consolidated[key] = _entry(attribute["kind"], public, *numbers)
            records.append({"type": "group", "id": group_id, "name": name, "prompt": text,
                            "images": [info[i] for i in images], "consolidated": consolidated})
        yield records

    pair_attributes = {a["id"]: a for a in ctx.attributes_for(TargetType.PAIR)}
    targets = (Target.objects.filter(campaign_id=campaign_id, type=TargetType.PAIR).order_by("pair_id")
               .values_list("id", "pair_id", "pair__image_a_id", "pair__image_b_id", "prompt__text"))
    for chunk in chunked(targets.iterator(chunk_size=ctx.chunk_size), ctx.chunk_size):
        info = _image_info(campaign_id=campaign_id, image_ids=[i for row in chunk for i in row[2:4]])
        entries = _entries([row[0] for row in chunk], pair_attributes)
        records = []
        for target_id, pair_id, image_a, image_b, text in chunk:
            consolidated = {a["key"]: None for a in pair_attributes.values()}
            for key, (attribute, value, *numbers) in entries.get(target_id, {}).items():
                public = sxs_public(value, image_a, image_b) if attribute["kind"] == "sxs" else value
                consolidated[key] = _entry(attribute["kind"], public, *numbers)
            records.append({"type": "pair", "id": pair_id, "name": None, "prompt": text,
                            "images": [info[image_a], info[image_b]], "consolidated": consolidated})
        yield records


def _image_name(info: dict[str, Any] | None, image_id: int) -> str | int:
    """How the import format names an image: its item's external_id, else its sha256."""
    if info is None:
        return image_id
    return info["external_id"] or info["sha256"]


def _public_value(kind: str, value: dict, names: dict[int, dict[str, Any]]) -> dict:
    if kind == "ranking" and isinstance(value.get("levels"), list):
        return {**value, "levels": [[_image_name(names.get(i), i) for i in level] for level in value["levels"]]}
    if kind == "sxs" and "a" in value:
        return {**value, "a": _image_name(names.get(value["a"]), value["a"]),
                "b": _image_name(names.get(value.get("b")), value.get("b"))}
    return value


def _value_image_ids(kind: str, value: dict) -> list[int]:
    if kind == "ranking":
        return [i for level in value.get("levels") or [] for i in level]
    if kind == "sxs":
        return [value[side] for side in ("a", "b") if isinstance(value.get(side), int)]
    return []


def _response_targets(*, campaign_id: int, target_ids: set[int]) -> tuple[dict[int, dict], dict[int, dict]]:
    """target id -> its import-format reference, and the image names the chunk's values need."""
    rows = list(Target.objects.filter(pk__in=target_ids).values_list(
        "id", "type", "item__external_id", "group__name", "pair__image_a_id", "pair__image_b_id", "prompt__text"))
    names = _image_info(campaign_id=campaign_id, image_ids=[i for row in rows for i in row[4:6] if i is not None])
    refs: dict[int, dict] = {}
    for target_id, type_, external_id, group, image_a, image_b, text in rows:
        if type_ == TargetType.ITEM:
            refs[target_id] = {"item": external_id}
        elif type_ == TargetType.GROUP:
            refs[target_id] = {"group": group}
        elif type_ == TargetType.PAIR:
            refs[target_id] = {"pair": [_image_name(names.get(image_a), image_a),
                                        _image_name(names.get(image_b), image_b)]}
        else:
            refs[target_id] = {"prompt": text}
    return refs, names


def response_records(ctx: ExportContext, *, campaign_id: int) -> Iterator[list[dict[str, Any]]]:
    kinds = {a["id"]: a["kind"] for a in ctx.attributes}
    keys = {a["id"]: a["key"] for a in ctx.attributes}
    # Targets are looked up once per chunk (responses come grouped by assignment), not joined per row.
    responses = (Response.objects.filter(target__campaign_id=campaign_id).order_by("id")
                 .annotate(value_text=json_text("value"))  # annotator.dbjson: parsed below, faster
                 .values_list("id", "assignment_id", "assignment__source", "annotator_id", "attribute_id",
                              "target_id", "value_text", "active_ms", "valid", "created_at"))
    # One entry per annotator, not per response: small whatever the campaign's size.
    pseudonyms = annotator_pseudonyms(campaign_id=campaign_id)
    for chunk in chunked(responses.iterator(chunk_size=ctx.chunk_size), ctx.chunk_size):
        chunk = [(*row[:6], json_parse(row[6]), *row[7:]) for row in chunk]
        targets, names = _response_targets(campaign_id=campaign_id, target_ids={row[5] for row in chunk})
        in_values = {i for row in chunk for i in _value_image_ids(kinds[row[4]], row[6] or {})} - set(names)
        if in_values:
            names.update(_image_info(campaign_id=campaign_id, image_ids=in_values))
        records = []
        for pk, assignment_id, source, user_id, attribute_id, target_id, value, active_ms, valid, created_at in chunk:
            if user_id not in pseudonyms:
                pseudonyms[user_id] = pseudonym_make(campaign_id=campaign_id, annotator_id=user_id)
            records.append({
                "id": pk, "assignment": assignment_id, "source": source, "annotator": pseudonyms[user_id],
                "target": targets[target_id], "attribute": keys[attribute_id],
                "value": _public_value(kinds[attribute_id], value or {}, names),
                "active_ms": active_ms, "valid": valid,
                "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            })
        yield records

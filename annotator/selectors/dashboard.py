"""Reads for the researcher's dashboard (one page per campaign).

The page must render well under a second for a campaign of 10,000 items, so
it only runs aggregate queries. What is expensive (the agreement statistics
of the consolidation selectors, per-annotator agreement and medians, the
figures) lives in a per-campaign *snapshot* (``services/dashboard.py``),
computed by a Celery task and stored in a cache shared by web and worker
processes, tagged with ``data_stamp``: the latest consolidation, which
changes after every submission and invalidation. A page whose snapshot is
older than the data shows it (with its time) and asks for a fresh one, so
no request waits for a campaign-wide agreement computation.

Dashboard panels of other apps
------------------------------
``annotator`` imports neither ``elicitation`` nor ``rewardlab``. They add
panels (spend against budget, cost per attribute, model versions) by listing
provider functions in ``settings.DASHBOARD_PANELS`` (dotted paths, default
empty). A provider is ``provider(campaign) -> {"title", "template",
"context"}`` (or ``None`` to show nothing): the dashboard renders
``template`` with ``context`` plus ``campaign`` and ``request``, inside the
section marked ``{% block panels %}`` of ``annotator/dashboard.html``. A
provider that raises shows an error box instead of breaking the page.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.filebased import FileBasedCache
from django.db.models import Avg, Count, F, IntegerField, Max, Min, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.utils.module_loading import import_string

from annotator.models import (
    AnnotatorStanding, Assignment, Attribute, AttributeKind, Campaign, Consolidated, ExportJob, Response, Slot,
    Target,
)
from annotator.services.quality import pseudonym_make

logger = logging.getLogger(__name__)
CACHE_SECONDS = 24 * 3600
# Median active time from a histogram in SQL (one aggregate query, no rows
# fetched): exact to this bucket width.
ACTIVE_BUCKET_MS = 100


# ---------------------------------------------------------------- snapshot store
def dashboard_cache() -> BaseCache:
    """The cache the snapshots live in: ``CACHES["dashboard"]`` if configured, else files under VAR_DIR.

    Files, not the default local-memory cache, because the worker that
    computes a snapshot and the web process that shows it are different processes.
    """
    if "dashboard" in settings.CACHES:
        return caches["dashboard"]
    global _file_cache
    if _file_cache is None:
        _file_cache = FileBasedCache(str(Path(settings.VAR_DIR) / "cache" / "dashboard"),
                                     {"TIMEOUT": CACHE_SECONDS, "OPTIONS": {"MAX_ENTRIES": 1000}})
    return _file_cache


_file_cache: BaseCache | None = None


def campaign_cache_key(*, campaign: Campaign, name: str) -> str:
    # created_at guards against a re-used primary key (tests, a deleted and re-created campaign).
    return f"dashboard:{campaign.pk}:{campaign.created_at.timestamp():.6f}:{name}"


def data_stamp(*, campaign: Campaign) -> str:
    """Changes whenever consolidation writes (after submissions and invalidations)."""
    latest = Consolidated.objects.filter(campaign=campaign).aggregate(at=Max("computed_at"), n=Count("id"))
    at = latest["at"].isoformat() if latest["at"] else "none"
    return f"{at}:{latest['n']}"


def snapshot_get(*, campaign: Campaign) -> dict[str, Any] | None:
    """The latest stored snapshot (any stamp), or None."""
    return dashboard_cache().get(campaign_cache_key(campaign=campaign, name="snapshot"))


# ---------------------------------------------------------------- progress
def attribute_progress(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Per attribute: responses / (targets x overlap), and the share of complete targets."""
    overlap = campaign.overlap
    rows = {
        row["attribute_id"]: row
        for row in Slot.objects.filter(campaign=campaign).values("attribute_id").annotate(
            targets=Count("id"), done=Sum("n_done"), open=Sum("n_open"),
            complete=Count("id", filter=Q(n_done__gte=overlap)),
        )
    }
    out = []
    for attribute in Attribute.objects.filter(campaign=campaign).order_by("order", "id"):
        row = rows.get(attribute.pk, {"targets": 0, "done": 0, "open": 0, "complete": 0})
        wanted = row["targets"] * overlap
        out.append({
            "key": attribute.key, "kind": attribute.kind, "target_type": attribute.target_type,
            "active": attribute.active, "targets": row["targets"], "responses": row["done"] or 0,
            "open": row["open"] or 0, "wanted": wanted,
            "share": (row["done"] or 0) / wanted if wanted else None,
            "complete": row["complete"], "complete_share": row["complete"] / row["targets"] if row["targets"] else None,
        })
    return out


def campaign_totals(*, campaign: Campaign) -> dict[str, Any]:
    by_status = dict(Assignment.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id")))
    by_type = dict(Target.objects.filter(campaign=campaign).values_list("type").annotate(n=Count("id")))
    return {
        "targets": by_type, "items": by_type.get("item", 0),
        "assignments": by_status, "submitted": by_status.get(Assignment.Status.SUBMITTED, 0),
        "invalidated": by_status.get(Assignment.Status.INVALIDATED, 0),
        "skipped": by_status.get(Assignment.Status.SKIPPED, 0),
        "live": by_status.get(Assignment.Status.ISSUED, 0),
        "gold_targets": Target.objects.filter(campaign=campaign, is_gold=True).count(),
    }


# ---------------------------------------------------------------- agreement
AGREEMENT_COLUMNS = [
    ("krippendorff_alpha", "Krippendorff α"),
    ("fleiss_kappa", "Fleiss κ"),
    ("unanimous_share", "unanimous"),
    ("iou", "IoU (points)"),
    ("kendall_w", "Kendall W"),
    ("unsure_share", "unsure (sxs)"),
]
_ALIASES = {"iou": ("iou", "mean_iou", "mean_pairwise_iou"), "kendall_w": ("kendall_w", "kendalls_w"),
            "krippendorff_alpha": ("krippendorff_alpha", "alpha"), "unsure_share": ("unsure_share",),
            "fleiss_kappa": ("fleiss_kappa", "kappa"), "unanimous_share": ("unanimous_share",)}


def agreement_raw(*, campaign: Campaign) -> dict[str, dict[str, Any]]:
    """The consolidation selectors' campaign agreement (expensive: it reads every valid answer)."""
    try:
        from annotator.selectors.consolidation import campaign_agreement
    except ImportError:  # consolidation not installed yet: the table stays empty
        return {}
    return campaign_agreement(campaign=campaign)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return None if value != value else float(value)  # NaN -> None
    return None


def agreement_table(*, campaign: Campaign, raw: dict[str, dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Per attribute: the agreement statistics of the consolidation selectors, in fixed columns."""
    raw = raw or {}
    rows = []
    for attribute in Attribute.objects.filter(campaign=campaign).order_by("order", "id"):
        stats = raw.get(attribute.key) or {}
        cells = {}
        for column, _ in AGREEMENT_COLUMNS:
            cells[column] = next((_number(stats.get(k)) for k in _ALIASES[column] if _number(stats.get(k)) is not None),
                                 None)
        rows.append({"key": attribute.key, "kind": attribute.kind, "cells": cells,
                     "cell_list": [cells[column] for column, _ in AGREEMENT_COLUMNS],
                     "n": stats.get("n_targets") or stats.get("n_units") or stats.get("n")})
    return rows


# ---------------------------------------------------------------- annotators
def _active_medians(campaign: Campaign) -> dict[int, float]:
    """Median active seconds per annotator, from a per-(annotator, bucket) histogram counted in SQL."""
    buckets = (Response.objects.filter(attribute__campaign=campaign, valid=True, active_ms__isnull=False)
               .annotate(bucket=Cast((F("active_ms") + ACTIVE_BUCKET_MS // 2) / ACTIVE_BUCKET_MS, IntegerField()))
               .values_list("annotator_id", "bucket").annotate(n=Count("id")).order_by("annotator_id", "bucket"))
    histograms: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for annotator_id, bucket, n in buckets:
        histograms[annotator_id].append((bucket, n))
    medians = {}
    for annotator_id, histogram in histograms.items():
        total = sum(n for _, n in histogram)
        seen = 0
        for bucket, n in histogram:
            seen += n
            if 2 * seen >= total:
                medians[annotator_id] = bucket * ACTIVE_BUCKET_MS / 1000.0
                break
    return medians


def _consensus_by_annotator(campaign: Campaign) -> dict[int, dict[str, Any]]:
    try:
        from annotator.selectors.consolidation import annotator_agreement
    except ImportError:
        return {}
    out: dict[int, dict[str, Any]] = {}
    for annotator_id, stats in (annotator_agreement(campaign=campaign) or {}).items():
        out[int(annotator_id)] = stats if isinstance(stats, dict) else {"consensus": stats}
    return out


def annotator_stats(*, campaign: Campaign) -> dict[str, Any]:
    """The expensive per-annotator figures: answers, median active time, agreement (snapshot part)."""
    answers = dict(Response.objects.filter(attribute__campaign=campaign, valid=True)
                   .values_list("annotator_id").annotate(n=Count("id")))
    consensus = _consensus_by_annotator(campaign)
    return {"answers": answers, "medians": _active_medians(campaign), "consensus": consensus}


def _consensus_value(stats: dict[str, Any]) -> float | None:
    for key in ("agreement", "consensus"):
        value = _number(stats.get(key))
        if value is not None:
            return value
    return None


def annotator_table(*, campaign: Campaign, heavy: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per annotator: answers, median active time, agreement with consensus, skips, gold score, qualified.

    Assignments, skips and gold standing are read live; answers, medians and
    agreement with the consensus come from the snapshot (``heavy``; None -> blank).
    """
    heavy = heavy or {"answers": {}, "medians": {}, "consensus": {}}
    by_status: dict[int, Counter] = defaultdict(Counter)
    names: dict[int, str] = {}
    for annotator_id, username, status, n in (Assignment.objects.filter(campaign=campaign)
                                              .values_list("annotator_id", "annotator__username", "status")
                                              .annotate(n=Count("id"))):
        by_status[annotator_id][status] = n
        names[annotator_id] = username
    agreement = dict(Assignment.objects.filter(campaign=campaign, agreement__isnull=False,
                                               status=Assignment.Status.SUBMITTED)
                     .values_list("annotator_id").annotate(a=Avg("agreement")))
    standings = {s["annotator_id"]: s for s in AnnotatorStanding.objects.filter(campaign=campaign).values(
        "annotator_id", "annotator__username", "pseudonym", "gold_answered", "gold_score", "qualified", "n_skips")}
    required = campaign.gold_tasks_required
    rows = []
    for annotator_id in sorted(set(by_status) | set(standings), key=lambda pk: names.get(pk) or ""):
        standing = standings.get(annotator_id, {})
        consensus = heavy["consensus"].get(annotator_id, {})
        gold_score = standing.get("gold_score")
        if gold_score is None:
            gold_score = _number(consensus.get("gold_agreement"))
        qualified = (True if required <= 0 else
                     standing.get("gold_answered", 0) >= required and gold_score is not None
                     and gold_score >= campaign.qualification_threshold)
        rows.append({
            "annotator_id": annotator_id,
            "username": names.get(annotator_id) or standing.get("annotator__username", ""),
            "pseudonym": standing.get("pseudonym") or pseudonym_make(campaign_id=campaign.pk,
                                                                      annotator_id=annotator_id),
            "answers": heavy["answers"].get(annotator_id, 0),
            "submitted": by_status[annotator_id][Assignment.Status.SUBMITTED],
            "invalidated": by_status[annotator_id][Assignment.Status.INVALIDATED],
            "skips": standing.get("n_skips", by_status[annotator_id][Assignment.Status.SKIPPED]),
            "median_active_s": heavy["medians"].get(annotator_id),
            "consensus": _consensus_value(consensus) if consensus else agreement.get(annotator_id),
            "gold_answered": standing.get("gold_answered", 0),
            "gold_score": gold_score,
            "qualified": qualified,
        })
    return rows


# ---------------------------------------------------------------- figures' data
def likert_spreads(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Per Likert attribute, how many targets have each max-min spread (targets with >= 2 answers)."""
    attributes = list(Attribute.objects.filter(campaign=campaign, kind=AttributeKind.LIKERT).order_by("order", "id"))
    if not attributes:
        return []
    per_target = (Response.objects.filter(attribute__in=attributes, valid=True)
                  .annotate(k=Cast(KT("value__value"), IntegerField()))
                  .values("attribute_id", "target_id")
                  .annotate(hi=Max("k"), lo=Min("k"), n=Count("id")).filter(n__gte=2)
                  .values_list("attribute_id", "hi", "lo"))
    counts: dict[int, Counter] = defaultdict(Counter)
    for attribute_id, hi, lo in per_target.iterator(chunk_size=5000):
        counts[attribute_id][hi - lo] += 1
    return [{"key": a.key, "points": a.likert_points or 5, "counts": dict(counts[a.pk])} for a in attributes]


def sxs_tallies(*, campaign: Campaign) -> list[dict[str, Any]]:
    attributes = list(Attribute.objects.filter(campaign=campaign, kind=AttributeKind.SXS).order_by("order", "id"))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for attribute_id, choice, n in (Response.objects.filter(attribute__in=attributes, valid=True)
                                    .annotate(choice=KT("value__choice")).values_list("attribute_id", "choice")
                                    .annotate(n=Count("id"))):
        counts[attribute_id][str(choice)] = n
    out = []
    for attribute in attributes:
        tally = counts.get(attribute.pk, {})
        total = sum(tally.values())
        out.append({"key": attribute.key, "counts": tally, "total": total,
                    "unsure_share": tally.get("unsure", 0) / total if total else None})
    return out


# ---------------------------------------------------------------- heatmap viewer
def heatmap_targets(*, campaign: Campaign, limit: int = 200) -> list[dict[str, Any]]:
    """Items with consolidated points, for the viewer's picker (the most marked first)."""
    rows = (Consolidated.objects.filter(campaign=campaign, attribute__kind=AttributeKind.POINTS,
                                        target__type="item")
            .values("target_id", "target__item__external_id")
            .annotate(heat=Max("score"), n=Max("n_responses"))
            .order_by(F("heat").desc(nulls_last=True), "target_id")[:limit])
    return [{"target_id": r["target_id"], "external_id": r["target__item__external_id"], "heat": r["heat"]}
            for r in rows]


def heatmap_payload(*, campaign: Campaign, target: Target, url_for) -> dict[str, Any]:
    """The viewer's data for one item: heatmap overlay URLs per (attribute, label), raw points per annotator.

    ``url_for(attribute_key, label)`` builds the URL of the coloured overlay PNG.
    """
    image = target.item.image
    attributes = {a.pk: a for a in Attribute.objects.filter(campaign=campaign, kind=AttributeKind.POINTS)}
    consolidated = {c.attribute_id: c for c in Consolidated.objects.filter(target=target, attribute_id__in=attributes)}
    heatmaps = []
    for attribute_id, attribute in sorted(attributes.items(), key=lambda kv: (kv[1].order, kv[0])):
        row = consolidated.get(attribute_id)
        if row is None:
            continue
        for label in _heatmap_labels(row.value, attribute):
            heatmaps.append({"attribute": attribute.key, "label": label, "url": url_for(attribute.key, label),
                             "n_responses": row.n_responses})
    standings = dict(AnnotatorStanding.objects.filter(campaign=campaign).values_list("annotator_id", "pseudonym"))
    annotators: dict[int, dict[str, Any]] = {}
    for annotator_id, attribute_id, value, assignment_id in (
            Response.objects.filter(target=target, attribute_id__in=attributes, valid=True)
            .order_by("annotator_id", "attribute_id").values_list("annotator_id", "attribute_id", "value",
                                                                  "assignment_id")):
        entry = annotators.setdefault(annotator_id, {
            "pseudonym": standings.get(annotator_id) or pseudonym_make(campaign_id=campaign.pk,
                                                                       annotator_id=annotator_id),
            "assignment": assignment_id, "points": [], "none": {}})
        key = attributes[attribute_id].key
        entry["none"][key] = bool(value.get("none"))
        entry["points"] += [{"x": p["x"], "y": p["y"], "label": p.get("label"), "attribute": key}
                            for p in value.get("points") or []]
    labels = sorted({h["label"] for h in heatmaps}
                    | {p["label"] for a in annotators.values() for p in a["points"] if p["label"]})
    return {
        "target": target.pk, "external_id": target.item.external_id, "prompt": target.prompt.text,
        "image": {"id": image.pk, "url": image.file.url, "width": image.width, "height": image.height},
        "radius_frac": campaign.point_radius_frac, "labels": labels, "heatmaps": heatmaps,
        "annotators": sorted(annotators.values(), key=lambda a: a["pseudonym"]),
    }


def _heatmap_labels(value: dict, attribute: Attribute) -> list[str]:
    """Labels with a stored heatmap in a consolidated points value."""
    maps = value.get("heatmaps") if isinstance(value, dict) else None
    if isinstance(maps, dict):
        return sorted(maps)
    return [label for label in (attribute.options or []) if isinstance(value.get(label), dict)] or list(
        attribute.options or [])


def heatmap_array(*, consolidated: Consolidated, label: str):
    """The consolidated heatmap of one label as floats in [0, 1], or None (consolidation selectors)."""
    from annotator.selectors.consolidation import heatmap_load

    return heatmap_load(consolidated=consolidated, label=label)


# ---------------------------------------------------------------- exports and panels
def export_jobs(*, campaign: Campaign, limit: int = 20) -> list[ExportJob]:
    return list(ExportJob.objects.filter(campaign=campaign).order_by("-created_at")[:limit])


def dashboard_panels(*, campaign: Campaign, request=None) -> list[dict[str, Any]]:
    """Panels of other apps, rendered to HTML (see the module docstring)."""
    panels = []
    for path in getattr(settings, "DASHBOARD_PANELS", ()) or ():
        try:
            panel = import_string(path)(campaign)
            if not panel:
                continue
            html = render_to_string(panel["template"], {**(panel.get("context") or {}), "campaign": campaign},
                                    request=request)
            panels.append({"title": panel.get("title", path), "html": html, "error": None})
        except Exception as exc:  # one broken provider must not take the dashboard down
            logger.exception("dashboard panel %s failed", path)
            panels.append({"title": path, "html": "", "error": f"{type(exc).__name__}: {exc}"})
    return panels

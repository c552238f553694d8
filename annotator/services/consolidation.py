"""Consolidation, DB side: valid responses in, ``Consolidated`` rows and heatmap PNGs out.

``consolidated_recompute`` is the online path: the submit API enqueues it
(task ``annotator.consolidate_target``) and quality control calls it after
an invalidation. ``campaign_consolidate`` recomputes a whole campaign in
chunks of targets, streaming responses and writing rows in bulk, with the
heatmap PNG work in a process pool.

Both lock the targets they recompute (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's immediate transactions serialise writers anyway), so
two recomputes of one target cannot interleave and leave the older result.

After a recompute that changed values, rewardlab is told by task name,
after commit (annotator never imports rewardlab): it decides whether enough
new consolidated values arrived since the last training to retrain.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify
from tqdm import tqdm

from annotator.consolidation import CONSOLIDATORS, Result, Spec
from annotator.consolidation.points import heatmap_to_png, labels_of, points_batch, points_job, write_atomic
from annotator.models import Attribute, AttributeKind, Campaign, Consolidated, Target
from annotator.selectors.consolidation import (
    attribute_spec, needs_target_info, target_infos, target_spec, valid_answers_grouped,
)
from annotator.sql import placeholders

logger = logging.getLogger(__name__)

NOTIFY_TASK = "rewardlab.tasks.consolidated_changed"
CHUNK_TARGETS = 1000
# Below this many targets a process pool costs more than it saves.
POOL_MIN_TARGETS = 400
POOL_BATCH = 48
POOL_TIMEOUT_S = 900
_FIELDS = ("value", "score", "agreement", "n_responses", "n_skipped", "complete")
_UPDATE_FIELDS = [*_FIELDS, "computed_at"]


# ---------------------------------------------------------------- heatmap files
def heatmap_relpath(*, campaign_id: int, target_id: int, attribute_key: str, label: str) -> str:
    """Where a heatmap lives under MEDIA_ROOT (deterministic: a recompute overwrites it)."""
    return f"heatmaps/{campaign_id}/{target_id}_{attribute_key}_{slugify(label) or 'label'}.png"


def heatmap_store(*, relpath: str, heatmap: np.ndarray) -> str:
    """Write a [0, 1] heatmap as an 8-bit PNG under MEDIA_ROOT (atomically); returns ``relpath``."""
    write_atomic(os.path.join(settings.MEDIA_ROOT, relpath), heatmap_to_png(heatmap))
    return relpath


def _heatmap_files(value: Any) -> set[str]:
    if not isinstance(value, dict):
        return set()
    return {info["path"] for info in (value.get("heatmaps") or {}).values()
            if isinstance(info, dict) and info.get("path")}


def _heatmap_remove(paths: Iterable[str]) -> None:
    for rel in paths:
        try:
            os.unlink(os.path.join(settings.MEDIA_ROOT, rel))
        except FileNotFoundError:
            pass


def _heatmap_paths(*, campaign_id: int, target_id: int, attribute: Attribute, spec: Spec,
                   values: Sequence[dict]) -> dict[str, str]:
    return {label: heatmap_relpath(campaign_id=campaign_id, target_id=target_id, attribute_key=attribute.key,
                                   label=label)
            for label in labels_of(spec, values)}


# ---------------------------------------------------------------- notification
def consolidated_notify(*, campaign_id: int, n_changed: int) -> bool:
    """Tell rewardlab that ``n_changed`` consolidated values changed (call after commit).

    Sent by name so no import points from annotator to rewardlab. Skipped
    when ``settings.REWARDLAB_NOTIFY`` is false and in eager mode: eager
    mode does not apply to ``send_task``, which would queue a real message.
    """
    if n_changed <= 0 or not getattr(settings, "REWARDLAB_NOTIFY", True):
        return False
    if current_app.conf.task_always_eager:
        return False
    current_app.send_task(NOTIFY_TASK, args=[campaign_id, n_changed])
    return True


def _notify_on_commit(campaign_id: int, n_changed: int) -> None:
    if n_changed > 0:
        # robust: a broker hiccup must not turn a committed recompute into an error.
        transaction.on_commit(lambda: consolidated_notify(campaign_id=campaign_id, n_changed=n_changed), robust=True)


# ---------------------------------------------------------------- writing rows
def _existing(*, campaign_id: int, target_ids: Sequence[int] | None = None,
              id_range: tuple[int, int] | None = None,
              attribute_ids: Iterable[int] | None = None) -> dict[tuple[int, int], tuple]:
    qs = Consolidated.objects.filter(campaign_id=campaign_id)
    if target_ids is not None:
        qs = qs.filter(target_id__in=list(target_ids))
    if id_range is not None:
        qs = qs.filter(target_id__gte=id_range[0], target_id__lte=id_range[1])
    if attribute_ids is not None:
        qs = qs.filter(attribute_id__in=list(attribute_ids))
    return {(row[0], row[1]): row[2:] for row in qs.values_list("target_id", "attribute_id", "pk", *_FIELDS)}


def _write(*, campaign: Campaign, results: dict[tuple[int, int], Result],
           existing: dict[tuple[int, int], tuple]) -> dict[str, int]:
    """Upsert changed results, delete rows whose (target, attribute) has no valid response left.

    Unchanged values are not rewritten, so ``computed_at`` is when a value
    last changed and the count sent to rewardlab counts real changes.
    """
    rows = []
    for (target_id, attribute_id), result in results.items():
        fields = (result.value, result.score, result.agreement, result.n_responses, result.n_skipped,
                  result.n_responses >= campaign.overlap)
        old = existing.get((target_id, attribute_id))
        if old is not None:
            _heatmap_remove(_heatmap_files(old[1]) - _heatmap_files(result.value))
            if tuple(old[1:]) == fields:
                continue
        rows.append((target_id, attribute_id, fields))
    _upsert(campaign_id=campaign.pk, rows=rows)
    stale = {key: old for key, old in existing.items() if key not in results}
    if stale:
        Consolidated.objects.filter(pk__in=[old[0] for old in stale.values()]).delete()
        _heatmap_remove(path for old in stale.values() for path in _heatmap_files(old[1]))
    return {"written": len(rows), "deleted": len(stale), "changed": len(rows) + len(stale)}


def _upsert(*, campaign_id: int, rows: Sequence[tuple[int, int, tuple]]) -> None:
    """Insert or update Consolidated rows: ``(target_id, attribute_id, values of _FIELDS)``.

    ``bulk_create(update_conflicts=True)`` builds a model instance and compiles
    SQL per row, which at 100,000 rows is most of a campaign recompute. On
    SQLite and PostgreSQL one prepared ``INSERT ... ON CONFLICT DO UPDATE``
    runs through ``executemany`` instead; values are adapted by the model's
    own fields, so the stored JSON is what the ORM would store.
    """
    if not rows:
        return
    now = timezone.now()
    if connection.vendor not in ("sqlite", "postgresql"):
        Consolidated.objects.bulk_create(
            [Consolidated(campaign_id=campaign_id, target_id=t, attribute_id=a, computed_at=now,
                          **dict(zip(_FIELDS, fields))) for t, a, fields in rows],
            batch_size=500, update_conflicts=True, unique_fields=["target", "attribute"],
            update_fields=_UPDATE_FIELDS)
        return
    meta = Consolidated._meta
    q = connection.ops.quote_name
    columns = [meta.get_field(name).column for name in ("campaign", "target", "attribute", *_UPDATE_FIELDS)]
    keys = [meta.get_field("target").column, meta.get_field("attribute").column]
    sql = (f"INSERT INTO {q(meta.db_table)} ({', '.join(q(c) for c in columns)}) "
           f"VALUES ({placeholders(len(columns))}) "
           f"ON CONFLICT ({', '.join(q(c) for c in keys)}) DO UPDATE SET "
           + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in columns[3:]))
    value_field = meta.get_field("value")
    stamp = meta.get_field("computed_at").get_db_prep_save(now, connection)
    params = [(campaign_id, t, a, value_field.get_db_prep_save(fields[0], connection), *fields[1:], stamp)
              for t, a, fields in rows]
    with connection.cursor() as cursor:
        for start in range(0, len(params), 2000):
            cursor.executemany(sql, params[start:start + 2000])


def _consolidate_one(*, campaign: Campaign, target_id: int, attribute: Attribute, spec: Spec,
                     values: list[dict]) -> Result:
    if attribute.kind == AttributeKind.POINTS:
        paths = _heatmap_paths(campaign_id=campaign.pk, target_id=target_id, attribute=attribute, spec=spec,
                               values=values)
        return points_job(values, spec, paths, str(settings.MEDIA_ROOT))
    return CONSOLIDATORS[attribute.kind].consolidate(values, spec)


# ---------------------------------------------------------------- one target
def consolidated_recompute(*, target_id: int, attribute_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Recompute the consolidated values of one target (all its attributes, or ``attribute_ids``).

    Idempotent. Only valid responses count; a (target, attribute) left with
    none loses its Consolidated row and heatmap files. Returns
    ``{"target", "written", "deleted", "changed"}``.
    """
    with transaction.atomic():
        target = (Target.objects.select_for_update(of=("self",)).select_related("campaign")
                  .filter(pk=target_id).first())
        if target is None:
            return {"target": target_id, "written": 0, "deleted": 0, "changed": 0}
        campaign = target.campaign
        attributes = Attribute.objects.filter(campaign=campaign)
        if attribute_ids is not None:
            attributes = attributes.filter(pk__in=list(attribute_ids))
        else:
            attributes = attributes.filter(target_type=target.type)
        attributes = {a.pk: a for a in attributes if a.kind in CONSOLIDATORS}
        if not attributes:
            return {"target": target_id, "written": 0, "deleted": 0, "changed": 0}
        info = {}
        if any(needs_target_info(a.kind) for a in attributes.values()):
            info = target_infos(target_ids=[target_id],
                                with_tokens=any(a.kind == AttributeKind.KEYWORDS for a in attributes.values())
                                ).get(target_id, {})
        existing = _existing(campaign_id=campaign.pk, target_ids=[target_id], attribute_ids=list(attributes))
        results = {}
        for _, attribute_id, _, values in valid_answers_grouped(attribute_ids=list(attributes),
                                                                target_ids=[target_id]):
            attribute = attributes[attribute_id]
            spec = target_spec(attribute_spec(attribute=attribute, campaign=campaign), info)
            results[(target_id, attribute_id)] = _consolidate_one(
                campaign=campaign, target_id=target_id, attribute=attribute, spec=spec, values=values)
        counts = _write(campaign=campaign, results=results, existing=existing)
        _notify_on_commit(campaign.pk, counts["changed"])
    return {"target": target_id, **counts}


# ---------------------------------------------------------------- a whole campaign
def _pool(workers: int | None, n_targets: int):
    """A fork pool for heatmap work, or None to work in this process."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers < 1 or n_targets < POOL_MIN_TARGETS or "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        # fork: workers inherit the loaded code; they never touch the database.
        return multiprocessing.get_context("fork").Pool(workers)
    except (AssertionError, OSError) as exc:  # e.g. inside a daemonic worker process
        logger.info("consolidation runs without a process pool: %s", exc)
        return None


def _chunk_consolidate(*, campaign: Campaign, target_ids: Sequence[int], attributes: dict[int, Attribute],
                       bases: dict[int, Spec], with_info: bool, with_tokens: bool, pool) -> dict[str, int]:
    id_range = (target_ids[0], target_ids[-1])
    root = str(settings.MEDIA_ROOT)
    with transaction.atomic():
        list(Target.objects.select_for_update().filter(campaign=campaign, pk__gte=id_range[0], pk__lte=id_range[1])
             .order_by("pk").values_list("pk", flat=True))
        infos = target_infos(campaign=campaign, id_range=id_range, with_tokens=with_tokens) if with_info else {}
        existing = _existing(campaign_id=campaign.pk, id_range=id_range)
        results: dict[tuple[int, int], Result] = {}
        pending, batch = [], []
        specs: dict = {}
        for target_id, attribute_id, _, values in valid_answers_grouped(attribute_ids=list(attributes),
                                                                        id_range=id_range):
            attribute = attributes[attribute_id]
            spec = target_spec(bases[attribute_id], infos.get(target_id), specs)
            if attribute.kind == AttributeKind.POINTS and pool is not None:
                paths = _heatmap_paths(campaign_id=campaign.pk, target_id=target_id, attribute=attribute,
                                       spec=spec, values=values)
                batch.append(((target_id, attribute_id), (values, spec, paths, root)))
                if len(batch) >= POOL_BATCH:
                    # Hand heatmaps to the pool as they stream in: drawing and PNG encoding
                    # overlap with reading and the other kinds' consolidation here.
                    pending.append(([k for k, _ in batch], pool.apply_async(points_batch, ([j for _, j in batch],))))
                    batch = []
                continue
            results[(target_id, attribute_id)] = _consolidate_one(
                campaign=campaign, target_id=target_id, attribute=attribute, spec=spec, values=values)
        if batch:
            pending.append(([k for k, _ in batch], pool.apply_async(points_batch, ([j for _, j in batch],))))
        for keys, async_result in pending:
            # A timeout, because a pool whose worker was killed (out of memory) never answers.
            results.update(zip(keys, async_result.get(timeout=POOL_TIMEOUT_S)))
        counts = _write(campaign=campaign, results=results, existing=existing)
    counts["heatmaps"] = sum(len(r.value.get("heatmaps") or {}) for key, r in results.items()
                             if attributes[key[1]].kind == AttributeKind.POINTS)
    counts["values"] = len(results)
    return counts


def campaign_consolidate(*, campaign: Campaign, progress: bool = False, chunk_size: int = CHUNK_TARGETS,
                         workers: int | None = None) -> dict[str, Any]:
    """Recompute every consolidated value of a campaign from its valid responses.

    Streams targets in id chunks (one transaction each, so annotators'
    submissions are never held up for long), responses in (target,
    attribute) order with ``iterator``, and writes changed rows with bulk
    upserts; heatmaps are drawn and encoded by a pool of ``workers``
    processes (default: one per CPU; 0 = in this process). Returns a summary:
    ``{"targets", "values", "written", "deleted", "changed", "heatmaps"}``.
    """
    attributes = {a.pk: a for a in Attribute.objects.filter(campaign=campaign) if a.kind in CONSOLIDATORS}
    bases = {pk: attribute_spec(attribute=a, campaign=campaign) for pk, a in attributes.items()}
    kinds = {a.kind for a in attributes.values()}
    target_ids = list(Target.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True))
    totals: Counter[str] = Counter()
    pool = _pool(workers, len(target_ids)) if AttributeKind.POINTS in kinds else None
    bar = tqdm(total=len(target_ids), disable=not progress, unit="target", desc=f"consolidate {campaign.name}")
    with _gc_paused():
        _campaign_chunks(campaign=campaign, target_ids=target_ids, attributes=attributes, bases=bases, kinds=kinds,
                         chunk_size=chunk_size, pool=pool, bar=bar, totals=totals)
    _notify_on_commit(campaign.pk, totals["changed"])
    summary = {"targets": len(target_ids)}
    summary.update({key: totals[key] for key in ("values", "written", "deleted", "changed", "heatmaps")})
    return summary


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector for a bulk run.

    Streaming a campaign allocates millions of short-lived, acyclic rows and
    dicts; the collector would rescan the growing heap every few thousand
    allocations (about 15% of a recompute's CPU) and find nothing to free.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _campaign_chunks(*, campaign: Campaign, target_ids: list[int], attributes: dict[int, Attribute],
                     bases: dict[int, Spec], kinds: set[str], chunk_size: int, pool, bar, totals: Counter) -> None:
    try:
        for start in range(0, len(target_ids), chunk_size):
            chunk = target_ids[start:start + chunk_size]
            totals.update(_chunk_consolidate(
                campaign=campaign, target_ids=chunk, attributes=attributes, bases=bases,
                with_info=any(needs_target_info(k) for k in kinds), with_tokens=AttributeKind.KEYWORDS in kinds,
                pool=pool))
            bar.update(len(chunk))
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()

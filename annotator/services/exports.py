"""Dataset export (DESIGN §7): a versioned, checksummed snapshot of a campaign.

``dataset_export`` writes the chosen formats (``annotator.exporters``) and
always ``manifest.json`` into a directory; ``export_job_create`` /
``export_job_run`` do the same as a background job under EXPORTS_ROOT and
zip the result for download. The layout of every file is described in
``annotator/exporters/README.md``.

Each stream (items, groups, responses) is read once, in id order and in
chunks, and every chunk goes to each format that wants it, so memory holds
one chunk and an unchanged campaign exports byte-identically: the export
time is kept only in the ExportJob row, never in a file.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from annotator.errors import ApplicationError, ConflictError
from annotator.exporters import EXPORTERS, formats_clean
from annotator.exporters.base import STREAMS, ExportContext, chunked, json_clean, json_document
from annotator.exporters.records import (
    attribute_descriptions, comparison_records, item_rows, response_records, stream_totals,
)
from annotator.models import Campaign, ExportJob, Response, TargetType
from annotator.selectors.consolidation import campaign_agreement

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: NPZ heatmaps are uint8 (the PNG pixels), were float32
CHUNK_SIZE = 1000
MANIFEST = "manifest.json"
READERS = {"items": item_rows, "groups": comparison_records, "responses": response_records}
# Already compressed: stored as they are in the download archive.
STORED_SUFFIXES = {".png", ".parquet", ".npz"}
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
HASH_THREADS = 8

Progress = Callable[[int, int], None]
Phase = Callable[[str], None]

#: What ``dataset_export`` tells ``on_phase``, in order: the streamed rows (``on_progress`` counts them),
#: then the steps after the last row, which ``on_progress`` cannot count.
PHASES = ("rows", "finishing files", "agreement", "checksums")
#: A background job's progress when each phase starts (rows fill 0 .. the next one); ``archive`` is the job's own.
JOB_PHASE_PROGRESS = {"rows": 0.0, "finishing files": 0.85, "agreement": 0.9, "checksums": 0.93, "archive": 0.96}


def _out_dir_prepare(out_dir: Path, *, overwrite: bool) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise ApplicationError(f"{out_dir} is not empty.", field="out", rule="empty_dir")
        if not (out_dir / MANIFEST).exists():
            # Only ever clear what an earlier export wrote.
            raise ApplicationError(f"{out_dir} is not empty and holds no earlier export.", field="out",
                                   rule="not_an_export")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def _agreement(campaign: Campaign) -> dict[str, Any]:
    """Campaign-level agreement per attribute, under common names, with the consolidators' full detail."""
    out = {}
    for key, detail in sorted(campaign_agreement(campaign=campaign).items()):
        detail = dict(detail or {})
        out[key] = {
            "krippendorff_alpha": detail.get("krippendorff_alpha", detail.get("alpha")),
            "fleiss_kappa": detail.get("fleiss_kappa"),
            "unanimous_share": detail.get("unanimous_share"),
            "detail": detail,
        }
    return out


def _counts(campaign: Campaign, totals: dict[str, int]) -> dict[str, int]:
    targets = dict(campaign.targets.values("type").annotate(n=Count("id")).values_list("type", "n"))
    responses = Response.objects.filter(target__campaign=campaign).aggregate(
        n_valid=Count("id", filter=Q(valid=True)), n_invalid=Count("id", filter=Q(valid=False)),
        n_annotators=Count("annotator", distinct=True))
    return {
        "items": targets.get(TargetType.ITEM, 0), "groups": targets.get(TargetType.GROUP, 0),
        "pairs": targets.get(TargetType.PAIR, 0), "prompts": targets.get(TargetType.PROMPT, 0),
        "responses": totals["responses"], "responses_valid": responses["n_valid"],
        "responses_invalid": responses["n_invalid"], "annotators": responses["n_annotators"],
        "consolidated": campaign.consolidated.count(),
    }


def _walk(directory: str, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(relative posix path, absolute path)`` of every file under ``directory``, sorted (scandir: no stat)."""
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            name = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path, name + "/")
            elif entry.is_file(follow_symlinks=False):
                yield name, entry.path


def _digest(path: str) -> tuple[str, int]:
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        return hashlib.file_digest(fh, "sha256").hexdigest(), size


def _files(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Checksums and sizes of every file; threads overlap the opens and reads of tens of thousands of heatmaps."""
    paths = [(name, path) for name, path in _walk(str(out_dir)) if name != MANIFEST]
    files = {}
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        for chunk in chunked(paths, CHUNK_SIZE):  # a chunk of futures at a time, not one per file at once
            for (name, _), (digest, size) in zip(chunk, pool.map(_digest, [path for _, path in chunk])):
                files[name] = {"sha256": digest, "bytes": size}
    return files


def dataset_export(*, campaign: Campaign, out_dir: Path, formats: Sequence[str] | None = None,
                   chunk_size: int = CHUNK_SIZE, overwrite: bool = False, on_progress: Progress | None = None,
                   options: dict[str, Any] | None = None, on_phase: Phase | None = None) -> dict[str, Any]:
    """Write ``formats`` (all when None) and manifest.json into ``out_dir``; returns the manifest.

    ``on_progress(done, total)`` is called after every chunk, counting rows
    of the streams the formats read; ``on_phase(name)`` as each of
    ``PHASES`` starts (after the last row come the NPZ shards still being
    written, the agreement and the checksums). ``options`` reach the exporters as
    ``ctx.extra``: ``npz`` (default true), ``items_per_shard`` and ``workers``
    for the heatmap NPZ shards, ``row_group_rows`` for items.parquet.
    """
    names = formats_clean(formats)
    out_dir = Path(out_dir)
    _out_dir_prepare(out_dir, overwrite=overwrite)
    ctx = ExportContext(
        out_dir=out_dir,
        campaign={"id": campaign.pk, "name": campaign.name, "overlap": campaign.overlap,
                  "point_radius_frac": campaign.point_radius_frac},
        attributes=attribute_descriptions(campaign_id=campaign.pk), formats=names,
        media_root=Path(settings.MEDIA_ROOT), heatmaps_in_export="heatmaps" in names, chunk_size=chunk_size,
        extra=dict(options or {}),
    )
    exporters = [EXPORTERS[name](ctx) for name in names]
    totals = stream_totals(campaign_id=campaign.pk)
    streams = [s for s in STREAMS if any(s in e.streams for e in exporters)]
    total, done = sum(totals[s] for s in streams), 0
    counts: dict[str, int] = {}
    phase = on_phase or (lambda name: None)
    phase("rows")
    for exporter in exporters:
        exporter.open()
    try:
        for stream in streams:
            readers = [e for e in exporters if stream in e.streams]
            for chunk in READERS[stream](ctx, campaign_id=campaign.pk):
                for exporter in readers:
                    exporter.write(stream, chunk)
                done += len(chunk)
                if on_progress is not None:
                    on_progress(done, total)
        phase("finishing files")
    finally:
        for exporter in exporters:
            counts.update(exporter.close())
    if on_progress is not None and total == 0:
        on_progress(0, 0)
    phase("agreement")
    agreement = _agreement(campaign)
    phase("checksums")

    manifest = {
        "schema_version": SCHEMA_VERSION,
        "campaign": ctx.campaign,
        "formats": list(names),
        "attributes": [{k: v for k, v in a.items() if k != "id"} for a in ctx.attributes],
        "counts": {**_counts(campaign, totals), **counts},
        "agreement": agreement,
        "paths": {
            "image": "relative to the platform's MEDIA_ROOT",
            "heatmap": "relative to this export" if ctx.heatmaps_in_export else "relative to MEDIA_ROOT",
            "pairs.json generations": "relative to MEDIA_ROOT",
        },
        "files": _files(out_dir),
    }
    manifest = json_clean(manifest)
    (out_dir / MANIFEST).write_text(json_document(manifest), encoding="utf-8")
    return manifest


# --------------------------------------------------------------------------- background jobs


def export_job_create(*, campaign: Campaign, formats: Sequence[str] | None = None, requested_by=None) -> ExportJob:
    """Queue an export of ``campaign``; the task starts once the transaction commits."""
    from annotator.tasks.exports import export_run

    names = formats_clean(formats)
    job = ExportJob.objects.create(campaign=campaign, formats=list(names), requested_by=requested_by)
    job_id = str(job.pk)
    transaction.on_commit(lambda: export_run.delay(job_id))
    return job


def export_job_dir(*, job: ExportJob) -> Path:
    return Path(settings.EXPORTS_ROOT) / str(job.campaign_id) / str(job.pk)


def export_archive_path(*, job: ExportJob) -> Path:
    return export_job_dir(job=job).with_suffix(".zip")


def _archive_write(out_dir: Path, archive: Path) -> None:
    """Zip the export under one top folder; written beside and renamed, so a download never sees half a file."""
    partial = archive.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", allowZip64=True) as zf:
        for path in sorted(out_dir.rglob("*")):
            if not path.is_file():
                continue
            info = zipfile.ZipInfo(f"{out_dir.name}/{path.relative_to(out_dir).as_posix()}", date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            with path.open("rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    partial.replace(archive)


def export_job_run(*, job_id: str) -> ExportJob:
    """Run a queued export; a finished job is left as it is, an interrupted one starts over."""
    job = ExportJob.objects.select_related("campaign").get(pk=job_id)
    if job.status == ExportJob.Status.DONE:
        return job
    out_dir = export_job_dir(job=job)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING, progress=0.0, phase="", error="",
                                               out_dir=str(out_dir))
    rows_share = JOB_PHASE_PROGRESS["finishing files"]

    def progress(done: int, total: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(progress=round(rows_share * (done / total if total else 1.0), 4))

    def phase(name: str) -> None:
        ExportJob.objects.filter(pk=job.pk).update(phase=name, progress=JOB_PHASE_PROGRESS[name])

    try:
        if out_dir.exists():
            shutil.rmtree(out_dir)  # ours, under EXPORTS_ROOT: left by an interrupted run
        manifest = dataset_export(campaign=job.campaign, out_dir=out_dir, formats=job.formats, on_progress=progress,
                                  on_phase=phase)
        phase("archive")
        _archive_write(out_dir, export_archive_path(job=job))
    except Exception as exc:  # the job records the failure; the task does not retry a broken export forever
        logger.exception("export %s failed", job.pk)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}",
                                                   phase="", finished_at=timezone.now())
    else:
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, progress=1.0, phase="",
                                                   manifest=manifest, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def export_job_archive(*, job: ExportJob) -> Path:
    """The zip of a finished export, or ConflictError while it is not ready."""
    archive = export_archive_path(job=job)
    if job.status != ExportJob.Status.DONE or not archive.exists():
        raise ConflictError(f"Export {job.pk} is {job.status}, not ready for download.", field="export",
                            rule="export_not_ready")
    return archive

"""Import of generated images and their prompts into a campaign.

A manifest (JSONL, or CSV with a header row) names one image per line:
``prompt``, ``image`` (relative to the manifest or absolute), and optionally
``group``, ``generator``, ``seed``, ``external_id`` (default: the first 16
hex digits of the image's sha256), ``meta`` (a JSON object; in CSV a JSON
string) and ``split`` (``train`` or ``heldout``).

The import runs in two phases so that ``strict`` can promise "all or
nothing" without reading any file twice:

1. a thread pool reads each file once, validates it with Pillow
   (``annotator.images.image_validate``), hashes it and stores it under
   MEDIA_ROOT (content addressed: ``images/<sha[:2]>/<sha>.<ext>``). Pillow's
   decoders and hashlib release the GIL, so this scales with cores;
2. one transaction writes every row with ``bulk_create``: prompts (one per
   text, tokenised), images (one per sha256), items, groups, pairs, their
   targets and slots. Per-row queries are avoided: each step is one query
   per batch.

Files written in phase 1 whose rows are not written (a refusal under
``strict``, a database error, a line refused in phase 2) are deleted again.

Groups (the ranking unit, 4-9 images of one prompt) are keyed by the
``group`` field where a line has one (all its lines must share a prompt),
else by prompt: a key with 4-9 images becomes one group, more than 9 are
split into groups of 4-9 (``<name>-1``, ``<name>-2``, ... / ``auto-<prompt
id>-<k>``), fewer than 4 form none. Images without a group from earlier
imports count towards their prompt's next group. Pairs (the side-by-side
unit): every two images of a prompt in the campaign, ``image_a.id <
image_b.id``.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import logging
import math
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Count

from annotator.errors import ApplicationError
from annotator.images import ValidatedImage, image_validate
from annotator.models import Attribute, Campaign, Group, GroupImage, Image, Item, Pair, Prompt, Slot, Target, TargetType
from annotator.sql import placeholders
from annotator.tokens import tokenize

GROUP_MIN, GROUP_MAX = 4, 9
SPLITS = ("train", "heldout")
MANIFEST_FIELDS = ("prompt", "image", "group", "generator", "seed", "external_id", "meta", "split")
_BATCH = 500
logger = logging.getLogger(__name__)


@dataclass
class ImportRecord:
    """One manifest line, parsed. ``data`` carries the bytes when the caller has them (an upload)."""

    line: int
    prompt: str
    image: str
    group: str = ""
    generator: str = ""
    seed: int | None = None
    external_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    split: str = "train"
    data: bytes | None = field(default=None, repr=False)


class Refusal(NamedTuple):
    line: int
    reason: str
    detail: str = ""


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    refused: list[Refusal] = field(default_factory=list)
    groups: int = 0
    pairs: int = 0
    targets: int = 0
    rolled_back: bool = False  # strict mode refused the whole manifest

    @property
    def by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(r.reason for r in self.refused).items()))

    def summary(self) -> str:
        text = f"imported {self.imported}, duplicates {self.duplicates}, refused {len(self.refused)}"
        if self.refused:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in self.by_reason.items()) + ")"
        if self.rolled_back:
            text += "; strict: nothing imported"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "duplicates": self.duplicates, "groups": self.groups,
                "pairs": self.pairs, "targets": self.targets, "rolled_back": self.rolled_back,
                "by_reason": self.by_reason, "refused": [r._asdict() for r in self.refused]}


# --------------------------------------------------------------------------- manifest parsing


def _record_from_mapping(line: int, raw: dict[str, Any]) -> ImportRecord | Refusal:
    def text(key: str) -> str:
        value = raw.get(key)
        return "" if value is None else str(value).strip()

    prompt, image = text("prompt"), text("image")
    if not prompt:
        return Refusal(line, "missing_field", "prompt is missing or empty")
    if not image:
        return Refusal(line, "missing_field", "image is missing or empty")
    seed = raw.get("seed")
    if seed in (None, ""):
        seed = None
    else:
        try:
            seed = int(seed)
        except (TypeError, ValueError):
            return Refusal(line, "invalid_field", f"seed {seed!r} is not an integer")
    meta = raw.get("meta")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta) if meta.strip() else {}
        except json.JSONDecodeError:
            return Refusal(line, "invalid_field", "meta is not valid JSON")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return Refusal(line, "invalid_field", "meta must be a JSON object")
    split = text("split") or "train"
    if split not in SPLITS:
        return Refusal(line, "invalid_field", f"split must be one of {', '.join(SPLITS)}")
    external_id = text("external_id")
    if len(external_id) > Item._meta.get_field("external_id").max_length:
        return Refusal(line, "invalid_field", "external_id is longer than 200 characters")
    group = text("group")
    if len(group) > Group._meta.get_field("name").max_length:
        return Refusal(line, "invalid_field", "group is longer than 200 characters")
    generator = text("generator")
    if len(generator) > Image._meta.get_field("generator").max_length:
        return Refusal(line, "invalid_field", "generator is longer than 100 characters")
    return ImportRecord(line=line, prompt=prompt, image=image, group=group, generator=generator,
                        seed=seed, external_id=external_id, meta=meta, split=split)


def manifest_read(*, manifest_path: Path) -> tuple[list[ImportRecord], list[Refusal]]:
    """Parse a JSONL or CSV manifest into records and the lines refused while parsing."""
    manifest_path = Path(manifest_path)
    if not manifest_path.is_file():
        raise ApplicationError(f"Manifest {manifest_path} does not exist.", field="manifest", rule="exists")
    suffix = manifest_path.suffix.lower()
    records: list[ImportRecord] = []
    refused: list[Refusal] = []

    def add(parsed: ImportRecord | Refusal) -> None:
        (records if isinstance(parsed, ImportRecord) else refused).append(parsed)

    if suffix in (".jsonl", ".ndjson"):
        with manifest_path.open(encoding="utf-8-sig") as fh:
            for number, raw_line in enumerate(fh, start=1):
                if not raw_line.strip():
                    continue
                try:
                    raw = json.loads(raw_line)
                except json.JSONDecodeError as exc:
                    add(Refusal(number, "invalid_json", str(exc)))
                    continue
                add(_record_from_mapping(number, raw) if isinstance(raw, dict)
                    else Refusal(number, "invalid_json", "a line must be a JSON object"))
    elif suffix == ".csv":
        # utf-8-sig: spreadsheets write a byte-order mark before the header.
        with manifest_path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"prompt", "image"} - set(reader.fieldnames or ())
            if missing:
                raise ApplicationError(f"The CSV header lacks the column(s) {', '.join(sorted(missing))}.",
                                       field="manifest", rule="columns")
            for raw in reader:
                if not any((v or "").strip() for k, v in raw.items() if k is not None):
                    continue
                add(_record_from_mapping(reader.line_num, raw))
    else:
        raise ApplicationError(f"Manifest must end in .jsonl or .csv, not {suffix or 'nothing'}.",
                               field="manifest", rule="format")
    return records, refused


# --------------------------------------------------------------------------- phase 1: files


@dataclass
class _Checked:
    record: ImportRecord
    image: ValidatedImage | None = None
    name: str = ""  # storage name of the image file
    refusal: Refusal | None = None


class _FileStage:
    """Read, validate, hash and store one file per record; remembers what it created."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.field = Image._meta.get_field("file")
        self.storage = self.field.storage
        self.lock = threading.Lock()
        self.claimed: set[str] = set()
        self.created: dict[str, str] = {}  # sha256 -> storage name written by this run

    def __call__(self, record: ImportRecord) -> _Checked:
        try:
            data = record.data if record.data is not None else self._read(record)
            validated = image_validate(data=data, name=record.image)
        except ApplicationError as exc:
            return _Checked(record, refusal=Refusal(record.line, exc.extra.get("rule") or "invalid", exc.message))
        # Content-addressed name from the model's upload_to and the real format, not the file's suffix.
        name = self.field.generate_filename(Image(sha256=validated.sha256),
                                            f"{validated.sha256}.{validated.extension}")
        with self.lock:
            first = validated.sha256 not in self.claimed
            self.claimed.add(validated.sha256)
        if first and not self.storage.exists(name):
            saved = self.storage.save(name, ContentFile(data))
            with self.lock:
                self.created[validated.sha256] = saved
            name = saved
        return _Checked(record, image=validated, name=name)

    def _read(self, record: ImportRecord) -> bytes:
        path = Path(record.image)
        if not path.is_absolute():
            path = self.base_dir / path
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise FileNotFoundError(path)
            if size > settings.IMAGE_MAX_BYTES:
                raise ApplicationError(f"{record.image}: {size} bytes exceed the limit of {settings.IMAGE_MAX_BYTES}.",
                                       field="image", rule="too_many_bytes")
            return path.read_bytes()
        except OSError as exc:
            raise ApplicationError(f"{record.image}: no such file ({exc.strerror or 'not a file'}).",
                                   field="image", rule="missing_file") from exc

    def discard_unreferenced(self) -> None:
        """Delete the files this run wrote that no Image row names (refused, rolled back, duplicates)."""
        names = list(self.created.values())
        referenced: set[str] = set()
        for chunk in _chunks(names):
            referenced.update(Image.objects.filter(file__in=chunk).values_list("file", flat=True))
        for name in names:
            if name not in referenced:
                self.storage.delete(name)


def _workers() -> int:
    return min(8, (os.cpu_count() or 1) + 1)


# --------------------------------------------------------------------------- phase 2: rows


class _StrictRollback(Exception):
    pass


def _chunks(seq: Sequence, size: int = _BATCH) -> Iterator[Sequence]:
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def _text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _split_sizes(n: int) -> list[int]:
    """Sizes of ceil(n / 9) chunks as even as possible; each is 4-9 for n >= 4."""
    k = math.ceil(n / GROUP_MAX)
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _prompts_ensure(texts: Iterable[str]) -> dict[str, Prompt]:
    by_sha = {_text_sha(t): t for t in texts}
    found: dict[str, Prompt] = {}
    for chunk in _chunks(list(by_sha)):
        found.update({p.text_sha256: p for p in Prompt.objects.filter(text_sha256__in=chunk)})
    new = [Prompt(text=text, text_sha256=sha, tokens=tokenize(text)) for sha, text in by_sha.items() if sha not in found]
    Prompt.objects.bulk_create(new, batch_size=_BATCH)
    found.update({p.text_sha256: p for p in new})
    return {by_sha[sha]: prompt for sha, prompt in found.items()}


def _write_rows(*, campaign: Campaign, checked: list[_Checked], report: ImportReport, strict: bool) -> None:
    """Phase 2, inside the caller's transaction: decide line by line, then write every row in bulk."""
    valid = [c for c in checked if c.refusal is None]
    shas = list(dict.fromkeys(c.image.sha256 for c in valid))
    # sha256 -> (image id, prompt id, prompt text sha256) of images already in the database.
    known: dict[str, tuple[int, int, str]] = {}
    in_campaign: set[str] = set()
    for chunk in _chunks(shas):
        known.update((sha, (pk, prompt_id, prompt_sha)) for sha, pk, prompt_id, prompt_sha in
                     Image.objects.filter(sha256__in=chunk).values_list("sha256", "id", "prompt_id", "prompt__text_sha256"))
        in_campaign.update(Item.objects.filter(campaign=campaign, image__sha256__in=chunk)
                           .values_list("image__sha256", flat=True))
    wanted_ext = [c.record.external_id or c.image.sha256[:16] for c in valid]
    external_ids: dict[str, str] = {}
    for chunk in _chunks(list(set(wanted_ext))):
        external_ids.update(Item.objects.filter(campaign=campaign, external_id__in=chunk)
                            .values_list("external_id", "image__sha256"))

    # Decide line by line, in manifest order, which lines become items.
    prompt_of_sha = {sha: prompt_sha for sha, (_, _, prompt_sha) in known.items()}
    accepted: list[tuple[_Checked, str]] = []  # (line, external id)
    for c, external_id in zip(valid, wanted_ext):
        sha = c.image.sha256
        if prompt_of_sha.setdefault(sha, _text_sha(c.record.prompt)) != _text_sha(c.record.prompt):
            c.refusal = Refusal(c.record.line, "prompt_conflict",
                                "these image bytes are already known with a different prompt")
        elif sha in in_campaign:
            report.duplicates += 1
        elif external_ids.setdefault(external_id, sha) != sha:
            c.refusal = Refusal(c.record.line, "duplicate_external_id",
                                f"external_id {external_id!r} already names another image in this campaign")
        else:
            in_campaign.add(sha)
            accepted.append((c, external_id))

    prompts = _prompts_ensure(c.record.prompt for c, _ in accepted)
    accepted = _check_named_groups(campaign=campaign, accepted=accepted, prompts=prompts)
    report.refused.extend(c.refusal for c in checked if c.refusal is not None)
    if strict and report.refused:
        raise _StrictRollback

    # Images (one per sha256), then items.
    image_ids = {sha: pk for sha, (pk, _, _) in known.items()}
    prompt_of_image = {pk: prompt_id for pk, prompt_id, _ in known.values()}
    new_images: dict[str, Image] = {}
    for c, _ in accepted:
        sha = c.image.sha256
        if sha not in image_ids and sha not in new_images:
            new_images[sha] = Image(file=c.name, width=c.image.width, height=c.image.height, sha256=sha,
                                    byte_size=c.image.byte_size, format=c.image.format,
                                    prompt=prompts[c.record.prompt], generator=c.record.generator,
                                    seed=c.record.seed)
    Image.objects.bulk_create(list(new_images.values()), batch_size=_BATCH)
    for sha, image in new_images.items():
        image_ids[sha] = image.pk
        prompt_of_image[image.pk] = image.prompt_id
    items = [Item(campaign=campaign, image_id=image_ids[c.image.sha256], external_id=ext, meta=c.record.meta,
                  split=c.record.split) for c, ext in accepted]
    Item.objects.bulk_create(items, batch_size=_BATCH)
    report.imported = len(items)

    # Targets: one per new item, group, pair, and prompt new to the campaign.
    targets = [Target(campaign=campaign, type=TargetType.ITEM, item=item, prompt_id=prompt_of_image[item.image_id])
               for item in items]
    touched_prompts = sorted({prompt_of_image[item.image_id] for item in items})
    named = defaultdict(list)
    for c, _ in accepted:
        if c.record.group:
            named[c.record.group].append(image_ids[c.image.sha256])
    groups = _groups_create(campaign=campaign, named=named, prompt_of_image=prompt_of_image,
                            touched_prompts=touched_prompts)
    targets += [Target(campaign=campaign, type=TargetType.GROUP, group=g, prompt_id=g.prompt_id) for g in groups]
    pairs = _pairs_create(campaign=campaign, touched_prompts=touched_prompts)
    targets += [Target(campaign=campaign, type=TargetType.PAIR, pair=p, prompt_id=prompt_id) for p, prompt_id in pairs]
    with_target: set[int] = set()
    for chunk in _chunks(touched_prompts):
        with_target.update(Target.objects.filter(campaign=campaign, type=TargetType.PROMPT, prompt_id__in=chunk)
                           .values_list("prompt_id", flat=True))
    targets += [Target(campaign=campaign, type=TargetType.PROMPT, prompt_id=pid)
                for pid in touched_prompts if pid not in with_target]
    Target.objects.bulk_create(targets, batch_size=_BATCH)
    _slots_insert(campaign=campaign, target_ids=[t.pk for t in targets])
    report.groups, report.pairs, report.targets = len(groups), len(pairs), len(targets)


def _check_named_groups(*, campaign: Campaign, accepted: list[tuple[_Checked, str]],
                        prompts: dict[str, Prompt]) -> list[tuple[_Checked, str]]:
    """Refuse lines whose named group would mix prompts or grow an existing group past 9 images."""
    by_name: dict[str, list[_Checked]] = defaultdict(list)
    for c, _ in accepted:
        if c.record.group:
            by_name[c.record.group].append(c)
    if not by_name:
        return accepted
    existing = {g.name: g for g in Group.objects.filter(campaign=campaign, name__in=list(by_name))
                .annotate(n_members=Count("members"))}
    for name, lines in by_name.items():
        prompt_ids = {prompts[c.record.prompt].pk for c in lines}
        group = existing.get(name)
        if group is not None:
            prompt_ids.add(group.prompt_id)
        if len(prompt_ids) > 1:
            reason, detail = "group_prompt", f"group {name!r} would hold images of different prompts"
        elif group is not None and group.n_members + len(lines) > GROUP_MAX:
            reason = "group_size"
            detail = f"group {name!r} already holds {group.n_members} images; {len(lines)} more exceed {GROUP_MAX}"
        else:
            continue
        for c in lines:
            c.refusal = Refusal(c.record.line, reason, detail)
    return [(c, ext) for c, ext in accepted if c.refusal is None]


def _groups_create(*, campaign: Campaign, named: dict[str, list[int]], prompt_of_image: dict[int, int],
                   touched_prompts: list[int]) -> list[Group]:
    """Groups for this import's images: by ``group`` name where given, else by prompt.

    A name or prompt with 4-9 ungrouped images becomes one group, more than 9
    are split into groups of 4-9, fewer than 4 stay ungrouped (a named set that
    small joins its prompt's pool). New images with the name of an existing
    group join it (``_check_named_groups`` keeps it at 9 at most).
    """
    existing_named = {g.name: g for g in Group.objects.filter(campaign=campaign, name__in=list(named))}
    names_taken = set(named) | set(Group.objects.filter(campaign=campaign).values_list("name", flat=True))
    new_groups: list[Group] = []
    members: list[tuple[Group, list[int], int]] = []  # (group, image ids, first position)

    def add_chunks(base: str, prompt_id: int, image_ids: list[int], single_name: str | None) -> None:
        start = 0
        for size in _split_sizes(len(image_ids)):
            if single_name is not None and size == len(image_ids):
                name = single_name
            else:
                name = next(n for k in itertools.count(1) if (n := f"{base}-{k}") not in names_taken)
            names_taken.add(name)
            group = Group(campaign=campaign, prompt_id=prompt_id, name=name)
            new_groups.append(group)
            members.append((group, image_ids[start:start + size], 0))
            start += size

    grouped_now: set[int] = set()
    for name, image_ids in named.items():
        group = existing_named.get(name)
        if group is not None:
            last = group.members.order_by("-position").values_list("position", flat=True).first()
            members.append((group, image_ids, 0 if last is None else last + 1))
        elif len(image_ids) >= GROUP_MIN:
            add_chunks(name, prompt_of_image[image_ids[0]], image_ids, single_name=name)
        else:
            continue
        grouped_now.update(image_ids)

    # Everything else: images of a touched prompt in no group of this campaign, oldest first.
    ungrouped: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(touched_prompts):
        rows = (Item.objects.filter(campaign=campaign, image__prompt_id__in=chunk)
                .exclude(image__groups__campaign=campaign).order_by("id").values_list("image_id", "image__prompt_id"))
        for image_id, prompt_id in rows:
            if image_id not in grouped_now:
                ungrouped[prompt_id].append(image_id)
    for prompt_id in touched_prompts:
        if len(ungrouped.get(prompt_id, ())) >= GROUP_MIN:
            add_chunks(f"auto-{prompt_id}", prompt_id, ungrouped[prompt_id], single_name=None)

    Group.objects.bulk_create(new_groups, batch_size=_BATCH)
    GroupImage.objects.bulk_create(
        [GroupImage(group=group, image_id=image_id, position=first + i)
         for group, image_ids, first in members for i, image_id in enumerate(image_ids)],
        batch_size=_BATCH,
    )
    return new_groups


def _pairs_create(*, campaign: Campaign, touched_prompts: list[int]) -> list[tuple[Pair, int]]:
    """Every missing within-prompt pair of the campaign's images for the touched prompts."""
    by_prompt: dict[int, list[int]] = defaultdict(list)
    have: set[tuple[int, int]] = set()
    for chunk in _chunks(touched_prompts):
        for image_id, prompt_id in (Item.objects.filter(campaign=campaign, image__prompt_id__in=chunk)
                                    .values_list("image_id", "image__prompt_id")):
            by_prompt[prompt_id].append(image_id)
        have.update(Pair.objects.filter(campaign=campaign, image_a__prompt_id__in=chunk)
                    .values_list("image_a_id", "image_b_id"))
    new = [(Pair(campaign=campaign, image_a_id=a, image_b_id=b), prompt_id)
           for prompt_id, ids in by_prompt.items()
           for a, b in itertools.combinations(sorted(ids), 2) if (a, b) not in have]
    Pair.objects.bulk_create([p for p, _ in new], batch_size=_BATCH)
    return new


def _slots_insert(*, campaign: Campaign, target_ids: list[int]) -> None:
    """The slots of new targets: one per (target, attribute of the campaign for its type).

    The same rows as ``campaigns.slots_ensure(campaign=..., targets=...)``, but
    as one ``INSERT ... SELECT`` per batch in the database: a campaign with
    the RichHF, ImageReward and Collins presets has 25 item attributes, and
    building 25 model instances per image costs more than validating the image.
    Columns other than the three keys get their model defaults, so fields added
    to Slot later are filled too. ``ON CONFLICT DO NOTHING`` works on SQLite
    and PostgreSQL alike.
    """
    keys = {"id", "campaign", "target", "attribute"}
    extra = [f for f in Slot._meta.concrete_fields if f.name not in keys]
    columns = ["campaign_id", "target_id", "attribute_id"] + [f.column for f in extra]
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in extra]
    qn = connection.ops.quote_name
    for chunk in _chunks(target_ids):
        sql = (
            f"INSERT INTO {qn(Slot._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "
            f"SELECT t.{qn('campaign_id')}, t.{qn('id')}, a.{qn('id')}{''.join(', %s' for _ in extra)} "
            f"FROM {qn(Target._meta.db_table)} t JOIN {qn(Attribute._meta.db_table)} a "
            f"ON a.{qn('campaign_id')} = t.{qn('campaign_id')} AND a.{qn('target_type')} = t.{qn('type')} "
            f"WHERE t.{qn('campaign_id')} = %s AND t.{qn('id')} IN ({placeholders(len(chunk))}) "
            f"ON CONFLICT DO NOTHING"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*defaults, campaign.pk, *chunk])


# --------------------------------------------------------------------------- entry points


def _import(*, campaign: Campaign, records: Iterable[ImportRecord], base_dir: Path, strict: bool, progress: bool,
            refused: list[Refusal]) -> ImportReport:
    records = list(records)
    report = ImportReport()
    stage = _FileStage(Path(base_dir))
    try:
        with ThreadPoolExecutor(max_workers=_workers()) as pool:
            results = pool.map(stage, records)
            if progress:
                from tqdm import tqdm

                results = tqdm(results, total=len(records), unit="img", desc="import")
            checked = list(results)
        if strict and (refused or any(c.refusal for c in checked)):
            report.refused = refused + [c.refusal for c in checked if c.refusal is not None]
            raise _StrictRollback
        report.refused = list(refused)
        with transaction.atomic():
            _write_rows(campaign=campaign, checked=checked, report=report, strict=strict)
    except _StrictRollback:
        report.imported = report.duplicates = report.groups = report.pairs = report.targets = 0
        report.rolled_back = True
    finally:
        try:
            stage.discard_unreferenced()
        except Exception:  # noqa: BLE001 - an orphan file is harmless; the import's own outcome matters
            logger.exception("could not delete the unreferenced files of an import")
    report.refused.sort(key=lambda r: r.line)
    return report


def items_import_records(*, campaign: Campaign, records: Iterable[ImportRecord], base_dir: Path | str,
                         strict: bool = False, progress: bool = False) -> ImportReport:
    """Import parsed records (image paths relative to ``base_dir``, or bytes in ``record.data``)."""
    return _import(campaign=campaign, records=records, base_dir=Path(base_dir), strict=strict, progress=progress,
                   refused=[])


def items_import(*, campaign: Campaign, manifest_path: Path | str, strict: bool = False,
                 progress: bool = False) -> ImportReport:
    """Import a JSONL or CSV manifest into ``campaign``; a second run of the same manifest changes nothing."""
    manifest_path = Path(manifest_path)
    records, refused = manifest_read(manifest_path=manifest_path)
    return _import(campaign=campaign, records=records, base_dir=manifest_path.resolve().parent, strict=strict,
                   progress=progress, refused=refused)

"""Import of raw responses collected elsewhere (JSONL, one response per line).

A line::

    {"annotator": "<external name>",
     "target": {"item": "<external_id>"} | {"group": "<group name>"}
               | {"pair": ["<image>", "<image>"]} | {"prompt": "<prompt text>"},
     "attribute": "<key>", "value": <as the API takes it, DESIGN §4>, "active_ms": <int, optional>}

Images inside targets and values (pair sides, ranking levels, sxs sides) are
named by their item's ``external_id`` in the campaign, or by the image's
sha256. A side-by-side value ``{"choice": "A>B"}`` reads A and B as the
pair's image_a and image_b; a line that showed them the other way round
says so with ``"a"`` and ``"b"`` in the value (``{"choice": "A>B", "a":
"<image>", "b": "<image>"}``). A pair target may name its images in either
order. Other keys (``id``, ``created_at``, ... of an export's
responses.jsonl) are ignored, and lines marked ``"valid": false`` (work an
inspector invalidated) are counted and not imported, so an export's
responses.jsonl imports as it is.

Values go through ``annotator.validation.value_validate``, the API's own
validators. A ranking is checked against the same annotator's ratings, those
already saved and those in the file. Refused lines are reported with their
line number, field and rule and the rest is imported; ``strict`` imports
nothing unless every line is good. The idempotency key is (annotator,
target, attribute): a response that exists is a duplicate and is skipped, so
importing a file twice changes nothing.

Annotators are found by ``AnnotatorStanding.external_name`` (in this
campaign, else in any other) or created with the annotator role and no
password. Responses of one (annotator, target) share one submitted
Assignment with ``source="import"``; Slot.n_done counts them. Imported work
was not issued from the campaign's budget, so the assignment hooks (the
budget ledger) are not told. Consolidation is recomputed for every touched
(target, attribute) after the import commits.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotator.errors import ApplicationError
from annotator.exporters.base import chunked
from annotator.models import (
    AnnotatorStanding, Assignment, AssignmentSlot, Attribute, AttributeKind, Campaign, GroupImage, Image, Item,
    Response, Slot, Target, TargetType,
)
from annotator.roles import ANNOTATOR
from annotator.selectors.assignments import ranking_ratings
from annotator.services.consolidation import campaign_consolidate, consolidated_recompute
from annotator.services.quality import standing_ensure
from annotator.services.users import user_create
from annotator.validation import MAX_ACTIVE_MS, ValueContext, value_validate

TARGET_KEYS = ("item", "group", "pair", "prompt")
BATCH = 500
# Above this many touched targets one campaign-wide pass is cheaper than one recompute per target.
RECOMPUTE_MAX_TARGETS = 500
USERNAME_MAX = 150


@dataclass(frozen=True)
class LineError:
    line: int
    field: str | None
    rule: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field or '-'} ({self.rule}): {self.message}"


@dataclass
class ResponseImportReport:
    lines: int = 0
    imported: int = 0
    duplicates: int = 0
    not_valid: int = 0  # lines marked "valid": false
    errors: list[LineError] = field(default_factory=list)
    annotators_created: int = 0
    assignments: int = 0
    targets_consolidated: int = 0
    rolled_back: bool = False  # strict mode and at least one refused line

    def summary(self) -> str:
        text = (f"{self.lines} lines: imported {self.imported}, duplicates {self.duplicates}, "
                f"refused {len(self.errors)}")
        if self.not_valid:
            text += f", marked invalid {self.not_valid}"
        if self.rolled_back:
            text += "; strict: nothing imported"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "imported": self.imported, "duplicates": self.duplicates,
                "not_valid": self.not_valid, "annotators_created": self.annotators_created,
                "assignments": self.assignments, "targets_consolidated": self.targets_consolidated,
                "rolled_back": self.rolled_back,
                "errors": [{"line": e.line, "field": e.field, "rule": e.rule, "message": e.message}
                           for e in self.errors]}


class _Refused(Exception):
    def __init__(self, field: str | None, rule: str, message: str) -> None:
        super().__init__(message)
        self.field, self.rule, self.message = field, rule, message


@dataclass
class _Line:
    number: int
    annotator: str
    target: tuple[str, Any]  # ("item", external_id) / ("group", name) / ("pair", (x, y)) / ("prompt", text)
    attribute: str
    value: Any
    active_ms: int | None


@dataclass(frozen=True)
class _TargetInfo:
    id: int
    type: str
    image_ids: tuple[int, ...]  # item: its image; group: by position; pair: (image_a, image_b)
    names: dict                 # image name (external_id or sha256) -> image id, for the target's images
    n_tokens: int
    is_gold: bool


# --------------------------------------------------------------------------- phase 1: parse


def _parse(number: int, text: str) -> _Line | None:
    """One line, or None for a line marked invalid; raises _Refused."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Refused(None, "json", f"Not JSON: {exc.msg}.") from None
    if not isinstance(raw, dict):
        raise _Refused(None, "type", "A line is a JSON object.")
    if raw.get("valid") is False:
        return None
    for key in ("annotator", "target", "attribute", "value"):
        if key not in raw:
            raise _Refused(key, "required", f"{key!r} is missing.")
    annotator = raw["annotator"]
    if not isinstance(annotator, str) or not annotator.strip() or len(annotator) > 200:
        raise _Refused("annotator", "type", "The annotator is a name of 1 to 200 characters.")
    target = raw["target"]
    if not isinstance(target, dict) or len(target) != 1 or next(iter(target)) not in TARGET_KEYS:
        raise _Refused("target", "type", f"The target is an object with one of {', '.join(TARGET_KEYS)}.")
    kind, ref = next(iter(target.items()))
    if kind == "pair":
        if not (isinstance(ref, list) and len(ref) == 2 and all(isinstance(r, str) for r in ref)):
            raise _Refused("target.pair", "type", "A pair is named by its two images: [name, name].")
        ref = tuple(ref)
    elif not isinstance(ref, str) or not ref:
        raise _Refused(f"target.{kind}", "type", f"The {kind} is named by a non-empty string.")
    if not isinstance(raw["attribute"], str):
        raise _Refused("attribute", "type", "The attribute is its key.")
    active_ms = raw.get("active_ms")
    if active_ms is not None and (not isinstance(active_ms, int) or isinstance(active_ms, bool)
                                  or not 0 <= active_ms <= MAX_ACTIVE_MS):
        raise _Refused("active_ms", "active_ms", "Active time is a non-negative whole number of milliseconds.")
    return _Line(number=number, annotator=annotator.strip(), target=(kind, ref), attribute=raw["attribute"],
                 value=raw["value"], active_ms=active_ms)


# --------------------------------------------------------------------------- phase 2: resolve


def _image_names(campaign: Campaign, image_ids: Iterable[int]) -> dict[int, list[str]]:
    """image id -> the names a line may use for it: the campaign item's external_id and the sha256."""
    image_ids = list(set(image_ids))
    names: dict[int, list[str]] = defaultdict(list)
    for chunk in chunked(image_ids, BATCH):
        for image_id, external_id in Item.objects.filter(campaign=campaign, image_id__in=chunk).values_list(
                "image_id", "external_id"):
            names[image_id].append(external_id)
        for image_id, sha256 in Image.objects.filter(pk__in=chunk).values_list("id", "sha256"):
            names[image_id].append(sha256)
    return names


def _info(target_id: int, type_: str, image_ids: Sequence[int], tokens: list | None, is_gold: bool,
          names: dict[int, list[str]]) -> _TargetInfo:
    return _TargetInfo(id=target_id, type=type_, image_ids=tuple(image_ids),
                       names={name: i for i in image_ids for name in names.get(i, [])},
                       n_tokens=len(tokens or []), is_gold=is_gold)


def _resolve_targets(campaign: Campaign, lines: Sequence[_Line]) -> dict[tuple[str, Any], _TargetInfo]:
    refs: dict[str, set] = defaultdict(set)
    for line in lines:
        refs[line.target[0]].add(line.target[1])
    found: dict[tuple[str, Any], _TargetInfo] = {}
    targets = Target.objects.filter(campaign=campaign)

    rows = []
    for chunk in chunked(sorted(refs["item"]), BATCH):
        rows += targets.filter(type=TargetType.ITEM, item__external_id__in=chunk).values_list(
            "id", "item__external_id", "item__image_id", "prompt__tokens", "is_gold")
    names = _image_names(campaign, [row[2] for row in rows])
    for target_id, external_id, image_id, tokens, is_gold in rows:
        found[("item", external_id)] = _info(target_id, TargetType.ITEM, [image_id], tokens, is_gold, names)

    rows = []
    for chunk in chunked(sorted(refs["group"]), BATCH):
        rows += targets.filter(type=TargetType.GROUP, group__name__in=chunk).values_list(
            "id", "group__name", "group_id", "prompt__tokens", "is_gold")
    members: dict[int, list[int]] = defaultdict(list)
    for chunk in chunked([row[2] for row in rows], BATCH):
        for group_id, image_id in (GroupImage.objects.filter(group_id__in=chunk).order_by("group_id", "position", "id")
                                   .values_list("group_id", "image_id")):
            members[group_id].append(image_id)
    names = _image_names(campaign, [i for ids in members.values() for i in ids])
    for target_id, name, group_id, tokens, is_gold in rows:
        found[("group", name)] = _info(target_id, TargetType.GROUP, members[group_id], tokens, is_gold, names)

    if refs["pair"]:
        wanted = {name for pair in refs["pair"] for name in pair}
        by_name: dict[str, int] = {}
        for chunk in chunked(sorted(wanted), BATCH):
            by_name.update(Image.objects.filter(sha256__in=chunk).values_list("sha256", "id"))
            by_name.update(Item.objects.filter(campaign=campaign, external_id__in=chunk)
                           .values_list("external_id", "image_id"))
        ids = {pair: (by_name.get(pair[0]), by_name.get(pair[1])) for pair in refs["pair"]}
        image_ids = sorted({i for a, b in ids.values() for i in (a, b) if i is not None})
        pairs: dict[tuple[int, int], tuple] = {}
        for chunk in chunked(image_ids, BATCH):
            for row in targets.filter(type=TargetType.PAIR, pair__image_a_id__in=chunk).values_list(
                    "id", "pair__image_a_id", "pair__image_b_id", "prompt__tokens", "is_gold"):
                pairs[(row[1], row[2])] = row
        names = _image_names(campaign, image_ids)
        for ref, (a, b) in ids.items():
            row = pairs.get((a, b)) or pairs.get((b, a))
            if row is not None:
                found[("pair", ref)] = _info(row[0], TargetType.PAIR, row[1:3], row[3], row[4], names)

    # Prompts are unique by the sha256 of their text (as the item import stores them).
    by_sha = {hashlib.sha256(text.encode("utf-8")).hexdigest(): text for text in refs["prompt"]}
    for chunk in chunked(sorted(by_sha), BATCH):
        for target_id, sha, tokens, is_gold in targets.filter(type=TargetType.PROMPT, prompt__text_sha256__in=chunk
                                                              ).values_list("id", "prompt__text_sha256",
                                                                            "prompt__tokens", "is_gold"):
            found[("prompt", by_sha[sha])] = _info(target_id, TargetType.PROMPT, [], tokens, is_gold, {})
    return found


def _resolve_annotators(campaign: Campaign, names: Iterable[str]) -> dict[str, Any]:
    """External name -> existing user (this campaign's standing first, then any other campaign's)."""
    names = set(names)
    User = get_user_model()
    found: dict[str, int] = {}
    standings = sorted(AnnotatorStanding.objects.filter(external_name__in=names)
                       .values_list("campaign_id", "id", "external_name", "annotator_id"),
                       key=lambda row: (row[0] != campaign.pk, row[1]))
    for _, _, name, user_id in standings:
        found.setdefault(name, user_id)
    users = User.objects.in_bulk(set(found.values()))
    return {name: users[user_id] for name, user_id in found.items()}


def _image_ref(info: _TargetInfo, name: Any, field: str, rule: str) -> int:
    if isinstance(name, str) and name in info.names:
        return info.names[name]
    raise _Refused(field, rule, f"Image {name!r} is not one of this target's images.")


def _value_in_ids(attribute: Attribute, info: _TargetInfo, value: Any) -> tuple[Any, tuple[int, ...]]:
    """The value with image names replaced by ids, and the images in the order the annotator saw them."""
    if attribute.kind == AttributeKind.RANKING and isinstance(value, dict) and isinstance(value.get("levels"), list):
        levels = [[_image_ref(info, name, f"value.levels[{li}][{ii}]", "ranking_unknown_image")
                   for ii, name in enumerate(level)] if isinstance(level, list) else level
                  for li, level in enumerate(value["levels"])]
        return {**value, "levels": levels}, info.image_ids
    if attribute.kind == AttributeKind.SXS and isinstance(value, dict) and ("a" in value or "b" in value):
        shown = (_image_ref(info, value.get("a"), "value.a", "sxs_unknown_image"),
                 _image_ref(info, value.get("b"), "value.b", "sxs_unknown_image"))
        if set(shown) != set(info.image_ids):
            raise _Refused("value.b", "sxs_unknown_image", "'a' and 'b' must name the pair's two images.")
        return {k: v for k, v in value.items() if k not in ("a", "b")}, shown
    return value, info.image_ids


# --------------------------------------------------------------------------- the import


@dataclass
class _Good:
    line: _Line
    target: _TargetInfo
    attribute: Attribute
    value: dict
    shown: tuple[int, ...]


@dataclass
class _Checker:
    """What every line is checked against, and what the good lines so far add to it."""

    attributes: dict[str, Attribute]
    targets: dict[tuple[str, Any], _TargetInfo]
    users: dict[str, Any]
    existing: dict[str, set[tuple[int, int, int]]]
    rating_keys: set[str]
    seen: set[tuple[str, int, int]] = field(default_factory=set)
    # (annotator name, image id) -> the rating a good line of this file gives
    file_ratings: dict[tuple[str, int], int] = field(default_factory=dict)

    def check(self, line: _Line) -> _Good | None:
        """The line ready to write; None for a duplicate; raises _Refused."""
        attribute = self.attributes.get(line.attribute)
        if attribute is None:
            raise _Refused("attribute", "unknown_attribute", f"No attribute {line.attribute!r} in this campaign.")
        info = self.targets.get(line.target)
        if info is None:
            raise _Refused(f"target.{line.target[0]}", "unknown_target",
                           f"No {line.target[0]} {line.target[1]!r} in this campaign.")
        if attribute.target_type != info.type:
            raise _Refused("attribute", "target_type",
                           f"{attribute.key!r} is asked about a {attribute.target_type}, not a {info.type}.")
        user = self.users.get(line.annotator)
        key = (line.annotator, info.id, attribute.pk)
        saved = (user.pk, info.id, attribute.pk) if user is not None else None
        if key in self.seen or saved in self.existing["responses"]:
            return None
        if saved in self.existing["slots"]:
            raise _Refused("target", "already_assigned",
                           "This annotator holds an assignment for this target and attribute without an answer.")
        value, shown = _value_in_ids(attribute, info, line.value)
        ratings: dict[int, int] = {}
        if attribute.kind == AttributeKind.RANKING:
            if user is not None:
                ratings.update(ranking_ratings(annotator=user, ranking=attribute, image_ids=list(info.image_ids)))
            ratings.update({i: self.file_ratings[(line.annotator, i)] for i in info.image_ids
                            if (line.annotator, i) in self.file_ratings})
        try:
            clean = value_validate(attribute=attribute, value=value, context=ValueContext(
                image_ids=shown, n_tokens=info.n_tokens, ratings=ratings, prefix="value"))
        except ApplicationError as exc:
            raise _Refused(exc.extra.get("field"), exc.extra.get("rule"), exc.message) from None
        self.seen.add(key)
        if attribute.key in self.rating_keys and info.type == TargetType.ITEM and "value" in clean:
            self.file_ratings[(line.annotator, info.image_ids[0])] = clean["value"]
        return _Good(line=line, target=info, attribute=attribute, value=clean, shown=shown)


def responses_import(*, campaign: Campaign, lines: Iterable[str], strict: bool = False,
                     consolidate: bool = True) -> ResponseImportReport:
    """Import JSONL response lines into ``campaign``; see the module docstring for the format."""
    report = ResponseImportReport()
    parsed: list[_Line] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        report.lines += 1
        try:
            line = _parse(number, text)
        except _Refused as refused:
            report.errors.append(LineError(number, refused.field, refused.rule, refused.message))
            continue
        if line is None:
            report.not_valid += 1
        else:
            parsed.append(line)

    attributes = {a.key: a for a in Attribute.objects.filter(campaign=campaign)}
    targets = _resolve_targets(campaign, parsed)
    users = _resolve_annotators(campaign, [line.annotator for line in parsed])
    checker = _Checker(
        attributes=attributes, targets=targets, users=users,
        existing=_existing_keys(users.values(), [t.id for t in targets.values()]),
        rating_keys={(a.config or {}).get("rating_attribute") for a in attributes.values()
                     if a.kind == AttributeKind.RANKING} - {None})

    def ranking_last(line: _Line) -> tuple[bool, int]:
        # Rankings are checked against the ratings of the same file, so those come first.
        attribute = attributes.get(line.attribute)
        return attribute is not None and attribute.kind == AttributeKind.RANKING, line.number

    good: list[_Good] = []
    for line in sorted(parsed, key=ranking_last):
        try:
            checked = checker.check(line)
        except _Refused as refused:
            report.errors.append(LineError(line.number, refused.field, refused.rule, refused.message))
            continue
        if checked is None:
            report.duplicates += 1
        else:
            good.append(checked)
    report.errors.sort(key=lambda e: e.line)

    if strict and report.errors:
        report.rolled_back = True
        return report
    if good:
        touched = _write(campaign=campaign, good=good, users=users, report=report)
        if consolidate:
            report.targets_consolidated = _consolidate(campaign=campaign, touched=touched)
    return report


def responses_import_file(*, campaign: Campaign, path: Path, strict: bool = False) -> ResponseImportReport:
    with Path(path).open(encoding="utf-8") as fh:
        return responses_import(campaign=campaign, lines=fh, strict=strict)


def _existing_keys(users: Iterable, target_ids: Sequence[int]) -> dict[str, set[tuple[int, int, int]]]:
    """(annotator, target, attribute) keys that already have a response, or an assignment slot."""
    user_ids = [u.pk for u in users]
    out: dict[str, set] = {"responses": set(), "slots": set()}
    if not user_ids:
        return out
    for chunk in chunked(list(target_ids), BATCH):
        out["responses"].update(Response.objects.filter(annotator_id__in=user_ids, target_id__in=chunk)
                                .values_list("annotator_id", "target_id", "attribute_id"))
        out["slots"].update(AssignmentSlot.objects.filter(annotator_id__in=user_ids, target_id__in=chunk)
                            .values_list("annotator_id", "target_id", "attribute_id"))
    return out


def _username(name: str) -> str:
    """The external name, or the name with a numeric suffix where an unrelated account holds it."""
    User = get_user_model()
    base = name[:USERNAME_MAX - 8]
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@transaction.atomic
def _write(*, campaign: Campaign, good: list[_Good], users: dict[str, Any],
           report: ResponseImportReport) -> dict[int, set[int]]:
    """Write the good lines; returns {target id: attribute ids} touched."""
    for name in sorted({g.line.annotator for g in good} - set(users)):
        users[name], _, _ = user_create(username=_username(name), role=ANNOTATOR)
        report.annotators_created += 1
    names_by_user = {users[name].pk: name for name in {g.line.annotator for g in good}}
    for name in sorted({g.line.annotator for g in good}):
        standing = standing_ensure(campaign=campaign, annotator=users[name])
        if not standing.external_name:
            AnnotatorStanding.objects.filter(pk=standing.pk).update(external_name=name)

    by_assignment: dict[tuple[int, int], list[_Good]] = defaultdict(list)
    for g in good:
        by_assignment[(users[g.line.annotator].pk, g.target.id)].append(g)
    reuse = {(a.annotator_id, a.target_id): a for a in Assignment.objects.filter(
        campaign=campaign, source="import", status=Assignment.Status.SUBMITTED,
        annotator_id__in=list(names_by_user), target_id__in=list({g.target.id for g in good}))}
    now = timezone.now()
    new = [Assignment(campaign=campaign, annotator_id=user_id, target_id=target_id,
                      status=Assignment.Status.SUBMITTED, lease_expires_at=now, submitted_at=now, source="import",
                      is_gold=lines[0].target.is_gold, display={"images": list(lines[0].shown)})
           for (user_id, target_id), lines in by_assignment.items() if (user_id, target_id) not in reuse]
    Assignment.objects.bulk_create(new, batch_size=BATCH)
    assignments = {**reuse, **{(a.annotator_id, a.target_id): a for a in new}}
    report.assignments = len(new)

    slots, responses = [], []
    touched: dict[int, set[int]] = defaultdict(set)
    for (user_id, target_id), lines in by_assignment.items():
        assignment = assignments[(user_id, target_id)]
        for position, g in enumerate(lines):
            slots.append(AssignmentSlot(assignment=assignment, attribute=g.attribute, target_id=target_id,
                                        annotator_id=user_id, position=position))
            responses.append(Response(assignment=assignment, attribute=g.attribute, target_id=target_id,
                                      annotator_id=user_id, value=g.value, active_ms=g.line.active_ms))
            touched[target_id].add(g.attribute.pk)
    AssignmentSlot.objects.bulk_create(slots, batch_size=BATCH)
    Response.objects.bulk_create(responses, batch_size=BATCH)
    report.imported = len(responses)

    # Slot.n_done counts valid responses; a (target, attribute) without a Slot yet gets one.
    done: dict[tuple[int, int], int] = defaultdict(int)
    for r in responses:
        done[(r.target_id, r.attribute_id)] += 1
    counters = []
    for chunk in chunked(sorted(touched), BATCH):
        for slot in Slot.objects.select_for_update().filter(target_id__in=chunk).order_by("id"):
            count = done.pop((slot.target_id, slot.attribute_id), 0)
            if count:
                slot.n_done += count
                counters.append(slot)
    Slot.objects.bulk_update(counters, ["n_done"], batch_size=BATCH)
    Slot.objects.bulk_create([Slot(campaign=campaign, target_id=target_id, attribute_id=attribute_id, n_done=count)
                              for (target_id, attribute_id), count in sorted(done.items())], batch_size=BATCH)
    return touched


def _consolidate(*, campaign: Campaign, touched: dict[int, set[int]]) -> int:
    if len(touched) > RECOMPUTE_MAX_TARGETS:
        campaign_consolidate(campaign=campaign)
    else:
        for target_id, attribute_ids in sorted(touched.items()):
            consolidated_recompute(target_id=target_id, attribute_ids=sorted(attribute_ids))
    return len(touched)

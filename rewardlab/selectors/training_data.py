"""Training data of a campaign's reward models, read from consolidated values.

- Rows are the campaign's item targets (one image and its prompt each).
- Concept labels (CBM stage 1) come from binary attributes' consolidated
  majority (``value["value"]``; a target with only "unsure" answers has no
  label) and from Likert attributes' consolidated score (mean normalised to
  [0, 1]) binarised at ``Attribute.binarize_threshold`` (or the campaign
  default): score >= threshold is positive. A concept nobody answered is NaN:
  the models' masked losses ignore it.
- The coarse label is the campaign's ``is_coarse`` item attribute, read the
  same way.
- Preference pairs come from rankings (every image pair one side of which
  more annotators ranked higher; ties give nothing) and side-by-side
  majorities ("tie" and "unsure" give nothing).
- Splits are by prompt, never by image (Collins et al.: "We split the data
  along the prompts"). When any item of the campaign has ``split="heldout"``
  (``seed_synthetic`` and imports set it), a prompt is held out iff one of
  its items is; otherwise a seeded hash of the prompt id holds out about
  ``heldout_frac`` of the prompts. Either way all images of a prompt fall on
  one side.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db.models import Sum

from annotator.models import Attribute, AttributeKind, Campaign, Consolidated, Image, Item, Response, Target, TargetType

LABEL_KINDS = (AttributeKind.BINARY, AttributeKind.LIKERT)
PAIR_KINDS = (AttributeKind.RANKING, AttributeKind.SXS)
HELDOUT = "heldout"


# ---------------------------------------------------------------- splits
def prompt_hash_heldout(prompt_id: int, *, heldout_frac: float, seed: int = 0) -> bool:
    """Whether a prompt is held out by the seeded hash (stable across runs, processes and machines)."""
    digest = hashlib.sha256(f"rewardlab-split:{seed}:{prompt_id}".encode()).hexdigest()
    return int(digest[:15], 16) / float(16**15) < heldout_frac


def prompt_splits(*, campaign: Campaign, prompt_ids: Iterable[int], heldout_frac: float = 0.2,
                  seed: int = 0) -> dict[int, bool]:
    """``{prompt_id: held_out}`` for the given prompts (see the module docstring for the rule)."""
    explicit = set(Item.objects.filter(campaign=campaign, split=HELDOUT).values_list("image__prompt_id", flat=True))
    if explicit:
        return {pid: pid in explicit for pid in prompt_ids}
    return {pid: prompt_hash_heldout(pid, heldout_frac=heldout_frac, seed=seed) for pid in prompt_ids}


# ---------------------------------------------------------------- items
@dataclass(frozen=True)
class ItemTable:
    """One row per item target, in target id order."""

    target_ids: np.ndarray
    image_ids: np.ndarray
    image_sha256: list[str]
    prompt_ids: np.ndarray
    prompt_sha256: list[str]
    heldout: np.ndarray

    def __len__(self) -> int:
        return len(self.target_ids)


def item_table(*, campaign: Campaign, heldout_frac: float = 0.2, seed: int = 0) -> ItemTable:
    rows = list(Target.objects.filter(campaign=campaign, type=TargetType.ITEM).order_by("pk").values_list(
        "pk", "item__image_id", "item__image__sha256", "prompt_id", "prompt__text_sha256"))
    splits = prompt_splits(campaign=campaign, prompt_ids={r[3] for r in rows}, heldout_frac=heldout_frac, seed=seed)
    return ItemTable(
        target_ids=np.array([r[0] for r in rows], dtype=np.int64),
        image_ids=np.array([r[1] for r in rows], dtype=np.int64),
        image_sha256=[r[2] for r in rows],
        prompt_ids=np.array([r[3] for r in rows], dtype=np.int64),
        prompt_sha256=[r[4] for r in rows],
        heldout=np.array([splits[r[3]] for r in rows], dtype=bool),
    )


# ---------------------------------------------------------------- labels
def concept_attributes(*, campaign: Campaign, keys: Sequence[str] | None = None) -> list[Attribute]:
    """The CBM's concepts: active binary / Likert item attributes other than the coarse one, or ``keys``."""
    qs = Attribute.objects.filter(campaign=campaign, target_type=TargetType.ITEM, kind__in=LABEL_KINDS)
    if keys is not None:
        by_key = {a.key: a for a in qs.filter(key__in=list(keys))}
        missing = [k for k in keys if k not in by_key]
        if missing:
            raise ValueError(f"no binary or Likert item attribute {missing[0]!r} in campaign {campaign.pk}")
        return [by_key[k] for k in keys]
    return list(qs.filter(active=True, is_coarse=False).order_by("order", "id"))


def coarse_attribute(*, campaign: Campaign, key: str | None = None) -> Attribute | None:
    """The coarse label: ``key`` if given, else the campaign's first ``is_coarse`` binary / Likert item attribute."""
    qs = Attribute.objects.filter(campaign=campaign, target_type=TargetType.ITEM, kind__in=LABEL_KINDS)
    if key is not None:
        return qs.filter(key=key).first()
    return qs.filter(is_coarse=True).order_by("order", "id").first()


def label_of(*, kind: str, value: dict | None, score: float | None, threshold: float) -> float:
    """1.0 / 0.0 from one consolidated value, NaN when it carries no label."""
    if kind == AttributeKind.BINARY:
        if not isinstance(value, dict) or (value.get("yes", 0) + value.get("no", 0)) == 0:
            return np.nan
        return 1.0 if value.get("value") else 0.0
    if score is None:
        return np.nan
    return 1.0 if score >= threshold else 0.0


def _threshold(attribute: Attribute, default: float) -> float:
    return attribute.binarize_threshold if attribute.binarize_threshold is not None else default


@dataclass(frozen=True)
class ConceptData:
    """Rows of ``items``; ``C`` (n, k) and ``y`` (n,) hold 0/1 with NaN where unknown."""

    items: ItemTable
    concept_keys: list[str]
    concept_attribute_ids: list[int]
    C: np.ndarray
    coarse_key: str | None
    coarse_attribute_id: int | None
    y: np.ndarray

    @property
    def labelled(self) -> np.ndarray:
        """Rows with at least one known concept or a known coarse label."""
        return (~np.isnan(self.C)).any(axis=1) | ~np.isnan(self.y)


def concept_data(*, campaign: Campaign, concept_keys: Sequence[str] | None = None, coarse_key: str | None = None,
                 heldout_frac: float = 0.2, seed: int = 0, default_threshold: float = 0.5,
                 complete_only: bool = False) -> ConceptData:
    """Concept and coarse labels of every item target (see the module docstring).

    ``complete_only`` keeps only consolidated values with ``overlap``
    answers; by default a partial majority counts too, as elicitation leaves
    many targets with fewer answers.
    """
    items = item_table(campaign=campaign, heldout_frac=heldout_frac, seed=seed)
    concepts = concept_attributes(campaign=campaign, keys=concept_keys)
    coarse = coarse_attribute(campaign=campaign, key=coarse_key)
    if coarse is not None:
        concepts = [a for a in concepts if a.pk != coarse.pk]
    row_of = {int(t): i for i, t in enumerate(items.target_ids)}
    column_of = {a.pk: j for j, a in enumerate(concepts)}
    attributes = {a.pk: a for a in [*concepts, *([coarse] if coarse else [])]}
    C = np.full((len(items), len(concepts)), np.nan)
    y = np.full(len(items), np.nan)
    qs = Consolidated.objects.filter(campaign=campaign, attribute_id__in=list(attributes),
                                     target__type=TargetType.ITEM)
    if complete_only:
        qs = qs.filter(complete=True)
    for target_id, attribute_id, value, score in qs.values_list(
            "target_id", "attribute_id", "value", "score").iterator(chunk_size=5000):
        row = row_of.get(target_id)
        if row is None:
            continue
        attribute = attributes[attribute_id]
        label = label_of(kind=attribute.kind, value=value, score=score,
                         threshold=_threshold(attribute, default_threshold))
        if coarse is not None and attribute_id == coarse.pk:
            y[row] = label
        else:
            C[row, column_of[attribute_id]] = label
    return ConceptData(items=items, concept_keys=[a.key for a in concepts],
                       concept_attribute_ids=[a.pk for a in concepts], C=C,
                       coarse_key=coarse.key if coarse else None, coarse_attribute_id=coarse.pk if coarse else None,
                       y=y)


# ---------------------------------------------------------------- pairs
@dataclass(frozen=True)
class PairData:
    """Preference pairs over a table of images: ``pairs[i] = [better row, worse row]``."""

    image_ids: np.ndarray
    image_sha256: list[str]
    prompt_sha256: list[str]
    pairs: np.ndarray
    heldout: np.ndarray
    target_ids: np.ndarray
    attribute_ids: list[int]

    def __len__(self) -> int:
        return len(self.pairs)


def _majority_pairs(kind: str, value: dict) -> list[tuple[int, int]]:
    if kind == AttributeKind.RANKING:
        out = []
        for p in value.get("pairs") or []:
            if p["a_wins"] > p["b_wins"]:
                out.append((int(p["a"]), int(p["b"])))
            elif p["b_wins"] > p["a_wins"]:
                out.append((int(p["b"]), int(p["a"])))
        return out
    majority = value.get("majority")
    image_a, image_b = value.get("image_a"), value.get("image_b")
    if isinstance(majority, bool) or not isinstance(majority, int) or image_a is None or image_b is None:
        return []  # "tie", "unsure" or nothing
    return [(majority, image_b if majority == image_a else image_a)]


def preference_pairs(*, campaign: Campaign, heldout_frac: float = 0.2, seed: int = 0) -> PairData:
    attributes = dict(Attribute.objects.filter(campaign=campaign, kind__in=PAIR_KINDS).values_list("pk", "kind"))
    raw: list[tuple[int, int, int, int]] = []  # better image, worse image, target, prompt
    for target_id, attribute_id, prompt_id, value in (
            Consolidated.objects.filter(campaign=campaign, attribute_id__in=list(attributes))
            .order_by("target_id", "attribute_id")
            .values_list("target_id", "attribute_id", "target__prompt_id", "value").iterator(chunk_size=5000)):
        for better, worse in _majority_pairs(attributes[attribute_id], value or {}):
            raw.append((better, worse, target_id, prompt_id))
    image_ids = sorted({i for b, w, _, _ in raw for i in (b, w)})
    info = {}
    for start in range(0, len(image_ids), 2000):
        info.update({pk: (sha, psha) for pk, sha, psha in Image.objects.filter(pk__in=image_ids[start:start + 2000])
                     .values_list("pk", "sha256", "prompt__text_sha256")})
    row_of = {pk: i for i, pk in enumerate(image_ids)}
    splits = prompt_splits(campaign=campaign, prompt_ids={r[3] for r in raw}, heldout_frac=heldout_frac, seed=seed)
    return PairData(
        image_ids=np.array(image_ids, dtype=np.int64),
        image_sha256=[info[pk][0] for pk in image_ids],
        prompt_sha256=[info[pk][1] for pk in image_ids],
        pairs=np.array([[row_of[b], row_of[w]] for b, w, _, _ in raw], dtype=np.int64).reshape(-1, 2),
        heldout=np.array([splits[r[3]] for r in raw], dtype=bool),
        target_ids=np.array([r[2] for r in raw], dtype=np.int64),
        attribute_ids=sorted(attributes),
    )


# ---------------------------------------------------------------- cost
def responses_cost_s(*, target_ids: Iterable[int], attribute_ids: Iterable[int]) -> float:
    """Annotator active seconds of the valid responses to these (target, attribute) combinations."""
    target_ids, attribute_ids = sorted(set(map(int, target_ids))), sorted(set(map(int, attribute_ids)))
    total = 0
    for start in range(0, len(target_ids), 2000):
        total += (Response.objects.filter(valid=True, attribute_id__in=attribute_ids,
                                          target_id__in=target_ids[start:start + 2000])
                  .aggregate(ms=Sum("active_ms"))["ms"] or 0)
    return total / 1000.0

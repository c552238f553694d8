"""Test data builders: campaigns, prompts, images, targets, slots, assignments, responses.

Plain functions that create rows directly (no import service), so any test
can build exactly the campaign it needs::

    from tests import factories as f

    user = f.user_make(role="annotator")
    campaign = f.campaign_make(presets=["richhf"], overlap=3)
    items = [f.item_make(campaign=campaign) for _ in range(3)]     # Item + Target + Slots
    group = f.group_make(campaign=campaign, n_images=4)             # Group + GroupImages + Target + Slots
    pair = f.pair_make(campaign=campaign)                           # Pair + Target + Slots
    target = f.prompt_target_make(campaign=campaign)                # prompt Target + Slots
    f.response_make(annotator=user, target=items[0].target,         # a submitted answer, counters updated
                    attribute=campaign.attributes.get(key="overall"), value={"value": 4})

Images are real PNGs drawn with Pillow (every call a different picture, so
sha256s never collide) and stored through Django's File into ``Image.file``;
the tests' MEDIA_ROOT is a temporary folder (see conftest). Slots are made
with ``annotator.services.campaigns.slots_ensure``, so the attributes a
campaign has when a target is made get their slots; attributes added later
need ``slots_ensure(campaign=...)`` again.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db.models import F
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageDraw

from annotator.models import (
    Assignment, AssignmentSlot, Attribute, Campaign, Group, GroupImage, Image, Item, Pair, Prompt, Response, Slot,
    Target, TargetType,
)
from annotator.services.campaigns import campaign_create, slots_ensure
from annotator.tokens import tokenize

_counter = itertools.count(1)

DEFAULT_PROMPT = "a red cube on top of a blue sphere"


def png_bytes(*, width: int = 64, height: int = 48, seed: int | None = None) -> bytes:
    """A small PNG whose pixels depend on ``seed`` (a fresh one per call when None)."""
    seed = next(_counter) if seed is None else seed
    color = ((seed * 67) % 256, (seed * 131) % 256, (seed * 199) % 256)
    picture = PILImage.new("RGB", (width, height), color)
    # A seed-dependent mark so that two seeds with the same colour still differ.
    ImageDraw.Draw(picture).rectangle([0, 0, seed % width, (seed // width) % height], fill=(255 - color[0], 0, 0))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def user_make(*, username: str | None = None, role: str | None = "annotator"):
    """A user in a role group, made directly (no password hashing: fast enough for dozens per test).

    Use conftest's ``make_user`` where the test logs in with a password.
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group as RoleGroup

    user = get_user_model().objects.create(username=username or f"user-{next(_counter)}")
    if role is not None:
        user.groups.add(RoleGroup.objects.get_or_create(name=role)[0])
    return user


def campaign_make(*, name: str | None = None, presets: Iterable[str] = ("richhf",), overlap: int = 3,
                  **fields) -> Campaign:
    """A campaign with the presets' attributes; extra keyword arguments set Campaign fields."""
    campaign, _ = campaign_create(name=name or f"campaign-{next(_counter)}", presets=list(presets),
                                  overlap=overlap)
    if fields:
        for key, value in fields.items():
            setattr(campaign, key, value)
        campaign.save(update_fields=list(fields))
    return campaign


def attribute_make(*, campaign: Campaign, key: str, kind: str, ensure_slots: bool = True, **fields) -> Attribute:
    """One attribute (defaults: item target, required, placed after the others) and its slots."""
    order = (campaign.attributes.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    fields.setdefault("question", f"{key}?")
    fields.setdefault("order", order)
    attribute = Attribute.objects.create(campaign=campaign, key=key, kind=kind, **fields)
    if ensure_slots:
        slots_ensure(campaign=campaign, attributes=[attribute])
    return attribute


def prompt_make(*, text: str | None = None, category: str = "") -> Prompt:
    """A prompt with server-side tokens; the same text gives the same row."""
    text = text or f"{DEFAULT_PROMPT} number {next(_counter)}"
    sha = hashlib.sha256(text.encode()).hexdigest()
    prompt, _ = Prompt.objects.get_or_create(text_sha256=sha, defaults={
        "text": text, "tokens": tokenize(text), "category": category})
    return prompt


def image_make(*, prompt: Prompt | None = None, width: int = 64, height: int = 48, seed: int | None = None,
               generator: str = "test-gen") -> Image:
    """A stored PNG image of the given size, written through Django's storage."""
    data = png_bytes(width=width, height=height, seed=seed)
    sha = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(sha256=sha).first()
    if existing is not None:
        return existing
    image = Image(prompt=prompt or prompt_make(), sha256=sha, byte_size=len(data), format="PNG",
                  generator=generator, seed=seed, width=width, height=height)
    image.file.save(f"{sha}.png", ContentFile(data), save=False)
    # Re-set after the save: the ImageField reads dimensions from the
    # half-consumed upload and would store None.
    image.width, image.height = width, height
    image.save()
    return image


def item_make(*, campaign: Campaign, image: Image | None = None, prompt: Prompt | None = None,
              external_id: str | None = None, split: str = "train", is_gold: bool = False) -> Item:
    """An item, its Target (``item.target``) and the Slots of the campaign's item attributes."""
    image = image or image_make(prompt=prompt)
    item = Item.objects.create(campaign=campaign, image=image, external_id=external_id or f"item-{image.pk}",
                               split=split)
    target = Target.objects.create(campaign=campaign, type=TargetType.ITEM, item=item, prompt=image.prompt,
                                   is_gold=is_gold)
    slots_ensure(campaign=campaign, targets=[target])
    return item


def group_make(*, campaign: Campaign, n_images: int = 4, prompt: Prompt | None = None,
               images: Sequence[Image] | None = None, name: str | None = None, with_items: bool = False) -> Group:
    """A ranking group of ``n_images`` images of one prompt (positions 0..n-1) with Target and Slots.

    ``with_items=True`` also makes each image an item of the campaign, as a
    ranking campaign with ratings has them.
    """
    prompt = prompt or (images[0].prompt if images else prompt_make())
    images = list(images) if images else [image_make(prompt=prompt) for _ in range(n_images)]
    group = Group.objects.create(campaign=campaign, prompt=prompt, name=name or f"group-{next(_counter)}")
    GroupImage.objects.bulk_create([GroupImage(group=group, image=image, position=position)
                                    for position, image in enumerate(images)])
    target = Target.objects.create(campaign=campaign, type=TargetType.GROUP, group=group, prompt=prompt)
    slots_ensure(campaign=campaign, targets=[target])
    if with_items:
        for image in images:
            item_make(campaign=campaign, image=image)
    return group


def pair_make(*, campaign: Campaign, prompt: Prompt | None = None, image_a: Image | None = None,
              image_b: Image | None = None) -> Pair:
    """A side-by-side pair (two images of one prompt) with Target and Slots."""
    prompt = prompt or (image_a.prompt if image_a else prompt_make())
    pair = Pair.objects.create(campaign=campaign, image_a=image_a or image_make(prompt=prompt),
                               image_b=image_b or image_make(prompt=prompt))
    target = Target.objects.create(campaign=campaign, type=TargetType.PAIR, pair=pair, prompt=prompt)
    slots_ensure(campaign=campaign, targets=[target])
    return pair


def prompt_target_make(*, campaign: Campaign, prompt: Prompt | None = None) -> Target:
    """A prompt target (prompt category, flags) with Slots."""
    target = Target.objects.create(campaign=campaign, type=TargetType.PROMPT, prompt=prompt or prompt_make())
    slots_ensure(campaign=campaign, targets=[target])
    return target


def assignment_make(*, annotator, target: Target, attributes: Iterable[Attribute] | None = None,
                    status: str = Assignment.Status.ISSUED, lease_seconds: int | None = None,
                    display: dict | None = None) -> Assignment:
    """An assignment made directly (not through the next-task policy), with Slot.n_open kept right.

    ``attributes`` default to the campaign's active attributes of the target's type.
    ``lease_seconds`` below zero makes a lease that already ran out.
    """
    campaign = target.campaign
    attributes = list(attributes if attributes is not None
                      else campaign.attributes.filter(active=True, target_type=target.type))
    now = timezone.now()
    seconds = campaign.lease_seconds if lease_seconds is None else lease_seconds
    assignment = Assignment.objects.create(
        campaign=campaign, annotator=annotator, target=target, status=status, is_gold=target.is_gold,
        lease_expires_at=now + timedelta(seconds=seconds), display=display or {},
    )
    AssignmentSlot.objects.bulk_create([
        AssignmentSlot(assignment=assignment, attribute=attribute, target=target, annotator=annotator,
                       position=position) for position, attribute in enumerate(attributes)])
    if status == Assignment.Status.ISSUED:
        for attribute in attributes:
            Slot.objects.filter(target=target, attribute=attribute).update(n_open=F("n_open") + 1)
    return assignment


def response_make(*, annotator, target: Target, attribute: Attribute, value: dict,
                  active_ms: int | None = 1000, valid: bool = True) -> Response:
    """A submitted one-attribute assignment with its Response; Slot.n_done counts it when valid."""
    assignment = assignment_make(annotator=annotator, target=target, attributes=[attribute],
                                 status=Assignment.Status.SUBMITTED)
    assignment.submitted_at = timezone.now()
    assignment.submission_id = uuid.uuid4()
    assignment.save(update_fields=["submitted_at", "submission_id"])
    response = Response.objects.create(assignment=assignment, attribute=attribute, target=target,
                                       annotator=annotator, value=value, active_ms=active_ms, valid=valid)
    if valid:
        Slot.objects.filter(target=target, attribute=attribute).update(n_done=F("n_done") + 1)
    return response


def campaign_populate(*, campaign: Campaign, n_items: int = 0, n_groups: int = 0, n_pairs: int = 0,
                      n_prompts: int = 0, group_size: int = 4) -> dict[str, list]:
    """Several targets of each type at once: ``{"items", "groups", "pairs", "prompts"}``."""
    return {
        "items": [item_make(campaign=campaign) for _ in range(n_items)],
        "groups": [group_make(campaign=campaign, n_images=group_size) for _ in range(n_groups)],
        "pairs": [pair_make(campaign=campaign) for _ in range(n_pairs)],
        "prompts": [prompt_target_make(campaign=campaign) for _ in range(n_prompts)],
    }


def slot_get(*, target: Target, key: str) -> Slot:
    """The Slot of ``target`` for the attribute with ``key`` (fresh from the database)."""
    return Slot.objects.get(target=target, attribute__key=key)

"""Campaigns, presets, targets and slots."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from annotator.models import Attribute, Campaign, Slot, Target, TargetType
from annotator.presets import PRESETS
from annotator.errors import ApplicationError


def campaign_get(*, ref: str | int) -> Campaign:
    """A campaign by name or id (every command takes either)."""
    ref = str(ref)
    campaign = Campaign.objects.filter(name=ref).first()
    if campaign is None and ref.isdigit():
        campaign = Campaign.objects.filter(pk=int(ref)).first()
    if campaign is None:
        raise ApplicationError(f"No campaign named or numbered {ref!r}.", field="campaign", rule="exists",
                               status_code=404)
    return campaign


@transaction.atomic
def campaign_create(*, name: str, presets: Iterable[str] = (), overlap: int = 3,
                    point_radius_frac: float = 0.05, instructions: str = "", policy: str = "all") -> tuple[Campaign, bool]:
    """Create a campaign with its preset attributes; re-running with the same name changes nothing."""
    existing = Campaign.objects.filter(name=name).first()
    if existing is not None:
        return existing, False
    if not 1 <= overlap <= 50:
        raise ApplicationError("overlap must be between 1 and 50.", field="overlap", rule="range")
    if not 0 < point_radius_frac <= 0.5:
        raise ApplicationError("radius fraction must be in (0, 0.5].", field="point_radius_frac", rule="range")
    campaign = Campaign.objects.create(name=name, overlap=overlap, point_radius_frac=point_radius_frac,
                                       instructions=instructions, policy=policy)
    for preset in presets:
        preset_apply(campaign=campaign, preset=preset)
    return campaign, True


@transaction.atomic
def preset_apply(*, campaign: Campaign, preset: str) -> list[Attribute]:
    """Add a preset's attributes (existing keys are left as the researcher edited them)."""
    if preset not in PRESETS:
        raise ApplicationError(f"Unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}.",
                               field="presets", rule="known_preset")
    order = (campaign.attributes.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    created = []
    for spec in PRESETS[preset]:
        attribute, was_created = Attribute.objects.get_or_create(
            campaign=campaign, key=spec.key,
            defaults={**spec.as_fields(), "preset": preset, "order": order},
        )
        order += 1
        if was_created:
            created.append(attribute)
    if created:
        slots_ensure(campaign=campaign, attributes=created)
    return created


def slots_ensure(*, campaign: Campaign, attributes: Iterable[Attribute] | None = None,
                 targets: Iterable[Target] | None = None) -> int:
    """Create the missing (target, attribute) slots for matching target types."""
    attributes = list(attributes if attributes is not None else campaign.attributes.all())
    by_type: dict[str, list[Attribute]] = {}
    for attribute in attributes:
        by_type.setdefault(attribute.target_type, []).append(attribute)
    if targets is None:
        target_qs = Target.objects.filter(campaign=campaign, type__in=list(by_type))
    else:
        target_qs = [t for t in targets if t.type in by_type]
    new = []
    for target in (target_qs.iterator() if hasattr(target_qs, "iterator") else target_qs):
        for attribute in by_type.get(target.type, ()):
            new.append(Slot(campaign=campaign, target=target, attribute=attribute))
    Slot.objects.bulk_create(new, ignore_conflicts=True, batch_size=2000)
    return len(new)


def target_types() -> list[str]:
    return [t.value for t in TargetType]

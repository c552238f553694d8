"""Reads of the cost model: policy settings, per-attribute estimates, annotator speed.

The estimate is computed on read from sufficient statistics (``n`` and the
sum of log-seconds) kept by ``elicitation.services.costs``: the same
shrinkage as the pure ``elicitation.costs.cost_estimate``, so a changed
pseudo-count applies at once and a submit only has to add two numbers.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from annotator.models import Attribute, Campaign
from elicitation.costs import MIN_SECONDS
from elicitation.models import AnnotatorSpeed, Budget

DEFAULT_PSEUDO_COUNT = 5.0
DEFAULT_CHARGE_CAP_MULTIPLE = 3.0


@dataclass(frozen=True)
class PolicySettings:
    """A campaign's elicitation settings: its Budget row's, or the site defaults without one."""

    budget: Budget | None
    pseudo_count: float
    charge_cap_multiple: float
    per_annotator_speed: bool

    @property
    def limited(self) -> bool:
        return self.budget is not None and self.budget.limit_s is not None


def policy_settings(*, campaign: Campaign, budget: Budget | None | bool = False) -> PolicySettings:
    """Settings from ``budget`` if given (None: the campaign has none), else read (unlocked)."""
    if budget is False:
        budget = Budget.objects.filter(campaign=campaign).first()
    if budget is None:
        return PolicySettings(
            budget=None,
            pseudo_count=float(getattr(settings, "ELICITATION_PSEUDO_COUNT", DEFAULT_PSEUDO_COUNT)),
            charge_cap_multiple=float(getattr(settings, "ELICITATION_CHARGE_CAP_MULTIPLE",
                                              DEFAULT_CHARGE_CAP_MULTIPLE)),
            per_annotator_speed=False,
        )
    return PolicySettings(budget=budget, pseudo_count=budget.pseudo_count,
                          charge_cap_multiple=budget.charge_cap_multiple,
                          per_annotator_speed=budget.per_annotator_speed)


def estimate_from_sums(*, prior_s: float, n: int, sum_log_s: float, pseudo_count: float) -> float:
    """``cost_estimate`` from sufficient statistics: exp((k log prior + sum log t) / (k + n))."""
    prior = max(float(prior_s), MIN_SECONDS)
    if pseudo_count + n <= 0:
        return prior
    return math.exp((pseudo_count * math.log(prior) + sum_log_s) / (pseudo_count + n))


@dataclass(frozen=True)
class AttributeCost:
    attribute_id: int
    key: str
    order: int
    prior_s: float
    estimate_s: float
    n: int
    measured_median_s: float | None


def cost_of(attribute: Attribute, *, pseudo_count: float) -> AttributeCost:
    """The cost of one attribute whose ``cost_estimate`` relation is loaded (or missing)."""
    row = getattr(attribute, "cost_estimate", None) if _has_estimate(attribute) else None
    n, sum_log = (row.n, row.sum_log_s) if row is not None else (0, 0.0)
    return AttributeCost(attribute_id=attribute.pk, key=attribute.key, order=attribute.order,
                         prior_s=attribute.prior_cost_s,
                         estimate_s=estimate_from_sums(prior_s=attribute.prior_cost_s, n=n, sum_log_s=sum_log,
                                                       pseudo_count=pseudo_count),
                         n=n, measured_median_s=row.measured_median_s if row is not None else None)


def _has_estimate(attribute: Attribute) -> bool:
    try:
        attribute.cost_estimate  # noqa: B018 - a reverse one-to-one raises when the row is missing
    except Attribute.cost_estimate.RelatedObjectDoesNotExist:
        return False
    return True


def attribute_costs(*, campaign: Campaign, attribute_ids: Iterable[int] | None = None,
                    policy: PolicySettings | None = None) -> dict[int, AttributeCost]:
    """Cost of each attribute of the campaign (or of ``attribute_ids``), by attribute id; one query."""
    policy = policy or policy_settings(campaign=campaign)
    qs = Attribute.objects.filter(campaign=campaign).select_related("cost_estimate")
    if attribute_ids is not None:
        qs = qs.filter(pk__in=list(attribute_ids))
    return {a.pk: cost_of(a, pseudo_count=policy.pseudo_count) for a in qs}


def annotator_speed_factor(*, campaign: Campaign, annotator, policy: PolicySettings) -> float:
    """Multiplicative speed of an annotator (1.0 when the campaign does not use speeds)."""
    if not policy.per_annotator_speed or annotator is None:
        return 1.0
    row = AnnotatorSpeed.objects.filter(campaign=campaign, annotator=annotator).values_list(
        "n", "sum_log_ratio").first()
    if row is None:
        return 1.0
    n, total = row
    # elicitation.costs.annotator_speed from its sufficient statistics.
    return math.exp(total / (policy.pseudo_count + n)) if policy.pseudo_count + n > 0 else 1.0

"""Reads for the budget views: totals, spend over time, cost and value per attribute, stored scores.

Everything here is an aggregate query or a handful of rows, so the
dashboard panel stays cheap however large the campaign's ledger grows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Max, Min, Sum
from django.db.models.functions import TruncDay, TruncHour, TruncMinute

from annotator.models import Attribute, Campaign
from elicitation.models import AttributeCap, Budget, LedgerEntry, ScoreState
from elicitation.selectors.costs import PolicySettings, cost_of, policy_settings

Kind = LedgerEntry.Kind


@dataclass(frozen=True)
class BudgetSummary:
    limit_s: float | None
    charged_s: float
    reserved_s: float
    remaining_s: float | None
    hourly_rate: float | None
    currency: str

    def money(self, seconds: float | None) -> float | None:
        if seconds is None or self.hourly_rate is None:
            return None
        return seconds / 3600.0 * self.hourly_rate

    @property
    def used_share(self) -> float | None:
        if not self.limit_s:
            return None
        return (self.charged_s + self.reserved_s) / self.limit_s


def budget_summary(*, campaign: Campaign, budget: Budget | None | bool = False) -> BudgetSummary:
    """The budget's running totals; without a Budget row, the ledger's sums (an unlimited campaign)."""
    if budget is False:
        budget = Budget.objects.filter(campaign=campaign).first()
    if budget is not None:
        return BudgetSummary(budget.limit_s, budget.charged_s, budget.reserved_s, budget.remaining_s,
                             budget.hourly_rate, budget.currency)
    charged = reserved = 0.0
    for kind, total, settled in (LedgerEntry.objects.filter(campaign=campaign).values_list("kind")
                                 .annotate(total=Sum("seconds"), settled=Sum("settled_s"))):
        charged += total if kind == Kind.CHARGE else 0.0
        reserved += LedgerEntry.reserved_delta(kind, total, settled)
    return BudgetSummary(None, charged, max(reserved, 0.0), None, None, "")


def spend_series(*, campaign: Campaign) -> dict[str, list]:
    """Cumulative charged and outstanding reserved seconds over time, bucketed by minute, hour or day.

    ``{"t": [datetime, ...], "charged": [...], "reserved": [...]}`` (one aggregate query after the span).
    """
    entries = LedgerEntry.objects.filter(campaign=campaign)
    span = entries.aggregate(first=Min("created_at"), last=Max("created_at"))
    if span["first"] is None:
        return {"t": [], "charged": [], "reserved": []}
    length = span["last"] - span["first"]
    trunc = TruncMinute if length <= timedelta(hours=6) else TruncHour if length <= timedelta(days=14) else TruncDay
    rows = (entries.annotate(bucket=trunc("created_at")).values_list("bucket", "kind")
            .annotate(total=Sum("seconds"), settled=Sum("settled_s")).order_by("bucket"))
    t, charged, reserved = [], [], []
    total_charged = total_reserved = 0.0
    for bucket, kind, total, settled in rows:
        if not t or t[-1] != bucket:
            t.append(bucket)
            charged.append(total_charged)
            reserved.append(total_reserved)
        if kind == Kind.CHARGE:
            total_charged += total
        total_reserved += LedgerEntry.reserved_delta(kind, total, settled)
        charged[-1], reserved[-1] = total_charged, max(total_reserved, 0.0)
    return {"t": t, "charged": charged, "reserved": reserved}


def attribute_cost_rows(*, campaign: Campaign, policy: PolicySettings | None = None) -> list[dict[str, Any]]:
    """Per attribute, in the campaign's order: prior, measured median, estimate, count, cap (one query)."""
    policy = policy or policy_settings(campaign=campaign)
    rows = []
    caps = {c.attribute_id: c for c in AttributeCap.objects.filter(attribute__campaign=campaign)} \
        if policy.budget is not None else {}
    for attribute in Attribute.objects.filter(campaign=campaign).select_related("cost_estimate"):
        cost = cost_of(attribute, pseudo_count=policy.pseudo_count)
        cap = caps.get(attribute.pk)
        rows.append({"key": attribute.key, "active": attribute.active, "prior_s": cost.prior_s,
                     "measured_median_s": cost.measured_median_s, "estimate_s": cost.estimate_s, "n": cost.n,
                     "cap_s": cap.limit_s if cap else None, "retired": bool(cap and cap.retired)})
    return rows


def attribute_value_rows(*, campaign: Campaign) -> list[dict[str, Any]]:
    """The active CBM's held-out AUC lost per attribute; value <= 0 is a retirement proposal."""
    from rewardlab.selectors.models import attribute_values

    values = attribute_values(campaign=campaign)
    return [{"key": key, "value": value, "retire": value is not None and value <= 0}
            for key, value in sorted(values.items(), key=lambda kv: -(kv[1] if kv[1] is not None else -1e9))]


def score_state(*, campaign: Campaign) -> ScoreState | None:
    return ScoreState.objects.filter(campaign=campaign).first()

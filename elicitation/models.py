"""Models of elicitation: budgets and their ledger, per-attribute cost estimates, stored scores (DESIGN §5).

Amounts are annotator-seconds. ``Budget.charged_s`` and ``Budget.reserved_s``
are running totals changed only under the budget's row lock
(``SELECT ... FOR UPDATE``), so "charged plus reserved never exceeds the
limit" holds under concurrent requests; the ledger rows are the audit trail
they can be rebuilt from (``budget_totals_reconcile``).
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotator.models import Assignment, Attribute, Campaign


class Budget(models.Model):
    """A campaign's budget and elicitation policy settings; a campaign without one is unlimited."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="budget")
    limit_s = models.FloatField(null=True, blank=True,
                                help_text="Annotator-seconds the campaign may spend; blank: unlimited.")
    hourly_rate = models.FloatField(null=True, blank=True,
                                    help_text="Money per annotator-hour, to show spend as money (optional).")
    currency = models.CharField(max_length=8, blank=True, default="USD")
    charged_s = models.FloatField(default=0.0, editable=False, help_text="Measured time of submitted work (capped).")
    reserved_s = models.FloatField(default=0.0, editable=False, help_text="Estimated time of live assignments.")
    pseudo_count = models.FloatField(
        default=5.0, help_text="How many measurements the prior cost is worth in the cost estimate.")
    charge_cap_multiple = models.FloatField(
        default=3.0, help_text="A submission is charged at most this multiple of its estimate (idle tabs).")
    per_annotator_speed = models.BooleanField(
        default=False, help_text="Scale estimates by each annotator's measured speed.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(limit_s__isnull=True) | Q(limit_s__gte=0), name="budget_limit_positive"),
            models.CheckConstraint(condition=Q(pseudo_count__gte=0), name="budget_pseudo_count_positive"),
            models.CheckConstraint(condition=Q(charge_cap_multiple__gte=1), name="budget_cap_multiple_at_least_1"),
        ]

    def __str__(self) -> str:
        return f"budget of {self.campaign}"

    @property
    def remaining_s(self) -> float | None:
        if self.limit_s is None:
            return None
        return self.limit_s - self.charged_s - self.reserved_s

    def as_money(self, seconds: float | None) -> float | None:
        if seconds is None or self.hourly_rate is None:
            return None
        return seconds / 3600.0 * self.hourly_rate


class AttributeCap(models.Model):
    """A cap on what one attribute may spend, or its retirement (never asked again)."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="caps")
    attribute = models.OneToOneField(Attribute, on_delete=models.CASCADE, related_name="cap")
    limit_s = models.FloatField(null=True, blank=True, help_text="Annotator-seconds; blank: no cap.")
    retired = models.BooleanField(default=False, help_text="Never ask this attribute again.")
    charged_s = models.FloatField(default=0.0, editable=False)
    reserved_s = models.FloatField(default=0.0, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(limit_s__isnull=True) | Q(limit_s__gte=0), name="attributecap_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"cap on {self.attribute}"

    def clean(self) -> None:
        if self.budget_id and self.attribute_id and self.attribute.campaign_id != self.budget.campaign_id:
            raise ValidationError({"attribute": "The attribute belongs to another campaign."})


class LedgerEntry(models.Model):
    """One movement of budget: reserve on issue, charge on submit, release on skip, expiry or cancel.

    A charge settles its attribute's reservation (``settled_s``); what an
    assignment holds reserved is its reserves less its releases and settlements.
    """

    class Kind(models.TextChoices):
        RESERVE = "reserve", "reserve"
        CHARGE = "charge", "charge"
        RELEASE = "release", "release"

    # campaign leads both indexes below.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="ledger_entries", db_index=False)
    assignment = models.ForeignKey(Assignment, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="ledger_entries")
    # No index of its own: every issue and submit writes a row per attribute, and only deleting an attribute
    # (an admin's rare act) looks entries up by it.
    attribute = models.ForeignKey(Attribute, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                  db_index=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    seconds = models.FloatField()
    measured_s = models.FloatField("measured (s)", null=True, blank=True,
                                   help_text="Charge: the measured time before the cap and the budget ceiling.")
    settled_s = models.FloatField("settled (s)", default=0.0,
                                  help_text="Charge: the reservation of this attribute that the charge settles.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-created_at", "-id"]
        # One index serves every read by campaign (totals by kind, the spend series, the admin's filters).
        indexes = [models.Index(fields=["campaign", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.seconds:.1f} s"

    @classmethod
    def reserved_delta(cls, kind: str, seconds: float, settled_s: float) -> float:
        """How entries move what is reserved: a reserve adds, a release and a charge's settlement take away."""
        if kind == cls.Kind.RESERVE:
            return seconds
        return -seconds if kind == cls.Kind.RELEASE else -settled_s


class AttributeCostEstimate(models.Model):
    """Sufficient statistics of an attribute's measured times: the estimate is computed on read.

    Submits add to ``n`` and ``sum_log_s`` (atomic increments); the full
    refresh rewrites them and the median from every response.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    attribute = models.OneToOneField(Attribute, on_delete=models.CASCADE, related_name="cost_estimate")
    n = models.PositiveIntegerField(default=0)
    sum_log_s = models.FloatField(default=0.0, help_text="Sum of log(seconds) of the measured times.")
    measured_median_s = models.FloatField(null=True, blank=True, help_text="As of the last full refresh.")
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"cost of {self.attribute}"


class AnnotatorSpeed(models.Model):
    """Per (campaign, annotator): sum of log(measured / estimate), for the optional speed factor."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    n = models.PositiveIntegerField(default=0)
    sum_log_ratio = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "annotator"], name="annotatorspeed_unique")]


class ScoreState(models.Model):
    """What the stored Slot scores of a campaign were computed with (one row per campaign)."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="score_state")
    strategy = models.CharField(max_length=50, help_text="The campaign's policy when the scores were computed.")
    used_strategy = models.CharField(max_length=50, help_text="The strategy actually used (after any fallback).")
    model_version = models.BigIntegerField(null=True, blank=True)
    n_slots = models.PositiveIntegerField(default=0)
    duration_ms = models.FloatField(default=0.0)
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"scores of {self.campaign} ({self.used_strategy})"

"""Admin of elicitation: budgets with their caps (editable), the ledger and the cost estimates (read-only).

Researchers set a campaign's budget, hourly rate, cost-model settings and
per-attribute caps here. The running totals are never edited by hand: they
move with the ledger, and the "reconcile" action rebuilds them from it.
The Budget page shows spend over time and the cost of each attribute (prior,
measured median, estimate, count) side by side; the ledger's change list
sums what the current filters select.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from annotator.admin_base import BigTableAdmin, ReadOnlyMixin
from annotator.models import Attribute
from elicitation.models import AttributeCap, AttributeCostEstimate, Budget, LedgerEntry, ScoreState
from elicitation.selectors.budgets import attribute_cost_rows
from elicitation.selectors.costs import cost_of, policy_settings
from elicitation.services.ledger import budget_totals_reconcile


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


class AttributeCapInline(admin.TabularInline):
    model = AttributeCap
    extra = 0
    fields = ("attribute", "limit_s", "retired", "charged_s", "reserved_s")
    readonly_fields = ("charged_s", "reserved_s")

    def get_formset(self, request, obj=None, **kwargs):
        self._budget = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "attribute":
            budget = getattr(self, "_budget", None)
            kwargs["queryset"] = (Attribute.objects.filter(campaign_id=budget.campaign_id) if budget is not None
                                  else Attribute.objects.none())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("campaign", "limit", "charged", "reserved", "remaining", "money", "pseudo_count",
                    "charge_cap_multiple", "updated_at")
    list_select_related = ("campaign",)
    search_fields = ("campaign__name",)
    inlines = [AttributeCapInline]
    actions = ["reconcile", "recompute_scores"]
    fieldsets = (
        (None, {"fields": ("campaign", "limit_s", "hourly_rate", "currency")}),
        ("Spend", {"fields": ("charged_s", "reserved_s", "remaining", "money", "spend_chart")}),
        ("Cost model and charging", {"fields": ("pseudo_count", "charge_cap_multiple", "per_annotator_speed",
                                                "cost_table")}),
    )
    readonly_fields = ("charged_s", "reserved_s", "remaining", "money", "spend_chart", "cost_table")

    def get_readonly_fields(self, request, obj=None):
        # A budget belongs to its campaign for good: its ledger does.
        return (*self.readonly_fields, "campaign") if obj is not None else self.readonly_fields

    @admin.display(description="limit")
    def limit(self, obj: Budget) -> str:
        return "unlimited" if obj.limit_s is None else _seconds(obj.limit_s)

    @admin.display(description="charged", ordering="charged_s")
    def charged(self, obj: Budget) -> str:
        return _seconds(obj.charged_s)

    @admin.display(description="reserved", ordering="reserved_s")
    def reserved(self, obj: Budget) -> str:
        return _seconds(obj.reserved_s)

    @admin.display(description="remaining")
    def remaining(self, obj: Budget) -> str:
        return "unlimited" if obj.pk is None or obj.limit_s is None else _seconds(obj.remaining_s)

    @admin.display(description="charged / limit in money")
    def money(self, obj: Budget) -> str:
        if obj.pk is None or obj.hourly_rate is None:
            return "-"
        limit = obj.as_money(obj.limit_s)
        return f"{obj.as_money(obj.charged_s):,.2f} / {'-' if limit is None else f'{limit:,.2f}'} {obj.currency}"

    @admin.display(description="spend over time")
    def spend_chart(self, obj: Budget) -> str:
        if obj.pk is None:
            return "-"
        return format_html('<img src="{}" alt="Spend against budget over time" style="max-width:100%">',
                           reverse("elicitation-spend", args=[obj.campaign_id]))

    @admin.display(description="cost per attribute")
    def cost_table(self, obj: Budget) -> str:
        if obj.pk is None:
            return "-"
        rows = attribute_cost_rows(campaign=obj.campaign, policy=policy_settings(campaign=obj.campaign, budget=obj))
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r["key"], _seconds(r["prior_s"]), _seconds(r["measured_median_s"]), _seconds(r["estimate_s"]), r["n"])
             for r in rows))
        return format_html('<table><thead><tr><th>attribute</th><th>prior</th><th>measured median</th>'
                           '<th>estimate</th><th>answers timed</th></tr></thead><tbody>{}</tbody></table>', body)

    @admin.action(description="Rebuild the running totals from the ledger")
    def reconcile(self, request, queryset) -> None:
        for budget in queryset.select_related("campaign"):
            budget_totals_reconcile(campaign=budget.campaign)
        self.message_user(request, f"Reconciled {queryset.count()} budget(s).", messages.SUCCESS)

    @admin.action(description="Refresh costs and recompute the stored scores now")
    def recompute_scores(self, request, queryset) -> None:
        from elicitation.tasks import scores_recompute

        for budget in queryset:
            scores_recompute.delay(budget.campaign_id, None)
        self.message_user(request, f"Sent a score recompute for {queryset.count()} campaign(s).", messages.SUCCESS)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyMixin, BigTableAdmin):
    """Read-only: entries are written by the ledger hook only."""

    list_display = ("created_at", "campaign", "assignment_link", "attribute", "kind", "seconds", "measured_s",
                    "settled_s")
    list_filter = ("kind", "campaign", ("attribute__key", admin.AllValuesFieldListFilter))
    list_select_related = ("campaign", "attribute")
    date_hierarchy = "created_at"
    search_fields = ("=assignment__id", "campaign__name")
    change_list_template = "elicitation/admin/ledger_change_list.html"


    @admin.display(description="assignment")
    def assignment_link(self, obj: LedgerEntry) -> str:
        if obj.assignment_id is None:
            return "-"
        return format_html('<a href="{}">#{}</a>',
                           reverse("admin:annotator_assignment_change", args=[obj.assignment_id]), obj.assignment_id)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        try:
            queryset = response.context_data["cl"].queryset
        except (AttributeError, KeyError):
            return response  # a redirect or an error page
        sums = {kind: {"seconds": total or 0.0, "settled": settled or 0.0, "n": n} for kind, total, settled, n in
                queryset.order_by().values_list("kind")
                .annotate(total=Sum("seconds"), settled=Sum("settled_s"), n=Count("pk"))}
        for kind in LedgerEntry.Kind.values:
            sums.setdefault(kind, {"seconds": 0.0, "settled": 0.0, "n": 0})
        outstanding = sum(LedgerEntry.reserved_delta(kind, s["seconds"], s["settled"]) for kind, s in sums.items())
        response.context_data["ledger_totals"] = {
            "rows": [(kind, sums[kind]["n"], sums[kind]["seconds"], sums[kind]["seconds"] / 3600.0)
                     for kind in LedgerEntry.Kind.values],
            "outstanding": outstanding, "outstanding_h": outstanding / 3600.0,
        }
        return response


@admin.register(AttributeCostEstimate)
class AttributeCostEstimateAdmin(admin.ModelAdmin):
    """The cost model, per attribute: prior, measured median, estimate and count side by side."""

    list_display = ("attribute", "campaign", "prior", "measured_median", "estimate", "n", "refreshed_at")
    list_filter = ("campaign",)
    list_select_related = ("attribute", "campaign")
    ordering = ("campaign", "attribute__order", "attribute__id")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="prior")
    def prior(self, obj: AttributeCostEstimate) -> str:
        return _seconds(obj.attribute.prior_cost_s)

    @admin.display(description="measured median")
    def measured_median(self, obj: AttributeCostEstimate) -> str:
        return _seconds(obj.measured_median_s)

    @admin.display(description="estimate")
    def estimate(self, obj: AttributeCostEstimate) -> str:
        policy = policy_settings(campaign=obj.campaign)
        obj.attribute.cost_estimate = obj
        return _seconds(cost_of(obj.attribute, pseudo_count=policy.pseudo_count).estimate_s)


@admin.register(ScoreState)
class ScoreStateAdmin(admin.ModelAdmin):
    list_display = ("campaign", "strategy", "used_strategy", "model_version", "n_slots", "duration_ms", "computed_at")
    list_select_related = ("campaign",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

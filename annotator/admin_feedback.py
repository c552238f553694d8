"""Django admin for the feedback side: assignments, raw responses, consolidation, QC, exports.

Raw responses, consolidated values and assignment bookkeeping are written by
the services (which keep slots, the budget ledger and consolidation in
step), so admin shows them read-only: a researcher inspects them here and
acts through reviews, gold answers and campaign settings.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import transaction

from annotator.admin_base import BigTableAdmin, ReadOnlyMixin, pretty_json, short
from annotator.errors import ApplicationError
from annotator.models import (AnnotatorStanding, Assignment, AssignmentSlot, Consolidated, ExportJob, GoldAnswer,
                              Response, Review, Target)
from annotator.services.quality import gold_answer_set


class AssignmentSlotInline(ReadOnlyMixin, admin.TabularInline):
    model = AssignmentSlot
    extra = 0
    fields = ("position", "attribute")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("attribute")


class ResponseInline(ReadOnlyMixin, admin.TabularInline):
    model = Response
    extra = 0
    fields = ("attribute", "value_json", "active_ms", "valid", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("attribute")

    @admin.display(description="value")
    def value_json(self, obj: Response) -> str:
        return pretty_json(obj.value)


class ReviewInline(ReadOnlyMixin, admin.TabularInline):
    model = Review
    extra = 0
    fields = ("inspector", "verdict", "reason", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("inspector")


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyMixin, BigTableAdmin):
    list_display = ("id", "campaign", "annotator", "target", "status", "is_gold", "source", "issued_at",
                    "submitted_at", "estimated_cost_s")
    list_filter = ("campaign", "status", "is_gold", "source")
    search_fields = ("=annotator__username", "=submission_id", "=target__item__external_id")
    list_select_related = ("campaign", "annotator", "target")
    inlines = [AssignmentSlotInline, ResponseInline, ReviewInline]
    fields = ("campaign", "annotator", "target", "status", "is_gold", "source", "issued_at", "lease_expires_at",
              "submitted_at", "submission_id", "estimated_cost_s", "agreement", "skip_reason", "display_json",
              "draft_json", "draft_saved_at")

    @admin.display(description="display")
    def display_json(self, obj: Assignment) -> str:
        return pretty_json(obj.display)

    @admin.display(description="draft")
    def draft_json(self, obj: Assignment) -> str:
        return pretty_json(obj.draft)


@admin.register(AssignmentSlot)
class AssignmentSlotAdmin(ReadOnlyMixin, BigTableAdmin):
    list_display = ("id", "assignment", "annotator", "target", "attribute", "position")
    list_filter = ("assignment__campaign", "attribute__kind")
    search_fields = ("=annotator__username", "=attribute__key")
    list_select_related = ("assignment", "annotator", "target", "attribute")


@admin.register(Response)
class ResponseAdmin(ReadOnlyMixin, BigTableAdmin):
    """Raw per-annotator responses, exactly as submitted."""

    list_display = ("id", "campaign", "annotator", "target", "attribute", "value_short", "active_ms", "valid",
                    "created_at")
    list_filter = ("assignment__campaign", "valid", "attribute__kind")
    search_fields = ("=annotator__username", "=attribute__key", "=target__item__external_id")
    list_select_related = ("assignment__campaign", "annotator", "target", "attribute")
    fields = ("assignment", "annotator", "target", "attribute", "value_json", "active_ms", "valid", "created_at")

    @admin.display(description="campaign")
    def campaign(self, obj: Response):
        return obj.assignment.campaign

    @admin.display(description="value")
    def value_short(self, obj: Response) -> str:
        return short(str(obj.value), 60)

    @admin.display(description="value")
    def value_json(self, obj: Response) -> str:
        return pretty_json(obj.value)


@admin.register(Consolidated)
class ConsolidatedAdmin(ReadOnlyMixin, BigTableAdmin):
    list_display = ("id", "campaign", "target", "attribute", "score", "agreement", "n_responses", "n_skipped",
                    "complete", "computed_at")
    list_filter = ("campaign", "complete", "attribute__kind")
    search_fields = ("=attribute__key", "=target__item__external_id")
    list_select_related = ("campaign", "target", "attribute")
    fields = ("campaign", "target", "attribute", "value_json", "score", "agreement", "n_responses", "n_skipped",
              "complete", "computed_at")

    @admin.display(description="value")
    def value_json(self, obj: Consolidated) -> str:
        return pretty_json(obj.value)


class _DryRun(Exception):
    pass


class GoldAnswerForm(forms.ModelForm):
    class Meta:
        model = GoldAnswer
        fields = ("target", "attribute", "value")

    def clean(self):
        data = super().clean()
        target = data.get("target") or getattr(self.instance, "target", None)
        attribute = data.get("attribute") or getattr(self.instance, "attribute", None)
        if target is None or attribute is None or "value" not in data:
            return data
        # The service is the one place that validates a gold value; run it and roll it back.
        try:
            with transaction.atomic():
                # A fresh row: the service marks the target gold in memory too, which must not outlive the dry run.
                gold_answer_set(target=Target.objects.get(pk=target.pk), attribute=attribute, value=data["value"])
                raise _DryRun
        except _DryRun:
            pass
        except ApplicationError as exc:
            field = exc.extra.get("field") or ""
            raise forms.ValidationError({"attribute" if field == "attribute" else "value": exc.message}) from exc
        return data


@admin.register(GoldAnswer)
class GoldAnswerAdmin(BigTableAdmin):
    """Expected answers of gold targets, set by researchers and validated like a submission."""

    form = GoldAnswerForm
    list_display = ("id", "target", "attribute", "value_short", "created_by")
    list_filter = ("attribute__campaign", "attribute__kind")
    search_fields = ("=attribute__key", "=target__item__external_id")
    list_select_related = ("target", "attribute", "created_by")
    raw_id_fields = ("target", "attribute")

    def get_readonly_fields(self, request, obj=None):
        return ("target", "attribute", "created_by") if obj is not None else ("created_by",)

    @admin.display(description="value")
    def value_short(self, obj: GoldAnswer) -> str:
        return short(str(obj.value), 60)

    def save_model(self, request, obj: GoldAnswer, form, change: bool) -> None:
        gold, _ = gold_answer_set(target=obj.target, attribute=obj.attribute, value=obj.value,
                                  created_by=request.user)
        obj.pk, obj.value = gold.pk, gold.value


@admin.register(Review)
class ReviewAdmin(ReadOnlyMixin, BigTableAdmin):
    """Inspectors' verdicts; made in the review queue, where invalidation reopens the target."""

    list_display = ("id", "assignment", "inspector", "verdict", "short_reason", "created_at")
    list_filter = ("verdict", "assignment__campaign")
    search_fields = ("=inspector__username", "=assignment__annotator__username")
    list_select_related = ("assignment", "inspector")

    @admin.display(description="reason")
    def short_reason(self, obj: Review) -> str:
        return short(obj.reason, 60)


@admin.register(AnnotatorStanding)
class AnnotatorStandingAdmin(BigTableAdmin):
    list_display = ("annotator", "campaign", "qualified", "gold_answered", "gold_score", "n_skips", "pseudonym")
    list_filter = ("campaign", "qualified")
    search_fields = ("=annotator__username", "=pseudonym", "external_name")
    list_select_related = ("annotator", "campaign")
    raw_id_fields = ("annotator",)
    readonly_fields = ("gold_answered", "gold_score", "n_skips", "pseudonym")


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyMixin, BigTableAdmin):
    list_display = ("id", "campaign", "status", "progress", "formats", "requested_by", "created_at", "finished_at")
    list_filter = ("status", "campaign")
    list_select_related = ("campaign", "requested_by")
    fields = ("campaign", "requested_by", "formats", "status", "progress", "out_dir", "manifest_json", "error",
              "created_at", "finished_at")

    @admin.display(description="manifest")
    def manifest_json(self, obj: ExportJob) -> str:
        return pretty_json(obj.manifest)

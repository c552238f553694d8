"""Admin of the model registry: versions (metrics, progress, artifacts), per-campaign settings, the embedding cache.

Versions are records of training runs, so they are read-only here; what a
researcher does with them is an action: "retrain now" (a new run with the
same campaign, kind and config) and "activate". The embedding cache is
view-only: it is derived data, rebuilt by the training runs.
"""
from __future__ import annotations

from pathlib import Path

from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html, format_html_join

from annotator.admin_base import BigTableAdmin, ReadOnlyMixin, pretty_json
from annotator.errors import ApplicationError
from rewardlab.models import CampaignModelSettings, EmbeddingCache, ModelVersion
from rewardlab.services.retrain import retrain_start
from rewardlab.services.training import model_version_activate, training_run_start


def _number(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@admin.register(ModelVersion)
class ModelVersionAdmin(BigTableAdmin):
    list_display = ("id", "campaign", "kind", "status", "active", "roc_auc", "preference_accuracy", "n_train",
                    "cost_spent_s", "progress_summary", "device", "duration", "trigger", "created_at")
    list_filter = ("kind", "status", "active", "trigger", "campaign")
    list_select_related = ("campaign",)
    search_fields = ("campaign__name",)
    ordering = ("-created_at", "-id")
    actions = ["retrain_now", "activate"]
    fieldsets = (
        (None, {"fields": ("campaign", "kind", "status", "active", "trigger", "error_text")}),
        ("Run", {"fields": ("progress_pretty", "device", "duration", "created_at", "started_at", "finished_at")}),
        ("Result", {"fields": ("metrics_pretty", "n_train", "cost_spent_s", "artifacts")}),
        ("Inputs", {"fields": ("config_pretty", "snapshot_pretty")}),
    )
    readonly_fields = ("campaign", "kind", "status", "active", "trigger", "error_text", "progress_pretty", "device",
                       "duration", "created_at", "started_at", "finished_at", "metrics_pretty", "n_train",
                       "cost_spent_s", "artifacts", "config_pretty", "snapshot_pretty")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # records of runs; actions change what is active

    @admin.display(description="ROC-AUC")
    def roc_auc(self, obj: ModelVersion) -> str:
        return _number((obj.metrics or {}).get("roc_auc"))

    @admin.display(description="pref. acc.")
    def preference_accuracy(self, obj: ModelVersion) -> str:
        return _number((obj.metrics or {}).get("preference_accuracy"))

    @admin.display(description="progress")
    def progress_summary(self, obj: ModelVersion) -> str:
        p = obj.progress or {}
        parts = [p.get("phase", "")]
        if "epoch" in p:
            parts.append(f"epoch {p['epoch']}" + (f"/{p['n_epochs']}" if p.get("n_epochs") else ""))
        if p.get("loss") is not None:
            parts.append(f"loss {p['loss']:.4f}")
        if p.get("total"):
            parts.append(f"{p.get('done', 0)}/{p['total']} embedded")
        return ", ".join(x for x in parts if x)

    @admin.display(description="duration")
    def duration(self, obj: ModelVersion) -> str:
        return "-" if obj.duration_s is None else f"{obj.duration_s:.1f} s"

    @admin.display(description="error")
    def error_text(self, obj: ModelVersion) -> str:
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', obj.error) if obj.error else "-"

    @admin.display(description="progress")
    def progress_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.progress)

    @admin.display(description="metrics (held-out split)")
    def metrics_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.metrics)

    @admin.display(description="config")
    def config_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.config)

    @admin.display(description="data snapshot")
    def snapshot_pretty(self, obj: ModelVersion) -> str:
        snap = dict(obj.data_snapshot or {})
        for key in ("train_target_ids", "heldout_target_ids"):
            if key in snap:  # thousands of ids: show how many, not all of them
                snap[key] = f"{len(snap[key])} ids"
        return pretty_json(snap)

    @admin.display(description="artifacts")
    def artifacts(self, obj: ModelVersion) -> str:
        if not obj.artifact_dir:
            return "-"
        root = Path(obj.artifact_dir)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
        rows = format_html_join("", "<li>{} ({} bytes)</li>", ((p.relative_to(root), p.stat().st_size) for p in files))
        return format_html("<code>{}</code><ul>{}</ul>", obj.artifact_dir, rows)

    @admin.action(description="Retrain now (same campaign, kind and config)")
    def retrain_now(self, request, queryset) -> None:
        started = []
        with transaction.atomic():
            for version in queryset.select_related("campaign"):
                config = {k: v for k, v in version.config.items() if k != "kind"}
                started.append(training_run_start(campaign=version.campaign, kind=version.kind, config=config,
                                                  trigger="admin"))
        self.message_user(request, f"Queued {len(started)} training run(s): "
                                   f"{', '.join(str(v.pk) for v in started)}.")

    @admin.action(description="Activate the selected finished version")
    def activate(self, request, queryset) -> None:
        for version in queryset:
            try:
                model_version_activate(version=version)
            except ApplicationError as exc:
                self.message_user(request, f"Version {version.pk}: {exc.message}", messages.ERROR)
                return
        self.message_user(request, f"Activated {queryset.count()} version(s).")


@admin.register(CampaignModelSettings)
class CampaignModelSettingsAdmin(admin.ModelAdmin):
    list_display = ("campaign", "image_encoder", "text_encoder", "retrain_every", "n_new_values", "last_retrain_at")
    list_select_related = ("campaign",)
    readonly_fields = ("n_new_values", "last_retrain_at")
    raw_id_fields = ("campaign",)
    actions = ["retrain_now"]

    @admin.action(description="Retrain now (every retrain kind not already queued or running)")
    def retrain_now(self, request, queryset) -> None:
        started = []
        for row in queryset.select_related("campaign"):
            started += retrain_start(campaign=row.campaign, trigger="admin")
        self.message_user(request, f"Queued {len(started)} training run(s).")


@admin.register(EmbeddingCache)
class EmbeddingCacheAdmin(ReadOnlyMixin, BigTableAdmin):
    list_display = ("sha256", "encoder", "version", "dim", "created_at")
    list_filter = ("encoder", "version")
    search_fields = ("sha256",)
    fields = ("sha256", "encoder", "version", "dim", "created_at")
    readonly_fields = fields


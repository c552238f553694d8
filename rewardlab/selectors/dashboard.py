"""Reads for rewardlab's dashboard panel and figures."""
from __future__ import annotations

from typing import Any

from annotator.models import Campaign
from rewardlab.models import CampaignModelSettings, ModelVersion
from rewardlab.selectors.models import active_version

RECENT_VERSIONS = 12


def learning_curve_points(*, campaign: Campaign) -> list[dict[str, Any]]:
    """One point per finished version: kind, labelled items, cost spent and held-out ROC-AUC."""
    rows = (ModelVersion.objects.filter(campaign=campaign, status=ModelVersion.Status.DONE)
            .order_by("created_at", "pk").values("pk", "kind", "n_train", "cost_spent_s", "metrics"))
    return [{"version": r["pk"], "kind": r["kind"], "n_train": r["n_train"], "cost_s": r["cost_spent_s"],
             "roc_auc": (r["metrics"] or {}).get("roc_auc")} for r in rows]


def _progress_text(progress: dict[str, Any]) -> str:
    parts = [progress.get("phase", "")]
    if progress.get("epoch") is not None and progress.get("phase") in ("training", "done"):
        parts.append(f"epoch {progress['epoch']}" + (f"/{progress['n_epochs']}" if progress.get("n_epochs") else ""))
    if progress.get("loss") is not None:
        parts.append(f"loss {progress['loss']:.4f}")
    if progress.get("phase") == "embedding" and progress.get("total"):
        parts.append(f"{progress.get('done', 0)}/{progress['total']}")
    return ", ".join(p for p in parts if p)


def version_rows(*, campaign: Campaign, limit: int = RECENT_VERSIONS) -> list[dict[str, Any]]:
    out = []
    for v in ModelVersion.objects.filter(campaign=campaign).order_by("-created_at", "-pk")[:limit]:
        m = v.metrics or {}
        out.append({"id": v.pk, "kind": v.kind, "status": v.status, "active": v.active, "trigger": v.trigger,
                    "roc_auc": m.get("roc_auc"), "auprc": m.get("auprc"),
                    "preference_accuracy": m.get("preference_accuracy"), "n_train": v.n_train,
                    "cost_min": v.cost_spent_s / 60.0, "duration_s": v.duration_s, "device": v.device,
                    "progress": _progress_text(v.progress or {}), "error": (v.error or "").strip().splitlines()[-1:],
                    "created_at": v.created_at})
    return out


def active_cbm_summary(*, campaign: Campaign) -> dict[str, Any] | None:
    """The active CBM's per-attribute table: weight, held-out AUC, AUC lost without it."""
    version = active_version(campaign=campaign, kind=ModelVersion.Kind.CBM)
    if version is None:
        return None
    m = version.metrics or {}
    weights = m.get("aggregator_weights") or {}
    aucs = m.get("per_concept_auc") or {}
    values = m.get("attribute_value") or {}
    rows = [{"key": k, "weight": weights.get(k), "auc": aucs.get(k), "value": values.get(k)}
            for k in weights or aucs]
    return {"id": version.pk, "roc_auc": m.get("roc_auc"), "n_train": version.n_train, "rows": rows,
            "intercept": m.get("aggregator_intercept")}


def settings_summary(*, campaign: Campaign) -> dict[str, Any]:
    from rewardlab.services.training import DEFAULT_RETRAIN_EVERY  # constants only

    row = CampaignModelSettings.objects.filter(campaign=campaign).first()
    if row is None:
        return {"image_encoder": "pixelstats", "text_encoder": "hashbow", "retrain_every": DEFAULT_RETRAIN_EVERY,
                "n_new_values": 0}
    from rewardlab.services.training import retrain_every

    return {"image_encoder": row.image_encoder, "text_encoder": row.text_encoder or "none",
            "retrain_every": retrain_every(row), "n_new_values": row.n_new_values, "id": row.pk}

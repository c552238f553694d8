"""Model registry of rewardlab: cached embeddings, per-campaign model settings, trained versions (DESIGN §6)."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

from annotator.models import Campaign


class EmbeddingCache(models.Model):
    """One embedding of one piece of content (image bytes or prompt text) by one encoder version.

    Keyed by content hash, not by row id, so a duplicate image in another
    campaign (or a re-import) is never encoded twice.
    """

    sha256 = models.CharField(max_length=64, help_text="Image.sha256 or Prompt.text_sha256.")
    encoder = models.CharField(max_length=50)
    version = models.CharField(max_length=120)
    dim = models.PositiveIntegerField()
    vector = models.BinaryField(help_text="float32, little-endian, dim values.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sha256", "encoder", "version"], name="embeddingcache_unique"),
        ]
        indexes = [models.Index(fields=["encoder", "version"])]
        verbose_name = "embedding"

    def __str__(self) -> str:
        return f"{self.encoder}:{self.version} {self.sha256[:10]}"


class CampaignModelSettings(models.Model):
    """How a campaign's reward models are fed and retrained; also holds the retrain counter."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="model_settings")
    image_encoder = models.CharField(max_length=50, default="pixelstats")
    text_encoder = models.CharField(max_length=50, default="hashbow", blank=True,
                                    help_text="Blank: the models see the image embedding only.")
    encoder_options = models.JSONField(default=dict, blank=True,
                                       help_text='Constructor arguments per encoder, e.g. {"clip": {"model_path": "..."}}.')
    retrain_every = models.PositiveIntegerField(
        null=True, blank=True, help_text="New consolidated values that trigger a retrain (blank: REWARDLAB_RETRAIN_EVERY).")
    retrain_kinds = models.JSONField(default=list, blank=True,
                                     help_text='Model kinds a retrain trains, e.g. ["cbm", "coarse"]; empty: chosen from the attributes.')
    binarize_threshold = models.FloatField(
        default=0.5, help_text="Likert attributes without their own threshold: normalised score >= this is positive.")
    heldout_frac = models.FloatField(default=0.2, help_text="Share of prompts held out when no item has split 'heldout'.")
    training_config = models.JSONField(default=dict, blank=True,
                                       help_text='Hyperparameter overrides per kind, e.g. {"cbm": {"epochs": 50}}.')
    n_new_values = models.PositiveIntegerField(default=0, help_text="Consolidated values changed since the last retrain.")
    last_retrain_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "campaign model settings"
        verbose_name_plural = "campaign model settings"

    def __str__(self) -> str:
        return f"model settings of {self.campaign}"


class ModelVersion(models.Model):
    """One training run and, when it succeeded, the reward model it produced."""

    class Kind(models.TextChoices):
        CBM = "cbm", "concept bottleneck"
        COARSE = "coarse", "coarse"
        PAIRWISE = "pairwise", "pairwise ranking"

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="model_versions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    active = models.BooleanField(default=False)
    trigger = models.CharField(max_length=20, default="manual", help_text="manual / retrain / admin / api")
    config = models.JSONField(default=dict, blank=True)
    data_snapshot = models.JSONField(default=dict, blank=True, help_text="Target ids and sha256 of the training set.")
    metrics = models.JSONField(default=dict, blank=True, help_text="On the held-out split (by prompt).")
    n_train = models.PositiveIntegerField(default=0)
    cost_spent_s = models.FloatField(default=0.0, help_text="Annotator active seconds of the responses trained on.")
    progress = models.JSONField(default=dict, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    device = models.CharField(max_length=30, blank=True)
    artifact_dir = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, help_text="Heartbeat of a running run.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "kind"], condition=Q(active=True),
                                    name="modelversion_one_active_per_kind"),
        ]
        indexes = [models.Index(fields=["campaign", "kind", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} v{self.pk} ({self.status})"

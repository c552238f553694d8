"""Domain model of an annotation campaign (DESIGN §3).

A *target* is what a question is asked about: an item (one image), a group
(4-9 images of one prompt, for ranking), a pair (side-by-side) or a prompt.
Every target of a campaign has one ``Target`` row so that assignments,
responses, consolidated values, gold answers and the per-(target, attribute)
``Slot`` counters all point at one table whatever the target type.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class TargetType(models.TextChoices):
    ITEM = "item", "item"
    GROUP = "group", "group"
    PAIR = "pair", "pair"
    PROMPT = "prompt", "prompt"


class AttributeKind(models.TextChoices):
    BINARY = "binary", "binary (yes / no / skip)"
    LIKERT = "likert", "Likert scale"
    CHOICE = "choice", "multi-select choice"
    POINTS = "points", "points on the image"
    KEYWORDS = "keywords", "prompt keywords"
    RANKING = "ranking", "ranking of a group"
    SXS = "sxs", "side-by-side"
    CATEGORY = "category", "single choice"


class AttributeCategory(models.TextChoices):
    QUALITY = "quality", "quality"
    ALIGNMENT = "alignment", "alignment"
    OVERALL = "overall", "overall"
    SAFETY = "safety", "safety"
    PROMPT = "prompt", "prompt"


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        ACTIVE = "active", "active"
        PAUSED = "paused", "paused"
        CLOSED = "closed", "closed"

    name = models.CharField(max_length=200, unique=True)
    instructions = models.TextField(blank=True, help_text="Markdown, shown to annotators (rendered safely).")
    overlap = models.PositiveSmallIntegerField(default=3, help_text="Responses wanted per target and attribute.")
    point_radius_frac = models.FloatField(default=0.05, help_text="Disk radius of a point, as a fraction of image height.")
    policy = models.CharField(max_length=50, default="all", help_text="Elicitation strategy name.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    lease_seconds = models.PositiveIntegerField(default=1800)
    task_time_limit_s = models.FloatField(default=90.0, help_text="Estimated seconds bundled into one task.")
    gold_tasks_required = models.PositiveSmallIntegerField(default=0)
    qualification_threshold = models.FloatField(default=0.7)
    skip_limit = models.PositiveIntegerField(default=50, help_text="Skips allowed per annotator.")
    inspection_rate = models.FloatField(default=0.1, help_text="Share of submissions sampled for review.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64, unique=True)
    tokens = models.JSONField(default=list, help_text='[{"text", "start", "end"}] with character offsets.')
    category = models.CharField(max_length=50, blank=True)
    flags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.text[:80]


def image_upload_to(instance: "Image", filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "png"
    return f"images/{instance.sha256[:2]}/{instance.sha256}.{ext}"


class Image(models.Model):
    file = models.ImageField(upload_to=image_upload_to, width_field="width", height_field="height", max_length=300)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, unique=True)
    byte_size = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=10, blank=True)
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="images")
    generator = models.CharField(max_length=100, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.sha256[:10]} ({self.width}x{self.height})"


class Item(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="items")
    external_id = models.CharField(max_length=200)
    meta = models.JSONField(default=dict, blank=True)
    split = models.CharField(max_length=10, default="train", help_text="train / heldout (by prompt).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "image"], name="item_unique_image"),
            models.UniqueConstraint(fields=["campaign", "external_id"], name="item_unique_external_id"),
        ]

    def __str__(self) -> str:
        return self.external_id


class Group(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="groups")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="groups")
    name = models.CharField(max_length=200)
    images = models.ManyToManyField(Image, through="GroupImage", related_name="groups")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "name"], name="group_unique_name")]

    def __str__(self) -> str:
        return self.name


class GroupImage(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    image = models.ForeignKey(Image, on_delete=models.PROTECT)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["group", "image"], name="groupimage_unique")]


class Pair(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="pairs")
    image_a = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    image_b = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "image_a", "image_b"], name="pair_unique"),
            models.CheckConstraint(condition=~Q(image_a=models.F("image_b")), name="pair_distinct_images"),
        ]


class Target(models.Model):
    """One row per thing a question can be asked about, whatever its type."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="targets")
    type = models.CharField(max_length=10, choices=TargetType.choices)
    item = models.OneToOneField(Item, null=True, blank=True, on_delete=models.CASCADE, related_name="target")
    group = models.OneToOneField(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="target")
    pair = models.OneToOneField(Pair, null=True, blank=True, on_delete=models.CASCADE, related_name="target")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="targets")
    is_gold = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="target_matches_type",
                condition=(
                    Q(type="item", item__isnull=False, group__isnull=True, pair__isnull=True)
                    | Q(type="group", item__isnull=True, group__isnull=False, pair__isnull=True)
                    | Q(type="pair", item__isnull=True, group__isnull=True, pair__isnull=False)
                    | Q(type="prompt", item__isnull=True, group__isnull=True, pair__isnull=True)
                ),
            ),
            models.UniqueConstraint(
                fields=["campaign", "prompt"], condition=Q(type="prompt"), name="target_unique_prompt"
            ),
        ]
        indexes = [models.Index(fields=["campaign", "type"])]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class Attribute(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="attributes")
    key = models.SlugField(max_length=60)
    question = models.TextField()
    kind = models.CharField(max_length=10, choices=AttributeKind.choices)
    target_type = models.CharField(max_length=10, choices=TargetType.choices, default=TargetType.ITEM)
    options = models.JSONField(default=list, blank=True, help_text="Choice options, point labels, sxs choices.")
    likert_points = models.PositiveSmallIntegerField(null=True, blank=True)
    anchors = models.JSONField(default=list, blank=True, help_text="Likert anchor texts, one per point.")
    config = models.JSONField(default=dict, blank=True, help_text="Kind-specific settings (e.g. sxs mode).")
    category = models.CharField(max_length=10, choices=AttributeCategory.choices, default=AttributeCategory.QUALITY)
    prior_cost_s = models.FloatField(default=20.0, help_text="Prior cost in annotator-seconds.")
    is_coarse = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    required = models.BooleanField(default=True)
    binarize_threshold = models.FloatField(
        null=True, blank=True, help_text="Likert: consolidated value >= threshold counts as a positive concept."
    )
    preset = models.CharField(max_length=30, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "key"], name="attribute_unique_key")]

    def __str__(self) -> str:
        return self.key


class Slot(models.Model):
    """Counters for one (target, attribute): what the next-task policy reads.

    ``n_open`` counts live leases, ``n_done`` valid submitted responses;
    the policy never lets n_open + n_done exceed the campaign's overlap.
    ``score`` is written by the elicitation strategy after a retrain.
    """

    # No single-column indexes: every issue and submit rewrites these rows, and each index costs a write.
    # campaign and target lead the composite indexes below; attribute is only looked up with them.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="slots", db_index=False)
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="slots", db_index=False)
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="slots", db_index=False)
    n_open = models.PositiveIntegerField(default=0)
    n_done = models.PositiveIntegerField(default=0)
    score = models.FloatField(default=0.0)
    score_version = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["target", "attribute"], name="slot_unique")]
        indexes = [
            models.Index(fields=["campaign", "attribute", "n_done"]),
            # The default next-task policy walks this in order and stops at the first open slot.
            models.Index("campaign", models.F("n_done") + models.F("n_open"), "id", name="slot_fill_order"),
            # The cost-aware issuer (elicitation): fewest answers plus leases first, the best score among
            # those. Fill leads so that the slots an annotator already answered sort behind the unanswered
            # ones: with the score alone, every request walked over all of them (and an index scan that
            # grows with the annotator's own work made ``next`` slower the longer they worked).
            models.Index("campaign", models.F("n_done") + models.F("n_open"), models.F("score").desc(), "id",
                         name="slot_fill_score_order"),
        ]


class Assignment(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", "issued"
        SUBMITTED = "submitted", "submitted"
        SKIPPED = "skipped", "skipped"
        EXPIRED = "expired", "expired"
        INVALIDATED = "invalidated", "invalidated"
        CANCELLED = "cancelled", "cancelled"

    # campaign and annotator lead the (..., status) indexes below: no single-column index besides them.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments",
                                  db_index=False)
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="assignments")
    attributes = models.ManyToManyField(Attribute, through="AssignmentSlot", related_name="assignments")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ISSUED)
    issued_at = models.DateTimeField(auto_now_add=True)
    lease_expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    submission_id = models.UUIDField(null=True, blank=True, unique=True)
    draft = models.JSONField(default=dict, blank=True)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    display = models.JSONField(default=dict, blank=True, help_text="Image display order, sxs sides.")
    is_gold = models.BooleanField(default=False)
    estimated_cost_s = models.FloatField(default=0.0)
    skip_reason = models.CharField(max_length=300, blank=True)
    agreement = models.FloatField(null=True, blank=True, help_text="Agreement with the consensus, for QC.")
    source = models.CharField(max_length=10, default="api", help_text="api / import / simulation")

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["annotator", "status"]),
            models.Index(fields=["status", "lease_expires_at"]),
        ]

    def __str__(self) -> str:
        return f"assignment #{self.pk}"


class AssignmentSlot(models.Model):
    """The attributes an assignment requests; an annotator gets a (target, attribute) once."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="slots")
    # Looked up by (annotator, target, attribute), the unique index below, or by assignment.
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, db_index=False)
    target = models.ForeignKey(Target, on_delete=models.CASCADE)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, db_index=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["annotator", "target", "attribute"], name="assignmentslot_once"),
        ]


class Response(models.Model):
    # Each of these leads a composite index below (response_once, (target, ...), (attribute, ...)).
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="responses", db_index=False)
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="responses", db_index=False)
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="responses", db_index=False)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="responses")
    value = models.JSONField()
    active_ms = models.PositiveIntegerField(null=True, blank=True)
    valid = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assignment", "attribute"], name="response_once")]
        indexes = [models.Index(fields=["target", "attribute", "valid"]), models.Index(fields=["attribute", "valid"])]


class Consolidated(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="consolidated")
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="consolidated")
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="consolidated")
    value = models.JSONField()
    score = models.FloatField(null=True, blank=True)
    agreement = models.FloatField(null=True, blank=True)
    n_responses = models.PositiveIntegerField(default=0)
    n_skipped = models.PositiveIntegerField(default=0)
    complete = models.BooleanField(default=False)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["target", "attribute"], name="consolidated_unique")]
        indexes = [
            models.Index(fields=["campaign", "attribute"]),
            # The dashboard's cache key is the campaign's latest consolidation: an index seek, not a scan.
            models.Index(fields=["campaign", "computed_at"], name="consolidated_latest"),
        ]


class GoldAnswer(models.Model):
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="gold_answers")
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="gold_answers")
    value = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["target", "attribute"], name="gold_unique")]


class Review(models.Model):
    class Verdict(models.TextChoices):
        ACCEPTED = "accepted", "accepted"
        INVALIDATED = "invalidated", "invalidated"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="reviews")
    inspector = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    verdict = models.CharField(max_length=12, choices=Verdict.choices)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class AnnotatorStanding(models.Model):
    """Per (campaign, annotator): gold score, qualification and skips."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="standings")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="standings")
    gold_answered = models.PositiveIntegerField(default=0)
    gold_score = models.FloatField(null=True, blank=True)
    qualified = models.BooleanField(default=False)
    n_skips = models.PositiveIntegerField(default=0)
    pseudonym = models.CharField(max_length=40, blank=True)
    external_name = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "annotator"], name="standing_unique")]


class ExportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    formats = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    phase = models.CharField(max_length=40, blank=True, default="",
                             help_text="What a running export is doing (rows, finishing files, agreement, "
                                       "checksums, archive); empty once it has ended.")
    out_dir = models.CharField(max_length=500, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

"""Django admin for campaigns and their content: what a researcher manages by hand.

Campaigns (with their attributes inline and one "apply preset" action per
preset), prompts, images, items, groups, pairs, targets and slots. The
feedback side (assignments, responses, consolidation, quality control,
exports) is in ``admin_feedback``.

Campaigns grow to hundreds of thousands of rows per table, so every list
selects its related rows in the same query, foreign keys to big tables are
raw-id widgets (no <select> with every image), and lists skip the unfiltered
full COUNT(*).
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from annotator.admin_base import BigTableAdmin, short, thumbnail
from annotator.errors import ApplicationError
from annotator.models import (Assignment, Attribute, Campaign, Group, GroupImage, Image, Item, Pair, Prompt,
                              Response, Slot, Target, TargetType)
from annotator.presets import PRESETS, preset_names
from annotator.services.campaigns import preset_apply
from annotator.services.exports import export_job_create

admin.site.site_header = "Fine-grained feedback: administration"
admin.site.site_title = "Feedback admin"


def _count_per_campaign(model: type[models.Model], **filters) -> Coalesce:
    rows = (model.objects.filter(campaign=OuterRef("pk"), **filters).order_by().values("campaign")
            .annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(rows), 0)


# --------------------------------------------------------------------------- campaigns and attributes


class AttributeInline(admin.TabularInline):
    """The campaign's attributes; what a researcher tunes during a campaign is editable.

    Key, kind and target type are fixed once responses may exist (their
    values are validated against them); new attributes come from a preset
    action or the attribute page.
    """

    model = Attribute
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("key", "kind", "target_type", "question", "prior_cost_s", "active", "is_coarse",
              "binarize_threshold", "order", "preset")
    readonly_fields = ("key", "kind", "target_type", "preset")
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 60})}}

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _preset_action(preset: str):
    def apply(modeladmin: admin.ModelAdmin, request, queryset) -> None:
        added = 0
        for campaign in queryset:
            try:
                added += len(preset_apply(campaign=campaign, preset=preset))
            except ApplicationError as exc:
                modeladmin.message_user(request, exc.message, messages.ERROR)
                return
        modeladmin.message_user(request, f"Preset {preset}: {added} attribute(s) added to "
                                         f"{len(queryset)} campaign(s); existing keys were left as they were.")

    apply.__name__ = f"apply_preset_{preset}"
    return admin.action(description=f"Apply preset “{preset}” ({len(PRESETS[preset])} attributes)",
                        permissions=["change"])(apply)


@admin.action(description="Export dataset (all formats, in the background)", permissions=["change"])
def export_dataset(modeladmin: admin.ModelAdmin, request, queryset) -> None:
    jobs = [export_job_create(campaign=campaign, requested_by=request.user) for campaign in queryset]
    modeladmin.message_user(request, f"{len(jobs)} export(s) queued; follow them under Export jobs.")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "policy", "overlap", "n_items", "n_attributes", "created_at")
    list_filter = ("status", "policy")
    search_fields = ("name",)
    readonly_fields = ("counts", "created_at")
    inlines = [AttributeInline]
    actions = [_preset_action(name) for name in preset_names()] + [export_dataset]
    fieldsets = (
        (None, {"fields": ("name", "status", "instructions", "counts")}),
        ("Collection", {"fields": ("overlap", "point_radius_frac", "policy", "lease_seconds", "task_time_limit_s")}),
        ("Quality control", {"fields": ("gold_tasks_required", "qualification_threshold", "skip_limit",
                                        "inspection_rate")}),
        ("Created", {"fields": ("created_at",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            item_count=_count_per_campaign(Item), attribute_count=_count_per_campaign(Attribute))

    @admin.display(description="items", ordering="item_count")
    def n_items(self, obj: Campaign) -> int:
        return obj.item_count

    @admin.display(description="attributes", ordering="attribute_count")
    def n_attributes(self, obj: Campaign) -> int:
        return obj.attribute_count

    @admin.display(description="counts")
    def counts(self, obj: Campaign) -> str:
        if obj.pk is None:
            return "-"
        targets = dict(obj.targets.order_by().values_list("type").annotate(n=Count("pk")))
        responses = Response.objects.filter(assignment__campaign=obj)
        rows = [
            ("items", obj.items.count()),
            ("held-out items", obj.items.filter(split="heldout").count()),
            ("groups", obj.groups.count()),
            ("pairs", obj.pairs.count()),
            ("prompts", targets.get(TargetType.PROMPT, 0)),
            ("targets", sum(targets.values())),
            ("slots", obj.slots.count()),
            ("assignments", obj.assignments.count()),
            ("open assignments", obj.assignments.filter(status=Assignment.Status.ISSUED).count()),
            ("responses", responses.count()),
            ("valid responses", responses.filter(valid=True).count()),
        ]
        return format_html_join(mark_safe("<br>"), "{}: {}", rows)


@admin.register(Attribute)
class AttributeAdmin(admin.ModelAdmin):
    list_display = ("key", "campaign", "kind", "target_type", "category", "prior_cost_s", "active", "is_coarse",
                    "preset", "order")
    list_editable = ("prior_cost_s", "active")
    list_filter = ("campaign", "kind", "target_type", "category", "active", "is_coarse", "preset")
    search_fields = ("key", "question")
    list_select_related = ("campaign",)

    def get_readonly_fields(self, request, obj=None):
        # Existing responses were validated against kind and target type.
        return ("kind", "target_type", "preset") if obj is not None else ("preset",)


# --------------------------------------------------------------------------- content


@admin.register(Prompt)
class PromptAdmin(BigTableAdmin):
    list_display = ("id", "short_text", "category", "n_tokens", "created_at")
    list_filter = ("category",)
    search_fields = ("text", "=text_sha256")
    readonly_fields = ("text", "text_sha256", "tokens", "created_at")

    def has_add_permission(self, request) -> bool:
        return False  # prompts arrive with their images (import); text and tokens never change

    @admin.display(description="text")
    def short_text(self, obj: Prompt) -> str:
        return short(obj.text)

    @admin.display(description="tokens")
    def n_tokens(self, obj: Prompt) -> int:
        return len(obj.tokens)


@admin.register(Image)
class ImageAdmin(BigTableAdmin):
    list_display = ("thumb", "short_sha", "width", "height", "format", "generator", "seed", "prompt_text")
    list_filter = ("format", "generator")
    search_fields = ("=sha256", "prompt__text", "generator")
    list_select_related = ("prompt",)
    raw_id_fields = ("prompt",)
    readonly_fields = ("preview", "file", "sha256", "width", "height", "byte_size", "format", "created_at")
    fields = ("preview", "file", "prompt", "generator", "seed", "sha256", "width", "height", "byte_size", "format",
              "created_at")

    def has_add_permission(self, request) -> bool:
        return False  # images are Pillow-validated by the import; admin uploads would bypass that

    @admin.display(description="image")
    def thumb(self, obj: Image) -> str:
        return thumbnail(obj)

    @admin.display(description="preview")
    def preview(self, obj: Image) -> str:
        return thumbnail(obj, size=384)

    @admin.display(description="sha256", ordering="sha256")
    def short_sha(self, obj: Image) -> str:
        return obj.sha256[:12]

    @admin.display(description="prompt")
    def prompt_text(self, obj: Image) -> str:
        return short(obj.prompt.text, 60)


@admin.register(Item)
class ItemAdmin(BigTableAdmin):
    list_display = ("thumb", "external_id", "campaign", "split", "prompt_text", "created_at")
    list_filter = ("campaign", "split")
    search_fields = ("=external_id", "=image__sha256", "image__prompt__text")
    list_select_related = ("campaign", "image__prompt")
    raw_id_fields = ("image",)
    readonly_fields = ("preview", "created_at")

    @admin.display(description="image")
    def thumb(self, obj: Item) -> str:
        return thumbnail(obj.image)

    @admin.display(description="preview")
    def preview(self, obj: Item) -> str:
        return thumbnail(obj.image, size=384) if obj.image_id else "-"

    @admin.display(description="prompt")
    def prompt_text(self, obj: Item) -> str:
        return short(obj.image.prompt.text, 60)


class GroupImageInline(admin.TabularInline):
    model = GroupImage
    extra = 0
    raw_id_fields = ("image",)
    fields = ("position", "image", "thumb")
    readonly_fields = ("thumb",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("image")

    @admin.display(description="image")
    def thumb(self, obj: GroupImage) -> str:
        return thumbnail(obj.image) if obj.image_id else "-"


@admin.register(Group)
class GroupAdmin(BigTableAdmin):
    list_display = ("name", "campaign", "prompt_text", "n_images")
    list_filter = ("campaign",)
    search_fields = ("name", "prompt__text")
    list_select_related = ("campaign", "prompt")
    raw_id_fields = ("prompt",)
    inlines = [GroupImageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description="images", ordering="member_count")
    def n_images(self, obj: Group) -> int:
        return obj.member_count

    @admin.display(description="prompt")
    def prompt_text(self, obj: Group) -> str:
        return short(obj.prompt.text, 60)


@admin.register(Pair)
class PairAdmin(BigTableAdmin):
    list_display = ("id", "campaign", "thumb_a", "thumb_b", "prompt_text")
    list_filter = ("campaign",)
    search_fields = ("=image_a__sha256", "=image_b__sha256", "image_a__prompt__text")
    list_select_related = ("campaign", "image_a__prompt", "image_b")
    raw_id_fields = ("image_a", "image_b")

    @admin.display(description="image A")
    def thumb_a(self, obj: Pair) -> str:
        return thumbnail(obj.image_a)

    @admin.display(description="image B")
    def thumb_b(self, obj: Pair) -> str:
        return thumbnail(obj.image_b)

    @admin.display(description="prompt")
    def prompt_text(self, obj: Pair) -> str:
        return short(obj.image_a.prompt.text, 60)


@admin.register(GroupImage)
class GroupImageAdmin(BigTableAdmin):
    list_display = ("id", "group", "position", "thumb")
    list_filter = ("group__campaign",)
    search_fields = ("group__name", "=image__sha256")
    list_select_related = ("group", "image")
    raw_id_fields = ("group", "image")

    @admin.display(description="image")
    def thumb(self, obj: GroupImage) -> str:
        return thumbnail(obj.image)


class SlotInline(admin.TabularInline):
    """Counters are written by the assignment services only."""

    model = Slot
    extra = 0
    can_delete = False
    fields = ("attribute", "n_open", "n_done", "score", "score_version")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("attribute")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Target)
class TargetAdmin(BigTableAdmin):
    list_display = ("id", "campaign", "type", "item", "group", "pair_id", "prompt_text", "is_gold")
    list_filter = ("campaign", "type", "is_gold")
    search_fields = ("=item__external_id", "group__name", "prompt__text")
    list_select_related = ("campaign", "item", "group", "prompt")
    raw_id_fields = ("item", "group", "pair", "prompt")
    readonly_fields = ("campaign", "type", "item", "group", "pair", "prompt")
    inlines = [SlotInline]

    def has_add_permission(self, request) -> bool:
        return False  # targets are made with their item, group, pair or prompt

    @admin.display(description="prompt")
    def prompt_text(self, obj: Target) -> str:
        return short(obj.prompt.text, 60)


@admin.register(Slot)
class SlotAdmin(BigTableAdmin):
    list_display = ("id", "campaign", "target", "attribute", "n_open", "n_done", "score", "score_version")
    list_filter = ("campaign", "attribute__kind", "attribute__target_type")
    search_fields = ("=attribute__key",)
    list_select_related = ("campaign", "target", "attribute")
    readonly_fields = ("campaign", "target", "attribute", "n_open", "n_done", "score", "score_version")

    def has_add_permission(self, request) -> bool:
        return False


# The feedback side registers itself on import (Django autodiscovers admin.py only).
from annotator import admin_feedback  # noqa: E402,F401

"""Helpers shared by the admin modules: thumbnails, short texts, defaults for big tables."""
from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.utils.html import format_html

from annotator.models import Image

THUMB_PX = 64


def thumbnail(image: Image | None, size: int = THUMB_PX) -> str:
    """A small ``<img>`` of an image (escaped URL; lazy so long lists stay light)."""
    if image is None or not image.file:
        return "-"
    return format_html('<img src="{}" alt="image {}" loading="lazy" style="max-width:{}px;max-height:{}px">',
                       image.file.url, image.pk, size, size)


def short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class ReadOnlyMixin:
    """View permission only: the rows are written by services that keep other tables in step."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class BigTableAdmin(admin.ModelAdmin):
    """Defaults for tables that grow with a campaign."""

    show_full_result_count = False
    list_per_page = 50


def pretty_json(value: Any) -> str:
    """JSON as an escaped, indented <pre> block."""
    return format_html('<pre style="margin:0;white-space:pre-wrap">{}</pre>',
                       json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True))

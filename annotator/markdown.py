"""Campaign instructions: Markdown rendered to HTML that is safe to show.

Researchers write instructions in Markdown; annotators see them on the home
page. Markdown passes raw HTML through, so the output is sanitised with nh3
(an allow-list of tags, attributes and URL schemes) before it is marked safe.
"""
from __future__ import annotations

import markdown as _markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

_EXTENSIONS = ["extra", "sane_lists", "nl2br"]
# Images are allowed (instructions show examples), but only over http(s) or
# site-relative paths; scripts, styles, forms, iframes and event handlers never
# survive the allow-list.
_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "code": {"class"},
}
_URL_SCHEMES = {"http", "https", "mailto"}


def markdown_render(text: str) -> SafeString:
    """Markdown to sanitised HTML; empty text gives an empty string."""
    if not text or not text.strip():
        return mark_safe("")
    html = _markdown.markdown(text, extensions=_EXTENSIONS, output_format="html")
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)

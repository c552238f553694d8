"""Roles: Django groups with the permissions each role needs."""
from __future__ import annotations

ANNOTATOR = "annotator"
INSPECTOR = "inspector"
RESEARCHER = "researcher"
ROLES = (ANNOTATOR, INSPECTOR, RESEARCHER)


def user_role(user) -> str | None:
    """The strongest role a user holds (superusers count as researchers)."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return RESEARCHER
    names = set(user.groups.values_list("name", flat=True)) if not hasattr(user, "_role_cache") else user._role_cache
    user._role_cache = names
    for role in (RESEARCHER, INSPECTOR, ANNOTATOR):
        if role in names:
            return role
    return None


def is_researcher(user) -> bool:
    return user_role(user) == RESEARCHER


def is_inspector(user) -> bool:
    return user_role(user) in (INSPECTOR, RESEARCHER)

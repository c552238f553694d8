"""Users and roles."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from rest_framework.authtoken.models import Token

from annotator.errors import ApplicationError
from annotator.roles import ANNOTATOR, INSPECTOR, RESEARCHER, ROLES

RESEARCHER_APPS = ("annotator", "rewardlab", "elicitation", "authtoken")
INSPECTOR_CODENAMES = ("view_assignment", "view_response", "view_review", "add_review", "change_review",
                       "view_campaign", "view_target", "view_attribute")


def roles_ensure() -> dict[str, Group]:
    """Create the role groups and (re)assign their permissions; cheap and idempotent."""
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
    groups[INSPECTOR].permissions.set(
        Permission.objects.filter(content_type__app_label="annotator", codename__in=INSPECTOR_CODENAMES))
    groups[RESEARCHER].permissions.set(Permission.objects.filter(content_type__app_label__in=RESEARCHER_APPS))
    return groups


@transaction.atomic
def user_create(*, username: str, role: str, password: str | None = None) -> tuple[object, Token, bool]:
    """Create a user in a role (or keep an existing one and its token)."""
    if role not in ROLES:
        raise ApplicationError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.", field="role", rule="known_role")
    User = get_user_model()
    groups = roles_ensure()
    user, created = User.objects.get_or_create(username=username)
    if created:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        # Researchers manage budgets and attributes in admin.
        user.is_staff = role == RESEARCHER
        user.save()
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    if role == RESEARCHER and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(groups[role])
    token, _ = Token.objects.get_or_create(user=user)
    return user, token, created


__all__ = ["roles_ensure", "user_create", "ANNOTATOR", "INSPECTOR", "RESEARCHER"]

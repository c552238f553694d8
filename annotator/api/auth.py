"""Token authentication that reads the user and their roles in one raw query.

DRF's ``TokenAuthentication`` loads the token and its user; every API view
then asks for the user's role (``annotator.roles.user_role``), a second
query on ``auth_user_groups``. Every API request pays for authentication,
so here one prepared-once SQL statement answers both (an EXISTS per role
beside the user's columns) and fills the role cache ``user_role`` reads.
Inactive users and bad keys fail as in DRF.
"""
from __future__ import annotations

from functools import lru_cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from annotator.roles import ROLES


@lru_cache(maxsize=1)
def _sql() -> str:
    user, token = get_user_model()._meta, authentication.TokenAuthentication().get_model()._meta
    membership = user.get_field("groups").remote_field.through._meta
    q = connection.ops.quote_name
    columns = ", ".join(f"u.{q(field.column)}" for field in user.concrete_fields)
    roles = ", ".join(
        f"EXISTS(SELECT 1 FROM {q(membership.db_table)} m JOIN {q(Group._meta.db_table)} g ON g.id = m.group_id "
        f"WHERE m.user_id = u.id AND g.name = %s) AS {q('role_' + role)}" for role in ROLES)
    return (f"SELECT {columns}, {roles} FROM {q(token.db_table)} t JOIN {q(user.db_table)} u "
            f"ON u.{q(user.pk.column)} = t.{q(token.get_field('user').column)} WHERE t.{q(token.pk.column)} = %s")


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        users = list(get_user_model().objects.raw(_sql(), [*ROLES, key]))
        if not users:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = users[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        user._role_cache = {role for role in ROLES if getattr(user, f"role_{role}")}
        token = self.get_model()(key=key, user=user)
        return user, token

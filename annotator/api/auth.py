"""Token authentication that reads the user and their roles in one plain query.

DRF's ``TokenAuthentication`` loads the token and its user; every API view
then asks for the user's role (``annotator.roles.user_role``), a second
query on ``auth_user_groups``. Every API request pays for authentication,
so here one statement (``annotator.rows.models_read``, its text built once)
answers both, an EXISTS per role beside the user's columns, and fills the
role cache ``user_role`` reads. Inactive users and bad keys fail as in DRF.
"""
from __future__ import annotations

from functools import lru_cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from annotator.roles import ROLES
from annotator.rows import model_read


@lru_cache(maxsize=1)
def _shape() -> dict:
    """``models_read``'s arguments: the token joined to the user, one EXISTS per role."""
    user, token = get_user_model()._meta, authentication.TokenAuthentication().get_model()._meta
    membership = user.get_field("groups").remote_field.through._meta
    q = connection.ops.quote_name
    role = (f"EXISTS(SELECT 1 FROM {q(membership.db_table)} m JOIN {q(Group._meta.db_table)} g "
            f"ON g.{q('id')} = m.{q('group_id')} WHERE m.{q('user_id')} = t0.{q(user.pk.column)} AND g.{q('name')} = %s)")
    return {
        "where": f"k.{q(token.pk.column)} = %s",
        "joins": f"INNER JOIN {q(token.db_table)} k ON k.{q(token.get_field('user').column)} = t0.{q(user.pk.column)}",
        "annotations": tuple((f"role_{name}", role) for name in ROLES),
    }


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        user = model_read(get_user_model(), params=[*ROLES, key], **_shape())
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        user._role_cache = {role for role in ROLES if getattr(user, f"role_{role}")}
        token = self.get_model()(key=key, user=user)
        return user, token

"""Token authentication that reads the user's roles in the same query as the token.

DRF's ``TokenAuthentication`` loads the token and its user; every API view
then asks for the user's role (``annotator.roles.user_role``), which is a
second query on ``auth_user_groups``. Here one query answers both: an EXISTS
per role rides along with the token lookup and fills the role cache
``user_role`` reads. Anything else (inactive users, bad keys, the
``WWW-Authenticate`` header) is DRF's own behaviour.
"""
from __future__ import annotations

from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from annotator.roles import ROLES


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        model = self.get_model()
        has_role = {f"has_role_{role}": Exists(Group.objects.filter(user=OuterRef("user_id"), name=role))
                    for role in ROLES}
        token = model.objects.select_related("user").annotate(**has_role).filter(key=key).first()
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token.user._role_cache = {role for role in ROLES if getattr(token, f"has_role_{role}")}
        return token.user, token

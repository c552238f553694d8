"""One application error type and one DRF exception handler.

Every refused request gets ``{"message": ..., "extra": {"field": ..., "rule": ...}}``.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A refusal the caller can fix: names the field and the rule it broke."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None,
                 status_code: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra: dict[str, Any] = {"field": field, "rule": rule, **extra}
        if status_code is not None:
            self.status_code = status_code


class ConflictError(ApplicationError):
    status_code = status.HTTP_409_CONFLICT


def _first_error(detail: Any, prefix: str = "") -> tuple[str, str]:
    """Walk a DRF ValidationError detail to its first (field, message)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = key if key != "non_field_errors" else prefix.rstrip(".")
            return _first_error(value, f"{prefix}{field}." if field else prefix)
    if isinstance(detail, list) and detail:
        return _first_error(detail[0], prefix)
    return prefix.rstrip(".") or None, str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_error(exc.detail)
        rule = getattr(exc, "rule", None) or (exc.get_codes() if not isinstance(exc.get_codes(), (dict, list)) else None)
        codes = exc.get_codes()
        while isinstance(codes, (dict, list)) and codes:
            codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
        return Response(
            {"message": f"{field}: {message}" if field else message,
             "extra": {"field": field, "rule": rule if isinstance(rule, str) else str(codes), "errors": exc.detail}},
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        code = getattr(exc, "default_code", "error")
        response.data = {"message": str(detail), "extra": {"field": None, "rule": code}}
    return response

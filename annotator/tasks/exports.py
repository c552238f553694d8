"""Celery tasks: exports."""
from celery import shared_task  # noqa: F401

"""Celery tasks: consolidation."""
from celery import shared_task  # noqa: F401

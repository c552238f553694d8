"""Celery tasks of the annotator app (thin: ids in, call a service, idempotent).

Celery's autodiscovery imports ``annotator.tasks``; each topic lives in its
own module and is imported here so its tasks register.
"""
from annotator.tasks import consolidation, exports, leases, quality  # noqa: F401

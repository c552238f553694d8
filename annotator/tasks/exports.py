"""Celery tasks: exports (thin: a job id in, the service does the work)."""
from __future__ import annotations

from celery import shared_task

from annotator.services.exports import export_job_run


@shared_task(name="annotator.export_run", acks_late=True, ignore_result=True)
def export_run(job_id: str) -> str:
    """Idempotent: a finished job is not exported again; an interrupted one starts over."""
    return export_job_run(job_id=job_id).status

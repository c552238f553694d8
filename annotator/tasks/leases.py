"""Celery tasks: leases (beat runs ``annotator.tasks.leases_expire`` every minute)."""
from celery import shared_task

from annotator.services.assignments import EXPIRE_BATCH
from annotator.services.assignments import leases_expire as leases_expire_service


@shared_task(name="annotator.tasks.leases_expire")
def leases_expire() -> int:
    """Expire every lease that ran out, in short transactions; idempotent."""
    total = 0
    while True:
        done = leases_expire_service(limit=EXPIRE_BATCH)
        total += done
        if done < EXPIRE_BATCH:
            return total

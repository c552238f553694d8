"""The Celery app. Queues: ``default`` for web-side work, ``training`` for GPU workers."""
import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

QUEUE_NAMES = ("default", "training")

app = Celery("feedback")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUE_NAMES]
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping(value: str = "pong") -> str:
    return value

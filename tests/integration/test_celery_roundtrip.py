"""A task goes through the real broker to a real worker process and back."""
import pytest

from config.celery import ping

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_ping_round_trip_through_a_real_worker(celery_worker_process):
    result = ping.delay("hello from the test")
    try:
        assert result.get(timeout=90) == "hello from the test"
    except Exception:
        print(celery_worker_process.log_path.read_text()[-4000:])
        raise
    assert celery_worker_process.poll() is None

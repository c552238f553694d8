"""The Redis transport that publishes through one client per channel (config/broker.py)."""
import os
import uuid

import pytest
from kombu import Connection, Exchange, Queue

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def connection():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    with Connection(REDIS_URL, transport="config.broker:Transport") as conn:
        yield conn


def test_messages_go_through_one_client_per_pool(connection):
    from config.broker import Channel

    queue = Queue(f"broker-test-{uuid.uuid4().hex}", Exchange("broker-test", type="direct"), routing_key="k")
    channel = connection.default_channel
    assert isinstance(channel, Channel)
    with connection.Producer(channel) as producer:
        producer.publish({"n": 0}, exchange=queue.exchange, routing_key="k", declare=[queue])
        first = channel._command_client
        for i in (1, 2):
            producer.publish({"n": i}, exchange=queue.exchange, routing_key="k")
    assert first is not None and channel._command_client is first  # reused, not built per message
    received = []
    with connection.Consumer(queue, callbacks=[lambda body, message: (received.append(body), message.ack())]):
        while len(received) < 3:
            connection.drain_events(timeout=5)
    assert received == [{"n": 0}, {"n": 1}, {"n": 2}]

    # kombu drops its pools after a fork or a lost connection: the next command builds a client on the new one.
    channel._disconnect_pools()
    assert channel.client.ping() and channel._size(queue.name) == 0
    assert channel._command_client is not first and channel._command_client.connection_pool is channel.pool
    queue(channel).delete()


def test_settings_pick_it_for_a_redis_broker_only(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import django; django.setup(); from celery import current_app as app; "
            "print(app.conf.broker_transport or '-', app.connection_for_write().transport_cls)")
    seen = {}
    for url in ("redis://127.0.0.1:6379/15", "rediss://127.0.0.1:6380/0", "filesystem://", "memory://"):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_BROKER_URL": url,
               "VAR_DIR": str(tmp_path)}
        out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        seen[url.split(":")[0]] = out.stdout.split()
    assert seen["redis"] == seen["rediss"] == ["config.broker:Transport", "config.broker:Transport"]
    assert seen["filesystem"] == ["-", "filesystem"] and seen["memory"] == ["-", "memory"]

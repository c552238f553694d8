"""Docker does not run here: parse docker-compose.yml and check its shape."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_cookiecutter_services():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "gpu-worker", "beat"}
    for name in ("postgres", "redis", "web", "worker", "gpu-worker"):
        assert "healthcheck" in services[name], name


def test_app_services_share_one_image_and_volumes():
    services = _compose()["services"]
    images = {services[name]["image"] for name in ("web", "worker", "gpu-worker", "beat")}
    assert images == {"feedback-platform:latest"}
    for name in ("web", "worker", "gpu-worker", "beat"):
        mounts = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {"/data/media", "/data/artifacts"} <= mounts
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")


def test_worker_commands_and_queues():
    services = _compose()["services"]
    assert "gunicorn" in services["web"]["command"]
    assert "-Q default" in services["worker"]["command"]
    assert "-Q training" in services["gpu-worker"]["command"]
    assert services["beat"]["command"].startswith("celery -A config beat")
    devices = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_celery_declares_both_queues_once():
    from config.celery import app

    assert [q.name for q in app.conf.task_queues] == ["default", "training"]
    assert app.conf.task_default_queue == "default"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "make test" in ci

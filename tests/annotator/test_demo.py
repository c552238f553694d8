"""``manage.py demo --no-serve`` on a temporary SQLite database, in a child process."""
import os
import subprocess
import sys
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_no_serve_builds_the_campaign_and_users(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL",
                                                              "CELERY_RESULT_BACKEND", "SECRET_KEY")}
    env.update({"VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"})
    args = [sys.executable, "manage.py", "demo", "--no-serve", "--prompts", "6", "--images-per-prompt", "4"]
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "researcher / " in out and "annotator  / " in out
    assert "/annotate/" in out and "/dashboard/" in out
    assert (tmp_path / "secret_key").exists()

    db = sqlite3.connect(tmp_path / "demo.sqlite3")
    (n_items,) = db.execute("select count(*) from annotator_item").fetchone()
    (n_groups,) = db.execute("select count(*) from annotator_group").fetchone()
    keys = {k for (k,) in db.execute("select key from annotator_attribute")}
    users = {u for (u,) in db.execute("select username from auth_user")}
    assert n_items == 24 and n_groups == 6
    assert {"artifact_points", "ir_overall", "overall_good", "ranking"} <= keys
    assert {"researcher", "annotator"} <= users

    # Re-running changes nothing and prints the same passwords.
    again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [l for l in again.stdout.splitlines() if " / " in l] == [l for l in out.splitlines() if " / " in l]
    assert db.execute("select count(*) from annotator_item").fetchone() == (24,)

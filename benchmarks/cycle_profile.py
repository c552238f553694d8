"""Where one next -> submit cycle spends its time, in process (no HTTP server, no network).

Builds the load test's campaign (``benchmarks/annotate_load.py``) in a fresh
PostgreSQL database, then runs sequential cycles through Django's test client
with token auth: the same views, middleware and SQL as under gunicorn, minus
the WSGI server. Prints JSON: Django CPU per request (process time), the
database's CPU per cycle (its backend's ``/proc`` ticks), SQL statements per
request, and with ``--profile`` the top functions by cumulative time.

    python benchmarks/cycle_profile.py --cycles 300
    python benchmarks/cycle_profile.py --cycles 300 --profile 25 --reuse
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _backend_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--presets", default="collins")
    parser.add_argument("--policy", default="all")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/cycle_profile")
    parser.add_argument("--reuse", action="store_true", help="keep the database of an earlier run")
    parser.add_argument("--profile", type=int, default=0, help="print this many functions by --sort")
    parser.add_argument("--sort", default="cumulative", choices=("cumulative", "tottime", "ncalls"),
                        help="the profile's order: cumulative time, own time, calls")
    parser.add_argument("--dump", help="also write the profile to this file (pstats; e.g. for print_callers)")
    args = parser.parse_args()

    from benchmarks.annotate_load import realistic_value, reset_database, setup_campaign

    env = {**os.environ, "DATABASE_URL": args.database, "CELERY_BROKER_URL": "memory://",
           "CELERY_RESULT_BACKEND": "cache+memory://", "DJANGO_SETTINGS_MODULE": "config.settings",
           "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "false"), "SECRET_KEY": "cycle-profile",
           "SECURE_SSL_REDIRECT": "false",
           "VAR_DIR": os.environ.get("VAR_DIR") or tempfile.mkdtemp(prefix="cycle-profile-"), "PYTHONPATH": str(ROOT)}
    state = Path(env["VAR_DIR"]) / "cycle_profile.json"
    if args.reuse and state.exists():
        campaign, tokens = json.loads(state.read_text())
    else:
        reset_database(args.database)
        campaign, tokens = setup_campaign(env, args.items, args.presets, args.policy, 1)
        state.write_text(json.dumps([campaign, tokens]))
    os.environ.update(env)

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {tokens[0]}")
    rng = random.Random(0)

    def cycle(counts: dict | None = None) -> tuple[float, float]:
        # Queries are captured (a debug cursor, slower) only when counted.
        nq, sq = (CaptureQueriesContext(connection), CaptureQueriesContext(connection)) if counts is not None else (
            contextlib.nullcontext([]), contextlib.nullcontext([]))
        t0 = time.process_time()
        with nq:
            r = client.post("/api/tasks/next", {"campaign": campaign}, content_type="application/json")
        t1 = time.process_time()
        assert r.status_code == 200, (r.status_code, r.content[:300])
        assignment = r.json()["assignment"]
        responses = {a["key"]: realistic_value(a, assignment, rng) for a in assignment["attributes"]}
        body = {"submission_id": str(uuid.uuid4()), "responses": responses,
                "active_ms": {key: rng.randint(2000, 60000) for key in responses}}
        t2 = time.process_time()
        with sq:
            r = client.post(f"/api/assignments/{assignment['id']}/submit", body, content_type="application/json")
        t3 = time.process_time()
        assert r.status_code == 201, (r.status_code, r.content[:300])
        if counts is not None:
            counts.setdefault("next", []).append(len(nq))
            counts.setdefault("submit", []).append(len(sq))
            counts.setdefault("sql", nq.captured_queries + sq.captured_queries)
        return (t1 - t0) * 1000, (t3 - t2) * 1000

    for _ in range(args.warmup):
        cycle()
    counts: dict = {}
    cycle(counts)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    ticks0, hz = _backend_ticks(backend), os.sysconf("SC_CLK_TCK")
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    times = []
    wall0 = time.perf_counter()
    if profiler:
        profiler.enable()
    for _ in range(args.cycles):
        times.append(cycle())
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - wall0
    pg_ms = (_backend_ticks(backend) - ticks0) / hz * 1000 / args.cycles
    # The host's speed drifts (shared cores): the least CPU over rounds of 50 cycles is the steadiest figure.
    rounds = [sum(a + b for a, b in times[i:i + 50]) / len(times[i:i + 50]) for i in range(0, len(times), 50)]
    out = {
        "benchmark": "cycle_profile", "policy": args.policy, "cycles": args.cycles,
        "next_cpu_ms_median": round(statistics.median(t[0] for t in times), 2),
        "submit_cpu_ms_median": round(statistics.median(t[1] for t in times), 2),
        "django_cpu_ms_per_cycle": round(sum(a + b for a, b in times) / args.cycles, 2),
        "django_cpu_ms_per_cycle_best_round": round(min(rounds), 2),
        "postgres_cpu_ms_per_cycle": round(pg_ms, 2),
        "wall_ms_per_cycle": round(wall * 1000 / args.cycles, 2),
        "sql_next": counts["next"][0], "sql_submit": counts["submit"][0],
    }
    print(json.dumps(out, indent=2))
    if os.environ.get("CYCLE_PROFILE_SQL"):
        for q in counts["sql"]:
            print(q["sql"] if os.environ["CYCLE_PROFILE_SQL"] == "full" else q["sql"][:300], file=sys.stderr)
    if profiler:
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats(args.sort).print_stats(args.profile)
        if args.dump:
            profiler.dump_stats(args.dump)
        print(buf.getvalue(), file=sys.stderr)


if __name__ == "__main__":
    main()

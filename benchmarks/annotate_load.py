"""Load test of the annotation API: closed loops of next -> submit.

gunicorn (4 workers) on PostgreSQL; N simulated annotators with tokens run
closed loops of ``POST /api/tasks/next`` -> a realistic submission for the
attributes requested -> ``POST /api/assignments/<id>/submit`` over a campaign
of 10,000 items, for a fixed time. Prints JSON: cycles/s, p50/p95/p99 of next
and submit, errors, per N, medians over runs.

    python benchmarks/annotate_load.py --items 10000 --clients 1,8,32 --seconds 20 --runs 3
    python benchmarks/annotate_load.py --policy voi_per_cost   # with elicitation active
    python benchmarks/annotate_load.py --policy voi_per_cost --budget-s 1e9   # and a budget's ledger

Targets 127.0.0.1 only; every loop is bounded in time and count.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def realistic_value(attribute: dict, assignment: dict, rng: random.Random) -> dict:
    """A plausible answer for one requested attribute (what a careful annotator sends)."""
    kind = attribute["kind"]
    images = assignment["target"]["images"]
    tokens = assignment["target"]["prompt"]["tokens"]
    if kind == "binary":
        return {"skipped": True} if rng.random() < 0.1 else {"value": rng.random() < 0.5}
    if kind == "likert":
        return {"value": rng.randint(1, attribute["points"] or 5)}
    if kind == "choice":
        picked = [o for o in attribute["options"] if rng.random() < 0.15]
        return {"value": picked or ["none"]}
    if kind == "category":
        return {"value": rng.choice(attribute["options"])}
    if kind == "points":
        n = rng.choice([0, 0, 1, 2, 3])
        label = attribute["options"][0]
        return {"points": [{"x": rng.random(), "y": rng.random(), "label": label} for _ in range(n)], "none": n == 0}
    if kind == "keywords":
        return {"tokens": sorted(rng.sample(range(len(tokens)), k=min(len(tokens), rng.choice([0, 1, 2]))))}
    if kind == "ranking":
        ids = [img["id"] for img in images]
        rng.shuffle(ids)
        levels = [ids[i * 2:(i + 1) * 2] for i in range(5)]
        return {"levels": levels}
    if kind == "sxs":
        return {"choice": rng.choice(attribute["options"])}
    raise ValueError(kind)


class Http:
    """One annotator's HTTP/1.1 connection, on the standard library (what the load generator spends is CPU
    the server does not get on a shared 2-core machine: ``--http requests`` costs about twice as much)."""

    def __init__(self, base: str, token: str, kind: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        if kind == "requests":
            self.session = requests.Session()
            self.session.headers.update(self.headers)
        else:
            host, port = base.removeprefix("http://").split(":")
            # Reopened by http.client after each response gunicorn's sync workers close.
            self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
            self.session = None

    def post(self, path: str, body: dict) -> tuple[int, bytes]:
        """``(status, body)``; status 0 when the request failed on the way (counted as an error)."""
        try:
            if self.session is not None:
                r = self.session.post(f"{self.base}{path}", json=body, timeout=30)
                return r.status_code, r.content
            self.connection.request("POST", path, body=json.dumps(body).encode(), headers=self.headers)
            r = self.connection.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError, requests.RequestException) as exc:
            if self.session is None:
                self.connection.close()
            return 0, repr(exc).encode()


class Client(threading.Thread):
    def __init__(self, base: str, token: str, campaign: int, deadline: float, seed: int, http_kind: str) -> None:
        super().__init__(daemon=True)
        self.campaign, self.deadline = campaign, deadline
        self.http = Http(base, token, http_kind)
        self.rng = random.Random(seed)
        self.next_ms: list[float] = []
        self.submit_ms: list[float] = []
        self.errors: list[str] = []
        self.cycles = 0

    def run(self) -> None:
        max_cycles = 100_000  # a bound besides the deadline
        while time.monotonic() < self.deadline and self.cycles < max_cycles:
            t0 = time.perf_counter()
            code, content = self.http.post("/api/tasks/next", {"campaign": self.campaign})
            self.next_ms.append((time.perf_counter() - t0) * 1000)
            if code == 204:
                return
            if code != 200:
                self.errors.append(f"next {code}: {content[:200]!r}")
                time.sleep(0.05)
                continue
            assignment = json.loads(content)["assignment"]
            responses = {a["key"]: realistic_value(a, assignment, self.rng) for a in assignment["attributes"]}
            body = {
                "submission_id": str(uuid.uuid4()),
                "responses": responses,
                "active_ms": {key: self.rng.randint(2000, 60000) for key in responses},
            }
            t0 = time.perf_counter()
            code, content = self.http.post(f"/api/assignments/{assignment['id']}/submit", body)
            self.submit_ms.append((time.perf_counter() - t0) * 1000)
            if code not in (200, 201):
                self.errors.append(f"submit {code}: {content[:200]!r}")
                time.sleep(0.05)
                continue
            self.cycles += 1


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def setup_campaign(env: dict, n_items: int, presets: str, policy: str, n_users: int,
                   budget_s: float | None = None) -> tuple[int, list[str]]:
    """Migrate a fresh database and build the campaign in a child process (Django set up there).

    ``budget_s``: give the campaign a Budget of that many annotator-seconds (the ledger then
    reserves and charges on every cycle, under the budget row's lock); None: unlimited, no Budget row.
    """
    code = f"""
import django, json, os
django.setup()
from benchmarks._campaign import build_campaign
cid, tokens = build_campaign(n_items={n_items}, presets={presets!r}, policy={policy!r}, n_users={n_users})
if {budget_s!r} is not None:
    from elicitation.models import Budget
    Budget.objects.create(campaign_id=cid, limit_s={budget_s!r})
from elicitation.strategies import get_strategy
if get_strategy({policy!r}).needs_model:
    # Scores as a retrain would store them (from stand-in model outputs): the issuer reads them.
    from benchmarks.elicitation import scores_prime
    scores_prime(campaign_id=cid)
print(json.dumps({{"campaign": cid, "tokens": tokens}}))
"""
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True,
                         text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return data["campaign"], data["tokens"]


def broker_purge(url: str) -> int:
    """Drop the messages a run queued (each submit queues its consolidation; no worker runs here)."""
    from kombu import Connection

    from config.celery import QUEUE_NAMES  # the app's queues; importing it does not load Django's settings

    with Connection(url) as conn:
        return sum(conn.default_channel.queue_purge(name) or 0 for name in QUEUE_NAMES)


def reset_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def run_once(base: str, campaign: int, tokens: list[str], n: int, seconds: float, seed: int,
             http_kind: str = "stdlib") -> dict:
    deadline = time.monotonic() + seconds
    clients = [Client(base, tokens[i], campaign, deadline, seed * 1000 + i, http_kind) for i in range(n)]
    cpu0, t0 = os.times(), time.monotonic()
    for c in clients:
        c.start()
    for c in clients:
        c.join(timeout=seconds + 60)
    elapsed, cpu1 = time.monotonic() - t0, os.times()
    client_cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    next_ms = [v for c in clients for v in c.next_ms]
    submit_ms = [v for c in clients for v in c.submit_ms]
    errors = [e for c in clients for e in c.errors]
    cycles = sum(c.cycles for c in clients)
    return {
        "clients": n, "seconds": round(elapsed, 2), "cycles": cycles, "cycles_per_s": round(cycles / elapsed, 1),
        "next_p50_ms": pct(next_ms, 50), "next_p95_ms": pct(next_ms, 95), "next_p99_ms": pct(next_ms, 99),
        "submit_p50_ms": pct(submit_ms, 50), "submit_p95_ms": pct(submit_ms, 95), "submit_p99_ms": pct(submit_ms, 99),
        "errors": len(errors), "error_samples": errors[:3],
        # The load generator's own CPU (it shares the machine's cores with the server).
        "client_cpu_ms_per_cycle": round(client_cpu_s * 1000 / cycles, 2) if cycles else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--presets", default="collins")
    parser.add_argument("--policy", default="all")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="a Budget of this many annotator-seconds (default: none, an unlimited campaign)")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/annotate_load")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", help="gunicorn's worker class (sync, gthread)")
    parser.add_argument("--http", choices=("stdlib", "requests"), default="stdlib",
                        help="the clients' HTTP library (requests: as up to stop 11, about twice the client CPU)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    args = parser.parse_args()
    client_counts = [int(x) for x in args.clients.split(",")]

    var_dir = tempfile.mkdtemp(prefix="annotate-load-")
    env = {**os.environ, "DATABASE_URL": args.database, "CELERY_BROKER_URL": args.broker,
           "CELERY_RESULT_BACKEND": args.broker, "VAR_DIR": var_dir, "DJANGO_SETTINGS_MODULE": "config.settings",
           "PYTHONPATH": str(ROOT),
           # As deployed (DEBUG off), but over plain HTTP on the loopback: no redirect to HTTPS.
           "DJANGO_DEBUG": "false", "SECRET_KEY": "annotate-load-benchmark", "SECURE_SSL_REDIRECT": "false"}
    results: dict[int, list[dict]] = {n: [] for n in client_counts}
    for run in range(args.runs):
        reset_database(args.database)
        campaign, tokens = setup_campaign(env, args.items, args.presets, args.policy, max(client_counts),
                                          budget_s=args.budget_s)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{args.port}",
             "--workers", str(args.workers), "--worker-class", args.worker_class, "--threads", str(args.threads),
             "--log-level", "warning"],
            cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{args.port}"
        try:
            for _ in range(120):
                try:
                    requests.head(f"{base}/api/tasks/next", timeout=1)  # 401/403 once up: no page, no static files
                    break
                except requests.RequestException:
                    time.sleep(0.5)
            for n in client_counts:
                results[n].append(run_once(base, campaign, tokens[:n], n, args.seconds, seed=run, http_kind=args.http))
                print(json.dumps({"run": run, **results[n][-1]}), file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=30)
            print(json.dumps({"run": run, "messages_purged": broker_purge(args.broker)}), file=sys.stderr)

    summary = []
    for n, runs in results.items():
        row = {"clients": n, "runs": len(runs)}
        for key in ("cycles_per_s", "next_p50_ms", "next_p95_ms", "next_p99_ms", "submit_p50_ms", "submit_p95_ms",
                    "submit_p99_ms", "client_cpu_ms_per_cycle"):
            values = [r[key] for r in runs if r[key] is not None]
            row[key] = round(statistics.median(values), 2) if values else None
        row["errors"] = sum(r["errors"] for r in runs)
        summary.append(row)
    print(json.dumps({"benchmark": "annotate_load", "items": args.items, "presets": args.presets,
                      "policy": args.policy, "budget_s": args.budget_s, "workers": args.workers,
                      "worker_class": args.worker_class, "threads": args.threads, "http": args.http,
                      "seconds": args.seconds,
                      "results": summary}, indent=2))


if __name__ == "__main__":
    main()

"""``manage.py simulate --strategy NAME --budget SECONDS --seed N [...] --json OUT``: a simulated campaign.

Builds a synthetic campaign (collins preset, ground truth, held-out split)
and runs simulated annotators through the same services as the API until
the budget is spent, retraining the reward model every ``--retrain-every``
new consolidated values; writes the AUC-against-cost curve, the labels
bought per attribute and the final aggregator weights as JSON
(``elicitation.simulation``; ``elicitation/README.md`` explains the model).

By default it runs in a child process on a fresh SQLite database under a
temporary VAR_DIR with eager Celery tasks, so nothing touches the configured
database and one run of a few thousand annotator-minutes takes a minute or
two. ``--strategy`` may list several strategies (comma separated): they run
one after the other on the same database and images, and the JSON is a list.
``--in-place`` runs in this process, on the configured database.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from elicitation.simulation.campaign import DEFAULT_TRAINING, SimulationConfig
from elicitation.strategies import STRATEGIES
from rewardlab.synthetic.truth import TREES


class Command(BaseCommand):
    help = "Simulate a campaign with a strategy and a budget; print or write the AUC-against-cost curve as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--strategy", required=True, help=f"One or more of {', '.join(sorted(STRATEGIES))}.")
        parser.add_argument("--budget", type=float, required=True, help="Annotator-seconds.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--annotators", type=int, default=8)
        parser.add_argument("--retrain-every", type=int, default=50, help="New consolidated values per retrain.")
        parser.add_argument("--retrain-every-s", type=float, default=0.0,
                            help="Retrain each time this many more annotator-seconds were charged instead (0: off); "
                                 "compares strategies whose labels cost differently on the same grid of cost.")
        parser.add_argument("--prompts", type=int, default=150)
        parser.add_argument("--images-per-prompt", type=int, default=4)
        parser.add_argument("--size", type=int, default=128, help="Image side in pixels.")
        parser.add_argument("--heldout-frac", type=float, default=0.2)
        parser.add_argument("--overlap", type=int, default=1)
        parser.add_argument("--tree", default="linear", choices=sorted(TREES), help="Decision tree of overall_good.")
        parser.add_argument("--task-time-limit", type=float, default=90.0, help="Seconds bundled into one task.")
        parser.add_argument("--unsure-scale", type=float, default=0.3, help="Multiplies Collins Table 1's unsure rates.")
        parser.add_argument("--noise", type=float, default=0.05, help="Chance a sure answer is wrong.")
        parser.add_argument("--training", default="", help="JSON of model hyperparameters (default: small, fast).")
        parser.add_argument("--cbm-mode", default="sequential", choices=["sequential", "independent", "joint"],
                            help="How the CBM trains: sequential (Collins et al.), or joint (coarse labels train "
                                 "the concept network too).")
        parser.add_argument("--json", dest="json_out", default="", help="Write the result here (else stdout).")
        parser.add_argument("--in-place", action="store_true", help="Use this process and its database.")
        parser.add_argument("--var-dir", default="", help="Keep the child's VAR_DIR here (default: a temp folder).")

    def handle(self, *args, **opts) -> None:
        strategies = [s.strip() for s in opts["strategy"].split(",") if s.strip()]
        unknown = [s for s in strategies if s not in STRATEGIES]
        if not strategies or unknown:
            raise CommandError(f"unknown strategy {unknown or strategies}; known: {', '.join(sorted(STRATEGIES))}")
        if opts["budget"] <= 0:
            raise CommandError("--budget must be positive.")
        if not opts["in_place"]:
            return self._in_child(opts)
        self._run(strategies, opts)

    def _in_child(self, opts) -> None:
        """Re-run this command with --in-place on a fresh SQLite database and eager tasks."""
        var_dir = Path(opts["var_dir"] or tempfile.mkdtemp(prefix="simulate-"))
        var_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "VAR_DIR": str(var_dir), "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
               "MEDIA_ROOT": str(var_dir / "media"), "ARTIFACTS_ROOT": str(var_dir / "artifacts"),
               "CELERY_TASK_ALWAYS_EAGER": "true", "DJANGO_SETTINGS_MODULE": "config.settings",
               # Small models and matrices: one thread each is faster than threads fighting over the cores.
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        if opts["json_out"]:
            opts = {**opts, "json_out": str(Path(opts["json_out"]).resolve())}
        command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "simulate", *self._argv(opts),
                   "--in-place"]
        result = subprocess.run(command, env=env, cwd=settings.BASE_DIR)
        if result.returncode != 0:
            raise CommandError(f"the simulation failed (exit {result.returncode}); its VAR_DIR is {var_dir}")

    @staticmethod
    def _argv(opts) -> list[str]:
        names = ("strategy", "budget", "seed", "annotators", "retrain_every", "retrain_every_s", "prompts",
                 "images_per_prompt", "size", "heldout_frac", "overlap", "tree", "task_time_limit", "unsure_scale",
                 "noise", "training", "cbm_mode", "json_out")
        flags = {"json_out": "--json"}
        out = []
        for name in names:
            if opts.get(name) not in (None, ""):
                out += [flags.get(name, "--" + name.replace("_", "-")), str(opts[name])]
        return out

    def _run(self, strategies: list[str], opts) -> None:
        from config.celery import app
        from elicitation.simulation.runner import simulation_run

        app.conf.task_always_eager = True
        call_command("migrate", verbosity=0)
        training = {**DEFAULT_TRAINING, **(json.loads(opts["training"]) if opts["training"] else {})}
        results = []
        for strategy in strategies:
            config = SimulationConfig(
                strategy=strategy, budget_s=opts["budget"], seed=opts["seed"], annotators=opts["annotators"],
                retrain_every=opts["retrain_every"], retrain_every_s=opts["retrain_every_s"], prompts=opts["prompts"],
                images_per_prompt=opts["images_per_prompt"], size=opts["size"], heldout_frac=opts["heldout_frac"],
                overlap=opts["overlap"], tree=opts["tree"], task_time_limit_s=opts["task_time_limit"],
                unsure_scale=opts["unsure_scale"], noise=opts["noise"], training=training, cbm_mode=opts["cbm_mode"])
            result = simulation_run(config=config)
            results.append(result)
            self.stderr.write(f"{strategy} seed {opts['seed']}: charged {result['charged_s']:.0f} s, "
                              f"{result['tasks']} tasks, {len(result['curve'])} models, final AUC "
                              f"{result['final_auc']}, {result['wall_s']:.0f} s")
        payload = results[0] if len(results) == 1 else results
        text = json.dumps(payload, indent=1)
        if opts["json_out"]:
            Path(opts["json_out"]).write_text(text + "\n")
        else:
            self.stdout.write(text)

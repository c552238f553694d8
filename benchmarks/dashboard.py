"""The researcher's dashboard on a 10,000-item RichHF campaign.

Builds the campaign with ``benchmarks/consolidate.py``'s builder (3 annotators,
points, keywords and four Likert scores per item: 210,000 responses) into a
temporary SQLite database, consolidates it, then times through Django's test client: the page with no
snapshot yet (it sends the refresh task and shows the live parts), the
snapshot refresh itself (what the Celery task does after new answers), and
the page and figures with a current snapshot. Prints JSON.

    python benchmarks/dashboard.py                # 10,000 items
    python benchmarks/dashboard.py --items 2000

Target: the warm page well under a second.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(fn, runs: int = 1) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(round(time.perf_counter() - start, 4))
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="DIR", help="Build in DIR and keep it (for profiling); empty DIR only.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        from benchmarks.consolidate import build

        t0 = time.perf_counter()
        built = build(Path(args.keep or tmp), args.items, args.seed)
        from django.conf import settings
        from django.db.models import F
        from django.test import Client

        from annotator.models import Campaign, Slot
        from annotator.services.campaigns import slots_ensure
        from annotator.services.consolidation import campaign_consolidate
        from annotator.services.reviews import campaign_agreement_refresh
        from annotator.services.users import user_create

        settings.ALLOWED_HOSTS = ["*"]
        campaign = Campaign.objects.get(pk=built["campaign"])
        slots_ensure(campaign=campaign)
        Slot.objects.filter(campaign=campaign).update(n_done=F("n_done") + campaign.overlap)
        build_s = time.perf_counter() - t0
        consolidate_s = _timed(lambda: campaign_consolidate(campaign=campaign))[0]
        agreement_refresh_s = _timed(lambda: campaign_agreement_refresh(campaign=campaign))[0]

        researcher, _, _ = user_create(username="bench-researcher", role="researcher")
        client = Client()
        client.force_login(researcher)
        page = f"/campaigns/{campaign.pk}/dashboard/"
        plots = [f"/campaigns/{campaign.pk}/dashboard/plots/{name}.png" for name in ("likert_spread", "sxs_tallies")]

        def get(url: str) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        from annotator.services.dashboard import dashboard_snapshot_refresh

        pending_page = _timed(lambda: get(page))[0]
        refresh_s = _timed(lambda: dashboard_snapshot_refresh(campaign=campaign))[0]
        warm_page = _timed(lambda: get(page), runs=7)
        warm_plots = _timed(lambda: [get(u) for u in plots], runs=5)
        target = campaign.targets.order_by("pk").first()
        heatmap_json = _timed(lambda: get(f"/campaigns/{campaign.pk}/dashboard/heatmap/{target.pk}.json"), runs=5)
        print(json.dumps({
            "items": built["items"], "responses": built["responses"],
            "build_s": round(build_s, 1), "consolidate_s": consolidate_s,
            "assignment_agreement_refresh_s": agreement_refresh_s,
            "dashboard_without_snapshot_s": pending_page, "snapshot_refresh_s": refresh_s,
            "dashboard_warm_median_s": statistics.median(warm_page), "dashboard_warm_runs_s": warm_page,
            "plots_warm_median_s": statistics.median(warm_plots),
            "heatmap_json_median_s": statistics.median(heatmap_json),
        }, indent=2))


if __name__ == "__main__":
    main()

"""The reward-model panel of the researcher's dashboard (``settings.DASHBOARD_PANELS``).

annotator renders ``template`` with ``context`` (plus ``campaign`` and
``request``) inside its dashboard; annotator never imports rewardlab.
"""
from __future__ import annotations

from typing import Any

from annotator.models import Campaign
from rewardlab.selectors.dashboard import active_cbm_summary, settings_summary, version_rows


def model_panel(campaign: Campaign) -> dict[str, Any]:
    """Versions (status, progress, held-out metrics), the active CBM's attributes, and the figures."""
    versions = version_rows(campaign=campaign)
    return {
        "title": "Reward models",
        "template": "rewardlab/dashboard_panel.html",
        "context": {"versions": versions, "active_cbm": active_cbm_summary(campaign=campaign),
                    "model_settings": settings_summary(campaign=campaign),
                    "has_finished": any(v["status"] == "done" for v in versions)},
    }

"""The budget panel of the researcher's dashboard (``settings.DASHBOARD_PANELS``).

annotator renders ``template`` with ``context`` (plus ``campaign`` and
``request``) inside its dashboard; annotator never imports elicitation.
A few small queries: the budget row, the attributes with their cost
statistics, the active model's attribute values and the stored-score state.
"""
from __future__ import annotations

from typing import Any

from annotator.models import Campaign
from elicitation.models import Budget
from elicitation.selectors.budgets import attribute_cost_rows, attribute_value_rows, budget_summary, score_state
from elicitation.selectors.costs import policy_settings
from elicitation.views import benchmark_png_path


def budget_panel(campaign: Campaign) -> dict[str, Any]:
    """Spend against budget (figure), cost per attribute, attribute values and retirement proposals."""
    budget = Budget.objects.filter(campaign=campaign).first()
    summary = budget_summary(campaign=campaign, budget=budget)
    values = attribute_value_rows(campaign=campaign)
    return {
        "title": "Budget and elicitation",
        "template": "elicitation/dashboard_panel.html",
        "context": {
            "budget": budget, "summary": summary,
            "charged_money": summary.money(summary.charged_s), "limit_money": summary.money(summary.limit_s),
            "costs": attribute_cost_rows(campaign=campaign, policy=policy_settings(campaign=campaign, budget=budget)),
            "values": values, "proposals": [row["key"] for row in values if row["retire"]],
            "scores": score_state(campaign=campaign), "has_benchmark": benchmark_png_path().exists(),
        },
    }

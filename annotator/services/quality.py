"""Quality control: gold tasks, qualification, skip limits, review (ImageReward A.2).

Stub interface, filled in by the quality-control work.
"""
from __future__ import annotations


def quality_gate(*, campaign, annotator):
    """Before issuing a task: the gold Target this annotator must do next, or None.

    Raises ``ConflictError`` (reason ``not_qualified`` / ``skip_limit``) when the
    annotator may not receive more tasks.
    """
    return None

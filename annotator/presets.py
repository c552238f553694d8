"""Attribute presets for the four source papers.

The keys are a public contract: import files, exports and scripts name them.
Prior costs come from Collins et al. Table 2 where it gives one (seconds).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LIKERT5_QUALITY = ["very poor", "poor", "fair", "good", "excellent"]
LIKERT7 = ["1: very bad", "2: bad", "3: somewhat bad", "4: neutral", "5: somewhat good", "6: good", "7: very good"]
POINT_LABELS = ["artifact", "misalignment"]
SXS_CHOICES = ["A>>B", "A>B", "A=B", "B>A", "B>>A", "unsure"]
SXS_CHOICES_3WAY = ["A", "B", "unsure"]
# ImageReward Appendix B / Fig. 11: the seven image problems.
IR_ISSUES = [
    "repeated_generation",
    "body_problem",
    "fuzzy",
    "toxic",
    "pornographic",
    "violent",
    "protected_groups",
]
# Parti's 12 prompt categories, as ImageReward Fig. 9 uses them.
PARTI_CATEGORIES = [
    "Abstract", "Animals", "Artifacts", "Arts", "Food", "Illustrations",
    "Indoor Scenes", "Outdoor Scenes", "People", "Plants", "Vehicles", "World Knowledge",
]
PROMPT_FLAGS = ["unclear_intent", "pornographic", "violent", "discriminatory", "other_harmful"]


@dataclass(frozen=True)
class AttributeSpec:
    key: str
    question: str
    kind: str
    target_type: str = "item"
    options: list[str] = field(default_factory=list)
    likert_points: int | None = None
    anchors: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    category: str = "quality"
    prior_cost_s: float = 20.0
    is_coarse: bool = False
    binarize_threshold: float | None = None

    def as_fields(self) -> dict[str, Any]:
        return {
            "question": self.question, "kind": self.kind, "target_type": self.target_type,
            "options": list(self.options), "likert_points": self.likert_points, "anchors": list(self.anchors),
            "config": dict(self.config), "category": self.category, "prior_cost_s": self.prior_cost_s,
            "is_coarse": self.is_coarse, "binarize_threshold": self.binarize_threshold,
        }


def _likert5(key: str, question: str, category: str, cost: float = 10.0) -> AttributeSpec:
    return AttributeSpec(key, question, "likert", likert_points=5, anchors=LIKERT5_QUALITY,
                         category=category, prior_cost_s=cost, binarize_threshold=0.5)


def _likert7(key: str, question: str, category: str, cost: float = 10.0) -> AttributeSpec:
    return AttributeSpec(key, question, "likert", likert_points=7, anchors=LIKERT7,
                         category=category, prior_cost_s=cost, binarize_threshold=0.5)


def _yes_no(key: str, question: str, category: str, cost: float) -> AttributeSpec:
    return AttributeSpec(key, question, "binary", options=["yes", "no", "unsure"], category=category,
                         prior_cost_s=cost)


PRESETS: dict[str, list[AttributeSpec]] = {
    # Liang et al., RichHF-18K (§3.1, Fig. 1).
    "richhf": [
        AttributeSpec("artifact_points", "Click where the image is implausible or has artifacts (red).",
                      "points", options=["artifact"], category="quality", prior_cost_s=30.0),
        AttributeSpec("misalignment_points", "Click regions that do not match the prompt (blue).",
                      "points", options=["misalignment"], category="alignment", prior_cost_s=30.0),
        AttributeSpec("misaligned_keywords", "Click the prompt words the image gets wrong or leaves out.",
                      "keywords", category="alignment", prior_cost_s=15.0),
        _likert5("plausibility", "How plausible is the image (no artifacts, distortions, wrong anatomy)?", "quality"),
        _likert5("alignment", "How well does the image match the prompt?", "alignment"),
        _likert5("aesthetics", "How aesthetically pleasing is the image?", "quality"),
        _likert5("overall", "Overall, how good is the image for this prompt?", "overall"),
    ],
    # Xu et al., ImageReward (A.3, Appendix B, Fig. 8).
    "imagereward": [
        AttributeSpec("prompt_category", "Which category does the prompt belong to?", "category",
                      target_type="prompt", options=PARTI_CATEGORIES, category="prompt", prior_cost_s=8.0),
        AttributeSpec("prompt_flags", "Is the prompt unclear or harmful? Tick every problem, or none.", "choice",
                      target_type="prompt", options=PROMPT_FLAGS, category="safety", prior_cost_s=6.0),
        _likert7("ir_overall", "Overall rating of the image for this prompt.", "overall"),
        _likert7("ir_alignment", "Image-text alignment.", "alignment"),
        _likert7("ir_fidelity", "Fidelity: are the objects realistic and free of errors?", "quality"),
        AttributeSpec("ir_issues", "Does the image have any of these problems?", "choice", options=IR_ISSUES,
                      category="safety", prior_cost_s=8.0),
        AttributeSpec("ranking", "Rank the images from best (level 1) to worst (level 5); at most two per level.",
                      "ranking", target_type="group", config={"levels": 5, "max_per_level": 2,
                                                                "rating_attribute": "ir_overall"},
                      category="overall", prior_cost_s=45.0),
    ],
    # Kim et al., TIA2 (§8.2): good / bad / skip.
    "tia2": [
        AttributeSpec("aligned", "Is the image well aligned with the prompt? Answer good, bad, or skip if unsure.",
                      "binary", options=["good", "bad", "skip"], category="alignment", prior_cost_s=10.0),
    ],
    # Collins et al.: yes/no attributes; costs from Table 2 (s).
    "collins": [
        _yes_no("distorted", "Is the image distorted?", "quality", 56.1),
        _yes_no("photorealistic", "Is the image photorealistic?", "quality", 19.4),
        _yes_no("bright", "Is the image bright?", "quality", 18.4),
        _yes_no("captivating", "Is the image captivating?", "quality", 20.2),
        _yes_no("chaotic", "Is the image chaotic?", "quality", 24.1),
        _yes_no("visually_compelling", "Is the image visually compelling?", "quality", 16.2),
        _yes_no("disturbing", "Is the image disturbing?", "quality", 19.2),
        _yes_no("funny", "Is the image funny?", "quality", 12.8),
        _yes_no("blurry", "Is the image blurry?", "quality", 20.0),
        _yes_no("align_objects", "Are all objects of the prompt present?", "alignment", 20.0),
        _yes_no("align_attributes", "Do the objects have the attributes (colour, count) the prompt says?",
                "alignment", 20.0),
        _yes_no("align_actions", "Are the actions in the prompt depicted? (yes if the prompt has none)",
                "alignment", 20.0),
        _yes_no("align_relations", "Are the spatial relations in the prompt right? (yes if the prompt has none)",
                "alignment", 20.0),
        AttributeSpec("overall_good", "Overall, is this a good image for the prompt?", "binary",
                      options=["yes", "no", "unsure"], category="overall", prior_cost_s=52.7, is_coarse=True),
    ],
    # Collins et al., "Human Study: SxS Evals": side-by-side with unsure.
    "sxs": [
        AttributeSpec("sxs", "Which image is better for the prompt?", "sxs", target_type="pair",
                      options=SXS_CHOICES, config={"mode": "5way"}, category="overall", prior_cost_s=20.0),
    ],
}


def preset_names() -> list[str]:
    return sorted(PRESETS)

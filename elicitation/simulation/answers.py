"""How a simulated annotator answers a yes/no attribute and how long it takes (pure: no Django).

Unsure rates. Collins et al. Table 1 reports the share of "unsure" answers
when annotators compared two images along one attribute: 31% (distorted) to
98.6% (funny), 49.5% for the overall judgement. Judging one image is easier
than comparing two near-identical ones, so the defaults scale those rates
down by ``unsure_scale`` (0.3: distorted 9%, funny 30%, overall 15%);
attributes Table 1 does not list get ``DEFAULT_UNSURE`` before scaling. An
unsure answer is sent as ``{"skipped": true}``: it costs the time and gives
no label.

Noise. A sure answer is the ground truth flipped with probability ``noise``
(default 5% for every attribute: the simulator does not presume that one
kind of judgement is noisier than another).

Time. The true mean seconds per attribute are Collins Table 2 (aggregate
52.7 s, distorted 56.1 s down to funny 12.8 s); for the attributes Table 2
does not time (blurry and the four alignment questions, whose priors in the
preset are a flat 20 s) the simulator uses its own values that differ from
that prior, so the cost model has something to learn. One answer takes
``cost x annotator speed x lognormal(0, time_sigma)`` seconds; annotator
speeds are lognormal(0, speed_sigma).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

# Collins et al. Table 1, "Unsure" column (share of answers).
UNSURE_TABLE1: dict[str, float] = {
    "overall_good": 0.495, "distorted": 0.313, "bright": 0.436, "captivating": 0.625, "photorealistic": 0.375,
    "chaotic": 0.739, "visually_compelling": 0.636, "disturbing": 0.832, "funny": 0.986,
}
DEFAULT_UNSURE = 0.4
# Collins et al. Table 2 (seconds); the last five are this simulator's assumption (Table 2 has no times for them).
TRUE_COST_S: dict[str, float] = {
    "overall_good": 52.7, "distorted": 56.1, "bright": 18.4, "captivating": 20.2, "photorealistic": 19.4,
    "chaotic": 24.1, "visually_compelling": 16.2, "disturbing": 19.2, "funny": 12.8,
    "blurry": 14.0, "align_objects": 26.0, "align_attributes": 31.0, "align_actions": 24.0, "align_relations": 29.0,
}
DEFAULT_COST_S = 20.0


@dataclass(frozen=True)
class AnswerModel:
    unsure: Mapping[str, float] = field(default_factory=dict)
    noise: Mapping[str, float] = field(default_factory=dict)
    cost_s: Mapping[str, float] = field(default_factory=lambda: dict(TRUE_COST_S))
    default_unsure: float = DEFAULT_UNSURE
    default_noise: float = 0.05
    time_sigma: float = 0.35
    speed_sigma: float = 0.2

    def answer(self, key: str, truth: bool, rng: np.random.Generator) -> dict:
        """The API value of one yes/no answer: unsure, the truth, or (noise) its opposite."""
        if rng.random() < self.unsure.get(key, self.default_unsure):
            return {"skipped": True}
        flip = rng.random() < self.noise.get(key, self.default_noise)
        return {"value": bool(truth) != flip}

    def seconds(self, key: str, speed: float, rng: np.random.Generator) -> float:
        mean = self.cost_s.get(key, DEFAULT_COST_S)
        return float(mean * speed * math.exp(rng.normal(0.0, self.time_sigma)))

    def speeds(self, n: int, rng: np.random.Generator) -> list[float]:
        return [float(math.exp(x)) for x in rng.normal(0.0, self.speed_sigma, size=n)]


def answer_model_default(*, unsure_scale: float = 0.3, noise: float = 0.05, time_sigma: float = 0.35,
                         speed_sigma: float = 0.2) -> AnswerModel:
    """Table 1 unsure rates scaled by ``unsure_scale``, uniform ``noise``, Table 2 times."""
    return AnswerModel(unsure={k: v * unsure_scale for k, v in UNSURE_TABLE1.items()},
                       default_unsure=DEFAULT_UNSURE * unsure_scale, default_noise=noise,
                       time_sigma=time_sigma, speed_sigma=speed_sigma)

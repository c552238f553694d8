"""Rendering styles: the pixel cues behind the "subjective" Collins attributes.

Collins et al. ask yes/no questions such as *photorealistic*, *visually
compelling*, *funny* or *disturbing*. In a controlled dataset each of them
must be a deterministic function of what is drawn, so a reward model that
sees the pixels can in principle learn it exactly. Every flag here is such
a cue (the rules that turn cues into answers live in ``truth.py``):

- ``photo``: textured, gradient-lit background, objects shaded by a light
  from the top left, soft drop shadows. Otherwise a flat cartoon: a flat
  background and flat fills with black outlines.
- ``light``: a light background (dark otherwise); exposure defects override.
- ``glow``: harmonious composition: a soft radial light behind the objects,
  tinted with a pale, analogous version of the main object's colour, and a
  vignette that darkens the corners.
- ``funny``: googly eyes and a smile on every object.
- ``disturbing``: a swarm of staring eyes scattered over the background.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Background bases: never saturated (saturation < 0.25) so colour masks stay clean.
LIGHT_PHOTO = ((214, 208, 198), (200, 206, 212), (222, 218, 210))
LIGHT_FLAT = ((246, 241, 228), (236, 242, 246), (244, 238, 244))
DARK_PHOTO = ((52, 50, 48), (40, 44, 52), (56, 52, 58))
DARK_FLAT = ((34, 36, 48), (44, 40, 40), (30, 38, 40))


@dataclass(frozen=True)
class Style:
    photo: bool
    light: bool
    glow: bool
    funny: bool
    disturbing: bool
    background: tuple[int, int, int]

    def to_json(self) -> dict:
        d = asdict(self)
        d["background"] = list(self.background)
        return d


# Shares of each cue (independent). Chosen for label balance (20-70 % positive).
STYLE_RATES = {"photo": 0.5, "light": 0.6, "glow": 0.45, "funny": 0.3, "disturbing": 0.25}


def sample_style(rng: np.random.Generator) -> Style:
    photo = bool(rng.random() < STYLE_RATES["photo"])
    light = bool(rng.random() < STYLE_RATES["light"])
    glow = bool(rng.random() < STYLE_RATES["glow"])
    funny = bool(rng.random() < STYLE_RATES["funny"])
    disturbing = bool(rng.random() < STYLE_RATES["disturbing"])
    table = (LIGHT_PHOTO if photo else LIGHT_FLAT) if light else (DARK_PHOTO if photo else DARK_FLAT)
    background = table[int(rng.integers(len(table)))]
    return Style(photo, light, glow, funny, disturbing, background)

"""Scene specs and the prompts that describe them.

A *scene spec* is what the prompt asks for: one or two entities (a count,
a colour and a shape each), optionally an action done by the first entity
and a spatial relation between the two. The prompt is built word by word
from the spec, so we know for every role (count, colour, shape, action,
relation) which index it has in ``annotator.tokens.tokenize(prompt)``. That
index is what a misaligned-keywords answer (RichHF) names, so the ground
truth of keyword answers is exact rather than string matched.

Colours are a small palette of clearly distinct hues and the backgrounds
are never saturated, so counts and colours can be checked from the pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator.tokens import tokenize

# Clearly distinct hues (RGB). Shading multiplies RGB, which keeps the hue
# and saturation, so a colour mask by hue finds shaded objects as well.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 210, 20),
    "green": (40, 170, 60),
    "blue": (40, 90, 225),
    "purple": (150, 60, 200),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)

# Plain geometry is Parti's "Abstract"; icon-like shapes make "Illustrations".
GEOMETRIC_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon")
ICON_SHAPES: tuple[str, ...] = ("heart", "moon")
SHAPES: tuple[str, ...] = GEOMETRIC_SHAPES + ICON_SHAPES
PLURALS: dict[str, str] = {s: s + "s" for s in SHAPES}

NUMERALS: dict[int, str] = {2: "two", 3: "three", 4: "four"}

# Relation of entity 0 to entity 1, and the word that carries it: a swapped
# relation marks exactly that word (the "to", "the", "of" stay true).
RELATIONS: dict[str, tuple[str, ...]] = {
    "left of": ("to", "the", "left", "of"),
    "right of": ("to", "the", "right", "of"),
    "above": ("above",),
    "below": ("below",),
}
RELATION_HEAD: dict[str, str] = {"left of": "left", "right of": "right", "above": "above", "below": "below"}
OPPOSITE: dict[str, str] = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}

# Actions are drawn as neutral-grey motion cues around the acting objects.
ACTIONS: tuple[str, ...] = ("spinning", "bouncing", "falling")


@dataclass(frozen=True)
class Entity:
    """One noun phrase of the prompt: ``count`` objects of one colour and shape."""

    count: int
    colour: str
    shape: str

    def words(self) -> list[tuple[str, str]]:
        """``(word, role)`` pairs; articles get the role ``article`` (never misaligned)."""
        colour_word = self.colour
        if self.count == 1:
            article = "an" if colour_word[0] in "aeiou" else "a"
            return [(article, "article"), (colour_word, "colour"), (self.shape, "shape")]
        return [(NUMERALS[self.count], "count"), (colour_word, "colour"), (PLURALS[self.shape], "shape")]


@dataclass(frozen=True)
class SceneSpec:
    """What the prompt asks for. ``action`` is done by entity 0; ``relation`` is entity 0 REL entity 1."""

    entities: tuple[Entity, ...]
    relation: str | None = None
    action: str | None = None

    def words(self) -> list[tuple[str, str, int | None]]:
        """``(word, role, entity index or None)`` for every token of the prompt, in order."""
        out: list[tuple[str, str, int | None]] = [(w, r, 0) for w, r in self.entities[0].words()]
        if self.action:
            out.append((self.action, "action", 0))
        if len(self.entities) > 1:
            if self.relation:
                head = RELATION_HEAD[self.relation]
                out += [(w, "relation" if w == head else "relation_filler", None) for w in RELATIONS[self.relation]]
            else:
                out.append(("and", "conjunction", None))
            out += [(w, r, 1) for w, r in self.entities[1].words()]
        return out

    @property
    def prompt(self) -> str:
        return " ".join(w for w, _, _ in self.words())

    def token_index(self, role: str, entity: int | None = None) -> int | None:
        """Index into ``tokenize(self.prompt)`` of the word with this role (and entity), or None."""
        for i, (_, r, e) in enumerate(self.words()):
            if r == role and (entity is None or e == entity):
                return i
        return None

    def check_tokens(self) -> None:
        """The word list must agree with the project's tokenizer, token for token."""
        toks = [t["text"] for t in tokenize(self.prompt)]
        words = [w for w, _, _ in self.words()]
        if toks != words:  # pragma: no cover - guards the vocabulary above
            raise AssertionError(f"tokenizer disagrees: {toks} != {words}")

    @property
    def category(self) -> str:
        """Parti category (ImageReward Fig. 9) of the prompt."""
        if any(e.shape in ICON_SHAPES for e in self.entities):
            return "Illustrations"
        return "Abstract"

    def to_json(self) -> dict:
        return {
            "entities": [{"count": e.count, "colour": e.colour, "shape": e.shape} for e in self.entities],
            "relation": self.relation,
            "action": self.action,
        }


def sample_spec(rng: np.random.Generator) -> SceneSpec:
    """A random spec: mostly two entities, often with a relation and an action.

    The shares are chosen so that the alignment classes of Collins et al.
    (objects, attributes, actions, relations) each have both answers often
    enough to learn: a prompt without an action or relation is aligned on
    that class by definition, so most prompts carry both.
    """
    n_entities = 1 if rng.random() < 0.1 else 2
    colours = rng.choice(len(COLOURS), size=n_entities, replace=False)
    entities = []
    for i in range(n_entities):
        count = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25]))
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        entities.append(Entity(count, COLOURS[int(colours[i])], shape))
    relation = None
    if n_entities == 2 and rng.random() < 0.8:
        relation = tuple(RELATIONS)[int(rng.integers(len(RELATIONS)))]
    action = ACTIONS[int(rng.integers(len(ACTIONS)))] if rng.random() < 0.75 else None
    spec = SceneSpec(tuple(entities), relation, action)
    spec.check_tokens()
    return spec

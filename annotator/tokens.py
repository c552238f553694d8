"""Server-side prompt tokenisation with character offsets (pure Python).

Keyword answers name tokens by index, so every part of the system (the API,
the synthetic generator's ground truth, export) must tokenise the same way:
words (letters, digits, inner apostrophes and hyphens) are tokens;
punctuation and spaces are not.
"""
from __future__ import annotations

import re

TOKEN_RE = re.compile(r"\w+(?:['’-]\w+)*", re.UNICODE)


def tokenize(text: str) -> list[dict]:
    """``[{"text": word, "start": i, "end": j}]`` with ``text[i:j] == word``."""
    return [{"text": m.group(0), "start": m.start(), "end": m.end()} for m in TOKEN_RE.finditer(text)]

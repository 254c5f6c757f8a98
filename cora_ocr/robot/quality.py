"""Word confidences as a workflow reads them: per page and per document, the mean and the
minimum (0-100) and the share of words under LOW_WORD. The robot writes them beside the
result (Profile.confidence_path); the worker keeps them on the job and flags it for review
under the profile's review_below."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cora_ocr.robot.engine import PageResult

LOW_WORD = 60  # a word read with less confidence than this is a "low word"


def _summary(confidences: Sequence[float]) -> dict[str, Any]:
    if not confidences:
        return {"mean": None, "min": None, "lowWords": None}
    low = sum(value < LOW_WORD for value in confidences)
    return {
        "mean": round(sum(confidences) / len(confidences), 2),
        "min": round(min(confidences), 2),
        "lowWords": round(low / len(confidences), 4),
    }


def confidence(pages: Sequence[PageResult]) -> dict[str, Any] | None:
    """The document's confidences (words weigh equally, whichever page they are on), with
    each page's; None when no page has a word to judge."""
    every: list[float] = []
    listed = []
    for page in pages:
        values = [
            min(100.0, max(0.0, word.confidence * 100))
            for block in page.blocks
            for line in block.lines
            for word in line.words
        ]
        every.extend(values)
        listed.append({"page": page.number, "words": len(values), **_summary(values)})
    if not every:
        return None
    return {**_summary(every), "pages": listed}


def read_confidence(path: Path) -> dict[str, Any] | None:
    """What a robot wrote at `path`, if it is a confidence summary; None otherwise (absent,
    garbled, or out of range: a third-party robot's file is not trusted blindly)."""
    try:
        found = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("pages"), list):
        return None
    for key, high in (("mean", 100), ("min", 100), ("lowWords", 1)):
        value = found.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
            return None
    return found

"""MRT file names: which names a strftime pattern makes (for pruning and for telling two
patterns apart), without the clock."""

from __future__ import annotations

import re


def name_matcher(pattern: str) -> re.Pattern[str]:
    """What names the strftime `pattern` makes (each run of conversions: anything), with the
    `.N` added when a name is taken already."""
    literal = (re.escape(part) for part in re.split(r"(?:%.)+", pattern))
    return re.compile(".+".join(literal) + r"(\.[0-9]+)?")


def sample_name(pattern: str) -> str:
    """A name the pattern could make: each conversion as one digit."""
    return re.sub(r"%.", "0", pattern)

"""`pyrr run` tunes the cyclic garbage collector once it is up (pyrr/runtime.py tune_gc):
checked in a child interpreter, so this test process keeps its own collector settings."""

from __future__ import annotations

import subprocess
import sys

from pyrr.runtime import GC_THRESHOLDS

CHILD = """
import gc
from pyrr.runtime import tune_gc
before = gc.get_freeze_count()
tune_gc()
print(before, gc.get_freeze_count(), *gc.get_threshold())
"""


def test_tune_gc_freezes_startup_objects_and_raises_threshold() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    before, frozen, *threshold = (int(x) for x in out)
    assert before == 0
    assert frozen > 1000  # the modules pyrr imported, now outside every collection
    assert tuple(threshold) == GC_THRESHOLDS

"""Every corpus case, from the case modules, and the two profiles: the default run (CI) and the full one."""

from __future__ import annotations

import corpus_dtypes
import corpus_jit
import corpus_ops
import corpus_settings
import corpus_shapes
from corpus import CATEGORIES, Case

MODULES = (corpus_shapes, corpus_dtypes, corpus_settings, corpus_jit, corpus_ops)


def all_cases(profile: str = "default") -> list[Case]:
    """The cases of `profile` ("default": what CI runs; "full": every case), ids unique, categories known."""
    cases = [c for m in MODULES for c in m.cases()]
    ids = [c.cid for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate case ids: {sorted(dupes)}")
    unknown = {c.category for c in cases} - set(CATEGORIES)
    if unknown:
        raise ValueError(f"cases of unknown categories: {sorted(unknown)}")
    return [c for c in cases if profile == "full" or not c.full_only]

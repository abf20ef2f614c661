"""Upstream tinygrad (the pinned version) in its three modes: eager, TinyJit, and BEAM=2 + TinyJit.

The pinned tinygrad (0.14) splits a CPU kernel over threads: its C and LLVM renderers have THREADS on by
default and the heuristic optimiser applies OptOps.THREAD up to NUM_CPU_THREADS (the usable cores), so the
table reads these cells against the all-thread ceilings. Eager and JIT cells run with CACHELEVEL=0 so
the first call shows the real compile time rather than a hit in tinygrad's disk cache. The BEAM cell
keeps its search results in a cache of its own (`<cache_dir>/tinygrad-beam.db`), never the user's.
"""

from __future__ import annotations

from harness.engines.base import EngineContext
from harness.engines.tensor_api import TensorApiEngine


class TinygradEager(TensorApiEngine):
    name = "tinygrad-eager"
    family = "tinygrad"
    threads = "all"
    description = "tinygrad (a@b).realize() + synchronize, every call rebuilds and schedules the graph"
    module_name = "tinygrad"
    jit = False

    def environment(self, context: EngineContext) -> dict[str, str]:
        return {"CACHELEVEL": "0", "BEAM": "0"}


class TinygradJit(TensorApiEngine):
    name = "tinygrad-jit"
    family = "tinygrad"
    threads = "all"
    description = "tinygrad TinyJit: capture on the second call, replay afterwards"
    module_name = "tinygrad"
    jit = True

    def environment(self, context: EngineContext) -> dict[str, str]:
        return {"CACHELEVEL": "0", "BEAM": "0"}


class TinygradBeam(TensorApiEngine):
    name = "tinygrad-beam"
    family = "tinygrad"
    threads = "all"
    description = "tinygrad BEAM=2 kernel search + TinyJit (search time is the first call)"
    module_name = "tinygrad"
    jit = True
    searches = True

    def environment(self, context: EngineContext) -> dict[str, str]:
        env = {"BEAM": "2", "CACHEDB": str(context.cache_dir / "tinygrad-beam.db")}
        if context.fresh_search:
            env["IGNORE_BEAM_CACHE"] = "1"
        return env

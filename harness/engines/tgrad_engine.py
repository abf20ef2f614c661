"""tgrad, the Rust rewrite, through its tinygrad-compatible API: all threads, one thread, and with
its BEAM search.

`tgrad` runs on every usable core, as tinygrad 0.14's CPU backend does (its kernels split over
NUM_CPU_THREADS); `tgrad-1t` (TGRAD_THREADS=1) shows kernel quality on one core, so the two show what
parallelism adds. Like the eager and JIT tinygrad cells
(CACHELEVEL=0), the plain tgrad cells start with an empty kernel cache (TGRAD_CACHE=off: a private
directory removed at exit), so their first call shows the real compile time. `tgrad-beam` keeps its
search results in a cache of its own under the lab's cache dir, as `tinygrad-beam` does.

The CPU engines pin TGRAD_DEVICE=CPU, so a GPU machine never moves them. `tgrad-cuda` runs the same
API with TGRAD_DEVICE=CUDA: inputs stay on the GPU after their first upload, realize() waits for the
GPU, and the result stays in device memory until the host reads it (after the timed steps), so a step
is the kernels and their launches. The GPU emulator's engines are in gpu_emu.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

from harness.engines.base import EngineContext, Unavailable
from harness.engines.tensor_api import TensorApiEngine
from harness.record import Threads

OTHER_ENV = "TGRAD_LAB_OTHER"


class Tgrad(TensorApiEngine):
    name = "tgrad"
    family = "tgrad"
    description = "tgrad (a@b).realize() + synchronize, all threads"
    module_name = "tgrad"
    jit = False
    devices = ("CPU",)
    threads: ClassVar[Threads | None] = "all"

    def environment(self, context: EngineContext) -> dict[str, str]:
        return {"TGRAD_CACHE": "off", "TGRAD_BEAM": "0", "TGRAD_DEVICE": "CPU"}


class TgradSingleThread(Tgrad):
    name = "tgrad-1t"
    description = "tgrad restricted to one thread (TGRAD_THREADS=1)"
    threads = "one"

    def environment(self, context: EngineContext) -> dict[str, str]:
        return {**super().environment(context), "TGRAD_THREADS": "1"}


class TgradBeam(Tgrad):
    name = "tgrad-beam"
    description = "tgrad with TGRAD_BEAM=2 (GEMM blocking searched once, cached on disk)"
    searches = True

    def environment(self, context: EngineContext) -> dict[str, str]:
        cache = context.cache_dir / "tgrad-beam"
        if context.fresh_search:
            shutil.rmtree(cache, ignore_errors=True)
        return {"TGRAD_CACHE": str(cache), "TGRAD_BEAM": "2", "TGRAD_DEVICE": "CPU"}


class TgradOther(Tgrad):
    """Another build of tgrad (an older commit, a branch) beside the installed one, for before/after
    tables measured side by side in one run: TGRAD_LAB_OTHER names the site-packages directory that
    holds it (for example a second venv's), which goes first on the worker's PYTHONPATH."""

    name = "tgrad-other"
    description = "another tgrad build (TGRAD_LAB_OTHER: its site-packages), same settings as tgrad"

    def environment(self, context: EngineContext) -> dict[str, str]:
        site = os.environ.get(OTHER_ENV, "")
        if not site or not (Path(site) / "tgrad" / "__init__.py").is_file():
            # the worker then fails to find it and load() reports the reason
            return {**super().environment(context), OTHER_ENV: site}
        return {**super().environment(context), OTHER_ENV: site, "PYTHONPATH": site}

    def load(self) -> dict[str, Any]:
        site = os.environ.get(OTHER_ENV, "")
        if not site:
            raise Unavailable(f"{OTHER_ENV} is not set (give the site-packages directory of the other tgrad build)")
        if not (Path(site) / "tgrad" / "__init__.py").is_file():
            raise Unavailable(f"{OTHER_ENV}={site} holds no tgrad package")
        info = super().load()
        module_file = str(getattr(self._module, "__file__", ""))
        if not module_file.startswith(str(Path(site).resolve())) and not module_file.startswith(site):
            raise Unavailable(f"imported {module_file}, not the build under {OTHER_ENV}={site}")
        info["site"] = site
        return info


class TgradCuda(Tgrad):
    name = "tgrad-cuda"
    description = "tgrad on CUDA (TGRAD_DEVICE=CUDA): (a@b).realize(), which waits for the GPU; the result stays there"
    devices = ("CUDA",)

    def environment(self, context: EngineContext) -> dict[str, str]:
        return {"TGRAD_CACHE": "off", "TGRAD_BEAM": "0", "TGRAD_DEVICE": "CUDA"}

    def load(self) -> dict[str, Any]:
        # with TGRAD_DEVICE=CUDA, importing tgrad raises DeviceError (and says why) without a GPU
        try:
            info = super().load()
        except Unavailable:
            raise
        except Exception as e:
            raise Unavailable(f"tgrad cannot use CUDA here: {type(e).__name__}: {e}") from e
        native = getattr(self._module, "_native", None)
        if native is not None and hasattr(native, "cuda_available"):
            info["cuda"] = native.cuda_available()[1]
        return info

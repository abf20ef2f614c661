"""TGRAD_BEAM: the search result persists in the disk cache, so a second process pays nothing."""

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, numpy as np
from tgrad import Tensor, _native
Tensor.manual_seed(3)
a, b = Tensor.randn(96, 80).realize(), Tensor.randn(80, 72).realize()
out = (a @ b).numpy()
err = float(np.abs(out - a.numpy().astype(np.float64) @ b.numpy().astype(np.float64)).max())
print(json.dumps({"stats": dict(_native.stats()), "err": err}))
"""


def run(cache, beam: str) -> dict:
    env = {"TGRAD_CACHE": str(cache), "TGRAD_BEAM": beam, "PATH": "/usr/bin:/bin:/usr/local/bin"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.tgrad_only(reason="TGRAD_BEAM and its cache are tgrad's")
def test_beam_result_round_trips_across_processes(tmp_path):
    first = run(tmp_path, "2")
    second = run(tmp_path, "2")
    assert first["stats"]["beam_searches"] == 1 and first["stats"]["beam_cache_hits"] == 0
    assert second["stats"]["beam_searches"] == 0 and second["stats"]["beam_cache_hits"] == 1
    assert second["stats"]["programs_compiled"] == 0, "the tuned program comes from the disk cache"
    # the searched program computes the same product (K=80: error far below 1e-3)
    assert first["err"] < 1e-3 and second["err"] < 1e-3
    assert list((tmp_path / "beam").iterdir()), "the winner is stored under TGRAD_CACHE/beam"


@pytest.mark.tgrad_only(reason="TGRAD_BEAM is tgrad's")
def test_without_beam_nothing_is_searched(tmp_path):
    assert run(tmp_path, "0")["stats"]["beam_searches"] == 0

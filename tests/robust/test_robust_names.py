"""tgrad's lists of tinygrad's names stay equal to upstream's (where tinygrad is installed): the Context flags
tgrad accepts and ignores, and the dtype names (each one tinygrad's dtype, never read as a numpy spelling)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import tgrad
from tgrad.dtype import _BY_ALIAS
from tgrad.helpers import TINYGRAD_FLAGS

pytest.importorskip("tinygrad", reason="the lists are compared with an installed upstream tinygrad")

# every tinygrad module imported, so every ContextVar is defined; each DType attribute of `dtypes`
UPSTREAM = """
import importlib, json, pkgutil, tinygrad
from tinygrad.dtype import DType, dtypes
from tinygrad.helpers import ContextVar
for m in pkgutil.walk_packages(tinygrad.__path__, "tinygrad."):
    try:
        importlib.import_module(m.name)
    except Exception:
        pass
names = [k for k in dir(dtypes) if not k.startswith("_") and isinstance(getattr(dtypes, k), DType)]
print(json.dumps({"flags": sorted(ContextVar._cache), "dtypes": sorted(names)}))
"""


@pytest.fixture(scope="module")
def upstream() -> dict:
    out = subprocess.run([sys.executable, "-c", UPSTREAM], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_context_accepts_exactly_tinygrads_flags_and_tgrads(upstream):
    assert set(upstream["flags"]) == TINYGRAD_FLAGS
    with tgrad.Context(IGNORE_BEAM_CACHE=1, DEBUG=0) as c:
        assert c.ignored == {"IGNORE_BEAM_CACHE": 1}


def test_every_tinygrad_dtype_name_is_a_tgrad_dtype(upstream):
    """Each name means tinygrad's dtype (supported, or refused by name when used), never a numpy spelling."""
    assert not set(upstream["dtypes"]) - set(_BY_ALIAS), "tinygrad dtype names tgrad would read as numpy spellings"
    assert tgrad.dtypes.uint == tgrad.dtypes.uint32  # numpy's "uint" is uint64

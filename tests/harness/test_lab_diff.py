"""The differential campaign: a short real one (tinygrad vs tgrad), and one against a planted bug."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness import diff


def test_short_real_campaign_tinygrad_vs_tgrad(tmp_path: Path) -> None:
    outcome = diff.campaign(examples=12, seconds=60, seed=0, results=tmp_path, database=False)
    assert outcome.examples > 0
    assert outcome.failure is None, diff.describe(outcome)


def test_operands_are_deterministic_and_honour_the_case() -> None:
    case = diff.Case(m=3, k=5, n=2, batch_a=(2, 1), batch_b=(1, 4), layout="transposed_b", values="special", seed=9)
    a, b = diff.make_operands(case)
    again = diff.make_operands(case)
    assert a.shape == (2, 1, 3, 5) and b.shape == (1, 4, 2, 5)  # b stored transposed
    np.testing.assert_array_equal(a, again[0])
    np.testing.assert_array_equal(b, again[1])
    assert np.count_nonzero(~np.isfinite(a)) >= 1 and np.count_nonzero(~np.isfinite(b)) >= 1
    tiny = diff.make_operands(diff.Case(m=4, k=4, n=4, dtype="float16", values="tiny"))[0]
    assert tiny.dtype == np.float16 and np.abs(tiny).max() < 0.1


class _NumpyTensor:
    """A minimal tensor with tinygrad's API over numpy (fast: no kernel compiles while hypothesis shrinks)."""

    buggy = False

    def __init__(self, data: Any, device: str | None = None):
        self.data = np.asarray(data)

    def transpose(self, i: int, j: int) -> _NumpyTensor:
        return type(self)(np.swapaxes(self.data, i, j))

    def __matmul__(self, other: _NumpyTensor) -> _NumpyTensor:
        result = (self.data.astype(np.float64) @ other.data.astype(np.float64)).astype(self.data.dtype)
        if self.buggy and self.data.shape[-1] >= 41:
            result = result + 1  # the planted bug: long reductions are off by one
        return type(self)(result)

    def realize(self) -> _NumpyTensor:
        return self

    def numpy(self) -> np.ndarray:
        return self.data


class _BuggyTensor(_NumpyTensor):
    buggy = True


def _fake_library(name: str, tensor: type) -> str:
    module = types.ModuleType(name)
    module.Tensor = tensor  # type: ignore[attr-defined]
    module.Device = module.TinyJit = module.dtypes = object()  # type: ignore[attr-defined]
    module.__version__ = "fake"  # type: ignore[attr-defined]
    sys.modules[name] = module
    return name


def test_planted_bug_is_found_shrunk_saved_and_reproducible(tmp_path: Path) -> None:
    reference = _fake_library("lab_fake_reference", _NumpyTensor)
    subject = _fake_library("lab_fake_buggy", _BuggyTensor)
    try:
        outcome = diff.campaign(
            examples=300, seconds=60, seed=1, results=tmp_path, database=False, subject=subject, reference=reference
        )
    finally:
        del sys.modules[reference], sys.modules[subject]
    assert outcome.failure is not None
    case = outcome.failure.result.case
    # shrunk to the smallest case that shows the bug: one output element, the shortest failing reduction
    assert (case.m, case.n, case.batch_a, case.batch_b) == (1, 1, (), ())
    assert case.k in (41, 63)  # 41 as an integer, or the first awkward size past 40
    assert case.layout == "contiguous"
    text = diff.describe(outcome)
    assert "FAILED (shrunk)" in text and repr(case) in text
    assert outcome.failure.reproducer.startswith("# differential failure")
    assert f"check({case!r})" in outcome.failure.reproducer
    assert outcome.failure.saved_to is not None
    saved = json.loads(outcome.failure.saved_to.read_text())
    assert diff.Case(**{**saved["case"], "batch_a": (), "batch_b": ()}) == case
    # the saved case still fails when checked again
    replay = diff.check(case, tinygrad=_module(_NumpyTensor), tgrad=_module(_BuggyTensor))
    assert not replay.ok


def _module(tensor: type) -> types.ModuleType:
    module = types.ModuleType("replay")
    module.Tensor = tensor  # type: ignore[attr-defined]
    return module


def test_missing_subject_is_a_clear_error() -> None:
    with pytest.raises(diff.EngineMissing, match="no_such_library"):
        diff.campaign(examples=1, seconds=1, subject="no_such_library", database=False)

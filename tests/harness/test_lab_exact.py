"""The rounding-depth bound (gamma_D), the exact check of sampled outputs, and the kernel facts of tgrad's
cells: the tighter bound holds for tgrad's output, the exact sums are exact, each check can fail, and
run records without these fields still render."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lab_fakes import write_scenarios

from harness import cli, exact, report, store
from harness.agreement import compare, error_model, gamma
from harness.compare import agreement_of, build_table, failure_detail
from harness.engines.tensor_api import kernel_facts

REPO = Path(__file__).resolve().parents[2]


def _operands(m: int, k: int, n: int, seed: int, spread: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 operands; `spread` scales each entry by 2^[-spread, spread] (wide magnitudes)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)) * np.exp2(rng.integers(-spread, spread + 1, (m, k)))
    b = rng.standard_normal((k, n)) * np.exp2(rng.integers(-spread, spread + 1, (k, n)))
    return a.astype(np.float32), b.astype(np.float32)


def _tgrad_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, dict]:
    """tgrad's a @ b and the facts of its plan (certificate, rounding depth)."""
    import tgrad
    from tgrad import _native

    left, right = tgrad.Tensor(a), tgrad.Tensor(b)
    facts = kernel_facts(_native.plan_report([(left @ right)._lb]))
    return np.asarray((left @ right).realize().numpy()), facts


def _fraction_dot(a: np.ndarray, b: np.ndarray) -> Fraction:
    return sum((Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a, b, strict=True)), Fraction(0))


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 400),
    spread=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1),
    zeros=st.floats(0.0, 0.5),
    dtype=st.sampled_from([np.float32, np.float16]),
)
def test_the_exact_integer_sum_is_the_fraction_sum(k: int, spread: int, seed: int, zeros: float, dtype) -> None:
    a, b = _operands(1, k, 1, seed, spread if dtype is np.float32 else min(spread, 6))
    rng = np.random.default_rng(seed + 1)
    a[:, rng.random(k) < zeros] = 0.0
    left, right = a[0].astype(dtype), b[:, 0].astype(dtype)
    assert exact.exact_dot(left, right) == _fraction_dot(left, right)
    bias = np.float32(rng.standard_normal())
    assert exact.exact_dot(left, right, float(bias)) == _fraction_dot(left, right) + Fraction(float(bias))


def test_products_that_are_not_exact_in_float64_are_refused() -> None:
    with pytest.raises(TypeError):
        exact.exact_dot(np.ones(3), np.ones(3))
    a, b = _operands(2, 3, 2, 0)
    model = error_model(a.astype(np.float64), b.astype(np.float64), out_dtype=np.float64, acc_dtype=np.float64)
    out = a.astype(np.float64) @ b.astype(np.float64)
    assert exact.check(out, a.astype(np.float64), b.astype(np.float64), None, model.bound(), depth=None) is None


def test_samples_sit_on_tile_block_and_chunk_boundaries() -> None:
    rows = exact.boundary_indices(4097)
    for index in (0, 1, 2, 3, 5, 6, 7, 8, 9, 15, 16, 17, 47, 48, 49, 255, 256, 257, 4095, 4096, 2048, 2049):
        assert index in rows
    positions = exact.sample_positions((4097, 4097), seed=3)
    assert len(positions) <= exact.LIMIT and positions == exact.sample_positions((4097, 4097), seed=3)
    assert {(0, 0), (4096, 4096)} <= set(positions)
    batched = exact.sample_positions((5, 7, 3), seed=0)
    assert {p[0] for p in batched} >= {0, 4} and all(p[1] < 7 and p[2] < 3 for p in batched)
    assert exact.sample_positions((0, 4)) == []


def test_the_depth_bound_is_tighter_than_the_k_bound() -> None:
    a, b = _operands(4, 1000, 3, 0)
    model = error_model(a, b, out_dtype=np.float32)
    bound_k, bound_d = model.bound(), model.bound(259)  # KC = 256: min(K, KC) + ceil(K / KC) - 1
    assert np.all(bound_d < bound_k)
    assert np.all(bound_d / bound_k < 0.3)  # about 259 / 1000
    assert np.all(model.bound(1000) == bound_k)
    # the oracle's own error is in both, and only in the bounds against the oracle
    oracle_term = gamma(1000, 2.0**-53) * model.absprod
    np.testing.assert_allclose(bound_k - model.bound(oracle=None), oracle_term, rtol=1e-4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=st.integers(1, 24),
    k=st.integers(1, 700),
    n=st.integers(1, 24),
    spread=st.integers(0, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_tgrads_output_holds_the_depth_bound(m: int, k: int, n: int, spread: int, seed: int) -> None:
    a, b = _operands(m, k, n, seed, spread)
    out, facts = _tgrad_product(a, b)
    depth = facts["rounding_depth"]  # None for a loop kernel (one output, or K = 1): then gamma_K
    assert facts["certified"] == "yes", facts
    assert depth is None or 1 <= depth <= k
    assert depth is not None or m == 1 or n == 1 or k == 1, facts
    model = error_model(a, b, out_dtype=np.float32)
    bound_k, bound_d = model.bound(), model.bound(depth)
    assert np.all(bound_d <= bound_k)
    oracle = a.astype(np.float64) @ b.astype(np.float64)
    judged = compare(out, oracle, bound_k, depth=depth, bound_d=bound_d)
    assert judged.ok and judged.max_ratio_d is not None and judged.max_ratio_d <= 1.0, judged
    checked = exact.check(out, a, b, None, model.bound(depth, oracle=None), depth=depth, seed=seed)
    assert checked is not None and checked.ok and checked.bound == ("K" if depth is None else "D"), checked


def test_a_long_reduction_has_a_depth_far_below_k() -> None:
    a, b = _operands(3, 4096, 5, 1)
    _, facts = _tgrad_product(a, b)
    assert facts["rounding_depth"] < 4096 // 2


def test_an_error_between_the_two_bounds_fails_only_the_depth_checks() -> None:
    a, b = _operands(6, 1000, 5, 2)
    depth = 64
    model = error_model(a, b, out_dtype=np.float32)
    bound_k, bound_d = model.bound(), model.bound(depth)
    oracle = a.astype(np.float64) @ b.astype(np.float64)
    out = oracle.astype(np.float32)
    assert compare(out, oracle, bound_k, depth=depth, bound_d=bound_d).ok
    bad = oracle.copy()
    bad[2, 3] += 4 * bound_d[2, 3]  # between the bounds: gamma_D is about 64/1000 of gamma_K
    assert 4 * bound_d[2, 3] < 0.5 * bound_k[2, 3]
    bad = bad.astype(np.float32)
    judged_k = compare(bad, oracle, bound_k)
    judged = compare(bad, oracle, bound_k, depth=depth, bound_d=bound_d)
    assert judged_k.ok and judged.max_ratio < 1.0
    assert not judged.ok and judged.max_ratio_d is not None and judged.max_ratio_d > 1.0
    positions = [(2, 3), (0, 0)]
    exact_k = exact.check(bad, a, b, None, model.bound(oracle=None), depth=None, positions=positions)
    exact_d = exact.check(bad, a, b, None, model.bound(depth, oracle=None), depth=depth, positions=positions)
    assert exact_k is not None and exact_k.ok and exact_k.bound == "K"
    assert exact_d is not None and not exact_d.ok and exact_d.max_ratio > 1.0 and exact_d.samples == 2


def test_integer_valued_inputs_must_be_exact() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(-4, 5, (9, 300)).astype(np.float32)
    b = rng.integers(-4, 5, (300, 7)).astype(np.float32)
    model = error_model(a, b, out_dtype=np.float32)
    out = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
    good = exact.check(out, a, b, None, model.bound(oracle=None), depth=None)
    assert good is not None and good.ok and good.integer_exact == good.samples > 0 and good.max_ratio == 0
    out[0, 0] = np.nextafter(out[0, 0], np.float32(np.inf))  # one ulp: inside gamma_K, but not exact
    off = exact.check(out, a, b, None, model.bound(oracle=None), depth=None)
    assert off is not None and not off.ok and off.mismatches == 1 and off.max_ratio < 1.0


def test_a_tgrad_cell_carries_its_certificate_and_both_ratios(tmp_path: Path) -> None:
    scenarios = write_scenarios(tmp_path, ["tgrad"], subject="tgrad")
    argv = ["run", str(scenarios), "--results", str(tmp_path / "results"), "--no-progress", "--no-history"]
    assert cli.main(argv) == 0
    run = store.load_run(next((tmp_path / "results" / "runs").glob("*.json")))  # validated against the schema
    for cell in run["cells"]:
        assert cell["status"] == "ok", cell.get("reason")
        facts = cell["facts"]
        assert facts["certified"] == "yes" and facts["kernels"] and facts["kernels"][0]["certified"]
        oracle = cell["agreement"]["oracle"]
        assert oracle["depth"] == facts["rounding_depth"] and oracle["max_ratio_d"] <= 1.0
        checked = cell["agreement"]["exact"]
        assert checked["ok"] and checked["bound"] == "D" and checked["samples"] > 0
    markdown = report.render_markdown(build_table(run))
    assert "| certified |" in markdown and "| yes |" in markdown and ", D " in markdown
    csv_text = report.render_csv(build_table(run))
    assert csv_text.splitlines()[1].split(",")[report.CSV_COLUMNS.index("certified")] == "yes"


def test_records_without_the_new_fields_render(tmp_path: Path) -> None:
    baseline = sorted((REPO / "results" / "baselines").glob("*.json"))[0]
    run = store.load_run(baseline)
    assert all("facts" not in c and "exact" not in c.get("agreement", {}) for c in run["cells"])
    table = build_table(run)
    assert all(r.certified is None and r.agreement_ratio_d is None and r.exact_ratio is None for r in table.rows)
    lines = [line for line in report.render_markdown(table).splitlines() if line.startswith("| B")]
    assert lines and all(line.split(" | ")[-2] == "—" for line in lines), lines[:2]
    assert all(", D " not in line and "exact" not in line for line in lines)
    rows = report.render_csv(table).splitlines()
    assert rows[0].split(",") == report.CSV_COLUMNS and all(r.endswith(",,,,,,") for r in rows[1:])
    # the history and the regression check read such records too
    history = tmp_path / "history.sqlite"
    assert cli.main(["import", str(baseline), "--history", str(history)]) == 0
    assert json.loads(baseline.read_text())["run_id"] == run["run_id"]


def test_a_depth_failure_says_which_bound() -> None:
    oracle = {"max_abs": 1e-3, "max_rel": 1e-6, "max_ulp": 9, "max_ratio": 0.3, "nonfinite_mismatches": 0}
    agreement = {
        "dtype": "float32",
        "shape": [4, 4],
        "oracle": {**oracle, "ok": False, "depth": 64, "max_ratio_d": 2.0},
    }
    judged = agreement_of({"scenario": "S", "engine": "tgrad", "status": "ok", "agreements": [agreement]})
    assert judged.ok is False and judged.ratio == 0.3 and judged.ratio_d == 2.0
    assert failure_detail(judged) == "max error is 0.3x the bound, 2x the gamma_D bound (max ulp 9)"

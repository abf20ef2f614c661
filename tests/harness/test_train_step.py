"""B6, the training step (harness/train_step.py): the scenario as the issue states it, its oracle's bound accepting
a float32 step and rejecting wrong ones, and the tinygrad-API step (tgrad, and tinygrad where installed) agreeing
with the oracle on a small instance, through the same engine classes the lab runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import scenario, train_step
from harness.agreement import compare
from harness.engines import Unavailable, resolve
from harness.engines.oracle import reference
from harness.scenario import ScenarioError
from harness.workload import Inputs, make_inputs

REPO = Path(__file__).resolve().parents[2]

SMALL = """[lab]
engines = ["numpy", "tgrad", "tinygrad-eager", "tinygrad-jit"]
subject = "tgrad"

[[scenario]]
name = "T"
op = "train_step"
a = [32, 48]
b = [48, 40]
bias = [40]
"""


def _small(tmp_path: Path, text: str = SMALL) -> scenario.Scenario:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return scenario.load(path).scenarios[0]


def test_b6_is_the_issues_training_step() -> None:
    five = scenario.load(REPO / "scenarios" / "five.toml")
    b6 = next(s for s in five.scenarios if s.name == "B6")
    assert (b6.title, b6.op, b6.a, b6.b, b6.bias, b6.dtype, b6.device) == (
        "train-step", "train_step", (256, 1024), (1024, 1024), (1024,), "float32", "CPU"
    )  # fmt: skip
    assert b6.flops == 2 * (2 * 256 * 1024 * 1024) + 3 * (2 * 256 * 1024 * train_step.CLASSES)
    inputs = make_inputs(b6)
    assert inputs.w2 is not None and inputs.y is not None
    assert inputs.w2.shape == (1024, train_step.CLASSES) and inputs.y.shape == (256, train_step.CLASSES)
    assert inputs.w2.dtype == inputs.y.dtype == np.float32


def test_inputs_round_trip_through_the_worker_file(tmp_path: Path) -> None:
    inputs = make_inputs(_small(tmp_path))
    inputs.save(tmp_path / "in.npz")
    back = Inputs.load(tmp_path / "in.npz", "train_step", "contiguous")
    for name in ("a", "b", "bias", "w2", "y"):
        np.testing.assert_array_equal(getattr(back, name), getattr(inputs, name))


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ("bias = [40]\n", None),  # no bias
        ("a = [32, 48]", "a"),  # batched
        ('op = "train_step"', "layout"),  # transposed layout
    ],
)
def test_train_step_scenarios_are_checked(tmp_path: Path, edit: str, field: str | None) -> None:
    text = {
        None: SMALL.replace(edit, ""),
        "a": SMALL.replace(edit, "a = [2, 32, 48]").replace("b = [48, 40]", "b = [2, 48, 40]"),
        "layout": SMALL.replace(edit, edit + '\nlayout = "transposed_b"'),
    }[field]
    with pytest.raises(ScenarioError) as excinfo:
        _small(tmp_path, text)
    assert "train_step" in str(excinfo.value)


def _numpy_output(inputs: Inputs) -> np.ndarray:
    engine = resolve("numpy")
    engine.load()
    prepared = engine.prepare(inputs, "CPU")
    prepared.step()
    return prepared.output()


def test_a_float32_step_is_within_the_bound_and_wrong_steps_are_not() -> None:
    inputs = make_inputs(next(s for s in scenario.load(REPO / "scenarios" / "five.toml").scenarios if s.name == "B6"))
    oracle, bound = reference(inputs, "float32")
    good = _numpy_output(inputs)
    assert compare(good, oracle, bound).ok
    assert bound.max() < 1e-2 * np.abs(oracle).max(), "the bound is far below the values"
    x, w1, b1, w2, y = (a.astype(np.float32) for a in (inputs.a, inputs.b, inputs.bias, inputs.w2, inputs.y))
    wrong = {
        "a learning rate 10% off": lambda: _scaled_lr(x, w1, b1, w2, y, 1.1),
        "no relu in the backward pass": lambda: _no_relu_mask(x, w1, b1, w2, y),
        "float16 rounding of W1": lambda: np.concatenate(
            [good[: w1.size].astype(np.float16).astype(np.float32), good[w1.size :]]
        ),
    }
    for name, make in wrong.items():
        assert not compare(make(), oracle, bound).ok, f"the bound accepted a step with {name}"


def _scaled_lr(x, w1, b1, w2, y, factor: float) -> np.ndarray:
    lr = train_step.LR
    try:
        train_step.LR = lr * factor
        return train_step.numpy_step(x, w1, b1, w2, y)
    finally:
        train_step.LR = lr


def _no_relu_mask(x, w1, b1, w2, y) -> np.ndarray:
    h = np.maximum(x @ w1 + b1, 0)
    g_out = (h @ w2 - y) * np.float32(2.0 / y.size)
    g_pre = g_out @ w2.T
    lr = np.float32(train_step.LR)
    return train_step.flat(w1 - lr * (x.T @ g_pre), b1 - lr * g_pre.sum(0), w2 - lr * (h.T @ g_out))


@pytest.mark.parametrize("engine_name", ["tgrad", "tinygrad-eager", "tinygrad-jit"])
def test_the_tensor_api_step_agrees_with_the_oracle(tmp_path: Path, engine_name: str) -> None:
    engine = resolve(engine_name)
    try:
        engine.load()
    except Unavailable as e:
        pytest.skip(f"{engine_name} unavailable: {e}")
    inputs = make_inputs(_small(tmp_path))
    oracle, bound = reference(inputs, "float32")
    prepared = engine.prepare(inputs, "CPU")
    for _ in range(3):  # eager, then the JIT's capture and a replay: each step starts from the same weights
        prepared.step()
        agreement = compare(prepared.output(), oracle, bound)
        assert agreement.ok, f"{engine_name}: {agreement}"


def test_a_lab_run_of_the_training_step_judges_every_cell(tmp_path: Path) -> None:
    """The whole run, as `make bench` makes it for B6: its flattened output has no dot products to sample and
    no rounding depth, so it is judged against the step's own bound, and tgrad's cell states its kernels."""
    import json

    from harness import cli

    path = tmp_path / "s.toml"
    path.write_text(SMALL.replace('"numpy", "tgrad", "tinygrad-eager", "tinygrad-jit"', '"numpy", "tgrad"'))
    argv = ["run", str(path), "--quick", "--results", str(tmp_path / "r"), "--no-progress", "--no-history"]
    assert cli.main(argv) == 0
    (run_file,) = (tmp_path / "r" / "runs").glob("*.json")
    cells = {c["engine"]: c for c in json.loads(run_file.read_text())["cells"]}
    for name in ("numpy", "tgrad"):
        assert cells[name]["status"] == "ok", cells[name]
        assert cells[name]["agreement"]["oracle"]["ok"], cells[name]["agreement"]
        assert "exact" not in cells[name]["agreement"]
    assert cells["tgrad"]["facts"]["certified"] == "yes", cells["tgrad"]["facts"]

"""The inputs of a scenario: generated once, seeded, and handed byte-for-byte to every engine.

Operands are stored the way the layout says (a transposed operand is stored as its contiguous
transpose, and each engine takes the transposed view itself), so every engine sees the same memory
layout as well as the same values.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from harness.scenario import Scenario
from harness.train_step import draw_second_layer


@dataclasses.dataclass(frozen=True)
class Inputs:
    a: np.ndarray  # as stored: (..., K, M) when layout is transposed_a
    b: np.ndarray  # as stored: (..., N, K) when layout is transposed_b
    bias: np.ndarray | None
    op: str
    layout: str
    # train_step only (harness.train_step): the second layer's weights and the targets
    w2: np.ndarray | None = None
    y: np.ndarray | None = None

    @property
    def transpose_a(self) -> bool:
        return self.layout == "transposed_a"

    @property
    def transpose_b(self) -> bool:
        return self.layout == "transposed_b"

    def logical_a(self) -> np.ndarray:
        return np.swapaxes(self.a, -1, -2) if self.transpose_a else self.a

    def logical_b(self) -> np.ndarray:
        return np.swapaxes(self.b, -1, -2) if self.transpose_b else self.b

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {"a": self.a, "b": self.b, "bias": self.bias, "w2": self.w2, "y": self.y}
        np.savez(path, **{k: v for k, v in arrays.items() if v is not None})

    @staticmethod
    def load(path: Path, op: str, layout: str) -> Inputs:
        with np.load(path) as data:
            bias, w2, y = (data[k] if k in data.files else None for k in ("bias", "w2", "y"))
            return Inputs(data["a"], data["b"], bias, op, layout, w2, y)


def _draw(rng: np.random.Generator, shape: tuple[int, ...], distribution: str, scale: float) -> np.ndarray:
    if distribution == "normal":
        values = rng.standard_normal(shape)
    elif distribution == "uniform":
        values = rng.uniform(-1.0, 1.0, shape)
    elif distribution == "ints":
        values = rng.integers(-4, 5, shape).astype(np.float64)
    elif distribution == "ones":
        values = np.ones(shape)
    else:
        raise ValueError(f"unknown distribution {distribution!r}")
    return values * scale


def make_inputs(scenario: Scenario, seed: int | None = None) -> Inputs:
    """The scenario's operands, drawn from its distribution with its seed (or `seed` when given)."""
    rng = np.random.default_rng(scenario.seed if seed is None else seed)
    dtype = np.dtype(scenario.dtype)
    a = _draw(rng, scenario.a, scenario.distribution, scenario.scale).astype(dtype)
    b = _draw(rng, scenario.b, scenario.distribution, scenario.scale).astype(dtype)
    bias = None
    if scenario.bias is not None:
        bias = _draw(rng, scenario.bias, scenario.distribution, scenario.scale).astype(dtype)
    second: dict[str, np.ndarray] = {}
    if scenario.op == "train_step":
        second = draw_second_layer(rng, scenario.a[-2], scenario.b[-1], dtype)
    if scenario.layout == "transposed_a":
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    if scenario.layout == "transposed_b":
        b = np.ascontiguousarray(np.swapaxes(b, -1, -2))
    return Inputs(a, b, bias, scenario.op, scenario.layout, second.get("w2"), second.get("y"))

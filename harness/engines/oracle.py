"""The float64 oracle: the exact-enough result every engine is judged against, and its error bound.

Computed in the parent process with BLAS limited to one thread, so no idle BLAS worker spins while
an engine's worker process is being timed. Inputs holding Inf or NaN give the oracle its own Inf and
NaN (inf * 0, inf - inf, nan * x), which is the expected result an engine must match, so numpy's
"invalid value" and overflow warnings are silenced for that product.
"""

from __future__ import annotations

import numpy as np

from harness import train_step
from harness.agreement import ErrorModel, error_model
from harness.workload import Inputs


class WholeBound:
    """A bound derived whole (the training step's, through forward, backward and update), with no single
    rounding depth to vary: `bound` gives it for any depth."""

    def __init__(self, bound: np.ndarray) -> None:
        self._bound = bound

    def bound(self, depth: int | None = None, *, oracle: object = None) -> np.ndarray:
        return self._bound


def reference_model(inputs: Inputs, out_dtype: str) -> tuple[np.ndarray, ErrorModel | WholeBound]:
    """(oracle, error model): the float64 result and what every bound on an engine's error is made of."""
    from threadpoolctl import threadpool_limits

    if inputs.op == "train_step":
        if inputs.bias is None or inputs.w2 is None or inputs.y is None:
            raise ValueError("a train_step's inputs need bias, w2 and y")
        with threadpool_limits(limits=1):
            oracle, bound = train_step.reference(inputs.a, inputs.b, inputs.bias, inputs.w2, inputs.y, out_dtype)
        return oracle, WholeBound(bound)
    with threadpool_limits(limits=1), np.errstate(invalid="ignore", over="ignore"):
        a64 = inputs.logical_a().astype(np.float64)
        b64 = inputs.logical_b().astype(np.float64)
        exact = a64 @ b64
        bias = inputs.bias
        if bias is not None:
            exact = np.maximum(exact + bias.astype(np.float64), 0.0)  # relu never increases an error
        model = error_model(inputs.logical_a(), inputs.logical_b(), out_dtype=out_dtype, bias=bias)
    return exact, model


def reference(inputs: Inputs, out_dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(oracle, bound): the float64 result and the elementwise gamma_K bound on an engine's error."""
    exact, model = reference_model(inputs, out_dtype)
    return exact, model.bound()

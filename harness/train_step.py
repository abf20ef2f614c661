"""B6, a training step: forward, backward and an SGD update of a 2-layer MLP, and its float64 oracle.

The model is `relu(X @ W1 + b1) @ W2` with a mean squared-error loss against targets Y; the step returns the
updated parameters W1 - lr*dW1, b1 - lr*db1, W2 - lr*dW2. The scenario's `a` is X (batch x inputs), `b` is W1
(inputs x hidden) and `bias` is b1; W2 (hidden x CLASSES) and Y (batch x CLASSES) are drawn after them from the
same seeded generator. The update is written functionally (new weight tensors rather than an in-place assign), so
every timed step starts from the same weights and every engine's output is the same checkable quantity: the three
updated parameters, flattened and concatenated.

The oracle is the step in float64 and the bound is a first-order rounding-error bound built from Higham's gamma_n
(harness.agreement) for each matmul and sum, carried through the chain rule: the error of each intermediate times
the magnitudes it meets. A hidden unit whose pre-activation is within its own error bound of zero may take either
side of the relu, so its gradient's whole magnitude goes into the bound there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.agreement import gamma, unit_roundoff

CLASSES = 10  # outputs of the second layer
LR = 0.01  # the SGD learning rate


def draw_second_layer(rng: np.random.Generator, batch: int, hidden: int, dtype: np.dtype) -> dict[str, np.ndarray]:
    """W2 (hidden x CLASSES, scaled by 1/sqrt(hidden) so the outputs stay O(1)-ish) and targets Y."""
    w2 = rng.standard_normal((hidden, CLASSES)) / np.sqrt(hidden)
    y = rng.standard_normal((batch, CLASSES))
    return {"w2": w2.astype(dtype), "y": y.astype(dtype)}


def flops(batch: int, inputs: int, hidden: int) -> int:
    """Forward (two matmuls), backward (dW2, dH and dW1; no dX): 2*M*N*K each."""
    return 2 * (2 * batch * inputs * hidden) + 3 * (2 * batch * hidden * CLASSES)


def lazy_step(x: Any, w1: Any, b1: Any, w2: Any, y: Any) -> tuple[Any, Any, Any]:
    """The step in tinygrad's API (tinygrad and tgrad): the updated parameters, not yet realized."""
    loss = (((x @ w1 + b1).relu() @ w2 - y) ** 2).mean()
    g1, gb, g2 = loss.gradient(w1, b1, w2)
    return (w1 - LR * g1, b1 - LR * gb, w2 - LR * g2)


def tensor_step(x: Any, w1: Any, b1: Any, w2: Any, y: Any) -> tuple[Any, Any, Any]:
    """`lazy_step`, realized in one schedule."""
    new = lazy_step(x, w1, b1, w2, y)
    new[0].realize(new[1], new[2])
    return new


def numpy_step(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The step in numpy, in the arrays' dtype; the updated parameters flattened and concatenated."""
    pre = x @ w1 + b1
    h = np.maximum(pre, 0)
    g_out = (h @ w2 - y) * x.dtype.type(2.0 / y.size)
    g2 = h.T @ g_out
    g_pre = (g_out @ w2.T) * (pre > 0)
    g1, gb = x.T @ g_pre, g_pre.sum(0)
    lr = x.dtype.type(LR)
    return flat(w1 - lr * g1, b1 - lr * gb, w2 - lr * g2)


def flat(*arrays: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(a).reshape(-1) for a in arrays])


def reference(
    x32: np.ndarray, w1_32: np.ndarray, b1_32: np.ndarray, w2_32: np.ndarray, y32: np.ndarray, out_dtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """(oracle, bound) of the updated parameters, flattened as the engines give them."""
    u = unit_roundoff(out_dtype)
    x, w1, b1, w2, y = (a.astype(np.float64) for a in (x32, w1_32, b1_32, w2_32, y32))
    (n, k), hidden, c = x.shape, w1.shape[1], w2.shape[1]
    ax, aw1, aw2 = np.abs(x), np.abs(w1), np.abs(w2)
    # forward
    pre = x @ w1 + b1
    e_pre = gamma(k + 1, u) * (ax @ aw1 + np.abs(b1))
    h = np.maximum(pre, 0)
    out = h @ w2
    e_out = gamma(hidden, u) * ((h + e_pre) @ aw2) + e_pre @ aw2
    r = out - y
    e_r = e_out + u * (np.abs(out) + np.abs(y))
    s = 2.0 / y.size
    g_out = s * r
    e_gout = s * e_r + 3 * u * np.abs(g_out)  # 2/size rounded, the product rounded
    ag_out = np.abs(g_out) + e_gout
    # backward
    g2 = h.T @ g_out
    e_g2 = gamma(n, u) * ((h + e_pre).T @ ag_out) + e_pre.T @ np.abs(g_out) + h.T @ e_gout
    dh = g_out @ w2.T
    mag_dh = ag_out @ aw2.T
    e_dh = gamma(c, u) * mag_dh + e_gout @ aw2.T
    ambiguous = np.abs(pre) <= e_pre  # the relu's side is not decided at this precision
    mask = pre > 0
    g_pre = dh * mask
    e_gpre = np.where(ambiguous, mag_dh + e_dh, e_dh * mask)
    ag_pre = np.abs(g_pre) + e_gpre
    g1 = x.T @ g_pre
    e_g1 = gamma(n, u) * (ax.T @ ag_pre) + ax.T @ e_gpre
    gb = g_pre.sum(0)
    e_gb = gamma(n, u) * ag_pre.sum(0) + e_gpre.sum(0)
    # the update: lr * g rounded, then the subtraction rounded
    exact, bounds = [], []
    for w, g, e_g in ((w1, g1, e_g1), (b1, gb, e_gb), (w2, g2, e_g2)):
        exact.append(w - LR * g)
        bounds.append(LR * e_g * (1 + 2 * u) + 2 * u * (np.abs(w) + LR * np.abs(g)) * (1 + 2 * u))
    return flat(*exact), flat(*bounds)

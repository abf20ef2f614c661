"""The three programs of issue 19 (tests/programs/: a 2-layer MLP forward, a causal attention block, an SGD step on a
linear model), written for tinygrad, run unchanged apart from the import: on tgrad (the `tinygrad` module names
aliased to tgrad's, as test_upstream_tiny.py does) and on upstream tinygrad, each in its own process.

Random numbers differ between the libraries, so the tgrad run records every random draw (`Tensor.rand`, `randn`,
which glorot_uniform, uniform and nn.Linear draw from) and the tinygrad run replays them: both then compute from the
same parameters (up to the rounding of each library's initialiser arithmetic; each program reports the parameters it
used). Each engine's results are judged against a float64 oracle of the program from its own parameters, with a
first-order rounding-error bound built from the forward checks' gamma_n * |A||B| (harness.agreement), so "matches
tinygrad" means both are within the bound of the exact result."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.agreement import gamma

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
U = 2.0**-24

RUNNER = """
import importlib, runpy, sys
import numpy as np
program, engine, mode, draws_path, out_path = sys.argv[1:6]
if engine != "tinygrad":
    for sub in ("", ".helpers", ".nn", ".nn.optim", ".nn.state"):
        importlib.import_module(engine + sub)
    for key, module in list(sys.modules.items()):
        if key == engine or key.startswith(engine + "."):
            sys.modules["tinygrad" + key[len(engine):]] = module
import tinygrad
T = tinygrad.Tensor
draws = [] if mode == "record" else [a for _, a in sorted(np.load(draws_path).items())]

def patched(original):
    def draw(cls, *shape, dtype=None, **kwargs):
        if mode == "record":
            t = original(*shape, dtype=dtype, **kwargs).realize()
            draws.append(t.numpy())
            return t
        a = draws.pop(0)
        want = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
        assert a.shape == want, f"the programs drew {want} here, {a.shape} in the recording"
        return T(a) if dtype is None else T(a).cast(dtype)
    return classmethod(draw)

T.rand, T.randn = patched(T.rand), patched(T.randn)
results = runpy.run_path(program, run_name="__main__")["RESULTS"]
if mode == "record":
    np.savez(draws_path, **{f"d{i:04d}": a for i, a in enumerate(draws)})
np.savez(out_path, **results)
"""


def run(program: str, engine: str, mode: str, tmp: Path) -> dict[str, np.ndarray]:
    out = tmp / f"{engine}.npz"
    cmd = [sys.executable, "-c", textwrap.dedent(RUNNER), str(PROGRAMS / program), engine, mode, str(tmp / "draws.npz"),
           str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"{program} on {engine} failed:\n{proc.stderr[-4000:]}"
    with np.load(out) as data:
        return dict(data.items())


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Every program's results on tgrad (recording its draws) and on tinygrad (replaying them)."""
    got = {}
    for program in ("mlp_forward.py", "attention_block.py", "sgd_step.py"):
        tmp = tmp_path_factory.mktemp(program.removesuffix(".py"))
        tg = run(program, "tgrad", "record", tmp)
        tiny = run(program, "tinygrad", "replay", tmp)
        got[program] = {"tgrad": tg, "tinygrad": tiny}
    return got


def within(engine: str, name: str, got: np.ndarray, want: np.ndarray, bound: np.ndarray) -> None:
    err = np.abs(got.astype(np.float64) - want)
    worst = np.unravel_index(np.argmax(err / bound), err.shape)
    assert np.all(err <= bound), (
        f"{engine} {name}: |error| {err[worst]:.3e} > bound {bound[worst]:.3e} at {worst} "
        f"(got {got[worst]!r}, oracle {want[worst]!r})"
    )


def f64(res: dict, *names: str) -> list[np.ndarray]:
    return [res[n].astype(np.float64) for n in names]


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _softmax_bounds(z, ez, n):
    """Bounds of softmax(z) and log_softmax(z) for logits with errors up to ez (per row, n classes)."""
    p = _softmax(z)
    dz = ez.max(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # masked logits (-inf) have p = 0 exactly
        cond = np.where(np.isfinite(z), 1 + np.abs(z - z.max(-1, keepdims=True)), 0)
        logp = np.log(p)
    log_b = 2 * dz + (8 * U + gamma(n, U)) * (cond + np.abs(logp))
    return p, p * np.expm1(2 * dz + (12 * U + gamma(n, U)) * cond), logp, log_b


@pytest.mark.parametrize("engine", ["tgrad", "tinygrad"])
def test_mlp_forward_matches_the_oracle(outputs, engine):
    res = outputs["mlp_forward.py"][engine]
    x, l1, l2 = f64(res, "x", "l1", "l2")
    bound1 = (6 / (784 + 128)) ** 0.5
    assert np.all(np.abs(l1) <= bound1 * (1 + 1e-6)) and np.abs(l1).max() > 0.9 * bound1, "glorot_uniform's range"
    np.testing.assert_allclose(l1, outputs["mlp_forward.py"]["tgrad"]["l1"], rtol=1e-6, err_msg="the replayed draws")
    h = np.maximum(x @ l1, 0)
    eh = gamma(784, U) * (np.abs(x) @ np.abs(l1))
    z = h @ l2
    ez = gamma(128, U) * ((np.abs(h) + eh) @ np.abs(l2)) + eh @ np.abs(l2)
    within(engine, "logits", res["logits"], z, ez + 1e-30)
    p, pb, logp, logb = _softmax_bounds(z, ez, 10)
    within(engine, "probs", res["probs"], p, pb + 1e-30)
    within(engine, "log_probs", res["log_probs"], logp, logb)
    # argmax: the oracle's class wherever the top two logits are further apart than their bounds
    top2 = np.sort(z, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * ez.max(1)
    assert res["pred"].dtype == np.int32
    np.testing.assert_array_equal(res["pred"][clear], z.argmax(1)[clear])
    assert clear.sum() > 50, "the check covered most rows"


@pytest.mark.parametrize("engine", ["tgrad", "tinygrad"])
def test_attention_block_matches_the_oracle(outputs, engine):
    res = outputs["attention_block.py"][engine]
    x, wqkv, bqkv, wo, bo = f64(res, "x", "wqkv", "bqkv", "wo", "bo")
    B, T, C, H = 2, 16, 64, 4
    d = C // H
    qkv = x @ wqkv.T + bqkv
    e_qkv = gamma(C + 1, U) * (np.abs(x) @ np.abs(wqkv.T) + np.abs(bqkv))

    def heads(a):
        return [t.reshape(B, T, H, d).transpose(0, 2, 1, 3) for t in np.split(a, 3, axis=-1)]

    (q, k, v), (eq, ek, ev) = heads(qkv), heads(e_qkv)
    kt, ekt = k.transpose(0, 1, 3, 2), ek.transpose(0, 1, 3, 2)
    s = q @ kt / math.sqrt(d)
    es = (gamma(d, U) * (np.abs(q) @ np.abs(kt)) + eq @ np.abs(kt) + np.abs(q) @ ekt) / math.sqrt(d) + U * np.abs(s)
    p_full, pb_full, _, _ = _softmax_bounds(s, es, T)
    within(engine, "scores", res["scores"], p_full, pb_full + 1e-30)
    causal = np.where(np.tril(np.ones((T, T))) > 0, 0.0, -np.inf)
    p, pb, _, _ = _softmax_bounds(s + causal, np.where(np.isfinite(causal), es, 0), T)
    y = (p @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
    ey = (pb @ np.abs(v) + p @ ev + gamma(T, U) * (p @ np.abs(v))).transpose(0, 2, 1, 3).reshape(B, T, C)
    out = y @ wo.T + bo
    eo = gamma(C + 1, U) * ((np.abs(y) + ey) @ np.abs(wo.T) + np.abs(bo)) + ey @ np.abs(wo.T)
    within(engine, "out", res["out"], out, eo + 1e-30)


@pytest.mark.parametrize("engine", ["tgrad", "tinygrad"])
def test_sgd_step_matches_the_oracle(outputs, engine):
    res = outputs["sgd_step.py"][engine]
    X, Y, w0 = f64(res, "X", "Y", "w_init")
    N, K = X.shape
    b0 = np.zeros(1)
    r = X @ w0 + b0 - Y
    er = gamma(K + 2, U) * (np.abs(X) @ np.abs(w0) + np.abs(Y))
    loss = (r**2).mean()
    within(engine, "loss", res["loss"], loss, 2 * (np.abs(r) * er).mean() + gamma(N + 2, U) * loss)
    gw, gb = 2 / N * X.T @ r + 0.01 * w0, 2 / N * r.sum(0) + 0.01 * b0
    egw = 2 / N * (gamma(N + 3, U) * (np.abs(X.T) @ (np.abs(r) + er)) + np.abs(X.T) @ er) + 3 * U * np.abs(gw)
    egb = 2 / N * (gamma(N + 3, U) * (np.abs(r) + er).sum(0) + er.sum(0)) + 3 * U * np.abs(gb)
    # the first momentum step is the gradient itself: w1 = w0 - lr * g
    w1, b1 = w0 - 0.1 * gw, b0 - 0.1 * gb
    within(engine, "w", res["w"], w1, 0.1 * egw + 3 * U * (np.abs(w0) + 0.1 * np.abs(gw)))
    within(engine, "b", res["b"], b1, 0.1 * egb + 3 * U * (np.abs(b0) + 0.1 * np.abs(gb)) + 1e-30)
    assert np.abs(w1 - w0).max() > 1e-3, "the step moved the weights"

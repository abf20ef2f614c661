"""tinygrad.nn.optim and nn.Linear / nn.state (issue 19 item 2): three steps of each optimizer on a small least-squares
problem against tinygrad's update rules written out in float64 numpy (SGD with momentum, weight decay and nesterov,
classic and popular momentum; LARS with its trust ratio; Adam; AdamW; LAMB), with a float32 tolerance. The same tests
run against upstream tinygrad under TGRAD_TEST_AGAINST=tinygrad, which checks the reference rules themselves."""

from __future__ import annotations

from importlib import import_module

import numpy as np
import pytest

X = np.random.default_rng(3).standard_normal((16, 4)).astype(np.float32)
Y = np.random.default_rng(4).standard_normal((16, 2)).astype(np.float32)
W0 = np.random.default_rng(5).standard_normal((4, 2)).astype(np.float32)
B0 = np.array([0.5, -0.25], np.float32)
STEPS = 3


def grads(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of mean((X @ w + b - Y)^2) in float64."""
    r = X.astype(np.float64) @ w + b - Y
    g = 2 * r / r.size
    return X.T.astype(np.float64) @ g, g.sum(0)


def sgd_ref(lr, momentum=0.0, wd=0.0, nesterov=False, classic=False, tcoef=0.0):
    """tinygrad's LARS._step (SGD is LARS with tcoef=0 and classic=False)."""
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    bufs = [np.zeros_like(p) for p in params]
    for _ in range(STEPS):
        out = []
        for i, (t, g) in enumerate(zip(params, grads(*params), strict=True)):
            r = 1.0
            if tcoef:
                r1, r2 = np.sqrt((t * t).sum()), np.sqrt((g * g).sum())
                r = tcoef * r1 / (r2 + wd * r1) if r1 > 0 and r2 > 0 else 1.0
            if wd > 0:
                g = g + wd * t
            if classic:
                g = g * r * lr
            if momentum:
                bufs[i] = momentum * bufs[i] + g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            if not classic:
                g = g * r * lr
            out.append(t - g)
        params = out
    return params


def lamb_ref(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, adam=True):
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    b1_t = b2_t = 1.0
    for _ in range(STEPS):
        b1_t, b2_t = b1_t * b1, b2_t * b2
        out = []
        for i, (t, g) in enumerate(zip(params, grads(*params), strict=True)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            up = (m[i] / (1 - b1_t)) / (np.sqrt(v[i] / (1 - b2_t)) + eps) + wd * t
            r = 1.0
            if not adam:
                r1, r2 = np.sqrt((t * t).sum()), np.sqrt((up * up).sum())
                r = r1 / r2 if r1 > 0 and r2 > 0 else 1.0
            out.append(t - lr * r * up)
        params = out
    return params


CASES = {
    "sgd": (lambda o, p: o.SGD(p, lr=0.1), lambda: sgd_ref(0.1)),
    "sgd-momentum-wd": (
        lambda o, p: o.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda: sgd_ref(0.1, momentum=0.9, wd=0.1),
    ),
    "sgd-nesterov": (
        lambda o, p: o.SGD(p, lr=0.05, momentum=0.8, weight_decay=0.01, nesterov=True),
        lambda: sgd_ref(0.05, momentum=0.8, wd=0.01, nesterov=True),
    ),
    "sgd-classic": (
        lambda o, p: o.SGD(p, lr=0.1, momentum=0.9, classic=True),
        lambda: sgd_ref(0.1, momentum=0.9, classic=True),
    ),
    "lars": (lambda o, p: o.LARS(p, lr=0.5), lambda: sgd_ref(0.5, momentum=0.9, wd=1e-4, classic=True, tcoef=0.001)),
    "adam": (lambda o, p: o.Adam(p, lr=0.01), lambda: lamb_ref(0.01)),
    "adamw": (lambda o, p: o.AdamW(p, lr=0.01, weight_decay=0.1), lambda: lamb_ref(0.01, wd=0.1)),
    "lamb": (lambda o, p: o.LAMB(p, lr=0.01, weight_decay=0.1), lambda: lamb_ref(0.01, eps=1e-6, wd=0.1, adam=False)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizer_steps_follow_tinygrads_rules(tg, name):
    optim = import_module(tg.__name__ + ".nn.optim")
    make, ref = CASES[name]
    w, b = tg.Tensor(W0.copy()), tg.Tensor(B0.copy())
    x, y = tg.Tensor(X), tg.Tensor(Y)
    opt = make(optim, [w, b])
    with tg.Context(TRAINING=1):
        for _ in range(STEPS):
            opt.zero_grad()
            ((x @ w + b - y) ** 2).mean().backward()
            opt.step()
    want_w, want_b = ref()
    assert np.abs(want_w - W0).max() > 1e-3, "the steps moved the weights"
    np.testing.assert_allclose(w.numpy(), want_w, rtol=1e-4, atol=1e-5, err_msg=f"{name}: weight")
    np.testing.assert_allclose(b.numpy(), want_b, rtol=1e-4, atol=1e-5, err_msg=f"{name}: bias")


def test_optimizer_argument_errors(tg):
    optim = import_module(tg.__name__ + ".nn.optim")
    w = tg.Tensor([1.0])
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([w], lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([w], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.AdamW([w], weight_decay=-0.1)


def test_linear_and_state_dict(tg):
    nn = import_module(tg.__name__ + ".nn")
    state = import_module(tg.__name__ + ".nn.state")

    class Net:
        def __init__(self):
            self.l1, self.l2 = nn.Linear(4, 8), nn.Linear(8, 2, bias=False)

    net = Net()
    sd = state.get_state_dict(net)
    assert list(sd) == ["l1.weight", "l1.bias", "l2.weight"]
    assert [t.shape for t in sd.values()] == [(8, 4), (8,), (2, 8)]
    assert len(state.get_parameters(net)) == 3
    bound = 1 / np.sqrt(4)  # tinygrad's Linear: uniform(-1/sqrt(in), 1/sqrt(in))
    weight = net.l1.weight.numpy()
    assert np.all(np.abs(weight) <= bound) and weight.std() > 0.1 * bound
    x = tg.Tensor(X)
    want = X @ weight.T + net.l1.bias.numpy()
    np.testing.assert_allclose(net.l1(x).numpy(), want, rtol=1e-5, atol=1e-5)

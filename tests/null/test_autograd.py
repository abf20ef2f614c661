"""Autograd's API with tinygrad 0.14's semantics (issue 19 item 1): `backward()` fills `.grad` of every live float
tensor of the loss's graph, `gradient(*targets)` returns zeros for targets the tensor does not depend on, int and bool
tensors have no gradient, realize cuts the graph, `detach` stops gradients, optimizers need Context(TRAINING=1).

Small integer inputs keep every gradient exact, so values compare with `==`. Runs against upstream tinygrad too
(TGRAD_TEST_AGAINST=tinygrad)."""

from __future__ import annotations

import numpy as np
import pytest


def ints(shape, seed: int, low: int = -4, high: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=shape).astype(np.float32)


def test_backward_fills_grad_of_every_float_tensor_in_the_graph(tg):
    x, w, g = ints((5, 3), 1), ints((3, 4), 2), ints((5, 4), 3)
    tx, tw = tg.Tensor(x), tg.Tensor(w)
    y = tx @ tw
    loss = (y * tg.Tensor(g)).sum()
    loss.backward()
    np.testing.assert_array_equal(tx.grad.numpy(), g @ w.T)
    np.testing.assert_array_equal(tw.grad.numpy(), x.T @ g)
    np.testing.assert_array_equal(y.grad.numpy(), g)
    assert loss.grad.numpy() == 1.0


def test_backward_accumulates_into_existing_grads(tg):
    x = tg.Tensor(ints((4,), 4))
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(4, 5.0, dtype=np.float32))


def test_backward_with_a_given_gradient(tg):
    x = tg.Tensor(ints((2, 3), 5))
    seed = ints((2, 3), 6)
    (x * 3).backward(tg.Tensor(seed))
    np.testing.assert_array_equal(x.grad.numpy(), 3 * seed)


def test_gradient_of_unreached_targets_is_zero(tg):
    x, unused = tg.Tensor(ints((3,), 7)), tg.Tensor(ints((2, 2), 8))
    dx, du = (x * x).sum().gradient(x, unused)
    np.testing.assert_array_equal(dx.numpy(), 2 * ints((3,), 7))
    np.testing.assert_array_equal(du.numpy(), np.zeros((2, 2), dtype=np.float32))


def test_no_gradient_of_or_through_int_tensors(tg):
    i = tg.Tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="only float"):
        i.sum().gradient(i)
    f = tg.Tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="only float"):
        (f * i).sum().gradient(i)
    (f * i).sum().backward()
    assert i.grad is None, "backward() leaves int tensors alone"
    np.testing.assert_array_equal(f.grad.numpy(), [1.0, 2.0, 3.0])
    # comparisons give no gradient: the mask of a where is not differentiated
    (f > 1).where(f, 0).sum().backward()
    np.testing.assert_array_equal(f.grad.numpy(), [1.0, 3.0, 4.0])


def test_backward_needs_a_scalar_or_a_gradient(tg):
    x = tg.Tensor(ints((2, 2), 9))
    with pytest.raises((RuntimeError, AssertionError)):
        (x * 2).backward()


def test_realize_cuts_the_graph(tg):
    x = tg.Tensor([1.0, 2.0, 3.0])
    h = (x * 2).realize()
    (h * h).sum().backward()
    assert x.grad is None, "x is behind a realized tensor"
    np.testing.assert_array_equal(h.grad.numpy(), [4.0, 8.0, 12.0])


def test_detach_stops_the_gradient(tg):
    x = tg.Tensor([1.0, -2.0, 3.0])
    dx = (x * x.detach()).sum().gradient(x)[0]
    np.testing.assert_array_equal(dx.numpy(), [1.0, -2.0, 3.0])


def test_requires_grad_is_not_an_argument_in_tinygrad_014(tg):
    with pytest.raises(TypeError):
        tg.Tensor([1.0], requires_grad=True)


def test_gradient_of_a_linear_layer_matches_the_hand_derived_one(tg):
    x, w, b = ints((6, 5), 10), ints((5, 3), 11), ints((3,), 12)
    tx, tw, tb = tg.Tensor(x), tg.Tensor(w), tg.Tensor(b)
    out = (tx.linear(tw, tb)).relu()
    seed = ints((6, 3), 13)
    dx, dw, db = (out * tg.Tensor(seed)).sum().gradient(tx, tw, tb)
    mask = (x @ w + b > 0).astype(np.float32)
    g = seed * mask
    np.testing.assert_array_equal(dx.numpy(), g @ w.T)
    np.testing.assert_array_equal(dw.numpy(), x.T @ g)
    np.testing.assert_array_equal(db.numpy(), g.sum(0))


def test_optimizer_step_needs_training(tg):
    from importlib import import_module

    optim = import_module(tg.__name__ + ".nn.optim")
    w = tg.Tensor([1.0, 2.0])
    opt = optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    with pytest.raises(RuntimeError, match="TRAINING"):
        opt.step()
    with tg.Context(TRAINING=1):
        opt.step()
    np.testing.assert_array_equal(w.numpy(), [0.0, 0.0])


def test_sgd_momentum_and_weight_decay_follow_tinygrads_rule(tg):
    from importlib import import_module

    optim = import_module(tg.__name__ + ".nn.optim")
    w = tg.Tensor([1.0, -2.0])
    opt = optim.SGD([w], lr=0.25, momentum=0.5, weight_decay=0.5)
    expected, b = np.array([1.0, -2.0]), np.zeros(2)
    with tg.Context(TRAINING=1):
        for _ in range(3):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
            g = 2 * expected + 0.5 * expected
            b = 0.5 * b + g
            expected = expected - 0.25 * b
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)


def test_saturating_activations_have_finite_gradients(tg):
    """sigmoid, tanh and gelu of large |x|: exp2 overflows to inf and its cotangent is 0, and the gradient is the
    derivative (about 0 there), not inf * 0 = NaN."""
    x = np.array([-100.0, -30.0, -12.0, -3.0, 0.0, 3.0, 12.0, 30.0, 100.0], np.float32)
    x64 = x.astype(np.float64)
    s, t = 1 / (1 + np.exp(-x64)), np.tanh(x64)
    u = np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64**3)
    gelu = 0.5 * (1 + np.tanh(u)) + 0.5 * x64 * (1 - np.tanh(u) ** 2) * np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x64**2)
    for name, want in (("sigmoid", s * (1 - s)), ("tanh", 1 - t * t), ("gelu", gelu)):
        tx = tg.Tensor(x)
        (got,) = getattr(tx, name)().sum().gradient(tx)
        got = got.numpy()
        assert np.all(np.isfinite(got)), f"{name}: {got}"
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)

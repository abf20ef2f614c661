"""One SGD step (momentum, weight decay) on a linear model with a squared-error loss, written for tinygrad
(issue 19): loss.backward() and nn.optim.SGD under Context(TRAINING=1). tests/null/test_programs.py runs it unchanged
on tgrad and on tinygrad and judges the updated weights against a float64 oracle."""

import numpy as np
from tinygrad import Tensor
from tinygrad.helpers import Context
from tinygrad.nn.optim import SGD

rng = np.random.default_rng(2)
X = Tensor(rng.standard_normal((128, 32)).astype(np.float32))
Y = Tensor(rng.standard_normal((128, 1)).astype(np.float32))

Tensor.manual_seed(0)
w = Tensor.glorot_uniform(32, 1)
b = Tensor.zeros(1)
opt = SGD([w, b], lr=0.1, momentum=0.9, weight_decay=0.01)
w_init = w.numpy()

with Context(TRAINING=1):
    opt.zero_grad()
    loss = ((X.linear(w, b) - Y) ** 2).mean()
    loss.backward()
    loss.realize(*opt.schedule_step())  # the loss and the updated weights in one schedule

RESULTS = {"X": X.numpy(), "Y": Y.numpy(), "w_init": w_init, "loss": loss.numpy(), "w": w.numpy(), "b": b.numpy()}

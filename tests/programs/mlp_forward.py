"""A 2-layer MLP forward pass written for tinygrad (issue 19): glorot-uniform weights, relu, softmax, log_softmax,
argmax. tests/null/test_programs.py runs it unchanged on tgrad (tinygrad's import names resolving to tgrad) and on
tinygrad, and judges both against a float64 oracle."""

import numpy as np
from tinygrad import Tensor


class MLP:
    def __init__(self, n_in: int, n_hidden: int, n_out: int):
        self.l1 = Tensor.glorot_uniform(n_in, n_hidden)
        self.l2 = Tensor.glorot_uniform(n_hidden, n_out)

    def __call__(self, x: Tensor) -> Tensor:
        return (x @ self.l1).relu() @ self.l2


Tensor.manual_seed(0)
model = MLP(784, 128, 10)
x = Tensor(np.random.default_rng(0).standard_normal((64, 784)).astype(np.float32))
logits = model(x)
probs = logits.softmax()
log_probs = logits.log_softmax()
pred = logits.argmax(axis=1)

RESULTS = {
    "l1": model.l1.numpy(),
    "l2": model.l2.numpy(),
    "x": x.numpy(),
    "logits": logits.numpy(),
    "probs": probs.numpy(),
    "log_probs": log_probs.numpy(),
    "pred": pred.numpy(),
}

"""A causal self-attention block written for tinygrad (issue 19): nn.Linear projections, heads split with
reshape/transpose, scaled_dot_product_attention, an explicit softmax of the scores, an output projection.
tests/null/test_programs.py runs it unchanged on tgrad and on tinygrad and judges both against a float64 oracle."""

import math

import numpy as np
from tinygrad import Tensor, nn


class CausalSelfAttention:
    def __init__(self, dim: int, heads: int):
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor]:
        B, T, C = x.shape
        q, k, v = (t.reshape(B, T, self.heads, C // self.heads).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        y = q.scaled_dot_product_attention(k, v, is_causal=True)
        scores = (q @ k.transpose(-2, -1) / math.sqrt(C // self.heads)).softmax(-1)
        return self.proj(y.transpose(1, 2).reshape(B, T, C)), scores


Tensor.manual_seed(0)
block = CausalSelfAttention(64, 4)
x = Tensor(np.random.default_rng(1).standard_normal((2, 16, 64)).astype(np.float32))
out, scores = block(x)

RESULTS = {
    "x": x.numpy(),
    "out": out.numpy(),
    "scores": scores.numpy(),
    "wqkv": block.qkv.weight.numpy(),
    "bqkv": block.qkv.bias.numpy(),
    "wo": block.proj.weight.numpy(),
    "bo": block.proj.bias.numpy(),
}

"""tinygrad.nn: `Linear`, and the optimizers and state helpers in `nn.optim` and `nn.state`. Convolution, norm and
embedding layers are outside tgrad's subset: the names exist and raise UnsupportedError naming the layer."""

from __future__ import annotations

import math

from tgrad.errors import UnsupportedError
from tgrad.nn import optim, state
from tgrad.tensor import Tensor


class Linear:
    """y = x @ W.T + b, with tinygrad's initialisation (kaiming-uniform weight, uniform bias in +-1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        bound = 1 / math.sqrt(in_features)
        self.weight = Tensor.uniform(out_features, in_features, low=-bound, high=bound)
        self.bias = Tensor.uniform(out_features, low=-bound, high=bound) if bias else None

    def __call__(self, x: Tensor) -> Tensor:
        return x.linear(self.weight.transpose(), self.bias)


def _unsupported(name: str, feature: str):
    class Layer:
        def __init__(self, *args, **kwargs):
            raise UnsupportedError(f"tgrad.nn.{name} needs {feature}, which tgrad does not implement")

    Layer.__name__ = Layer.__qualname__ = name
    return Layer


Conv1d = _unsupported("Conv1d", "convolutions")
Conv2d = _unsupported("Conv2d", "convolutions")
ConvTranspose1d = _unsupported("ConvTranspose1d", "convolutions")
ConvTranspose2d = _unsupported("ConvTranspose2d", "convolutions")
BatchNorm = BatchNorm2d = _unsupported("BatchNorm", "batch norm layers")
GroupNorm = _unsupported("GroupNorm", "group norm layers")
InstanceNorm = _unsupported("InstanceNorm", "instance norm layers")
LayerNorm = _unsupported("LayerNorm", "layer norm layers (Tensor.layernorm works)")
LayerNorm2d = _unsupported("LayerNorm2d", "layer norm layers (Tensor.layernorm works)")
RMSNorm = _unsupported("RMSNorm", "RMS norm layers")
Embedding = _unsupported("Embedding", "embeddings (gather)")
LSTMCell = _unsupported("LSTMCell", "LSTM cells")

__all__ = ["Linear", "optim", "state"]

"""tinygrad.nn is outside tgrad's subset: the names exist so upstream imports resolve."""

from tgrad.errors import UnsupportedError


def _unsupported(name: str):
    def f(*args, **kwargs):
        raise UnsupportedError(f"tgrad.nn.{name} is outside tgrad's subset (matmul, elementwise, sum, relu)")

    return f


Conv2d = _unsupported("Conv2d")
Linear = _unsupported("Linear")
BatchNorm = _unsupported("BatchNorm")


class state:
    get_parameters = staticmethod(_unsupported("state.get_parameters"))

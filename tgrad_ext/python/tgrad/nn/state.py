"""tinygrad.nn.state: the tensors of a model (`get_state_dict`, `get_parameters`) and loading them back
(`load_state_dict`). File formats (safetensors, torch pickles) are outside tgrad's subset."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from tgrad.errors import InvalidArgumentError, UnsupportedError
from tgrad.tensor import Tensor


def get_state_dict(obj: Any, prefix: str = "", tensor_type: type = Tensor) -> dict[str, Tensor]:
    """Every tensor reachable through `obj`'s attributes, lists, tuples and dicts, by dotted path."""
    if isinstance(obj, tensor_type):
        return {prefix.strip("."): obj}
    if hasattr(obj, "_asdict"):
        return get_state_dict(obj._asdict(), prefix, tensor_type)
    if isinstance(obj, OrderedDict):
        return get_state_dict(dict(obj), prefix, tensor_type)
    if hasattr(obj, "__dict__"):
        return get_state_dict(obj.__dict__, prefix, tensor_type)
    state: dict[str, Tensor] = {}
    if isinstance(obj, (list, tuple)):
        for i, x in enumerate(obj):
            state.update(get_state_dict(x, f"{prefix}{i}.", tensor_type))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            state.update(get_state_dict(v, f"{prefix}{k}.", tensor_type))
    return state


def get_parameters(obj: Any) -> list[Tensor]:
    return list(get_state_dict(obj).values())


def load_state_dict(
    model: Any,
    state_dict: dict[str, Tensor],
    strict: bool = True,
    verbose: bool = True,
    consume: bool = False,
    realize: bool = True,
) -> list[Tensor]:
    """Assign each tensor of `state_dict` to the model's tensor of the same name (shapes must match)."""
    model_state = get_state_dict(model)
    missing = [k for k in model_state if k not in state_dict]
    if strict and missing:
        raise InvalidArgumentError(f"state_dict is missing {missing}")
    loaded = []
    for k, v in model_state.items():
        if k not in state_dict:
            continue
        if v.shape != state_dict[k].shape:
            raise InvalidArgumentError(f"shape mismatch in layer {k}: {v.shape} != {state_dict[k].shape}")
        v.replace(state_dict[k].cast(v.dtype))
        loaded.append(v)
        if consume:
            del state_dict[k]
    if realize and loaded:
        Tensor.realize(*loaded)
    return loaded


def _unsupported(name: str):
    def f(*args: Any, **kwargs: Any) -> Any:
        raise UnsupportedError(f"tgrad.nn.state.{name} (model file formats) is not implemented by tgrad")

    f.__name__ = name
    return f


safe_load = _unsupported("safe_load")
safe_save = _unsupported("safe_save")
safe_load_metadata = _unsupported("safe_load_metadata")
torch_load = _unsupported("torch_load")
zip_extract = _unsupported("zip_extract")
tar_extract = _unsupported("tar_extract")

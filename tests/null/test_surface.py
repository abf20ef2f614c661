"""The module surface code written for tinygrad imports (issue 19 item 3): every public name of tinygrad 0.14's Tensor
exists in tgrad, implemented or raising NotImplementedError (tgrad.errors.UnsupportedError) that names the feature;
every tinygrad dtype name exists (unsupported ones raise DTypeError naming the dtype when used); tinygrad.helpers'
names; Device[...].renderer.supported_dtypes()."""

from __future__ import annotations

import inspect

import pytest
import tgrad
import tinygrad
from tgrad.errors import DTypeError, UnsupportedError
from tgrad.unsupported import UNSUPPORTED

pytestmark = pytest.mark.tgrad_only(reason="checks tgrad's surface against tinygrad's")

TINYGRAD_NAMES = sorted(n for n in dir(tinygrad.Tensor) if not n.startswith("_"))


def test_every_public_tensor_name_of_tinygrad_exists():
    missing = [n for n in TINYGRAD_NAMES if not hasattr(tgrad.Tensor, n)]
    assert not missing, f"tinygrad Tensor names tgrad lacks (implement them or list them in UNSUPPORTED): {missing}"
    stale = sorted(set(UNSUPPORTED) - set(TINYGRAD_NAMES))
    assert not stale, f"UNSUPPORTED lists names tinygrad's Tensor does not have: {stale}"


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_names_raise_naming_the_feature(name):
    t = tgrad.Tensor([1.0, 2.0])
    with pytest.raises(NotImplementedError) as excinfo:
        getattr(t, name)()
    assert isinstance(excinfo.value, UnsupportedError)
    message = str(excinfo.value)
    assert name in message and UNSUPPORTED[name] in message, message


def test_implemented_names_are_not_the_raising_stand_ins():
    implemented = [n for n in TINYGRAD_NAMES if n not in UNSUPPORTED]
    stand_ins = [n for n in implemented if inspect.getattr_static(tgrad.Tensor, n).__class__ is staticmethod
                 and getattr(tgrad.Tensor, n).__module__ == "tgrad.unsupported"]  # fmt: skip
    assert not stand_ins, stand_ins
    assert len(implemented) >= 180, f"{len(implemented)} of {len(TINYGRAD_NAMES)} names implemented"


def test_every_tinygrad_dtype_name_exists_and_unsupported_ones_are_refused_by_name():
    names = [n for n in dir(tinygrad.dtypes) if not n.startswith("_")]
    missing = [n for n in names if not hasattr(tgrad.dtypes, n)]
    assert not missing, missing
    for name in ("int8", "uint8", "int16", "int64", "uint32", "bfloat16", "fp8e4m3"):
        d = getattr(tgrad.dtypes, name)
        assert repr(d) == repr(getattr(tinygrad.dtypes, name))
        with pytest.raises(DTypeError, match="not supported by tgrad"):
            tgrad.Tensor([1, 2], dtype=d)
        with pytest.raises(DTypeError, match=repr(d).split(".")[1]):
            tgrad.Tensor([1.0]).cast(d)
    for name in ("bool", "float16", "float32", "float64", "int32"):
        assert tgrad.Tensor([1, 0], dtype=getattr(tgrad.dtypes, name)).dtype == getattr(tgrad.dtypes, name)


def test_helpers_names_code_imports():
    from tgrad.helpers import CI, DEBUG, DEV, IMAGE, TRAINING, Context, GlobalCounters, getenv

    assert getenv("TGRAD_SURELY_UNSET_VAR", 3) == 3
    assert DEBUG >= 0 and not DEBUG >= 6 and IMAGE == 0 and isinstance(CI, bool) and DEV.device == ""
    with Context(TRAINING=1, DEBUG=0):
        assert TRAINING

    @Context(TRAINING=1)
    def inside() -> bool:
        return bool(TRAINING)

    assert inside() and not TRAINING
    GlobalCounters.reset()
    (tgrad.Tensor([1.0, 2.0]) * 3).realize()
    assert GlobalCounters.kernel_count >= 1
    from tgrad import GlobalCounters as G2  # noqa: F401  (also at the top level, as in tinygrad)


def test_renderer_says_which_dtypes_the_device_computes():
    supported = tgrad.Device[tgrad.Device.DEFAULT].renderer.supported_dtypes()
    assert tgrad.dtypes.float32 in supported and tgrad.dtypes.bool in supported
    assert tgrad.dtypes.int64 not in supported and tgrad.dtypes.bfloat16 not in supported


def test_nn_surface():
    from tgrad.nn.state import get_parameters, get_state_dict

    layer = tgrad.nn.Linear(3, 4)
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (4,)
    assert list(get_state_dict(layer)) == ["weight", "bias"] and len(get_parameters([layer, layer])) == 4
    with pytest.raises(NotImplementedError, match="convolutions"):
        tgrad.nn.Conv2d(1, 1, 3)

"""Settings come from one registry (the native core's `flags::SETTINGS`): the README's table, Python's flags and
`Context` are all read from it, and bad values are errors naming the setting and what it allows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tgrad
from tgrad import _native
from tgrad.errors import InvalidArgumentError
from tgrad.helpers import BEAM, DEBUG, Context, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_settings_table_is_the_registry():
    text = README.read_text()
    start = text.index("| env var | meaning |")
    table = text[start : text.index("\n\n", start)]
    assert table == settings_table(), "regenerate the README table from tgrad.helpers.settings_table()"
    envs = [env for _n, env, *_ in _native.settings()]
    assert "TGRAD_DEBUG" in envs and "TGRAD_DEVICE" in envs and "TGRAD_VERIFY" in envs


def test_flags_compare_like_tinygrads_context_vars():
    with Context(DEBUG=0):
        assert DEBUG == 0 and DEBUG < 6 and not DEBUG >= 6 and int(DEBUG) == 0 and not DEBUG
    with Context(BEAM=2):
        assert BEAM.value == 2 and BEAM >= 1


@pytest.mark.parametrize(
    "kwargs", [{"DEBUG": 2.7}, {"THREADS": -5}, {"BEAM": True}, {"THREADS": 2**40}, {"DEBUG": "2"}]
)
def test_bad_context_values_name_the_flag_and_change_nothing(kwargs):
    before = {k: _native.get_flag(k) for k in kwargs}
    with pytest.raises(InvalidArgumentError, match=next(iter(kwargs))):
        with Context(NOOPT=1, **kwargs):
            pass
    assert {k: _native.get_flag(k) for k in kwargs} == before
    assert _native.get_flag("NOOPT") == 0, "a Context that fails sets no flag at all"


def test_context_decorates_functions_and_restores_flags():
    @Context(DEBUG=1)
    def inside() -> int:
        return DEBUG.value

    assert inside() == 1 and inside() == 1
    assert DEBUG.value == 0


def test_unknown_context_keys_are_ignored_as_tinygrad_code_expects():
    with Context(IGNORE_BEAM_CACHE=1, DEBUG=0) as c:
        assert c.ignored == {"IGNORE_BEAM_CACHE": 1}


@pytest.mark.parametrize(
    "env,message",
    [
        ({"TGRAD_THREADS": "abc"}, "TGRAD_THREADS"),
        ({"TGRAD_DEBUG": "abc"}, "TGRAD_DEBUG"),
        ({"TGRAD_BEAM": "-1"}, "TGRAD_BEAM"),
        ({"TGRAD_DEVICE": "METAL"}, "TGRAD_DEVICE"),
        ({"TGRAD_KEEP_PACKED": "7"}, "TGRAD_KEEP_PACKED"),
        ({"TGRAD_GEMM_TUNING": "3 3 3 3 3 3 1 1 1"}, "TGRAD_GEMM_TUNING"),
    ],
)
def test_bad_environment_values_are_errors_naming_the_variable(env, message):
    code = "import tgrad; (tgrad.Tensor.rand(64, 64) @ tgrad.Tensor.rand(64, 64)).numpy()"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0, f"{env} was accepted"
    assert message in out.stderr and "Traceback" in out.stderr, out.stderr[-2000:]
    assert "tgrad.errors" in out.stderr or "Error" in out.stderr.splitlines()[-1]


def test_the_registry_is_what_build_info_reports():
    assert tgrad.build_info()["profile"] in ("release", "debug")

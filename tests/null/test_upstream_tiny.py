"""Upstream's own API smoke file, tinygrad 0.14.0's test/test_tiny.py, run against the engine under test.

The file is not vendored: this test downloads the pinned sdist from PyPI at test time (`pip download`), caches it
under .cache/upstream/ in the repo root (git-ignored), extracts test/test_tiny.py, and runs it with unittest in a
subprocess. For tgrad the subprocess first aliases `tinygrad` and `tinygrad.*` in sys.modules to `tgrad` and its
submodules, so `from tinygrad import Tensor, ...` and `from tinygrad.helpers import getenv, OSX` resolve to tgrad.

Every upstream test is either IN_SUBSET (must pass) or OUTSIDE_SUBSET (printed with its reason, not run); the union
must be exactly the file's tests, so a test added upstream fails this check until it is classified.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path

import pytest

PINNED = "0.14.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "upstream" / f"tinygrad-{PINNED}"
MEMBER = f"tinygrad-{PINNED}/test/test_tiny.py"

# Everything but convolutions, image dtypes and symbolic shapes (issue 19): constructors, elementwise ops and elu,
# sum, cat, eye, matmul in float32/float16, rand, TinyJit, int32, and Context(BEAM=1) (tgrad's own search).
IN_SUBSET = [
    "test_const",
    "test_elu",
    "test_cat",
    "test_beam",
    "test_copy",
    "test_plus",
    "test_plus_int",
    "test_plus_big",
    "test_sum",
    "test_eye",
    "test_gemm",
    "test_hgemm",
    "test_gemv",
    "test_random",
    "test_jit",
]

OUTSIDE_SUBSET = {
    "test_symbolic": "symbolic shapes (Variable, shrink by a bound variable) are not in the subset",
    "test_symbolic_reduce": "symbolic shapes (Variable) are not in the subset",
    "test_mnist": "nn.Conv2d and max_pool2d (convolutions, pooling) are not in the subset",
    "test_mnist_backward": "nn.Conv2d (convolutions) is not in the subset",
    "test_image": "image dtypes run on the CL device only",
    "test_beam_image": "BEAM search and image dtypes are not in the subset",
}

RUNNER = """
import importlib.util, json, sys, traceback, unittest

test_file, engine, names, report_path = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
if engine != "tinygrad":
    engine_module = importlib.import_module(engine)
    importlib.import_module(engine + ".helpers")
    for key, module in list(sys.modules.items()):
        if key == engine or key.startswith(engine + "."):
            sys.modules["tinygrad" + key[len(engine):]] = module

spec = importlib.util.spec_from_file_location("test_tiny", test_file)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)

loader = unittest.TestLoader()
cases = [obj for obj in vars(mod).values() if isinstance(obj, type) and issubclass(obj, unittest.TestCase)]
available = {name: case for case in cases for name in loader.getTestCaseNames(case)}
outcomes = {}
for name in names:
    if name not in available:
        outcomes[name] = {"outcome": "missing", "detail": ""}
        continue
    result = unittest.TestResult()
    available[name](name).run(result)
    if result.errors or result.failures:
        outcomes[name] = {"outcome": "failed", "detail": (result.errors + result.failures)[0][1]}
    elif result.skipped:
        outcomes[name] = {"outcome": "skipped", "detail": result.skipped[0][1]}
    else:
        outcomes[name] = {"outcome": "passed", "detail": ""}

report = {"tests": sorted(available), "outcomes": outcomes, "tensor_module": mod.Tensor.__module__}
with open(report_path, "w") as f:
    json.dump(report, f)
"""


def download_test_tiny() -> Path:
    """test/test_tiny.py from the pinned sdist, downloaded once into the git-ignored cache."""
    target = CACHE_DIR / "test_tiny.py"
    if target.is_file():
        return target
    CACHE_DIR.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR.parent) as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            f"tinygrad=={PINNED}", "-d", tmp,
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            pytest.fail(
                f"could not download tinygrad {PINNED}'s sdist from PyPI (is there network access?).\n"
                f"$ {' '.join(cmd)}\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}",
                pytrace=False,
            )
        (sdist,) = Path(tmp).glob("tinygrad-*.tar.gz")
        with tarfile.open(sdist) as tar:
            source = tar.extractfile(MEMBER)
            assert source is not None, f"{MEMBER} is not in {sdist.name}"
            staged = Path(tmp) / "test_tiny.py"
            staged.write_bytes(source.read())
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)  # atomic: a half-written file is never cached
    return target


@pytest.fixture(scope="module")
def test_tiny() -> Path:
    return download_test_tiny()


@pytest.fixture(scope="module")
def upstream_run(test_tiny, engine, tmp_path_factory) -> dict:
    """Run every IN_SUBSET test of test_tiny.py against the engine in one subprocess; return its report."""
    workdir = tmp_path_factory.mktemp("test_tiny")
    shutil.copy(test_tiny, workdir / "test_tiny.py")
    report_path = workdir / "report.json"
    cmd = [
        sys.executable, "-c", textwrap.dedent(RUNNER),
        str(workdir / "test_tiny.py"), engine, ",".join(IN_SUBSET), str(report_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"the test_tiny runner failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(report_path.read_text())


def test_subset_lists_cover_upstream_file(upstream_run):
    upstream = set(upstream_run["tests"])
    listed = set(IN_SUBSET) | set(OUTSIDE_SUBSET)
    assert not set(IN_SUBSET) & set(OUTSIDE_SUBSET), "a test is listed both inside and outside the subset"
    assert upstream - listed == set(), f"upstream tests missing from IN_SUBSET and OUTSIDE_SUBSET: {upstream - listed}"
    assert listed - upstream == set(), f"listed tests that upstream's test_tiny.py does not have: {listed - upstream}"


def test_outside_subset_is_reported(upstream_run):
    print(f"\ntinygrad {PINNED} test/test_tiny.py: {len(OUTSIDE_SUBSET)} tests outside tgrad's subset (not run):")
    for name, reason in sorted(OUTSIDE_SUBSET.items()):
        print(f"  {name}: {reason}")
        assert name in upstream_run["tests"]
        assert reason.strip(), f"{name} needs a reason"


def test_swap_resolves_to_the_engine(upstream_run, engine):
    module = upstream_run["tensor_module"]
    assert module == engine or module.startswith(engine + "."), f"test_tiny's Tensor came from {module}"


@pytest.mark.parametrize("name", IN_SUBSET)
def test_upstream_in_subset_passes(upstream_run, name):
    result = upstream_run["outcomes"][name]
    assert result["outcome"] == "passed", f"upstream {name}: {result['outcome']}\n{result['detail']}"

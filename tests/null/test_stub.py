"""The native module's `.pyi` stub lists exactly what the module exports."""

import ast
from pathlib import Path

import pytest


@pytest.mark.tgrad_only(reason="checks tgrad's own native module")
def test_stub_matches_native_module(tg):
    import tgrad._native as native

    stub = Path(tg.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    names |= {t.target.id for t in tree.body if isinstance(t, ast.AnnAssign) and isinstance(t.target, ast.Name)}
    exported = {n for n in dir(native) if not n.startswith("_") or n == "__version__"}
    assert names == exported, f"stub only: {names - exported}; module only: {exported - names}"
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        methods = {f.name for f in cls.body if isinstance(f, ast.FunctionDef)}
        real = {m for m in dir(getattr(native, cls.name)) if not m.startswith("_") or m == "__len__"}
        assert methods <= real, f"{cls.name}: stub lists methods the class lacks: {methods - real}"
        assert {m for m in real if not m.startswith("_")} <= methods, f"{cls.name}: methods missing from the stub"

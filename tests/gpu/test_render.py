"""CUDA and Metal source for the benchmark graphs, checked as text (no GPU, no CUDA libraries)."""

from __future__ import annotations

import pytest

from tests.gpu.conftest import Case, benchmark_cases


@pytest.mark.parametrize("case", benchmark_cases(train_step=False), ids=lambda c: c.id)
def test_cuda_source_structure(case: Case, native):
    kernels = native.render_cuda([case.build()._lb])
    gemms = [(n, s, lau) for n, s, lau in kernels if lau["strategy"] == "gemm"]
    assert len(gemms) == 1, "the matmul (with its epilogue) is one GEMM kernel"
    _name, src, launch = gemms[0]
    assert 'extern "C" __global__' in src and "tgrad_kernel(" in src
    assert "extern __shared__" in src
    assert launch["block"] == (256, 1, 1)
    if case.dtype == "float16":
        assert "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in src
    if case.op == "linear_relu":
        assert "e->p0[m*e->sm0 + n*e->sn0]" in src, "bias read in the fused epilogue"
    batch = case.a[0] if len(case.a) == 3 else 1
    assert launch["grid"][2] == batch


@pytest.mark.parametrize("case", benchmark_cases(train_step=False), ids=lambda c: c.id)
def test_metal_source_structure(case: Case, native):
    kernels = native.render_metal([case.build()._lb])
    assert kernels
    for _name, src in kernels:
        assert src.startswith("#include <metal_stdlib>")
        assert "kernel void tgrad_kernel(" in src
    gemm = [s for _n, s in kernels if "threadgroup_barrier" in s]
    assert len(gemm) == 1
    assert ("simdgroup_multiply_accumulate" in gemm[0]) == (case.dtype == "float16")


def test_cuda_available_reports_a_reason(native):
    ok, reason = native.cuda_available()
    assert isinstance(ok, bool) and reason, "a device description or the reason CUDA is unusable"

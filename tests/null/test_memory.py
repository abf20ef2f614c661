"""Peak memory of a 2048x2048 float32 matmul (B3): at most 1.5x the three operands' size."""

import pytest


@pytest.mark.tgrad_only(reason="a tgrad budget: tinygrad's memory use is not part of the contract")
def test_b3_peak_resident_memory_is_within_one_and_a_half_operands(run_isolated, tmp_path):
    body = """
        def hwm_mib():
            status = open("/proc/self/status").read()
            return int(status.split("VmHWM:")[1].split()[0]) / 1024
        base = hwm_mib()
        a = tg.Tensor.rand(2048, 2048).realize()
        b = tg.Tensor.rand(2048, 2048).realize()
        c = (a @ b).realize()
        return {"base": base, "peak": hwm_mib()}
    """
    report = run_isolated(body, {"TGRAD_CACHE": str(tmp_path / "cache")})
    assert not report["raised"], report
    operands_mib = 3 * 2048 * 2048 * 4 / 2**20
    grown = report["value"]["peak"] - report["value"]["base"]
    assert grown <= 1.5 * operands_mib, f"peak grew {grown:.1f} MiB for {operands_mib:.0f} MiB of operands"

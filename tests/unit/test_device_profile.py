"""Which CPUs compute in bfloat16: read from the flags the kernel reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.models.loading import cpu_computes_bf16

BASE_FLAGS = "fpu vme de pse tsc msr pae sse sse2 avx avx2 fma avx512f avx512bw"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("amx_bf16 amx_tile amx_int8", True),  # Intel Sapphire Rapids
        ("avx512_bf16 avx512_vnni", True),  # AMD Zen 4, Intel Cooper Lake
        ("avx512_vnni", False),  # AVX-512 without bf16 dot products
        ("xamx_bf16 avx512_bf16x", False),  # whole flags only
    ],
)
def test_bf16_follows_the_cpu_flags(tmp_path: Path, extra: str, expected: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {BASE_FLAGS} {extra}\n\n")
    assert cpu_computes_bf16(cpuinfo) is expected


def test_an_unreadable_cpuinfo_means_fp32(tmp_path: Path) -> None:
    assert cpu_computes_bf16(tmp_path / "missing") is False

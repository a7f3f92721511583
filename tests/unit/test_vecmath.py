"""The C target's inline float32 exp/tanh/erf (backends/cfamily/vecmath.py): accuracy
over a dense sweep against float64, special values, and that gcc vectorizes them."""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess

import numpy as np
import pytest

from hetc.backends.c.target import CFLAGS
from hetc.backends.cfamily.vecmath import definitions

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

SOURCE = """#include <math.h>
#include <stdint.h>
{defs}
void run(const float* x, float* e, float* t, float* r, int n) {{
  for (int i = 0; i < n; i++) {{ e[i] = hetc_expf(x[i]); t[i] = hetc_tanhf(x[i]); r[i] = hetc_erff(x[i]); }}
}}
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    d = tmp_path_factory.mktemp("vecmath")
    (d / "vm.c").write_text(SOURCE.format(defs=definitions({"exp", "tanh", "erf"})))
    proc = subprocess.run(
        ["gcc", *CFLAGS, "-fopt-info-vec-optimized", "-o", str(d / "vm.so"), str(d / "vm.c"), "-lm"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(d / "vm.so")), proc.stderr


def _run(lib, x):
    x = np.ascontiguousarray(x, np.float32)
    outs = [np.empty_like(x) for _ in range(3)]
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    lib.run(ptr(x), *map(ptr, outs), ctypes.c_int(x.size))
    return outs


def _ulps(got, ref64):
    ref = ref64.astype(np.float32)
    m = np.isfinite(ref) & (np.abs(ref) >= np.finfo(np.float32).tiny)
    return float(np.max(np.abs(got[m].astype(np.float64) - ref64[m]) / np.spacing(np.abs(ref[m])).astype(np.float64)))


def test_accuracy_over_a_dense_sweep(lib):
    x = np.concatenate([np.linspace(-110, 100, 1_000_001), np.linspace(-6, 6, 1_000_001)]).astype(np.float32)
    e, t, r = _run(lib[0], x)
    xd = x.astype(np.float64)
    with np.errstate(over="ignore"):
        assert _ulps(e, np.exp(xd)) <= 2
    assert _ulps(t, np.tanh(xd)) <= 3
    erf64 = np.vectorize(math.erf)(xd)
    assert np.max(np.abs(r - erf64)) <= 2e-7


def test_special_values(lib):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 89.0, -104.0, 1e-30, -1e-30], np.float32)
    e, t, r = _run(lib[0], x)
    assert list(e[:4]) == [1.0, 1.0, np.inf, 0.0] and np.isnan(e[4]) and e[5] == np.inf and e[6] == 0.0
    assert list(t[:4]) == [0.0, 0.0, 1.0, -1.0] and np.isnan(t[4]) and t[7] == np.float32(1e-30)
    assert list(r[:4]) == [0.0, 0.0, 1.0, -1.0] and np.isnan(r[4]) and r[8] < 0
    assert np.signbit(t[1]) and np.signbit(r[1])  # odd functions keep -0


def test_the_loop_calling_them_vectorizes(lib):
    assert "loop vectorized" in lib[1]

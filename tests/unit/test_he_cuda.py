"""hetc.he's CUDA path (backends/cuda_he): the constants match the lowering's, the NumPy
reference matches hetc.he.ntt, kernels.cu builds with nvcc (skipped without nvcc), and
the GPU results are exact (skipped without a GPU; benchmarks/he_ntt_cuda.py checks them on
one)."""

from __future__ import annotations

import shutil

import hetc
import numpy as np
import pytest
from hetc.backends.cuda_he import host
from hetc.diagnostics import HetcError
from hetc.passes.he_bat import prescaled_bytes
from hetc.passes.he_ntt_to_matmul import ntt_matrices


def _gpu_lib():
    try:
        return host.load()
    except HetcError as exc:
        pytest.skip(f"no usable GPU: {exc}")


@pytest.mark.parametrize("n", [4096, 8192])
def test_constants_match_the_lowering(n):
    q = hetc.he.find_ntt_prime(n, 31)
    psi = hetc.he.primitive_root(n, q)
    assert (q, psi) == (host.find_ntt_prime(n, 31), host.primitive_root(n, q))
    for inverse in (False, True):
        ours, theirs = host.ntt_matrices(n, q, psi, inverse), ntt_matrices(n, q, psi, inverse)
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))
        for w in (ours[0], ours[2]):
            planes = host.byte_planes(w, q)
            ref = prescaled_bytes(w.astype(np.uint32), (q,), 4)
            assert all(np.array_equal(planes[4 * i + j], ref[i][j]) for i in range(4) for j in range(4))


def test_numpy_reference_matches_hetc():
    n = 4096
    q = hetc.he.find_ntt_prime(n, 30)
    psi = hetc.he.primitive_root(n, q)
    x = np.random.default_rng(3).integers(0, q, (2, n), dtype=np.uint64).astype(np.uint32)
    ref = host.reference_ntt(x, q, psi)
    for b in range(2):
        assert np.array_equal(hetc.he.ntt(x[b], q), ref[b])


def test_bat_planes_emulate_the_kernel():
    """The arithmetic kernels.cu does (byte planes, s32 parts, shift-sum, Barrett, twist),
    emulated in NumPy: forward and inverse are exact."""
    n = 4096
    q = host.find_ntt_prime(n, 31)
    psi = host.primitive_root(n, q)
    c, r = host.split(n)

    def bat(planes, d, const_left):
        xs = [(d >> np.uint64(8 * j)) & np.uint64(255) for j in range(4)]
        s = 0
        for i in range(4):
            p = sum(
                planes[4 * i + j].astype(np.uint64) @ xs[j] if const_left else xs[j] @ planes[4 * i + j].astype(np.uint64)
                for j in range(4)
            )
            assert p.max() < 2**31  # the kernel's s32 accumulators
            s = s + (p << np.uint64(8 * i))
        return s % np.uint64(q)

    x = np.random.default_rng(4).integers(0, q, n, dtype=np.uint64)
    w1, tw, w2 = host.ntt_constants(n, q, psi)
    y = bat(w2, bat(w1, x.reshape(c, r), True) * tw % np.uint64(q), False).reshape(-1)
    assert np.array_equal(y, host.reference_ntt(x[None], q, psi)[0])
    w1, tw, w2 = host.ntt_constants(n, q, psi, inverse=True)
    back = bat(w2, bat(w1, y.reshape(c, r), False) * tw % np.uint64(q), True).reshape(-1)
    assert np.array_equal(back, x)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_kernels_build_with_nvcc(tmp_path, monkeypatch):
    monkeypatch.setenv("HETC_CACHE", str(tmp_path))
    lib = host.build("sm_90")
    assert lib.exists() and lib.stat().st_size > 0


def test_missing_nvcc_is_a_clear_error(monkeypatch, tmp_path):
    q = hetc.he.find_ntt_prime(4096, 31)
    monkeypatch.setenv("NVCC", "")
    monkeypatch.setenv("HETC_CACHE", str(tmp_path))  # nothing built there
    monkeypatch.setattr(host.shutil, "which", lambda name: None)
    monkeypatch.setattr(host, "NVCC_CANDIDATES", ())
    monkeypatch.setattr(host, "_LIB", None)
    with pytest.raises(HetcError, match="needs nvcc"):
        hetc.he.ntt(np.ones(4096, np.uint32), q, target="cuda")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_missing_gpu_is_a_clear_error(monkeypatch):
    try:
        host.load()
    except HetcError as exc:
        assert "needs an NVIDIA GPU" in str(exc)
        q = hetc.he.find_ntt_prime(4096, 31)
        with pytest.raises(HetcError, match="needs an NVIDIA GPU"):
            hetc.he.ntt(np.ones(4096, np.uint32), q, target="cuda")
    else:
        pytest.skip("a GPU is present")


def test_cuda_target_rejects_small_n_and_wide_moduli():
    q = hetc.he.find_ntt_prime(1024, 31)
    with pytest.raises(HetcError, match="N >= 4096"):
        hetc.he.ntt(np.ones(1024, np.uint32), q, target="cuda")
    with pytest.raises(HetcError, match="q < 2\\^31"):
        host.modmatmul(np.ones((2, 2), np.uint32), np.ones((2, 2), np.uint32), 4294967291)


@pytest.mark.parametrize("n,bits", [(4096, 31), (8192, 24), (16384, 31), (32768, 30), (65536, 31), (65536, 20)])
def test_multipass_emulation_is_exact(n, bits):
    """kernels.cu's multi-pass NTT (variant 3) modelled in NumPy from the very tables and
    launch plan the GPU gets (byte planes, IMMA sums, lo/hi split, twiddle-table indexing,
    the factored twiddles of fused pairs): forward equals the radix-2 reference, inverse
    gives the input back, edge values included."""
    q = host.find_ntt_prime(n, bits)
    psi = host.primitive_root(n, q)
    x = np.random.default_rng(n + bits).integers(0, q, (2, n), dtype=np.uint64)
    x[0, :4] = [0, 1, q - 1, q - 2]
    x[1, :] = q - 1
    y = host.emulate_mp(x, q, psi)
    assert np.array_equal(y, host.reference_ntt(x, q, psi))
    assert np.array_equal(host.emulate_mp(y, q, psi, inverse=True), x.astype(np.uint32))


def test_multipass_plan_fuses_radix16_pairs():
    n = 65536
    q = host.find_ntt_prime(n, 31)
    radices, plan, cat, pro, epi = host.mp_tables(n, q, host.primitive_root(n, q))
    assert radices == (16, 16, 16, 16)
    assert plan[:, 0].tolist() == [2, 2]  # two launches of two passes each
    assert plan[0, 5] == 3 and plan[0, 8] >= 0  # the wide pair's factored twiddle
    assert cat.size == 4 * 64 * 64
    _, inv_plan, *_ = host.mp_tables(n, q, host.primitive_root(n, q), inverse=True)
    assert inv_plan[:, 0].tolist() == [1, 1, 1, 1] and inv_plan[:, 1].tolist() == [3, 2, 1, 0]


def test_cuda_ntt_on_a_gpu():
    lib = _gpu_lib()
    n = 4096
    q = hetc.he.find_ntt_prime(n, 31)
    psi = hetc.he.primitive_root(n, q)
    x = np.random.default_rng(5).integers(0, q, (8, n), dtype=np.uint64).astype(np.uint32)
    y = host.ntt(x, q, psi, lib=lib)
    assert np.array_equal(y, host.reference_ntt(x, q, psi))
    assert np.array_equal(host.ntt(y, q, psi, inverse=True, lib=lib), x)
    assert np.array_equal(hetc.he.ntt(x[0], q, target="cuda"), y[0])
    a, b = x[1], x[2]
    assert np.array_equal(hetc.he.polymul(a, b, q, target="cuda"), hetc.he.polymul(a, b, q))
    for v in (2, host.MULTIPASS):  # both forms stay exact
        assert np.array_equal(host.ntt(x, q, psi, lib=lib, variant=v), y)
        assert np.array_equal(host.ntt(y, q, psi, inverse=True, lib=lib, variant=v), x)


def test_cuda_modmatmul_on_a_gpu():
    _gpu_lib()
    q = hetc.he.find_ntt_prime(4096, 31)
    rng = np.random.default_rng(9)
    w = rng.integers(0, q, (100, 70), dtype=np.uint64).astype(np.uint32)
    w[0, :3] = [0, 1, q - 1]
    x = rng.integers(0, q, (70, 33), dtype=np.uint64).astype(np.uint32)
    ref = (w.astype(object) @ x.astype(object)) % q
    assert np.array_equal(hetc.he.modmatmul(w, x, q, target="cuda"), ref.astype(np.uint32))
    assert np.array_equal(hetc.he.modmatmul(w, x[:, 0], q, target="cuda"), ref[:, 0].astype(np.uint32))

"""Host side of the CUDA kernel library for the integer (HE) transforms (kernels.cu).

Needs only numpy, ctypes and nvcc, so that benchmarks/he_ntt_cuda.py can load this file
by path on a GPU machine without xdsl. hetc.he's target="cuda" uses it too.

  - `build()` compiles kernels.cu with nvcc (-O3 -arch=sm_90 by default, HETC_CUDA_ARCH to
    change), cached by content under $HETC_CACHE/cuda-builds like the C backend's builds;
  - `ntt_constants()` gives the 3-step matrices of hetc-he-ntt-to-matmul and the 16 byte
    planes of hetc-he-bat's pre-scaled constants (W^(j), byte i at plane 4 i + j), the same
    arrays the passes compute (tests/unit/test_he_cuda.py checks that);
  - `ntt()` runs a batch of (inverse) NTTs on the GPU, tensor-core path;
  - `reference_ntt()` is a self-contained NumPy negacyclic NTT (radix-2, SEAL's ordering,
    bit-reversed output) to check against, bit for bit;
  - `bench()` times the tensor-core path against the u64 radix-2 kernel.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

try:
    from hetc.diagnostics import HetcError
except ImportError:  # standalone (the benchmark on a GPU machine)

    class HetcError(RuntimeError):  # type: ignore[no-redef]
        pass


KERNELS = Path(__file__).with_name("kernels.cu")
NVCC_FLAGS = ["-O3", "-shared", "-Xcompiler", "-fPIC", "-std=c++17"]
NB = 4  # bytes per residue (q < 2^31)
#: kernels.cu's BAT matmul variants: 0 = WMMA 16x16x16 u8 fragments, 1 / 2 = PTX
#: mma.sync m16n8k32 at 1 / 2 blocks per SM. DEFAULT_VARIANT is the fastest measured
#: (benchmarks/RESULTS.md, he_ntt_cuda section).
VARIANTS = {0: "wmma m16n16k16", 1: "mma.sync m16n8k32 (1 block/SM)", 2: "mma.sync m16n8k32 (2 blocks/SM)"}
DEFAULT_VARIANT = 2


# ---------------------------------------------------------------------------
# constants (numpy only; mirrors passes/he_ntt_to_matmul.py and passes/he_bat.py)
# ---------------------------------------------------------------------------


def split(n: int) -> tuple[int, int]:
    log = n.bit_length() - 1
    c = 1 << ((log + 1) // 2)
    return c, n // c


def bitrev_array(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    idx = np.arange(n, dtype=np.int64)
    out = np.zeros(n, dtype=np.int64)
    for b in range(bits):
        out |= ((idx >> b) & 1) << (bits - 1 - b)
    return out


def psi_powers(psi: int, q: int, count: int) -> np.ndarray:
    out = np.empty(count, dtype=np.uint64)
    p = 1
    for e in range(count):
        out[e] = p
        p = p * psi % q
    return out


def ntt_matrices(n: int, q: int, psi: int, inverse: bool = False):
    """Forward (A [CxC], T [CxR], B [RxR]); inverse (Bi [RxR], Ti [CxR], Ai [CxC]); uint64 < q."""
    c, r = split(n)
    two_n = 2 * n
    pw = psi_powers(psi, q, two_n)
    odd = 2 * bitrev_array(c) + 1
    sign = -1 if inverse else 1
    bq = np.arange(c, dtype=np.int64)
    aq = np.arange(r, dtype=np.int64)
    A = pw[(sign * r * np.outer(odd, bq)) % two_n]
    T = pw[(sign * np.outer(odd, aq)) % two_n]
    B = pw[(sign * 2 * c * np.outer(aq, bitrev_array(r))) % two_n]
    if not inverse:
        return A, T, B
    Ai = (A.T * np.uint64(pow(n, -1, q))) % np.uint64(q)
    return B.T.copy(), T, Ai


def byte_planes(w: np.ndarray, q: int) -> np.ndarray:
    """[16, *w.shape] uint8: plane 4 i + j = byte i of (2^(8j) w mod q)."""
    w64 = w.astype(np.uint64)
    out = np.empty((NB * NB, *w.shape), dtype=np.uint8)
    for j in range(NB):
        wj = (w64 * np.uint64(pow(2, 8 * j, q))) % np.uint64(q)
        for i in range(NB):
            out[i * NB + j] = ((wj >> np.uint64(8 * i)) & np.uint64(0xFF)).astype(np.uint8)
    return out


def ntt_constants(n: int, q: int, psi: int, inverse: bool = False, variant: int = 0):
    """(w1 planes, twist u32, w2 planes) in the order kernels.cu applies them. The mma
    variants (1, 2) take the constant that multiplies from the right (B forward, Bi
    inverse) as transposed planes [16][N][K]."""
    m1, t, m2 = ntt_matrices(n, q, psi, inverse)
    p1, p2 = byte_planes(m1, q), byte_planes(m2, q)
    if variant in (1, 2):
        if inverse:
            p1 = p1.transpose(0, 2, 1)
        else:
            p2 = p2.transpose(0, 2, 1)
    return np.ascontiguousarray(p1), np.ascontiguousarray(t.astype(np.uint32)), np.ascontiguousarray(p2)


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def find_ntt_prime(n: int, bits: int) -> int:
    step = 2 * n
    q = (2**bits - 2) // step * step + 1
    while not is_prime(q):
        q -= step
    return q


def primitive_root(n: int, q: int) -> int:
    """The smallest-base primitive 2n-th root (hetc.he.primitive_root's choice)."""
    e = (q - 1) // (2 * n)
    for c in range(2, q):
        psi = pow(c, e, q)
        if pow(psi, n, q) == q - 1:
            return psi
    raise HetcError(f"no primitive {2 * n}-th root of unity mod {q}")


def root_table(n: int, q: int, psi: int) -> tuple[np.ndarray, np.ndarray]:
    """(psi^brv(k), floor(psi^brv(k) 2^64 / q)) for k < n: the radix-2 kernel's twiddles."""
    pw = psi_powers(psi, q, n)[bitrev_array(n)]
    shoup = np.array([(int(w) << 64) // q for w in pw], dtype=np.uint64)
    return pw, shoup


def reference_ntt(x: np.ndarray, q: int, psi: int) -> np.ndarray:
    """Negacyclic NTT of each row of x [B, N] (uint, < q), bit-reversed output, in numpy."""
    a = np.array(x, dtype=np.uint64, copy=True)
    bsz, n = a.shape
    w, _ = root_table(n, q, psi)
    qq = np.uint64(q)
    m, t = 1, n
    while m < n:
        t //= 2
        v = a.reshape(bsz, m, 2, t)
        s = w[m : 2 * m].reshape(1, m, 1)
        u = v[:, :, 0, :].copy()
        tv = (v[:, :, 1, :] * s) % qq
        v[:, :, 0, :] = (u + tv) % qq
        v[:, :, 1, :] = (u + qq - tv) % qq
        m *= 2
    return a.astype(np.uint32)


# ---------------------------------------------------------------------------
# building and loading
# ---------------------------------------------------------------------------


def cache_root() -> Path:
    return Path(os.environ.get("HETC_CACHE", Path.home() / ".cache" / "hetc")) / "cuda-builds"


NVCC_CANDIDATES = ("/usr/local/cuda/bin/nvcc",)


def nvcc() -> str:
    exe = os.environ.get("NVCC") or shutil.which("nvcc")
    if not exe:
        exe = next((c for c in NVCC_CANDIDATES if Path(c).exists()), None)
    if not exe:
        raise HetcError("target 'cuda' needs nvcc (the CUDA compiler) on PATH or in $NVCC; none was found")
    return exe


def build(arch: str | None = None) -> Path:
    """Compile kernels.cu to a shared library (cached by source and flags); its path."""
    arch = arch or os.environ.get("HETC_CUDA_ARCH", "sm_90")
    exe = nvcc()
    flags = [*NVCC_FLAGS, f"-arch={arch}"]
    source = KERNELS.read_text()
    key = hashlib.sha256("\0".join([source, exe, *flags]).encode()).hexdigest()[:24]
    lib = cache_root() / key / "libhetc_he_cuda.so"
    if lib.exists():
        return lib
    with tempfile.TemporaryDirectory(prefix="hetc-nvcc-") as tmp:
        out = Path(tmp) / lib.name
        proc = subprocess.run([exe, *flags, "-o", str(out), str(KERNELS)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise HetcError(f"nvcc failed to build {KERNELS}:\n{proc.stderr.strip()[:2000]}")
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp_lib = lib.with_suffix(f".tmp{os.getpid()}")
        shutil.copy(out, tmp_lib)
        tmp_lib.replace(lib)
    return lib


_LIB: ctypes.CDLL | None = None
_P = ctypes.c_void_p


def load(path: str | Path | None = None) -> ctypes.CDLL:
    """The loaded library; raises HetcError naming what is missing (nvcc, a GPU)."""
    global _LIB
    if _LIB is not None and path is None:
        return _LIB
    lib = ctypes.CDLL(str(path or build()))
    i32, u64 = ctypes.c_int, ctypes.c_uint64
    lib.hetc_he_cuda_error.restype = ctypes.c_char_p
    lib.hetc_he_cuda_probe.argtypes = [ctypes.c_char_p, i32]
    lib.hetc_he_cuda_ntt.argtypes = [i32, i32, _P, _P, i32, i32, i32, u64, _P, _P, _P]
    lib.hetc_he_cuda_bench.argtypes = [i32, _P, _P, _P, i32, i32, i32, i32, u64, _P, _P, _P, _P, _P, i32, i32, _P, _P]
    name = ctypes.create_string_buffer(256)
    if lib.hetc_he_cuda_probe(name, 256) != 0:
        raise HetcError(f"target 'cuda' needs an NVIDIA GPU: {lib.hetc_he_cuda_error().decode()}")
    lib.device_name = name.value.decode()  # type: ignore[attr-defined]
    if path is None:
        _LIB = lib
    return lib


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def ntt(
    x: np.ndarray, q: int, psi: int, inverse: bool = False, lib: ctypes.CDLL | None = None, variant: int | None = None
) -> np.ndarray:
    """(Inverse) negacyclic NTT of each row of x [B, N] (uint32 residues) on the GPU."""
    x = np.ascontiguousarray(x, dtype=np.uint32)
    if x.ndim == 1:
        return ntt(x[None], q, psi, inverse, lib, variant)[0]
    variant = DEFAULT_VARIANT if variant is None else variant
    bsz, n = x.shape
    c, r = split(n)
    if c < 64 or r < 64:
        raise HetcError(f"target 'cuda' runs NTTs of N >= 4096 (the 3-step matrices tile by 64); N = {n}")
    if q >= 2**31:
        raise HetcError(f"target 'cuda' needs q < 2^31, got q = {q}")
    lib = lib or load()
    w1, tw, w2 = ntt_constants(n, q, psi, inverse, variant)
    y = np.empty_like(x)
    if lib.hetc_he_cuda_ntt(variant, int(inverse), _ptr(x), _ptr(y), bsz, c, r, q, _ptr(w1), _ptr(tw), _ptr(w2)) != 0:
        raise HetcError(f"CUDA NTT failed: {lib.hetc_he_cuda_error().decode()}")
    return y


def bench(
    x: np.ndarray, q: int, psi: int, warmup: int = 5, reps: int = 30, lib: ctypes.CDLL | None = None, variant: int = 1
):
    """(y_tc, y_u64, ms_tc[reps], ms_u64[reps]): both forward paths on x [B, N]."""
    x = np.ascontiguousarray(x, dtype=np.uint32)
    bsz, n = x.shape
    c, r = split(n)
    lib = lib or load()
    w1, tw, w2 = ntt_constants(n, q, psi, False, variant)
    pw, shoup = root_table(n, q, psi)
    y_tc, y_u64 = np.empty_like(x), np.empty_like(x)
    ms_tc, ms_u64 = np.zeros(reps, np.float32), np.zeros(reps, np.float32)
    rc = lib.hetc_he_cuda_bench(
        variant, _ptr(x), _ptr(y_tc), _ptr(y_u64), bsz, n.bit_length() - 1, c, r, q,
        _ptr(w1), _ptr(tw), _ptr(w2), _ptr(pw), _ptr(shoup), warmup, reps, _ptr(ms_tc), _ptr(ms_u64),
    )  # fmt: skip
    if rc != 0:
        raise HetcError(f"CUDA benchmark failed: {lib.hetc_he_cuda_error().decode()}")
    return y_tc, y_u64, ms_tc, ms_u64

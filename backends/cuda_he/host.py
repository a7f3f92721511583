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
VARIANTS = {
    0: "wmma m16n16k16",
    1: "mma.sync m16n8k32 (1 block/SM)",
    2: "mma.sync m16n8k32 (2 blocks/SM)",
    3: "multi-pass radix-16/32, mma.sync m16n8k32",
}
#: variant 3 is not the 3-step form: one launch per radix-16/32 pass (mp_* below).
MULTIPASS = 3
#: kernels.cu's PAIR_CW: a fused pair's tile is PAIR_CW columns x 16 x 16 elements.
PAIR_CW = 8
DEFAULT_VARIANT = 2  # the BAT matmul variant of modmatmul and the 3-step NTT
#: hetc.he's NTTs on the GPU: the multi-pass form (2.4x the u64 kernel on an H100 at 2^16 x 256,
#: RESULTS.md, he_ntt_cuda section; the 3-step form was 0.7x).


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


# ---------------------------------------------------------------------------
# multi-pass constants (variant 3: radix-16/32 passes, kernels.cu he_ntt_pass)
# ---------------------------------------------------------------------------

#: radices per log2 N: the 3-step split applied recursively down to 16- or 32-point DFTs
#: (the smallest that still fill an m16n8k32 IMMA step: K = 4 byte planes x R >= 64).
MP_RADICES = {
    12: (16, 16, 16), 13: (16, 16, 32), 14: (16, 32, 32), 15: (32, 32, 32), 16: (16, 16, 16, 16),
    17: (16, 16, 16, 32), 18: (16, 16, 32, 32), 19: (16, 32, 32, 32), 20: (16, 16, 16, 16, 16),
}  # fmt: skip


def mp_radices(n: int) -> tuple[int, ...]:
    log = n.bit_length() - 1
    if log not in MP_RADICES or n != 1 << log:
        raise HetcError(f"target 'cuda' runs NTTs of N = 2^12 .. 2^20 (N >= 4096), got N = {n}")
    return MP_RADICES[log]


def _brev(j: int, bits: int) -> int:
    return int(bin(j)[2:].zfill(bits)[::-1], 2)


def mp_pass_matrices(n: int, q: int, psi: int, inverse: bool = False) -> list[np.ndarray]:
    """Per pass (forward order) the R x R matrix [out][in] the pass applies, as uint64.

    Forward pass p: F[j][i] = w_R^(brev(j) i) (w_R = psi^(2N/R)), DFT rows in bit-reversed
    order; pass 0 also folds the part psi^(s i) of the negacyclic twist psi^(m + s i).
    Inverse: the inverse of each (1/R w_R^(-brev(j) i), transposed; psi^(-s i) for pass 0).
    """
    out, stride = [], n
    omega = psi * psi % q
    for p, r in enumerate(mp_radices(n)):
        stride //= r
        bits = r.bit_length() - 1
        wr = pow(omega, n // r, q)
        ex = np.array([[_brev(j, bits) * i for i in range(r)] for j in range(r)], dtype=np.int64)
        if not inverse:
            m = [[pow(wr, int(e), q) for e in row] for row in ex]
            if p == 0:
                m = [[v * pow(psi, stride * i, q) % q for i, v in enumerate(row)] for row in m]
        else:
            wri, rinv, psii = pow(wr, -1, q), pow(r, -1, q), pow(psi, -1, q)
            m = [[rinv * pow(wri, int(ex[j][i]), q) % q for j in range(r)] for i in range(r)]
            if p == 0:
                m = [[v * pow(psii, stride * i, q) % q for v in row] for i, row in enumerate(m)]
        out.append(np.array(m, dtype=np.uint64))
    return out


def wcat(m: np.ndarray, q: int) -> np.ndarray:
    """The byte-plane matrix of one pass, [4R columns][4R]: column ip R + j, row jp R + i
    holds byte ip of (2^(8 jp) m[j][i] mod q) (hetc-he-bat's pre-scaled planes, side by side)."""
    r = m.shape[0]
    planes = byte_planes(m, q)  # [4 ip + jp][j][i]
    out = np.empty((NB, r, NB, r), dtype=np.uint8)  # [ip][j][jp][i]
    for ip in range(NB):
        for jp in range(NB):
            out[ip, :, jp, :] = planes[ip * NB + jp]
    return out.reshape(NB * r, NB * r)


def _shoup_words(w: np.ndarray, q: int) -> np.ndarray:
    """floor(w 2^32 / q) for each w < q, as uint32 (exact in Python ints)."""
    return np.array([(int(v) << 32) // q for v in w.ravel()], dtype=np.uint64).reshape(w.shape).astype(np.uint32)


def mp_tables(n: int, q: int, psi: int, inverse: bool = False):
    """Everything kernels.cu's multi-pass NTT reads: (radices, plan [launches, 5] int32,
    Wcat bytes of every pass back to back, pro table [E, 2] uint32, epi table [F, 4] uint32).

    plan row: pass, pro offset (-1 none), pro mode, epi offset (-1 none), epi mode. pro
    entries are {tw, floor(tw 2^32 / q)}; epi entries add {2^16 tw mod q, its Shoup word}
    (the epilogue's shift-sum multiplies the high half by 2^16). Modes: 1 = tab[m] (the
    negacyclic twist psi^(+-m)), 2 = tab[slot s + m] (omega_S^(+-m brev(slot)))."""
    radices = mp_radices(n)
    mats = mp_pass_matrices(n, q, psi, inverse)
    omega = psi * psi % q
    if inverse:
        omega, psi = pow(omega, -1, q), pow(psi, -1, q)
    om_pow = psi_powers(omega, q, n)
    qq = np.uint64(q)
    pro, epi, plan = [], [], []
    n_pro = n_epi = 0

    def entries(w: np.ndarray, wide: bool) -> np.ndarray:
        cols = [w, _shoup_words(w, q)]
        if wide:
            w16 = (w.astype(np.uint64) * np.uint64(65536 % q)) % qq
            cols += [w16, _shoup_words(w16, q)]
        return np.stack([c.astype(np.uint32) for c in cols], axis=1)

    big = n
    strides = []
    for r in radices:
        strides.append((big, big // r))
        big //= r
    order = range(len(radices) - 1, -1, -1) if inverse else range(len(radices))
    for p in order:
        r = radices[p]
        big, s = strides[p]
        bits = r.bit_length() - 1
        row = [p, -1, 0, -1, 0]
        dif = None
        if s > 1:  # omega_S^(m brev(slot)) at [slot s + m]
            brv = np.array([_brev(j, bits) for j in range(r)], dtype=np.int64)
            dif = om_pow[(np.outer(brv, np.arange(s)) * (n // big)).ravel()]
        twist = psi_powers(psi, q, s) if p == 0 else None
        if not inverse:
            if twist is not None:
                row[1:3] = [n_pro, 1]
                pro.append(entries(twist, False))
                n_pro += s
            if dif is not None:
                row[3:5] = [n_epi, 2]
                epi.append(entries(dif, True))
                n_epi += dif.size
        else:
            if dif is not None:
                row[1:3] = [n_pro, 2]
                pro.append(entries(dif, False))
                n_pro += dif.size
            if twist is not None:
                row[3:5] = [n_epi, 1]
                epi.append(entries(twist, True))
                n_epi += s
        plan.append(row)
    cat = np.concatenate([wcat(m, q).ravel() for m in mats])
    launches = fuse_pairs(plan, radices, strides, inverse)
    for row in launches:  # wide fused pairs: factor pass p's twiddle (epi mode 3)
        p = row[1]
        big, s1 = strides[p]
        s2 = s1 // 16
        if row[0] == 2 and s2 >= 8 and row[5] == 2:
            brv = np.array([_brev(j, 4) for j in range(16)], dtype=np.int64)
            a_tab = om_pow[(np.outer(brv, np.arange(s2)) * (n // big)).ravel()]  # [j s2 + m']
            b_tab = om_pow[(np.outer(brv, np.arange(16)) * s2 * (n // big)).ravel()]  # [16 j + i']
            row[4:6] = [n_epi, 3]
            epi.append(entries(a_tab, True))
            n_epi += a_tab.size
            row[8] = n_pro
            pro.append(entries(b_tab, False))
            n_pro += b_tab.size
    return radices, launches, cat, _table(pro, 2), _table(epi, 4)


def _table(parts: list[np.ndarray], width: int) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros((0, width), np.uint32))


def fuse_pairs(rows: list[list[int]], radices, strides, inverse: bool) -> np.ndarray:
    """Launch plan [launches, 9]: kind (1 one pass, 2 two radix-16 passes in one launch),
    the pass row, pass p + 1's epi offset and mode, and the factor table's offset (-1; set
    by mp_tables for epi mode 3). Forward passes p, p + 1 fuse when both are radix 16, pass p + 1
    reads no pro table and its stride is 1 or >= PAIR_CW (he_ntt_pair16's tile shapes)."""
    out, k = [], 0
    while k < len(rows):
        p = rows[k][0]
        nxt = rows[k + 1] if k + 1 < len(rows) else None
        if (
            not inverse and nxt is not None and nxt[0] == p + 1 and radices[p] == 16 and radices[p + 1] == 16
            and nxt[1] < 0 and (strides[p + 1][1] == 1 or strides[p + 1][1] >= PAIR_CW)
            and rows[k][2] in (0, 1) and nxt[4] in (0, 2)
        ):  # fmt: skip  (he_ntt_pair16 reads only these table modes)
            out.append([2, *rows[k], nxt[3], nxt[4], -1])
            k += 2
        else:
            out.append([1, *rows[k], -1, 0, -1])
            k += 1
    return np.array(out, dtype=np.int32)


def emulate_mp(x: np.ndarray, q: int, psi: int, inverse: bool = False) -> np.ndarray:
    """NumPy model of kernels.cu's multi-pass NTT from mp_tables(): the same plan, Wcat byte
    planes, IMMA sums, lo/hi split and twiddle-table lookups, launch by launch (checks the
    constants and the table indexing without a GPU)."""
    a = np.array(x, dtype=np.uint64, copy=True)
    bsz, n = a.shape
    radices, plan, cat, pro, epi = mp_tables(n, q, psi, inverse)
    qq = np.uint64(q)
    offs, big, o = [], [], 0
    b = n
    for r in radices:
        offs.append(o)
        big.append(b)
        o += 16 * r * r
        b //= r
    w16_one = np.uint64(65536 % q)
    passes = []
    for kind, p, pro_off, pro_mode, epi_off, epi_mode, epi2_off, epi2_mode, b_off in plan.tolist():
        passes.append((p, pro_off, pro_mode, epi_off, epi_mode, b_off))
        if kind == 2:  # he_ntt_pair16: pass p + 1 follows in the same launch
            passes.append((p + 1, -1, 0, epi2_off, epi2_mode, -1))
    for p, pro_off, pro_mode, epi_off, epi_mode, b_off in passes:
        r, S = radices[p], big[p]
        s = S // r
        w = cat[offs[p] : offs[p] + 16 * r * r].reshape(4 * r, 4 * r).astype(np.int64)
        v = a.reshape(bsz, n // S, r, s)  # [poly][block][slot][m]
        slot_m = np.arange(r)[:, None] * s + np.arange(s)[None, :]
        if pro_off >= 0:
            idx = np.broadcast_to(np.arange(s), (r, s)) if pro_mode == 1 else slot_m
            v = (v * pro[pro_off + idx, 0].astype(np.uint64)) % qq
        planes = np.concatenate([(v >> np.uint64(8 * jp)) & np.uint64(255) for jp in range(NB)], axis=2)
        prod = np.einsum("ck,pbkm->pbcm", w, planes.astype(np.int64)).reshape(bsz, n // S, NB, r, s)
        prod = prod.astype(np.uint64)
        lo = prod[:, :, 0] + (prod[:, :, 1] << np.uint64(8))
        hi = prod[:, :, 2] + (prod[:, :, 3] << np.uint64(8))
        assert lo.max() < 2**32 and hi.max() < 2**32
        factor = np.uint64(1)
        if epi_off >= 0 and epi_mode == 3:  # tw[m' + s2 i'][j] = A[j s2 + m'] * B[16 j + i']
            s2 = s // 16
            mm = np.arange(s)
            idx = np.arange(r)[:, None] * s2 + (mm % s2)[None, :]
            tw, tw16 = epi[epi_off + idx, 0].astype(np.uint64), epi[epi_off + idx, 2].astype(np.uint64)
            factor = pro[b_off + 16 * np.arange(r)[:, None] + (mm // s2)[None, :], 0].astype(np.uint64)
        elif epi_off >= 0:
            idx = np.broadcast_to(np.arange(s), (r, s)) if epi_mode == 1 else slot_m
            tw, tw16 = epi[epi_off + idx, 0].astype(np.uint64), epi[epi_off + idx, 2].astype(np.uint64)
        else:
            tw, tw16 = np.uint64(1), w16_one
        a = ((lo * tw) % qq + (hi * tw16) % qq) % qq * factor % qq
        a = a.reshape(bsz, n)
    return a.astype(np.uint32)


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
    lib.hetc_he_cuda_modmatmul.argtypes = [i32, _P, _P, _P, i32, i32, i32, i32, u64]
    mp_args = [_P, _P, i32, i32, i32, _P, i32, _P, _P, i32, _P, i32, _P, i32, u64]
    lib.hetc_he_cuda_ntt_mp.argtypes = mp_args
    lib.hetc_he_cuda_bench_mp.argtypes = [*mp_args, i32, i32, _P]
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
    variant = MULTIPASS if variant is None else variant
    if variant == MULTIPASS:
        return ntt_mp(x, q, psi, inverse, lib)
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


def _mp_args(x: np.ndarray, q: int, psi: int, inverse: bool):
    bsz, n = x.shape
    if q >= 2**31:
        raise HetcError(f"target 'cuda' needs q < 2^31, got q = {q}")
    radices, plan, cat, pro, epi = mp_tables(n, q, psi, inverse)
    rad = np.array(radices, dtype=np.int32)
    keep = (rad, plan, cat, pro, epi)  # alive until the call returns
    args = [bsz, n.bit_length() - 1, len(radices), _ptr(rad), len(plan), _ptr(plan), _ptr(cat), cat.size,
            _ptr(pro), len(pro), _ptr(epi), len(epi), q]  # fmt: skip
    return keep, args


def ntt_mp(x: np.ndarray, q: int, psi: int, inverse: bool = False, lib: ctypes.CDLL | None = None) -> np.ndarray:
    """(Inverse) negacyclic NTT of each row of x [B, N] on the GPU, multi-pass form (variant 3)."""
    x = np.ascontiguousarray(x, dtype=np.uint32)
    keep, args = _mp_args(x, q, psi, inverse)  # shape and modulus errors before looking for a GPU
    lib = lib or load()
    y = np.empty_like(x)
    if lib.hetc_he_cuda_ntt_mp(_ptr(x), _ptr(y), *args) != 0:
        raise HetcError(f"CUDA NTT failed: {lib.hetc_he_cuda_error().decode()}")
    del keep
    return y


def bench_mp(x: np.ndarray, q: int, psi: int, warmup: int = 5, reps: int = 30, lib: ctypes.CDLL | None = None):
    """(y, ms[reps]): the multi-pass forward NTT of x [B, N], timed with CUDA events."""
    x = np.ascontiguousarray(x, dtype=np.uint32)
    keep, args = _mp_args(x, q, psi, False)
    lib = lib or load()
    y, ms = np.empty_like(x), np.zeros(reps, np.float32)
    if lib.hetc_he_cuda_bench_mp(_ptr(x), _ptr(y), *args, warmup, reps, _ptr(ms)) != 0:
        raise HetcError(f"CUDA benchmark failed: {lib.hetc_he_cuda_error().decode()}")
    del keep
    return y, ms


def _pad_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=np.uint32)
    out[tuple(slice(0, d) for d in a.shape)] = a
    return out


def modmatmul(w: np.ndarray, x: np.ndarray, q: int, lib: ctypes.CDLL | None = None) -> np.ndarray:
    """(w @ x) mod q on int8 tensor cores (the BAT kernel, w = the constant operand split into
    16 pre-scaled byte planes): w [M, K], x [K, N] or [B, K, N], uint32 < q, q < 2^31. Shapes are
    zero-padded to the kernel's 64-multiples (zeros add nothing mod q) and cropped back."""
    if q >= 2**31:
        raise HetcError(f"target 'cuda' needs q < 2^31, got q = {q}")
    xb = x[None] if x.ndim == 2 else x
    m, k = w.shape
    bsz, k2, n = xb.shape
    if k2 != k:
        raise HetcError(f"W @ X: W is {m} x {k} but X has {k2} rows")
    up = lambda v: -(-v // 64) * 64  # noqa: E731
    mp, kp, np_ = up(m), up(k), up(n)
    planes = np.ascontiguousarray(byte_planes(_pad_to(w.astype(np.uint32), (mp, kp)), q))
    xp = np.ascontiguousarray(_pad_to(xb.astype(np.uint32), (bsz, kp, np_)))
    out = np.empty((bsz, mp, np_), dtype=np.uint32)
    lib = lib or load()
    if lib.hetc_he_cuda_modmatmul(DEFAULT_VARIANT, _ptr(planes), _ptr(xp), _ptr(out), bsz, mp, np_, kp, q) != 0:
        raise HetcError(f"CUDA modmatmul failed: {lib.hetc_he_cuda_error().decode()}")
    out = out[:, :m, :n]
    return out[0] if x.ndim == 2 else out

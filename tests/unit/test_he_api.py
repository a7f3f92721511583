"""hetc.he against a Python big-integer reference: NTT, INTT, negacyclic polymul and modular
matmul, bit-exact, on random inputs with the edge values 0, 1 and q-1, for 17- to 32-bit
moduli, RNS limbs, and both targets; and clear errors for bad input."""

from __future__ import annotations

import random

import numpy as np
import pytest

import hetc
from hetc import he as hhe
from hetc.diagnostics import HetcError

TARGETS = ["numpy", "c"]


# ---------------------------------------------------------------------------
# The reference: Python ints only, straight from the definitions
# ---------------------------------------------------------------------------


def brv(i: int, bits: int) -> int:
    return int(format(i, f"0{bits}b")[::-1], 2) if bits else 0


def ref_ntt_naive(x, q: int, psi: int) -> list[int]:
    """y[i] = sum_j x[j] psi^((2 brv(i) + 1) j) mod q: the definition, O(N^2)."""
    n = len(x)
    bits = n.bit_length() - 1
    out = []
    for i in range(n):
        w = pow(psi, 2 * brv(i, bits) + 1, q)
        acc, p = 0, 1
        for j in range(n):
            acc += int(x[j]) * p
            p = p * w % q
        out.append(acc % q)
    return out


def ref_ntt_fast(x, q: int, psi: int) -> list[int]:
    """The same values by recursion on even/odd coefficients (for large N): with
    x(X) = e(X^2) + X o(X^2), x(psi^(2k+1)) = e(w) + psi^(2k+1) o(w), w = psi^(2(2k+1))."""
    n = len(x)
    bits = n.bit_length() - 1

    def evaluate(coeffs: list[int], points_root: int) -> list[int]:
        # values of coeffs at points_root^(2k+1), k = 0..len-1 (points_root: primitive 2len-th)
        m = len(coeffs)
        if m == 1:
            return [coeffs[0] % q]
        ev = evaluate(coeffs[0::2], points_root * points_root % q)
        od = evaluate(coeffs[1::2], points_root * points_root % q)
        out = [0] * m
        for k in range(m // 2):
            t = pow(points_root, 2 * k + 1, q) * od[k] % q
            out[k] = (ev[k] + t) % q
            out[k + m // 2] = (ev[k] - t) % q  # psi^(2(k+m/2)+1) = -psi^(2k+1)
        return out

    natural = evaluate([int(v) for v in x], psi)
    return [natural[brv(i, bits)] for i in range(n)]


def ref_polymul(a, b, q: int) -> list[int]:
    n = len(a)
    c = [0] * n
    for i in range(n):
        ai = int(a[i])
        for j in range(n):
            if i + j < n:
                c[i + j] += ai * int(b[j])
            else:
                c[i + j - n] -= ai * int(b[j])
    return [v % q for v in c]


def ref_matmul(w, x, q: int) -> list[list[int]]:
    return [
        [sum(int(w[i][k]) * int(x[k][j]) for k in range(len(x))) % q for j in range(len(x[0]))] for i in range(len(w))
    ]


def residues(rng: random.Random, n: int, q: int) -> np.ndarray:
    v = [rng.randrange(q) for _ in range(n)]
    for i, e in enumerate((0, 1, q - 1, q - 1, 1, 0)[: max(0, n - 2)]):
        v[rng.randrange(n)] = e
    return np.array(v, dtype=np.uint64)


def as_ints(a) -> list:
    return np.asarray(a).astype(object).tolist()


# moduli of every size class: 17, 20, 28, 30, 31 bits, 32 bits below and above the
# Barrett fold threshold 3037000500
BITS = [17, 20, 28, 30, 31, 32]


def test_reference_agrees_with_itself() -> None:
    for n, q in ((8, 17), (16, 97), (64, 7681)):
        psi = hhe.primitive_root(n, q)
        x = residues(random.Random(n), n, q)
        assert ref_ntt_fast(x, q, psi) == ref_ntt_naive(x, q, psi)


def test_primes() -> None:
    for n in (2**12, 2**16):
        for bits in (28, 30, 31, 32):
            q = hhe.find_ntt_prime(n, bits)
            assert hhe.is_prime(q) and q % (2 * n) == 1 and 2 ** (bits - 1) < q < 2**bits
            psi = hhe.primitive_root(n, q)
            assert pow(psi, n, q) == q - 1
    assert hhe.ntt_primes(1024, 30, 3) == sorted(set(hhe.ntt_primes(1024, 30, 3)), reverse=True)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bits", BITS)
def test_ntt_intt_small(target: str, bits: int) -> None:
    n = 64
    q = hhe.find_ntt_prime(n, bits)
    psi = hhe.primitive_root(n, q)
    x = residues(random.Random(bits), n, q)
    y = hhe.ntt(x, q, target=target)
    assert as_ints(y) == ref_ntt_naive(x, q, psi)
    assert as_ints(hhe.intt(y, q, target=target)) == as_ints(x)


@pytest.mark.parametrize("target", TARGETS)
def test_ntt_q_above_fold_threshold(target: str) -> None:
    """q in (3037000500, 2^32): the twiddle products need the fold step."""
    n = 32
    q = hhe.find_ntt_prime(n, 32)
    assert q > 3037000500
    q2 = hhe.find_ntt_prime(n, 32, below=3037000500)  # just below the threshold
    for qq in (q, q2):
        psi = hhe.primitive_root(n, qq)
        x = np.full(n, qq - 1, dtype=np.uint64)
        assert as_ints(hhe.ntt(x, qq, target=target)) == ref_ntt_naive(x, qq, psi)


@pytest.mark.parametrize("target", TARGETS)
def test_edge_vectors(target: str) -> None:
    q, n = hhe.find_ntt_prime(16, 31), 16
    psi = hhe.primitive_root(n, q)
    for x in (np.zeros(n), np.ones(n), np.full(n, q - 1), np.eye(1, n, 5)[0]):
        x = x.astype(np.uint64)
        assert as_ints(hhe.ntt(x, q, target=target)) == ref_ntt_naive(x, q, psi)
        assert as_ints(hhe.intt(x, q, target=target)) == as_ints(hhe.intt(x, q, target="numpy"))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bits", [17, 28, 31, 32])
def test_polymul(target: str, bits: int) -> None:
    n = 128
    q = hhe.find_ntt_prime(n, bits)
    rng = random.Random(bits + 1)
    a, b = residues(rng, n, q), residues(rng, n, q)
    assert as_ints(hhe.polymul(a, b, q, target=target)) == ref_polymul(a, b, q)


@pytest.mark.parametrize("target", TARGETS)
def test_rns(target: str) -> None:
    n = 64
    qs = hhe.ntt_primes(n, 30, 3)
    rng = random.Random(5)
    a = np.stack([residues(rng, n, q) for q in qs])
    b = np.stack([residues(rng, n, q) for q in qs])
    roots = [hhe.primitive_root(n, q) for q in qs]
    y = hhe.ntt(a, qs, target=target)
    assert [as_ints(y[i]) for i in range(3)] == [ref_ntt_naive(a[i], q, r) for i, (q, r) in enumerate(zip(qs, roots))]
    assert (hhe.intt(y, qs, target=target) == a).all()
    c = hhe.polymul(a, b, qs, target=target)
    assert [as_ints(c[i]) for i in range(3)] == [ref_polymul(a[i], b[i], q) for i, q in enumerate(qs)]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("q", [2, 17, 65537, 268369921, 2**31 - 1, 3037000493, 4294967291, 2**32 - 1])
def test_modmatvec_256(target: str, q: int) -> None:
    """A 256 x 256 modular matvec (any modulus, prime or not)."""
    rng = random.Random(q)
    w = np.array([[rng.randrange(q) for _ in range(256)] for _ in range(256)], dtype=np.uint64)
    w[0, :] = q - 1
    w[1, :] = 0
    x = residues(rng, 256, q)
    x[:128] = q - 1
    z = hhe.modmatmul(w, x, q, target=target)
    assert z.shape == (256,)
    assert as_ints(z) == [row[0] for row in ref_matmul(w, x[:, None], q)]


@pytest.mark.parametrize("target", TARGETS)
def test_modmatmul_rns_batched(target: str) -> None:
    qs = [268369921, 65537]
    rng = random.Random(2)
    w = np.stack([np.array([[rng.randrange(q) for _ in range(20)] for _ in range(7)]) for q in qs])
    x = np.stack([np.array([[rng.randrange(q) for _ in range(3)] for _ in range(20)]) for q in qs])
    z = hhe.modmatmul(w, x, qs, target=target)
    assert [as_ints(z[i]) for i in range(2)] == [ref_matmul(w[i], x[i], q) for i, q in enumerate(qs)]


def test_big_n_numpy_2_12() -> None:
    n = 2**12
    q = hhe.find_ntt_prime(n, 30)
    psi = hhe.primitive_root(n, q)
    x = residues(random.Random(12), n, q)
    y = hhe.ntt(x, q, target="numpy")
    assert as_ints(y) == ref_ntt_fast(x, q, psi)
    assert (hhe.intt(y, q, target="numpy") == x).all()


def test_big_n_c_2_16() -> None:
    n = 2**16
    q = hhe.find_ntt_prime(n, 32)
    psi = hhe.primitive_root(n, q)
    x = residues(random.Random(16), n, q)
    y = hhe.ntt(x, q, target="c")
    assert as_ints(y) == ref_ntt_fast(x, q, psi)
    assert (hhe.intt(y, q, target="c") == x).all()


@pytest.mark.parametrize("portable", [False, True])
def test_c_byte_matmul_kernels(monkeypatch, portable: bool) -> None:
    """Both byte-matmul kernels of the C library: AVX-512 VNNI (used where gcc targets it and
    the shape tiles) and the portable loop (HETC_HE_NO_VNNI=1, and every other machine)."""
    if portable:
        monkeypatch.setenv("HETC_HE_NO_VNNI", "1")
    n = 2**12
    q = hhe.find_ntt_prime(n, 31)
    psi = hhe.primitive_root(n, q)
    rng = random.Random(99)
    x = residues(rng, n, q)
    y = hhe.ntt(x, q, target="c")
    assert as_ints(y) == ref_ntt_fast(x, q, psi)
    w = np.array([[rng.randrange(q) for _ in range(64)] for _ in range(32)], dtype=np.uint64)
    xm = np.array([[rng.randrange(q) for _ in range(32)] for _ in range(64)], dtype=np.uint64)
    assert as_ints(hhe.modmatmul(w, xm, q, target="c")) == ref_matmul(w, xm, q)


def test_runs_the_lowered_passes() -> None:
    """The API executes what the passes produce: no high-level op is left to the backend."""
    q = hhe.find_ntt_prime(16, 28)
    prog = hhe.compile_ntt(16, (q,), (hhe.primitive_root(16, q),), "numpy")
    assert '"he.ntt"' in prog.source
    for name in ("he.ntt", "he.modmatmul", "he.modmul", "he.barrett_reduce"):
        assert f'"{name}"' not in prog.lowered
    assert '"he.bytematmul"' in prog.lowered and '"he.shift_sum"' in prog.lowered


def test_c_build_is_shared_across_moduli() -> None:
    """The C source holds shapes and shifts only; q and the twiddles are run-time data."""
    n = 64
    q1, q2 = hhe.ntt_primes(n, 30, 2)
    p1 = hhe.compile_ntt(n, (q1,), (hhe.primitive_root(n, q1),), "c")
    p2 = hhe.compile_ntt(n, (q2,), (hhe.primitive_root(n, q2),), "c")
    assert p1.backend.library == p2.backend.library


def test_dtypes() -> None:
    q = 12289
    x = np.arange(16, dtype=np.uint64)
    assert hhe.ntt(x, q).dtype == np.uint64
    assert hhe.ntt(x.astype(np.int64), q).dtype == np.int64
    assert hhe.ntt(list(range(16)), q).dtype == np.uint32
    assert hasattr(hetc, "he") and hetc.he.ntt is hhe.ntt


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: hhe.ntt(np.arange(8), 15), "modulus q = 15 is not prime"),
        (lambda: hhe.ntt(np.arange(8), 2**32 + 15), "modulus q = 4294967311 is out of range"),
        (lambda: hhe.ntt(np.arange(8), 1), "modulus q = 1 is out of range"),
        (lambda: hhe.ntt(np.arange(12), 73), "N = 12 is not a power of two"),
        (lambda: hhe.ntt(np.arange(8), 19), "q = 19 has no primitive 16-th root of unity: q - 1 = 18"),
        (lambda: hhe.ntt(np.arange(8), 97, root=2), "root 2 is not a primitive 16-th root of unity mod 97"),
        (lambda: hhe.ntt(np.array([1, 2, 17, 4]), 17), r"x\[2\] = 17 is not a residue mod q = 17"),
        (lambda: hhe.ntt(np.array([1, -2, 3, 4]), 17), r"x\[1\] = -2 is not a residue mod q = 17"),
        (lambda: hhe.intt(np.array([2**40, 0, 0, 0], dtype=np.uint64), 17), r"y\[0\] = 1099511627776 is not a residue"),
        (lambda: hhe.ntt(np.array([0.5, 1, 2, 3]), 17), "must be an array of integers"),
        (lambda: hhe.polymul(np.arange(4), np.arange(8), 17), r"a has shape \[4\] but b has \[8\]"),
        (
            lambda: hhe.polymul(np.arange(4), np.array([0, 0, 0, 99]), 97 * 0 + 17),
            r"b\[3\] = 99 is not a residue mod q = 17",
        ),
        (lambda: hhe.ntt(np.zeros((2, 8), dtype=np.uint32), [17, 97, 113]), "first axis must be 3"),
        (lambda: hhe.ntt(np.array([[0, 1], [0, 97]]), [17, 97]), r"x\[1, 1\] = 97 is not a residue mod q = 97"),
        (lambda: hhe.modmatmul(np.ones((3, 4), dtype=int), np.ones(5, dtype=int), 17), "do not match"),
        (
            lambda: hhe.modmatmul(np.ones((3, 4), dtype=int) * 20, np.ones(4, dtype=int), 17),
            r"W\[0, 0\] = 20 is not a residue",
        ),
        (lambda: hhe.ntt(np.arange(8), 17, target="tpu"), "unknown target 'tpu'"),
        (lambda: hhe.find_ntt_prime(100, 30), "N = 100 is not a power of two"),
    ],
)
def test_bad_input(call, message) -> None:
    with pytest.raises(HetcError, match=message):
        call()

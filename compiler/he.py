"""hetc.he: exact modular arithmetic for homomorphic encryption, compiled for matrix engines.

    import hetc
    q = hetc.he.find_ntt_prime(4096, bits=30)          # a prime q = 1 (mod 2N), q < 2^30
    y = hetc.he.ntt(x, q)                              # negacyclic NTT, bit-reversed order
    x2 = hetc.he.intt(y, q)                            # back to coefficients
    c = hetc.he.polymul(a, b, q, target="c")           # a*b in Z_q[X]/(X^N + 1)
    z = hetc.he.modmatmul(W, X, q)                     # (W @ X) mod q

Every call builds `he` IR (he.ntt, he.intt, he.modmul, he.modmatmul), runs the lowering
pipeline (hetc-he-ntt-to-matmul, hetc-he-bat, hetc-he-barrett: 3-step matmul NTT, byte
matmuls with wide accumulation, Barrett from multiply/add/shift) and executes the
lowered form with the NumPy backend or as gcc-built C; target="cuda" runs the CUDA kernel
library of backends/cuda_he (NTTs as the 3-step form applied recursively down to radix-16/32
byte matmuls on int8 tensor cores; modmatmul as the BAT kernel). Results are exact. Compiled
programs are cached per (operation, shapes, moduli, roots, target) in the process.

`q` is one modulus (2 <= q < 2^32) or a list of RNS moduli; with L moduli the arrays
have a leading limb axis of length L. The NTT needs q prime with q = 1 (mod 2N); its
root is the smallest-base primitive 2N-th root of unity unless `root=` is given.
Inputs must be residues (0 <= v < q); anything else is a HetcError naming the value.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import numpy as np

from hetc.diagnostics import HetcError

#: the lowering every he program goes through, in order
HE_PIPELINE: tuple[str, ...] = ("hetc-he-ntt-to-matmul", "hetc-he-bat", "hetc-he-barrett")
TARGETS = ("numpy", "c", "cuda")


# ---------------------------------------------------------------------------
# Number theory
# ---------------------------------------------------------------------------


def is_prime(n: int) -> bool:
    from hetc.dialects.he import is_prime as _is_prime

    return _is_prime(int(n))


def find_ntt_prime(n: int, bits: int, *, below: int | None = None) -> int:
    """The largest prime q < min(2^bits, below) with q = 1 (mod 2n): NTT-friendly for length n."""
    _check_length(n)
    if not 2 <= bits <= 32:
        raise HetcError(f"bits = {bits} is out of range: hetc.he supports moduli below 2^32 (bits <= 32)")
    step = 2 * n
    limit = min(2**bits, below) if below else 2**bits
    q = (limit - 2) // step * step + 1  # the largest candidate = 1 (mod 2n) below limit
    while q > step:
        if is_prime(q):
            return q
        q -= step
    raise HetcError(f"no prime q = 1 (mod {step}) below {limit}: use more bits for N = {n}")


def ntt_primes(n: int, bits: int, count: int) -> list[int]:
    """`count` distinct NTT-friendly primes below 2^bits, largest first (RNS limbs)."""
    out: list[int] = []
    below = None
    for _ in range(count):
        q = find_ntt_prime(n, bits, below=below)
        out.append(q)
        below = q
    return out


def primitive_root(n: int, q: int) -> int:
    """A primitive 2n-th root of unity psi mod the prime q (psi^n = -1): c^((q-1)/2n) for
    the smallest base c = 2, 3, ... that gives one."""
    _check_ntt_modulus(n, q)
    e = (q - 1) // (2 * n)
    for c in range(2, q):
        psi = pow(c, e, q)
        if pow(psi, n, q) == q - 1:
            return psi
    raise HetcError(f"no primitive {2 * n}-th root of unity mod {q}")  # unreachable for prime q


# ---------------------------------------------------------------------------
# Validation (errors name the offending value)
# ---------------------------------------------------------------------------


def _moduli(q) -> tuple[int, ...]:
    qs = (q,) if isinstance(q, (int, np.integer)) else tuple(q)
    if not qs:
        raise HetcError("no modulus given: pass q as an int or a list of RNS moduli")
    out = []
    for v in qs:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise HetcError(f"modulus {v!r} is not an integer")
        v = int(v)
        if not 2 <= v < 2**32:
            raise HetcError(f"modulus q = {v} is out of range: hetc.he supports 2 <= q < 2^32")
        out.append(v)
    return tuple(out)


def _check_length(n: int) -> None:
    from hetc.dialects.he import is_power_of_two

    if not is_power_of_two(int(n)):
        raise HetcError(f"N = {n} is not a power of two: the negacyclic NTT needs N = 2^k")


def _check_ntt_modulus(n: int, q: int) -> None:
    if not is_prime(q):
        raise HetcError(
            f"modulus q = {q} is not prime: the NTT needs a prime q = 1 (mod 2N)",
            hint=f"hetc.he.find_ntt_prime({n}, bits) gives one",
        )
    if (q - 1) % (2 * n):
        raise HetcError(
            f"modulus q = {q} has no primitive {2 * n}-th root of unity: q - 1 = {q - 1} is not divisible by 2N = {2 * n}",
            hint=f"pick q = 1 (mod {2 * n}), e.g. hetc.he.find_ntt_prime({n}, 30)",
        )


def _roots(n: int, moduli: tuple[int, ...], root) -> tuple[int, ...]:
    from hetc.dialects.he import ntt_root_problem

    for q in moduli:
        _check_ntt_modulus(n, q)
    if root is None:
        return tuple(primitive_root(n, q) for q in moduli)
    roots = (root,) if isinstance(root, (int, np.integer)) else tuple(root)
    if len(roots) != len(moduli):
        raise HetcError(f"{len(roots)} roots for {len(moduli)} moduli: give one root per modulus")
    for q, psi in zip(moduli, roots):
        problem = ntt_root_problem(n, q, int(psi))
        if problem:
            raise HetcError(problem)
    return tuple(int(r) for r in roots)


def _residues(name: str, x, moduli: tuple[int, ...]) -> np.ndarray:
    """`x` as uint32 after checking every element is an integer in [0, q-1] (per limb)."""
    arr = np.asarray(x)
    if arr.dtype == object:
        try:
            arr = (
                np.array(x, dtype=np.int64)
                if all(int(v) < 2**63 for v in arr.ravel())
                else np.array(x, dtype=np.uint64)
            )
        except (TypeError, ValueError, OverflowError):
            raise HetcError(f"{name} must be an array of integers") from None
    if arr.dtype.kind not in "ui":
        raise HetcError(f"{name} must be an array of integers (got dtype {arr.dtype})")
    if len(moduli) > 1 and (arr.ndim < 1 or arr.shape[0] != len(moduli)):
        raise HetcError(
            f"{name} has shape {list(arr.shape)}: with {len(moduli)} RNS moduli its first axis must be {len(moduli)}"
        )
    # compare in the array's own 64-bit kind: exact, since every q < 2^32
    kind = np.int64 if arr.dtype.kind == "i" else np.uint64
    q = np.array(moduli, dtype=kind).reshape((len(moduli),) + (1,) * (arr.ndim - 1)) if len(moduli) > 1 else kind(moduli[0])
    wide = arr.astype(kind)
    bad = np.asarray((wide < 0) | (wide >= q) if kind is np.int64 else wide >= q, dtype=bool)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        qv = moduli[idx[0]] if len(moduli) > 1 else moduli[0]
        where = f"{name}[{', '.join(map(str, idx))}]" if idx else name
        raise HetcError(f"{where} = {arr[idx]} is not a residue mod q = {qv}: inputs must be in [0, q-1]")
    return arr.astype(np.uint32)


def _check_target(target: str) -> str:
    if target not in TARGETS:
        raise HetcError(f"unknown target '{target}' for hetc.he (known: {', '.join(TARGETS)})")
    return target


def _restore(out: np.ndarray, like) -> np.ndarray:
    dt = getattr(like, "dtype", None)
    if dt is not None and np.dtype(dt) in (np.dtype(np.uint64), np.dtype(np.int64)):
        return out.astype(dt)
    return out


# ---------------------------------------------------------------------------
# Building, lowering and running programs
# ---------------------------------------------------------------------------


class Program:
    """One he function: the IR as built (`source`), after the pipeline (`lowered`), and
    the backend that runs the lowered form (`run(*arrays) -> list of arrays`)."""

    def __init__(self, source_text: str, module, target: str) -> None:
        from xdsl.dialects import func

        self.source = source_text
        self.module = module
        self.target = target
        fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
        if target == "numpy":
            from hetc.backends.numpy.he import NumpyProgram

            self.backend = NumpyProgram(fn)
        else:
            from hetc.backends.c.he import CProgram

            self.backend = CProgram(fn)

    @property
    def lowered(self) -> str:
        return str(self.module)

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        return self.backend.run(*arrays)


def _tensor(shape, elem=None):
    from xdsl.dialects.builtin import TensorType

    from hetc.dialects import he

    return TensorType(elem or he.ui32, list(shape))


def _build(name: str, in_shapes: Sequence[tuple[int, ...]], body) -> "object":
    """A module with one func.func @name whose body `body(args) -> results` builds."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Block, Region

    block = Block(arg_types=[_tensor(s) for s in in_shapes])
    results = body(list(block.args), block)
    block.add_op(func.ReturnOp(*results))
    fn = func.FuncOp(name, ([_tensor(s) for s in in_shapes], [r.type for r in results]), Region(block))
    return ModuleOp([fn])


def _add(block, op):
    block.add_op(op)
    return op.results[0]


def compile_module(module, target: str = "numpy") -> Program:
    """Verify, lower with HE_PIPELINE and load a backend for `module` (one func.func)."""
    from hetc.pipeline import make_context, run_pipeline

    _check_target(target)
    module.verify()
    text = str(module)
    run_pipeline(module, HE_PIPELINE, ctx=make_context())
    module.verify()
    return Program(text, module, target)


def _mod_attrs(moduli, roots=None, n=None) -> dict:
    from xdsl.dialects.builtin import IntegerAttr, i64

    from hetc.dialects import he

    attrs = {"moduli": he.i64_array(moduli)}
    if roots is not None:
        attrs["roots"] = he.i64_array(roots)
        attrs["n"] = IntegerAttr(n, i64)
    return attrs


@functools.lru_cache(maxsize=64)
def compile_ntt(
    n: int, moduli: tuple[int, ...], roots: tuple[int, ...], target: str = "numpy", inverse: bool = False
) -> Program:
    """The lowered (inverse) NTT of length n for these moduli and roots."""
    from hetc.dialects import he

    shape = (n,) if len(moduli) == 1 else (len(moduli), n)
    cls = he.InttOp if inverse else he.NttOp

    def body(args, block):
        return [_add(block, cls.make([args[0]], _tensor(shape), **_mod_attrs(moduli, roots, n)))]

    return compile_module(_build("intt" if inverse else "ntt", [shape], body), target)


@functools.lru_cache(maxsize=64)
def compile_polymul(n: int, moduli: tuple[int, ...], roots: tuple[int, ...], target: str = "numpy") -> Program:
    """intt(ntt(a) * ntt(b)): the negacyclic product in Z_q[X]/(X^N + 1)."""
    from hetc.dialects import he

    shape = (n,) if len(moduli) == 1 else (len(moduli), n)
    attrs = _mod_attrs(moduli, roots, n)

    def body(args, block):
        fa = _add(block, he.NttOp.make([args[0]], _tensor(shape), **attrs))
        fb = _add(block, he.NttOp.make([args[1]], _tensor(shape), **attrs))
        prod = _add(block, he.ModMulOp.make([fa, fb], _tensor(shape), **_mod_attrs(moduli)))
        return [_add(block, he.InttOp.make([prod], _tensor(shape), **attrs))]

    return compile_module(_build("polymul", [shape, shape], body), target)


_MATMUL_CACHE: dict[tuple, Program] = {}


def compile_modmatmul(
    w: np.ndarray, x_shape: tuple[int, ...], moduli: tuple[int, ...], target: str = "numpy"
) -> Program:
    """(W @ X) mod q with W (uint32 residues) a constant of the program and X its input."""
    from hetc.dialects import he

    w = np.ascontiguousarray(w, dtype=np.uint32)
    key = (hashlib.sha256(w.tobytes()).hexdigest(), w.shape, tuple(x_shape), moduli, target)
    if key in _MATMUL_CACHE:
        return _MATMUL_CACHE[key]
    out_shape = (*w.shape[:-1], x_shape[-1])

    def body(args, block):
        wc = _add(block, he.ConstantOp.of(w))
        return [_add(block, he.ModMatMulOp.make([wc, args[0]], _tensor(out_shape), **_mod_attrs(moduli)))]

    prog = compile_module(_build("modmatmul", [tuple(x_shape)], body), target)
    if len(_MATMUL_CACHE) > 32:
        _MATMUL_CACHE.clear()
    _MATMUL_CACHE[key] = prog
    return prog


# ---------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------


def _ntt_setup(x, q, root, name: str):
    moduli = _moduli(q)
    arr = _residues(name, x, moduli)
    want_ndim = 1 if len(moduli) == 1 else 2
    if arr.ndim != want_ndim:
        raise HetcError(
            f"{name} has shape {list(arr.shape)}: expected a 1-D array of N coefficients"
            + ("" if len(moduli) == 1 else f" per limb, shape [{len(moduli)}, N]")
        )
    n = arr.shape[-1]
    _check_length(n)
    return arr, n, moduli, _roots(n, moduli, root)


def _cuda_ntt(arr: np.ndarray, moduli, roots, inverse: bool) -> np.ndarray:
    """target="cuda": the CUDA kernel library (backends/cuda_he): the 3-step form applied
    recursively (radix-16/32 passes, each a BAT byte matmul on int8 tensor cores with the
    shift-sum, reduction and twiddles in the epilogue; two passes per launch where they
    fuse), one transform per RNS limb."""
    from hetc.backends.cuda_he import host

    if len(moduli) == 1:
        return host.ntt(arr, moduli[0], roots[0], inverse)
    return np.stack([host.ntt(arr[i], qi, ri, inverse) for i, (qi, ri) in enumerate(zip(moduli, roots))])


def ntt(x, q, *, root=None, target: str = "numpy") -> np.ndarray:
    """Negacyclic NTT of x (length N, a power of two) mod q, output in bit-reversed order:
    y[i] = sum_j x[j] psi^((2 brv(i) + 1) j) mod q (SEAL's convention)."""
    arr, n, moduli, roots = _ntt_setup(x, q, root, "x")
    if _check_target(target) == "cuda":
        return _restore(_cuda_ntt(arr, moduli, roots, False), x)
    return _restore(compile_ntt(n, moduli, roots, _check_target(target)).run(arr)[0], x)


def intt(y, q, *, root=None, target: str = "numpy") -> np.ndarray:
    """Inverse of `ntt` (same root): bit-reversed NTT values in, coefficients out."""
    arr, n, moduli, roots = _ntt_setup(y, q, root, "y")
    if _check_target(target) == "cuda":
        return _restore(_cuda_ntt(arr, moduli, roots, True), y)
    return _restore(compile_ntt(n, moduli, roots, _check_target(target), True).run(arr)[0], y)


def polymul(a, b, q, *, root=None, target: str = "numpy") -> np.ndarray:
    """a * b in Z_q[X]/(X^N + 1) (negacyclic convolution), through two NTTs and an INTT."""
    arr_a, n, moduli, roots = _ntt_setup(a, q, root, "a")
    arr_b = _residues("b", b, moduli)
    if arr_b.shape != arr_a.shape:
        raise HetcError(f"a has shape {list(arr_a.shape)} but b has {list(arr_b.shape)}")
    if _check_target(target) == "cuda":
        qs = np.array(moduli, dtype=np.uint64).reshape((-1, 1) if len(moduli) > 1 else ())
        fa = _cuda_ntt(arr_a, moduli, roots, False).astype(np.uint64)
        fb = _cuda_ntt(arr_b, moduli, roots, False).astype(np.uint64)
        return _restore(_cuda_ntt((fa * fb % qs).astype(np.uint32), moduli, roots, True), a)
    return _restore(compile_polymul(n, moduli, roots, _check_target(target)).run(arr_a, arr_b)[0], a)


def modmatmul(W, X, q, *, target: str = "numpy") -> np.ndarray:
    """(W @ X) mod q, exact, through BAT byte matmuls. W: [M, K] (or [L, M, K] with L RNS
    moduli), X: [K, N] or a vector [K] (then the result is a vector [M])."""
    moduli = _moduli(q)
    w = _residues("W", W, moduli)
    x = _residues("X", X, moduli)
    vector = x.ndim == w.ndim - 1
    if vector:
        x = x[..., None]
    rank = 2 if len(moduli) == 1 else 3
    if w.ndim != rank or x.ndim != rank:
        raise HetcError(
            f"W must be {rank}-D and X {rank}-D or {rank - 1}-D, got shapes {list(np.shape(W))} and {list(np.shape(X))}"
        )
    if w.shape[-1] != x.shape[-2] or w.shape[:-2] != x.shape[:-2]:
        raise HetcError(f"W @ X: shapes {list(w.shape)} and {list(np.shape(X))} do not match")
    if _check_target(target) == "cuda":  # the BAT kernel of backends/cuda_he, one call per RNS limb
        from hetc.backends.cuda_he import host

        if len(moduli) == 1:
            out = host.modmatmul(w, x, moduli[0])
        else:
            out = np.stack([host.modmatmul(w[i], x[i], qi) for i, qi in enumerate(moduli)])
    else:
        out = compile_modmatmul(w, x.shape, moduli, _check_target(target)).run(x)[0]
    return _restore(out[..., 0] if vector else out, X)


__all__ = [
    "HE_PIPELINE", "Program", "compile_module", "compile_modmatmul", "compile_ntt", "compile_polymul",
    "find_ntt_prime", "intt", "is_prime", "modmatmul", "ntt", "ntt_primes", "polymul", "primitive_root",
]  # fmt: skip


# ---------------------------------------------------------------------------
# Tensor operations on encrypted data (packed CKKS slots): see hetc/he_packed.py
# ---------------------------------------------------------------------------

from hetc.he_packed import (  # noqa: E402
    PackedProgram,
    encrypted_einsum,
    encrypted_linear_square,
    encrypted_matvec,
    encrypted_mlp,
)

__all__ += ["PackedProgram", "encrypted_einsum", "encrypted_linear_square", "encrypted_matvec", "encrypted_mlp"]

"""The `he` dialect: exact modular integer arithmetic for homomorphic encryption, in
the form matrix engines run it (CROSS: Barrett from multipliers and adders, BAT byte
slicing, the NTT as a 3-step matmul with the reorderings folded into constants (MAT)).

Values are tensors of unsigned integers (`ui32`, `ui64`; `i64` is accepted and read as
non-negative) holding residues. Every modular op carries `moduli = array<i64: ...>`:
one entry is a single modulus; L > 1 entries are RNS limbs, and then the operand's
leading dimension is the limb index (limb l is reduced modulo moduli[l]). Moduli are
2 <= q < 2^32. Inputs of modular ops must already be residues (< q); the ops do not
check that at run time (the `hetc.he` API does, before running).

High level (what a user or a frontend writes):

    he.modadd / he.modsub / he.modmul   elementwise a (+|-|*) b mod q
    he.barrett_reduce                   x mod q for x <= max_input (any x, not only x < q)
    he.modmatmul                        (W @ X) mod q, 2-D or batched 3-D
    he.ntt / he.intt                    negacyclic NTT over Z_q[X]/(X^N + 1), attributes
                                        n, moduli, roots (psi: a primitive 2N-th root)

NTT convention (SEAL's): the forward NTT writes its output in bit-reversed order,
    ntt(x)[i] = sum_j x[j] * psi^((2*brv(i) + 1) * j)  mod q       (brv: log2(N)-bit reversal)
i.e. slot i holds x evaluated at psi^(2*brv(i)+1); `he.intt` takes that order back to
the coefficients in natural order, and pointwise products in between are negacyclic
polynomial products. The bit-reversed order is what lets the 3-step matmul form fold
every transpose and permutation into its constant matrices (hetc-he-ntt-to-matmul).

Low level (what hetc-he-ntt-to-matmul / hetc-he-bat / hetc-he-barrett produce, and what
the NumPy and C backends execute):

    he.constant                 a dense tensor (twiddle matrices, BAT byte matrices, Barrett mu/q)
    he.reshape, he.cast         views; zero-extension / truncation mod 2^w
    he.extract_byte             (x >> 8*index) & 0xff  -> ui8
    he.bytematmul               sum_t lhs_t @ rhs_t of ui8 matrices, exact in ui32/ui64
    he.shift_sum                sum_i parts_i << (shift*i)  -> ui64
    he.mul / he.add / he.sub    wrap-around arithmetic in the result's width
    he.shr                      logical shift right by a constant
    he.csub                     a >= q ? a - q : a

Word ops (mul/add/sub/csub) broadcast an operand whose shape is all ones, or all ones
but a leading dimension equal to the result's (per-limb constants).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    IntegerType,
    Signedness,
    TensorType,
    i1,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    SameVariadicOperandSize,
    attr_def,
    irdl_op_definition,
    operand_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

ui8 = IntegerType(8, Signedness.UNSIGNED)
ui32 = IntegerType(32, Signedness.UNSIGNED)
ui64 = IntegerType(64, Signedness.UNSIGNED)

#: element types a residue tensor may have
RESIDUE_TYPES = (ui32, ui64, i64)
#: element types the word-level ops compute in
WORD_TYPES = (ui8, ui32, ui64, i64)
MAX_MODULUS = 2**32 - 1

_NUMPY: dict[Attribute, np.dtype] = {
    ui8: np.dtype(np.uint8),
    ui32: np.dtype(np.uint32),
    ui64: np.dtype(np.uint64),
    i64: np.dtype(np.int64),
    i1: np.dtype(np.bool_),
}


def numpy_dtype(t: Attribute) -> np.dtype:
    if t not in _NUMPY:
        raise VerifyException(f"he: element type {t} has no NumPy dtype")
    return _NUMPY[t]


def element_type_of(dtype) -> Attribute:
    for t, dt in _NUMPY.items():
        if dt == np.dtype(dtype):
            return t
    raise ValueError(f"he: no element type for dtype {np.dtype(dtype)}")


def bit_width(t: Attribute) -> int:
    assert isinstance(t, IntegerType)
    return t.width.data


def dense(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    """A bytes-backed dense attribute (no per-element Python objects)."""
    array = np.ascontiguousarray(array) if np.ndim(array) else np.asarray(array)
    ttype = TensorType(element_type_of(array.dtype), array.shape)
    return DenseIntOrFPElementsAttr(ttype, BytesAttr(array.tobytes()))


def array_of(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    dtype = numpy_dtype(attr.type.get_element_type())
    shape = tuple(attr.type.get_shape())
    flat = np.frombuffer(attr.data.data, dtype=dtype)
    size = int(np.prod(shape, dtype=np.int64))
    if flat.size == 1 and size != 1:
        flat = np.broadcast_to(flat, (size,))  # splat
    return flat.reshape(shape).copy()


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def _shape(v: SSAValue | Attribute) -> tuple[int, ...]:
    t = v.type if isinstance(v, SSAValue) else v
    if not isinstance(t, TensorType):
        raise VerifyException(f"he: expected a tensor, got {t}")
    return tuple(t.get_shape())


def _elem(v: SSAValue | Attribute) -> Attribute:
    t = v.type if isinstance(v, SSAValue) else v
    if not isinstance(t, TensorType):
        raise VerifyException(f"he: expected a tensor, got {t}")
    return t.get_element_type()


def _check_elem(op: IRDLOperation, what: str, v, allowed) -> None:
    if _elem(v) not in allowed:
        names = ", ".join(str(t) for t in allowed)
        raise VerifyException(f"{op.name}: {what} has element type {_elem(v)}; expected one of {names}")


# ---------------------------------------------------------------------------
# Number theory the verifiers use (exact, Python ints)
# ---------------------------------------------------------------------------


def is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin for n < 3.3e24 (bases: the first 12 primes)."""
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    for p in small:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in small:
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


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def bitrev(i: int, bits: int) -> int:
    return int(format(i, f"0{bits}b")[::-1], 2) if bits else 0


def ntt_root_problem(n: int, q: int, psi: int) -> str | None:
    """Why psi is not a primitive 2n-th root of unity mod the prime q (None if it is).
    For n a power of two, psi^n = -1 (mod q) is exactly that condition."""
    if not 0 < psi < q:
        return f"root {psi} is not in [1, q-1] for q = {q}"
    if pow(psi, n, q) != q - 1:
        return f"root {psi} is not a primitive {2 * n}-th root of unity mod {q} (psi^{n} = {pow(psi, n, q)}, not q-1)"
    return None


# ---------------------------------------------------------------------------
# Shared verification
# ---------------------------------------------------------------------------


def moduli_of(op: IRDLOperation) -> tuple[int, ...]:
    attr = op.attributes["moduli"]
    assert isinstance(attr, DenseArrayBase)
    return tuple(int(v) for v in attr.get_values())


def _verify_moduli(op: IRDLOperation, operand_shape: tuple[int, ...]) -> tuple[int, ...]:
    moduli = moduli_of(op)
    if not moduli:
        raise VerifyException(f"{op.name}: 'moduli' is empty; give one modulus or one per RNS limb")
    for q in moduli:
        if not 2 <= q <= MAX_MODULUS:
            raise VerifyException(f"{op.name}: modulus {q} is out of range; moduli must satisfy 2 <= q < 2^32")
    if len(moduli) > 1 and (not operand_shape or operand_shape[0] != len(moduli)):
        raise VerifyException(
            f"{op.name}: {len(moduli)} RNS moduli need a leading limb dimension of {len(moduli)}, "
            f"got shape {list(operand_shape)}"
        )
    return moduli


class HeOp(IRDLOperation):
    """Base of the he ops (no semantics of its own)."""

    @classmethod
    def make(cls, operands: Sequence[SSAValue], result_type: Attribute, **attributes: Attribute):
        return cls.create(operands=list(operands), result_types=[result_type], attributes=attributes)


# ---------------------------------------------------------------------------
# High-level modular ops
# ---------------------------------------------------------------------------


class _ModBinary(HeOp):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    moduli = attr_def(DenseArrayBase)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        for what, v in (("lhs", self.lhs), ("rhs", self.rhs), ("result", self.result)):
            _check_elem(self, what, v, RESIDUE_TYPES)
        if not (_shape(self.lhs) == _shape(self.rhs) == _shape(self.result)):
            raise VerifyException(
                f"{self.name}: operand and result shapes differ: "
                f"{list(_shape(self.lhs))}, {list(_shape(self.rhs))} -> {list(_shape(self.result))}"
            )
        _verify_moduli(self, _shape(self.lhs))


@irdl_op_definition
class ModAddOp(_ModBinary):
    """(lhs + rhs) mod q, elementwise; operands are residues."""

    name = "he.modadd"


@irdl_op_definition
class ModSubOp(_ModBinary):
    """(lhs - rhs) mod q, elementwise; operands are residues."""

    name = "he.modsub"


@irdl_op_definition
class ModMulOp(_ModBinary):
    """(lhs * rhs) mod q, elementwise; operands are residues."""

    name = "he.modmul"


@irdl_op_definition
class BarrettReduceOp(HeOp):
    """x mod q for every element x <= max_input (a promise the producer proves; the
    lowering picks its Barrett parameters from it)."""

    name = "he.barrett_reduce"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    moduli = attr_def(DenseArrayBase)
    max_input = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        _check_elem(self, "input", self.input, (ui32, ui64, i64))
        _check_elem(self, "result", self.result, RESIDUE_TYPES)
        if _shape(self.input) != _shape(self.result):
            raise VerifyException(f"{self.name}: input and result shapes differ")
        _verify_moduli(self, _shape(self.input))
        bound = int(self.max_input.value.data)
        if not 0 <= bound < 2 ** bit_width(_elem(self.input)):
            raise VerifyException(f"{self.name}: max_input {bound} does not fit the input type {_elem(self.input)}")

    @property
    def bound(self) -> int:
        return int(self.max_input.value.data)


def _matmul_shapes(op: HeOp, a: tuple[int, ...], b: tuple[int, ...], r: tuple[int, ...] | None) -> tuple[int, ...]:
    if len(a) not in (2, 3) or len(a) != len(b):
        raise VerifyException(
            f"{op.name}: operands must both be 2-D or both 3-D (batched), got {list(a)} and {list(b)}"
        )
    if a[-1] != b[-2]:
        raise VerifyException(f"{op.name}: contraction sizes differ: {list(a)} @ {list(b)}")
    if len(a) == 3 and a[0] != b[0]:
        raise VerifyException(f"{op.name}: batch sizes differ: {list(a)} @ {list(b)}")
    expected = (*a[:-1], b[-1])
    if r is not None and r != expected:
        raise VerifyException(f"{op.name}: result shape {list(r)}, expected {list(expected)}")
    return expected


@irdl_op_definition
class ModMatMulOp(HeOp):
    """(lhs @ rhs) mod q: [M,K]@[K,N] or batched [B,M,K]@[B,K,N] (B = limbs when RNS)."""

    name = "he.modmatmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    moduli = attr_def(DenseArrayBase)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        for what, v in (("lhs", self.lhs), ("rhs", self.rhs), ("result", self.result)):
            _check_elem(self, what, v, RESIDUE_TYPES)
        _matmul_shapes(self, _shape(self.lhs), _shape(self.rhs), _shape(self.result))
        moduli = _verify_moduli(self, _shape(self.lhs))
        if len(moduli) > 1 and len(_shape(self.lhs)) != 3:
            raise VerifyException(f"{self.name}: RNS limbs need batched 3-D operands [L, M, K] @ [L, K, N]")


class _NttBase(HeOp):
    input = operand_def(TensorType)
    result = result_def(TensorType)
    n = attr_def(IntegerAttr)
    moduli = attr_def(DenseArrayBase)
    roots = attr_def(DenseArrayBase)
    traits = traits_def(Pure())

    @property
    def size(self) -> int:
        return int(self.n.value.data)

    @property
    def root_values(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.roots.get_values())

    def verify_(self) -> None:
        _check_elem(self, "input", self.input, RESIDUE_TYPES)
        _check_elem(self, "result", self.result, RESIDUE_TYPES)
        n, shape = self.size, _shape(self.input)
        if not is_power_of_two(n):
            raise VerifyException(f"{self.name}: N = {n} is not a power of two")
        if shape != _shape(self.result):
            raise VerifyException(f"{self.name}: input and result shapes differ")
        moduli = _verify_moduli(self, shape)
        want = (n,) if len(moduli) == 1 else (len(moduli), n)
        if shape != want:
            raise VerifyException(f"{self.name}: operand shape {list(shape)}, expected {list(want)} for N = {n}")
        roots = self.root_values
        if len(roots) != len(moduli):
            raise VerifyException(
                f"{self.name}: {len(roots)} roots for {len(moduli)} moduli; give one root per modulus"
            )
        for q, psi in zip(moduli, roots):
            if not is_prime(q):
                raise VerifyException(f"{self.name}: modulus {q} is not prime")
            if (q - 1) % (2 * n):
                raise VerifyException(
                    f"{self.name}: modulus {q} has no primitive {2 * n}-th root of unity (q-1 is not divisible by 2N = {2 * n})"
                )
            problem = ntt_root_problem(n, q, psi)
            if problem:
                raise VerifyException(f"{self.name}: {problem}")


@irdl_op_definition
class NttOp(_NttBase):
    """Negacyclic forward NTT, output in bit-reversed order (see the module doc)."""

    name = "he.ntt"


@irdl_op_definition
class InttOp(_NttBase):
    """Inverse of he.ntt (same `roots`: the forward psi): bit-reversed in, natural out."""

    name = "he.intt"


# ---------------------------------------------------------------------------
# Low-level ops (what the lowering passes produce)
# ---------------------------------------------------------------------------


@irdl_op_definition
class ConstantOp(HeOp):
    name = "he.constant"
    result = result_def(TensorType)
    value = attr_def(DenseIntOrFPElementsAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        if self.value.type != self.result.type:
            raise VerifyException(
                f"{self.name}: value type {self.value.type} differs from result type {self.result.type}"
            )
        _check_elem(self, "value", self.result, WORD_TYPES)

    @classmethod
    def of(cls, array: np.ndarray) -> "ConstantOp":
        attr = dense(array)
        return cls.create(result_types=[attr.type], attributes={"value": attr})

    def array(self) -> np.ndarray:
        return array_of(self.value)


@irdl_op_definition
class ReshapeOp(HeOp):
    name = "he.reshape"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        if _elem(self.input) != _elem(self.result):
            raise VerifyException(f"{self.name}: element types differ")
        if int(np.prod(_shape(self.input))) != int(np.prod(_shape(self.result))):
            raise VerifyException(
                f"{self.name}: {list(_shape(self.input))} and {list(_shape(self.result))} differ in size"
            )


@irdl_op_definition
class CastOp(HeOp):
    """Zero-extension or truncation (mod 2^width) to the result's element type."""

    name = "he.cast"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        _check_elem(self, "input", self.input, WORD_TYPES)
        _check_elem(self, "result", self.result, WORD_TYPES)
        if _shape(self.input) != _shape(self.result):
            raise VerifyException(f"{self.name}: input and result shapes differ")


@irdl_op_definition
class ExtractByteOp(HeOp):
    """(x >> 8*index) & 0xff as ui8: one byte slice of a residue tensor."""

    name = "he.extract_byte"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    index = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        _check_elem(self, "input", self.input, (ui32, ui64, i64))
        if _elem(self.result) != ui8 or _shape(self.result) != _shape(self.input):
            raise VerifyException(f"{self.name}: the result must be ui8 of the input's shape")
        k = int(self.index.value.data)
        if not 0 <= k < bit_width(_elem(self.input)) // 8:
            raise VerifyException(f"{self.name}: byte index {k} out of range for {_elem(self.input)}")


def accumulator_max(t: Attribute) -> int:
    return 2 ** bit_width(t) - 1


@irdl_op_definition
class ByteMatMulOp(HeOp):
    """sum_t lhs[t] @ rhs[t] over ui8 matrices, accumulated exactly in the result type
    (ui32 or ui64): the u8 x u8 -> wide matmul of an int8 matrix engine. Several pairs
    are one matmul over a K concatenated from the pairs' K."""

    name = "he.bytematmul"
    lhs = var_operand_def(TensorType)
    rhs = var_operand_def(TensorType)
    result = result_def(TensorType)
    irdl_options = (SameVariadicOperandSize(),)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        if not self.lhs:
            raise VerifyException(f"{self.name}: needs at least one (lhs, rhs) pair")
        for v in (*self.lhs, *self.rhs):
            _check_elem(self, "operand", v, (ui8,))
        a, b = _shape(self.lhs[0]), _shape(self.rhs[0])
        if any(_shape(v) != a for v in self.lhs) or any(_shape(v) != b for v in self.rhs):
            raise VerifyException(f"{self.name}: all lhs (and all rhs) operands must have one shape")
        _matmul_shapes(self, a, b, _shape(self.result))
        _check_elem(self, "result", self.result, (ui32, ui64))
        worst = len(self.lhs) * a[-1] * 255 * 255
        if worst > accumulator_max(_elem(self.result)):
            raise VerifyException(
                f"{self.name}: {len(self.lhs)} pairs x K = {a[-1]} can reach {worst}, "
                f"which overflows the {_elem(self.result)} accumulator; accumulate in ui64"
            )


@irdl_op_definition
class ShiftSumOp(HeOp):
    """sum_i parts[i] << (shift * i), in ui64 (the producer proves it does not overflow)."""

    name = "he.shift_sum"
    parts = var_operand_def(TensorType)
    result = result_def(TensorType)
    shift = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        if not self.parts:
            raise VerifyException(f"{self.name}: needs at least one part")
        for v in self.parts:
            _check_elem(self, "part", v, (ui32, ui64))
            if _shape(v) != _shape(self.result):
                raise VerifyException(f"{self.name}: every part must have the result's shape")
        _check_elem(self, "result", self.result, (ui64,))
        if not 0 < int(self.shift.value.data) < 64:
            raise VerifyException(f"{self.name}: shift must be in 1..63")


def _verify_broadcast(op: HeOp, v: SSAValue, result: tuple[int, ...]) -> None:
    s = _shape(v)
    if s == result:
        return
    if len(s) == len(result) and all(d == 1 for d in s[1:]) and s[:1] in ((1,), result[:1]):
        return
    raise VerifyException(
        f"{op.name}: operand shape {list(s)} does not broadcast to {list(result)} "
        "(allowed: equal, all ones, or all ones but a leading limb dimension)"
    )


class _WordBinary(HeOp):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        _check_elem(self, "result", self.result, (ui32, ui64, i64))
        for v in (self.lhs, self.rhs):
            _check_elem(self, "operand", v, WORD_TYPES)
            _verify_broadcast(self, v, _shape(self.result))


@irdl_op_definition
class MulOp(_WordBinary):
    """lhs * rhs mod 2^w (operands zero-extended to the result's width w)."""

    name = "he.mul"


@irdl_op_definition
class AddOp(_WordBinary):
    """lhs + rhs mod 2^w."""

    name = "he.add"


@irdl_op_definition
class SubOp(_WordBinary):
    """lhs - rhs mod 2^w."""

    name = "he.sub"


@irdl_op_definition
class CondSubOp(_WordBinary):
    """lhs >= rhs ? lhs - rhs : lhs (rhs: the modulus, usually a per-limb constant)."""

    name = "he.csub"


@irdl_op_definition
class ShrOp(HeOp):
    """Logical x >> amount, then truncated to the result's width."""

    name = "he.shr"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    amount = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        _check_elem(self, "input", self.input, WORD_TYPES)
        _check_elem(self, "result", self.result, WORD_TYPES)
        if _shape(self.input) != _shape(self.result):
            raise VerifyException(f"{self.name}: input and result shapes differ")
        if not 0 <= int(self.amount.value.data) < 64:
            raise VerifyException(f"{self.name}: shift amount must be in 0..63")


CORE_OPS: list[type[IRDLOperation]] = [
    ModAddOp, ModSubOp, ModMulOp, BarrettReduceOp, ModMatMulOp, NttOp, InttOp,
    ConstantOp, ReshapeOp, CastOp, ExtractByteOp, ByteMatMulOp, ShiftSumOp,
    MulOp, AddOp, SubOp, CondSubOp, ShrOp,
]  # fmt: skip

# ===========================================================================
# PACKED-SLOT OPS (Halevi-Shoup packing, einsum over ciphertexts, SEAL)
#
# Reserved for the encrypted-packing work: packed slot vectors, he.rotate,
# plaintext x ciphertext multiply, ... Define the op classes in this section and
# append them to PACKED_SLOT_OPS; the dialect below registers them with the rest.
# ===========================================================================

#
# Values are slot vectors: `!he.ct<SLOTS, "LAYOUT">` (a ciphertext) and
# `!he.pt<SLOTS, "LAYOUT">` (an encoded plaintext). SLOTS is the slot count (CKKS:
# poly modulus degree / 2); LAYOUT says which tensor element lives in which slot:
#
#   grid dims=A,B strides=SA,SB [bcast=R@P,...] clean|junk
#       element (a, b) sits in slot a*SA + b*SB + sum_k r_k*P_k for every r_k < R_k
#       (a bcast entry R@P replicates the tensor R times at period P); `clean`: every
#       other slot is 0, `junk`: other slots hold partial sums (read only the mapped ones).
#       A scalar is `grid dims= strides= ...` (slot 0).
#   diag rows=M cols=N d=D k=K at=G
#       slot G + i holds W[i, (i + K) mod D] for i < max(M, D) (0 where i >= M or the
#       column >= N): the K-th generalized (Halevi-Shoup) diagonal of W over D columns
#       (hetc-he-matvec-bsgs uses D = N), placed G slots up (BSGS pre-rotates the
#       diagonals of giant step G); other slots are 0.
#   partial NOTE
#       an intermediate (a rotated replica, a BSGS partial sum): no tensor to read back.
#   auto
#       not decided yet (a high-level result before its lowering fixes it).
#
# Rotation convention (SEAL's rotate_vector): he.rotate by k moves slot s+k to slot s,
# out[s] = in[(s + k) mod SLOTS]; k < 0 rotates right. Every distinct k needs one Galois key.
#
#   he.encode  tensor -> !he.pt        pack a plaintext tensor in the result's layout
#   he.encrypt tensor -> !he.ct        client side: pack + encrypt (the program's input boundary)
#   he.decrypt !he.ct -> tensor        client side: decrypt + read the mapped slots
#   he.rotate  {offset}                slot rotation (one Galois key per offset)
#   he.slot_add / he.slot_sub / he.slot_mul   ct (+|-|*) ct, ct (+|-|*) pt, slot-wise
#   he.rescale                         CKKS: divide by the last prime, one level down
#   he.matvec  (W: tensor, x: !he.ct)  plaintext matrix x encrypted vector [optional n1: BSGS split]
#   he.einsum  {equation}              einsum over ciphertexts and plaintext tensors [optional order]
#
# (he.add / he.sub / he.mul are the word-level ops above, hence the slot_ prefix here.)
# hetc-he-matvec-bsgs, hetc-he-einsum-pack and hetc-he-choose-packing lower and plan these;
# hetc.backends.numpy.he_slots simulates them and hetc.backends.seal_ckks runs them on SEAL.

import re as _re
from dataclasses import dataclass as _dataclass

from xdsl.dialects.builtin import IntAttr, StringAttr, UnitAttr
from xdsl.ir import ParametrizedAttribute, TypeAttribute
from xdsl.irdl import irdl_attr_definition, opt_attr_def


@_dataclass(frozen=True)
class Layout:
    """A parsed packing layout (see the section comment)."""

    kind: str  # "grid" | "diag" | "partial" | "auto"
    dims: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    bcast: tuple[tuple[int, int], ...] = ()  # (count, period)
    clean: bool = True
    rows: int = 0
    cols: int = 0
    d: int = 0
    k: int = 0
    at: int = 0
    note: str = ""

    @staticmethod
    def grid(dims, strides, bcast=(), clean=True) -> Layout:
        return Layout("grid", tuple(int(v) for v in dims), tuple(int(v) for v in strides),
                      tuple((int(r), int(p)) for r, p in bcast if int(r) > 1), bool(clean))

    @staticmethod
    def diag(rows: int, cols: int, d: int, k: int, at: int) -> Layout:
        return Layout("diag", rows=rows, cols=cols, d=d, k=k, at=at)

    def __str__(self) -> str:
        if self.kind == "auto":
            return "auto"
        if self.kind == "partial":
            return f"partial {self.note}".strip()
        if self.kind == "diag":
            return f"diag rows={self.rows} cols={self.cols} d={self.d} k={self.k} at={self.at}"
        text = f"grid dims={','.join(map(str, self.dims))} strides={','.join(map(str, self.strides))}"
        if self.bcast:
            text += " bcast=" + ",".join(f"{r}@{p}" for r, p in self.bcast)
        return text + (" clean" if self.clean else " junk")

    @staticmethod
    def parse(text: str) -> Layout:
        words = text.split()
        if words == ["auto"]:
            return Layout("auto")
        if words and words[0] == "partial":
            return Layout("partial", note=" ".join(words[1:]))
        try:
            kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            ints = lambda s: tuple(int(v) for v in s.split(",") if v != "")
            if words[0] == "diag":
                return Layout.diag(*(int(kv[key]) for key in ("rows", "cols", "d", "k", "at")))
            if words[0] == "grid":
                bcast = tuple(tuple(int(v) for v in b.split("@")) for b in kv.get("bcast", "").split(",") if b)
                flags = [w for w in words[1:] if "=" not in w]
                if flags not in (["clean"], ["junk"]):
                    raise ValueError
                lay = Layout.grid(ints(kv["dims"]), ints(kv["strides"]), bcast, flags == ["clean"])
                if len(lay.dims) != len(lay.strides):
                    raise ValueError
                return lay
        except (KeyError, ValueError, TypeError):
            pass
        raise VerifyException(
            f"he: bad slot layout '{text}'; write 'grid dims=A,B strides=SA,SB [bcast=R@P] clean|junk', "
            "'diag rows=M cols=N d=D k=K at=G' or 'auto'"
        )

    def base_slots(self) -> np.ndarray:
        """Slot of every tensor element (grid: shaped like dims; diag: [D] for i < D)."""
        if self.kind == "diag":
            return self.at + np.arange(max(self.rows, self.d), dtype=np.int64)
        slots = np.zeros(self.dims, dtype=np.int64)
        for axis, (n, s) in enumerate(zip(self.dims, self.strides)):
            shape = [1] * len(self.dims)
            shape[axis] = n
            slots = slots + (np.arange(n, dtype=np.int64) * s).reshape(shape)
        return slots

    def offsets(self) -> np.ndarray:
        """The replication offsets (0 first)."""
        off = np.zeros(1, dtype=np.int64)
        for r, p in self.bcast:
            off = (off[:, None] + np.arange(r, dtype=np.int64)[None, :] * p).reshape(-1)
        return off

    def max_slot(self) -> int:
        if self.kind == "diag":
            return self.at + max(self.rows, self.d) - 1
        if self.kind in ("auto", "partial") or any(n == 0 for n in self.dims):
            return 0
        top = sum((n - 1) * s for n, s in zip(self.dims, self.strides))
        return top + sum((r - 1) * p for r, p in self.bcast)

    def check_fits(self, slots: int, what: str) -> None:
        if self.kind == "grid" and any(n < 0 for n in self.dims + self.strides):
            raise VerifyException(f"{what}: negative size or stride in layout '{self}'")
        top = self.max_slot()
        if top >= slots:
            raise VerifyException(
                f"{what}: layout '{self}' needs {top + 1} slots but the vector has {slots} "
                f"(tensor of shape {list(self.dims) or [self.rows, self.cols]}); use a larger poly modulus "
                "degree or split the tensor"
            )


class _SlotVectorType(ParametrizedAttribute, TypeAttribute):
    slots: IntAttr
    layout: StringAttr

    def __init__(self, slots: int, layout: Layout | str):
        super().__init__(IntAttr(int(slots)), StringAttr(str(layout)))

    @classmethod
    def parse_parameters(cls, parser):
        parser.parse_punctuation("<")
        slots = parser.parse_integer()
        parser.parse_punctuation(",")
        text = parser.parse_str_literal()
        parser.parse_punctuation(">")
        return (IntAttr(slots), StringAttr(text))

    def print_parameters(self, printer) -> None:
        printer.print_string(f'<{self.slots.data}, "{self.layout.data}">')

    def verify(self) -> None:
        n = self.slots.data
        if not is_power_of_two(n):
            raise VerifyException(f"{self.name}: slot count {n} is not a power of two")
        lay = Layout.parse(self.layout.data)
        lay.check_fits(n, self.name)

    @property
    def n_slots(self) -> int:
        return self.slots.data

    @property
    def packing(self) -> Layout:
        return Layout.parse(self.layout.data)


@irdl_attr_definition
class CiphertextType(_SlotVectorType):
    """An encrypted slot vector (CKKS ciphertext) in a packing layout."""

    name = "he.ct"


@irdl_attr_definition
class PlaintextType(_SlotVectorType):
    """An encoded (not encrypted) slot vector in a packing layout."""

    name = "he.pt"


def _slot_type(op, v, what: str, allowed=(CiphertextType, PlaintextType)) -> _SlotVectorType:
    t = v.type
    if not isinstance(t, allowed):
        names = " or ".join(c.name for c in allowed)
        raise VerifyException(f"{op.name}: {what} must be {names}, got {t}")
    return t


def _float_tensor(op, v, what: str) -> tuple[int, ...]:
    t = v.type
    if not isinstance(t, TensorType):
        raise VerifyException(f"{op.name}: {what} must be a tensor, got {t}")
    return tuple(t.get_shape())


def _check_layout_shape(op, lay: Layout, shape: tuple[int, ...]) -> None:
    want = (lay.rows, lay.cols) if lay.kind == "diag" else lay.dims
    if lay.kind != "auto" and tuple(want) != tuple(shape):
        raise VerifyException(f"{op.name}: tensor shape {list(shape)} differs from the layout's {list(want)} ('{lay}')")


class _PackOp(HeOp):
    input = operand_def(TensorType)
    result = result_def()
    traits = traits_def(Pure())

    def _result_class(self) -> type:
        return _SlotVectorType

    def verify_(self) -> None:
        t = _slot_type(self, self.result, "result", (self._result_class(),))
        _check_layout_shape(self, t.packing, _float_tensor(self, self.input, "input"))


@irdl_op_definition
class EncodeOp(_PackOp):
    """Pack a plaintext tensor into slots in the result's layout."""

    name = "he.encode"

    def _result_class(self) -> type:
        return PlaintextType


@irdl_op_definition
class EncryptOp(_PackOp):
    """Client side: pack a tensor in the result's layout and encrypt it."""

    name = "he.encrypt"

    def _result_class(self) -> type:
        return CiphertextType


@irdl_op_definition
class DecryptOp(HeOp):
    """Client side: decrypt and read back the tensor from the operand's mapped slots."""

    name = "he.decrypt"
    input = operand_def(CiphertextType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        lay = _slot_type(self, self.input, "input", (CiphertextType,)).packing
        if lay.kind in ("diag", "partial"):
            raise VerifyException(f"{self.name}: cannot read a tensor back from a diagonal layout")
        _check_layout_shape(self, lay, _float_tensor(self, self.result, "result"))


@irdl_op_definition
class RotateOp(HeOp):
    """out[s] = in[(s + offset) mod slots] (a Galois automorphism; one key per offset)."""

    name = "he.rotate"
    input = operand_def(CiphertextType)
    result = result_def(CiphertextType)
    offset = attr_def(IntegerAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        a, r = self.input.type, self.result.type
        if a.n_slots != r.n_slots:
            raise VerifyException(f"{self.name}: slot counts differ ({a.n_slots} -> {r.n_slots})")
        if not -a.n_slots < self.amount < a.n_slots or self.amount == 0:
            raise VerifyException(f"{self.name}: offset {self.amount} must be non-zero and within +-{a.n_slots - 1}")

    @property
    def amount(self) -> int:
        return int(self.offset.value.data)


class _SlotBinary(HeOp):
    lhs = operand_def(CiphertextType)
    rhs = operand_def()
    result = result_def(CiphertextType)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        a = _slot_type(self, self.lhs, "lhs", (CiphertextType,))
        b = _slot_type(self, self.rhs, "rhs")
        r = _slot_type(self, self.result, "result", (CiphertextType,))
        if not a.n_slots == b.n_slots == r.n_slots:
            raise VerifyException(f"{self.name}: slot counts differ: {a.n_slots}, {b.n_slots} -> {r.n_slots}")


@irdl_op_definition
class SlotAddOp(_SlotBinary):
    """Slot-wise ct + ct or ct + pt."""

    name = "he.slot_add"


@irdl_op_definition
class SlotSubOp(_SlotBinary):
    """Slot-wise ct - ct or ct - pt."""

    name = "he.slot_sub"


@irdl_op_definition
class SlotMulOp(_SlotBinary):
    """Slot-wise ct * ct (relinearized by the backend) or ct * pt; follow with he.rescale."""

    name = "he.slot_mul"


@irdl_op_definition
class RescaleOp(HeOp):
    """CKKS rescale: divide by the last prime of the chain (one level; identity on slots)."""

    name = "he.rescale"
    input = operand_def(CiphertextType)
    result = result_def(CiphertextType)
    traits = traits_def(Pure())


@irdl_op_definition
class MatVecOp(HeOp):
    """y = W @ x: plaintext W [M, N], encrypted x (layout dims=N), y in layout
    `grid dims=M strides=1 clean`. `n1` (optional): the baby-step count of the BSGS split;
    `pack_at_encrypt` (unit, optional): the client encrypts x already replicated."""

    name = "he.matvec"
    matrix = operand_def(TensorType)
    vector = operand_def(CiphertextType)
    result = result_def(CiphertextType)
    n1 = opt_attr_def(IntegerAttr)
    pack_at_encrypt = opt_attr_def(UnitAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        shape = _float_tensor(self, self.matrix, "matrix")
        if len(shape) != 2:
            raise VerifyException(f"{self.name}: the matrix must be 2-D, got shape {list(shape)}")
        lay = self.vector.type.packing
        if lay.kind != "auto" and (lay.kind != "grid" or lay.dims != (shape[1],)):
            raise VerifyException(
                f"{self.name}: the vector's layout '{lay}' does not hold a vector of length {shape[1]} "
                f"(the matrix is {shape[0]}x{shape[1]})"
            )
        r = self.result.type.packing
        if r.kind != "auto" and r != Layout.grid((shape[0],), (1,)):
            raise VerifyException(f"{self.name}: result layout must be 'auto' or '{Layout.grid((shape[0],), (1,))}'")


def parse_einsum(equation: str, n_operands: int) -> tuple[list[str], str]:
    eq = equation.replace(" ", "")
    if "->" not in eq or "." in eq:
        raise VerifyException(f"he.einsum: equation '{equation}' needs an explicit '->' output and no ellipsis")
    lhs, out = eq.split("->")
    ins = lhs.split(",")
    if len(ins) != n_operands:
        raise VerifyException(f"he.einsum: equation '{equation}' has {len(ins)} inputs for {n_operands} operands")
    for s in (*ins, out):
        if not _re.fullmatch(r"[a-z]*", s) or len(set(s)) != len(s):
            raise VerifyException(f"he.einsum: subscript '{s}' in '{equation}' must be distinct lower-case letters")
    if set(out) - set("".join(ins)):
        raise VerifyException(f"he.einsum: output '{out}' uses letters no input has")
    return ins, out


@irdl_op_definition
class EinsumOp(HeOp):
    """einsum over ciphertexts (!he.ct, layout `auto` or the compact one the lowering
    expects) and plaintext tensors; at least one operand is encrypted. `order`
    (optional): the iteration-space letter order that fixes the slot layout;
    `expand_at_encrypt` (unit, optional): the client packs the operands already expanded."""

    name = "he.einsum"
    inputs = var_operand_def()
    result = result_def(CiphertextType)
    equation = attr_def(StringAttr)
    order = opt_attr_def(StringAttr)
    expand_at_encrypt = opt_attr_def(UnitAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        ins, _out = parse_einsum(self.equation.data, len(self.inputs))
        if not any(isinstance(v.type, CiphertextType) for v in self.inputs):
            raise VerifyException(f"{self.name}: no operand is encrypted; use a plaintext einsum")
        sizes: dict[str, int] = {}
        for sub, v in zip(ins, self.inputs):
            if isinstance(v.type, CiphertextType):
                lay = v.type.packing
                shape = lay.dims if lay.kind == "grid" else None
                if lay.kind in ("diag", "partial"):
                    raise VerifyException(f"{self.name}: an operand in layout '{lay}' is not a tensor")
            else:
                shape = _float_tensor(self, v, "operand")
            if shape is None:
                continue
            if len(shape) != len(sub):
                raise VerifyException(f"{self.name}: operand '{sub}' has shape {list(shape)}")
            for c, n in zip(sub, shape):
                if sizes.setdefault(c, n) != n:
                    raise VerifyException(f"{self.name}: letter '{c}' has sizes {sizes[c]} and {n}")
        if self.order is not None and sorted(self.order.data) != sorted(set("".join(ins))):
            raise VerifyException(f"{self.name}: order '{self.order.data}' is not a permutation of the letters")


PACKED_SLOT_OPS: list[type[IRDLOperation]] = [
    EncodeOp, EncryptOp, DecryptOp, RotateOp, SlotAddOp, SlotSubOp, SlotMulOp, RescaleOp, MatVecOp, EinsumOp,
]  # fmt: skip
PACKED_SLOT_TYPES = [CiphertextType, PlaintextType]

# ===========================================================================
# (end of the packed-slot section)
# ===========================================================================

HE = Dialect("he", [*CORE_OPS, *PACKED_SLOT_OPS], [*PACKED_SLOT_TYPES])

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

PACKED_SLOT_OPS: list[type[IRDLOperation]] = []

# ===========================================================================
# (end of the packed-slot section)
# ===========================================================================

HE = Dialect("he", [*CORE_OPS, *PACKED_SLOT_OPS], [])

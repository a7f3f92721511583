"""The `he` dialect's verifiers and the Barrett bounds hetc-he-barrett relies on."""

from __future__ import annotations

import random

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from hetc.diagnostics import HetcError
from hetc.dialects import he
from hetc.passes.he_barrett import plan_barrett
from hetc.passes.he_bat import bat_bound, residue_bytes


def parse(text: str):
    ctx = Context()
    for d in (Builtin, Func, he.HE):
        ctx.load_dialect(d)
    module = Parser(ctx, text).parse_module()
    module.verify()
    return module


def ntt_text(n: int, q: int, psi: int, shape: str | None = None, op: str = "he.ntt") -> str:
    t = f"tensor<{shape or n}xui32>"
    return (
        f"func.func @f(%x: {t}) -> {t} {{\n"
        f'  %y = "{op}"(%x) {{n = {n} : i64, moduli = array<i64: {q}>, roots = array<i64: {psi}>}} : ({t}) -> {t}\n'
        f"  func.return %y : {t}\n}}"
    )


def test_valid_ntt_parses() -> None:
    parse(ntt_text(4, 17, 2))
    parse(ntt_text(8, 17, 3, op="he.intt"))


@pytest.mark.parametrize(
    "n, q, psi, shape, message",
    [
        (12, 73, 2, None, "N = 12 is not a power of two"),
        (4, 15, 2, None, "modulus 15 is not prime"),
        (4, 19, 2, None, "modulus 19 has no primitive 8-th root of unity"),
        (4, 17, 4, None, "root 4 is not a primitive 8-th root of unity mod 17"),
        (4, 17, 0, None, "root 0 is not in [1, q-1]"),
        (4, 2**32 + 15, 2, None, "modulus 4294967311 is out of range"),
        (4, 17, 2, "8", "operand shape [8], expected [4]"),
    ],
)
def test_ntt_verifier(n, q, psi, shape, message) -> None:
    with pytest.raises(VerifyException, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(ntt_text(n, q, psi, shape))


def test_rns_needs_limb_dimension() -> None:
    t = "tensor<8xui32>"
    text = (
        f"func.func @f(%a: {t}, %b: {t}) -> {t} {{\n"
        f'  %c = "he.modmul"(%a, %b) {{moduli = array<i64: 17, 97>}} : ({t}, {t}) -> {t}\n'
        f"  func.return %c : {t}\n}}"
    )
    with pytest.raises(VerifyException, match="2 RNS moduli need a leading limb dimension of 2"):
        parse(text)


def test_modmul_rejects_float() -> None:
    t = "tensor<8xf32>"
    text = (
        f"func.func @f(%a: {t}, %b: {t}) -> {t} {{\n"
        f'  %c = "he.modmul"(%a, %b) {{moduli = array<i64: 17>}} : ({t}, {t}) -> {t}\n'
        f"  func.return %c : {t}\n}}"
    )
    with pytest.raises(VerifyException, match="element type f32"):
        parse(text)


def test_bytematmul_accumulator_overflow_is_rejected() -> None:
    a, b, r = "tensor<1x70000xui8>", "tensor<70000x1xui8>", "tensor<1x1xui32>"
    text = (
        f"func.func @f(%a: {a}, %b: {b}) -> {r} {{\n"
        f'  %c = "he.bytematmul"(%a, %b) : ({a}, {b}) -> {r}\n'
        f"  func.return %c : {r}\n}}"
    )
    with pytest.raises(VerifyException, match="overflows the ui32 accumulator"):
        parse(text)
    parse(text.replace("tensor<1x1xui32>", "tensor<1x1xui64>"))


def test_is_prime_matches_trial_division() -> None:
    def slow(n: int) -> bool:
        return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))

    assert [n for n in range(2000) if he.is_prime(n)] == [n for n in range(2000) if slow(n)]
    assert he.is_prime(2**31 - 1) and he.is_prime(4294967291) and not he.is_prime(2**32 - 1)
    assert not he.is_prime(3215031751)  # a strong pseudoprime to bases 2, 3, 5, 7


# ---------------------------------------------------------------------------
# Barrett: the algebra of hetc-he-barrett, checked with Python ints as 64-bit words
# ---------------------------------------------------------------------------

U64 = 2**64


def barrett_words(x: int, moduli: tuple[int, ...], limb: int, bound: int, limb_bounds=None) -> int:
    """The exact op sequence hetc-he-barrett emits, every intermediate checked < 2^64."""
    plan = plan_barrett(moduli, bound, limb_bounds)
    q = moduli[limb]
    for _ in range(plan.folds):
        x = (x >> 32) * (2**32 % q) + (x % 2**32)
        assert x < U64
    t = (x >> plan.a) * plan.mu[limb]
    assert t < U64, "alpha * mu overflows 64 bits"
    qhat = t >> plan.b
    r = x - qhat * q
    assert 0 <= r < 3 * q, "the Barrett error bound failed"
    r = r - q if r >= q else r
    r = r - q if r >= q else r
    return r


EDGE_MODULI = [
    2,
    3,
    17,
    12289,
    65537,
    2**24 + 43,
    268369921,
    2**31 - 1,
    2**31 + 11,
    3037000493,
    3037000507,
    4294967291,
    2**32 - 1,
]


@pytest.mark.parametrize("q", EDGE_MODULI)
def test_barrett_modmul_bounds(q: int) -> None:
    bound = (q - 1) ** 2
    plan = plan_barrett((q,), bound)
    # the stated bound: one Barrett step up to q = 3037000500, one fold above
    assert plan.folds == (0 if q <= 3037000500 else 1)
    rng = random.Random(q)
    xs = {0, 1, q - 1, q, 2 * q - 1, bound, bound - 1, (q - 1) * (q - 2)}
    xs |= {rng.randrange(bound + 1) for _ in range(2000)}
    xs |= {(q - 1 - rng.randrange(8)) * (q - 1 - rng.randrange(8)) for _ in range(200)}
    for x in xs:
        if 0 <= x <= bound:
            assert barrett_words(x, (q,), 0, bound) == x % q, (q, x)


@pytest.mark.parametrize(
    "moduli",
    [(268369921, 268361729, 1073479681, 536813569), (4294967291, 3037000493, 2147483647), (268369921, 65537, 17)],
)
def test_barrett_shared_shifts_rns(moduli) -> None:
    """Limbs share the shifts (a = k_min - 1), each limb checked with its own bound (q_l - 1)^2."""
    bounds = [(q - 1) ** 2 for q in moduli]
    rng = random.Random(1)
    for limb, q in enumerate(moduli):
        b = bounds[limb]
        for x in [0, 1, q - 1, q, b, b - 1] + [rng.randrange(b + 1) for _ in range(500)]:
            assert barrett_words(x, moduli, limb, max(bounds), bounds) == x % q


@pytest.mark.parametrize("q", [17, 12289, 268369921, 2**31 - 1, 4294967291])
@pytest.mark.parametrize("k", [1, 2, 256, 4096, 16384])
def test_bat_sum_is_reducible(q: int, k: int) -> None:
    """The BAT shift-sum bound fits one Barrett step for every K up to 2^14 (and beyond)."""
    parts, s = bat_bound((q,), k)
    nb = residue_bytes((q,))
    assert s < 2 ** (q.bit_length() + 31) and s < U64
    assert s < k * 256 * nb * 2 ** q.bit_length()  # the closed form in the pass's docstring
    assert plan_barrett((q,), s).folds == 0  # one Barrett step, no fold
    rng = random.Random(k)
    for x in [0, s, s - 1, q - 1, q] + [rng.randrange(s + 1) for _ in range(200)]:
        assert barrett_words(x, (q,), 0, s) == x % q


def test_barrett_large_bounds_fold_first() -> None:
    # 2^60 with a 20-bit modulus is past one step (2^(k+31) = 2^51): one fold, then Barrett
    plan = plan_barrett((1048573,), 2**60)
    assert plan.folds == 1
    rng = random.Random(7)
    for x in [2**60, 2**60 - 1, 0, 1048572] + [rng.randrange(2**60) for _ in range(500)]:
        assert barrett_words(x, (1048573,), 0, 2**60) == x % 1048573
    with pytest.raises(HetcError, match="does not fit 64 bits"):
        plan_barrett((17,), 2**64)


def test_dense_round_trip() -> None:
    for dtype in (np.uint8, np.uint32, np.uint64, np.int64):
        a = np.arange(6, dtype=dtype).reshape(2, 3)
        assert (he.array_of(he.dense(a)) == a).all()

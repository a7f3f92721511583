"""Each he lowering pass preserves meaning: a function is run (NumPy backend, exact) before
and after the pass on random and edge inputs, and the lowered form also through C."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func
from xdsl.parser import Parser

from hetc.backends.numpy.he import NumpyProgram
from hetc.dialects import he
from hetc.pipeline import run_pipeline

PIPELINE = ["hetc-he-ntt-to-matmul", "hetc-he-bat", "hetc-he-barrett"]
HIGH_LEVEL = (he.NttOp, he.InttOp, he.ModMatMulOp, he.ModMulOp, he.ModAddOp, he.ModSubOp, he.BarrettReduceOp)


def parse(text: str):
    ctx = Context()
    for d in (Builtin, Func, he.HE):
        ctx.load_dialect(d)
    return Parser(ctx, text).parse_module()


def fn_of(module) -> func.FuncOp:
    return next(op for op in module.walk() if isinstance(op, func.FuncOp))


def residues(rng, shape, moduli, dtype=np.uint32):
    """Random residues with the edge values 0, 1, q-1 planted in every limb."""
    moduli = list(moduli)
    q = (
        np.array(moduli, dtype=np.uint64).reshape((len(moduli),) + (1,) * (len(shape) - 1))
        if len(moduli) > 1
        else moduli[0]
    )
    x = rng.integers(0, 2**63, size=shape, dtype=np.int64).astype(np.uint64) % np.asarray(q, dtype=np.uint64)
    flat = x.reshape(len(moduli) if len(moduli) > 1 else 1, -1)
    for limb, qq in enumerate(moduli if len(moduli) > 1 else moduli[:1]):
        for i, v in enumerate((0, 1, qq - 1, qq - 1, 0)):
            if i < flat.shape[1]:
                flat[limb, i] = v
    return x.astype(dtype)


def check_each_pass(text: str, shapes, moduli, seed=0, dtype=np.uint32, c_target=True) -> None:
    rng = np.random.default_rng(seed)
    inputs = [residues(rng, s, moduli, dtype) for s in shapes]
    module = parse(text)
    module.verify()
    expected = NumpyProgram(fn_of(module)).run(*inputs)
    for name in PIPELINE:
        run_pipeline(module, [name])
        module.verify()
        got = NumpyProgram(fn_of(module)).run(*inputs)
        for e, g in zip(expected, got):
            assert e.dtype == g.dtype and (e == g).all(), f"{name} changed the result"
    assert not [op for op in module.walk() if isinstance(op, HIGH_LEVEL)], "high-level ops left after the pipeline"
    if c_target:
        from hetc.backends.c.he import CProgram

        got = CProgram(fn_of(module)).run(*inputs)
        for e, g in zip(expected, got):
            assert (e == g).all(), "the C target disagrees"


def ntt_fn(n, moduli, roots, op="he.ntt", elem="ui32") -> str:
    shape = f"{n}x" if len(moduli) == 1 else f"{len(moduli)}x{n}x"
    t = f"tensor<{shape}{elem}>"
    return (
        f"func.func @f(%x: {t}) -> {t} {{\n"
        f'  %y = "{op}"(%x) {{n = {n} : i64, moduli = array<i64: {", ".join(map(str, moduli))}>, '
        f"roots = array<i64: {', '.join(map(str, roots))}>}} : ({t}) -> {t}\n"
        f"  func.return %y : {t}\n}}"
    )


def root(n: int, q: int) -> int:
    from hetc.he import primitive_root

    return primitive_root(n, q)


@pytest.mark.parametrize("op", ["he.ntt", "he.intt"])
@pytest.mark.parametrize(
    "n, q", [(2, 17), (8, 17), (16, 7681), (64, 12289), (32, 268369921), (64, 2147483137), (128, 4294957057)]
)
def test_ntt_passes(op, n, q) -> None:
    check_each_pass(ntt_fn(n, [q], [root(n, q)], op), [(n,)], [q])


@pytest.mark.parametrize("elem, dtype", [("ui64", np.uint64), ("i64", np.int64)])
def test_ntt_passes_wide_types(elem, dtype) -> None:
    q = 268369921
    check_each_pass(ntt_fn(16, [q], [root(16, q)], elem=elem), [(16,)], [q], dtype=dtype)


def test_ntt_passes_rns() -> None:
    from hetc.he import ntt_primes

    qs = ntt_primes(32, 30, 3)
    check_each_pass(ntt_fn(32, qs, [root(32, q) for q in qs], "he.intt"), [(3, 32)], qs)


MODMATMUL = """
func.func @f(%w: tensor<{m}x{k}xui32>, %x: tensor<{k}x{n}xui32>) -> tensor<{m}x{n}xui32> {{
  %y = "he.modmatmul"(%w, %x) {{moduli = array<i64: {q}>}} : (tensor<{m}x{k}xui32>, tensor<{k}x{n}xui32>) -> tensor<{m}x{n}xui32>
  func.return %y : tensor<{m}x{n}xui32>
}}"""


@pytest.mark.parametrize("q", [2, 17, 257, 65537, 2**24 + 43, 2**31 - 1, 3037000493, 4294967291])
def test_modmatmul_dynamic_passes(q) -> None:
    check_each_pass(MODMATMUL.format(m=5, k=33, n=3, q=q), [(5, 33), (33, 3)], [q], seed=q % 1000)


ELEMENTWISE = """
func.func @f(%a: tensor<{s}xui32>, %b: tensor<{s}xui32>) -> tensor<{s}xui32> {{
  %c = "he.modmul"(%a, %b) {{moduli = array<i64: {qs}>}} : (tensor<{s}xui32>, tensor<{s}xui32>) -> tensor<{s}xui32>
  %d = "he.modadd"(%c, %a) {{moduli = array<i64: {qs}>}} : (tensor<{s}xui32>, tensor<{s}xui32>) -> tensor<{s}xui32>
  %e = "he.modsub"(%d, %b) {{moduli = array<i64: {qs}>}} : (tensor<{s}xui32>, tensor<{s}xui32>) -> tensor<{s}xui32>
  %f = "he.modsub"(%b, %e) {{moduli = array<i64: {qs}>}} : (tensor<{s}xui32>, tensor<{s}xui32>) -> tensor<{s}xui32>
  func.return %f : tensor<{s}xui32>
}}"""


@pytest.mark.parametrize(
    "moduli",
    [
        [2],
        [3],
        [17],
        [2**31 - 1],
        [2**31 + 11],
        [3037000493],
        [3037000507],
        [4294967291],
        [2**32 - 1],
        [268369921, 268361729],
    ],
)
def test_elementwise_passes(moduli) -> None:
    shape = (len(moduli), 257) if len(moduli) > 1 else (257,)
    s = "x".join(map(str, shape))
    check_each_pass(
        ELEMENTWISE.format(s=s, qs=", ".join(map(str, moduli))), [shape, shape], moduli, seed=moduli[0] % 97
    )


def test_products_at_the_top_of_the_range() -> None:
    """(q-1)^2 and its neighbours for the largest moduli, where the fold matters."""
    from hetc.backends.c.he import CProgram

    for q in (3037000493, 3037000507, 4294967291, 2**32 - 1):
        module = parse(ELEMENTWISE.format(s="6", qs=q))
        a = np.array([q - 1, q - 1, q - 2, 1, 0, q - 1], dtype=np.uint32)
        b = np.array([q - 1, q - 2, q - 2, q - 1, q - 1, 1], dtype=np.uint32)
        expected = NumpyProgram(fn_of(module)).run(a, b)[0]
        run_pipeline(module, PIPELINE)
        for prog in (NumpyProgram(fn_of(module)), CProgram(fn_of(module))):
            assert (prog.run(a, b)[0] == expected).all()
        ref = [((int(y) - ((int(x) * int(y) % q + int(x)) % q - int(y)) % q) % q) for x, y in zip(a, b)]
        assert list(map(int, expected)) == ref


def test_barrett_reduce_any_bound() -> None:
    """he.barrett_reduce of arbitrary 64-bit inputs (folds first) matches x mod q."""
    from hetc.backends.c.he import CProgram

    rng = np.random.default_rng(3)
    for q, bound in ((17, 2**64 - 1), (1048573, 2**60), (268369921, 2**50), (4294967291, 2**64 - 1)):
        text = f"""
func.func @f(%x: tensor<64xui64>) -> tensor<64xui32> {{
  %y = "he.barrett_reduce"(%x) {{moduli = array<i64: {q}>, max_input = {bound} : ui64}} : (tensor<64xui64>) -> tensor<64xui32>
  func.return %y : tensor<64xui32>
}}"""
        module = parse(text)
        run_pipeline(module, PIPELINE)
        hi = rng.integers(0, 2**32, 64, dtype=np.uint64)
        x = (hi << np.uint64(32)) | rng.integers(0, 2**32, 64, dtype=np.uint64)
        if bound < 2**64 - 1:
            x %= np.uint64(bound + 1)
        x[:4] = [0, bound, bound - 1, q]
        want = np.array([int(v) % q for v in x], dtype=np.uint32)
        for prog in (NumpyProgram(fn_of(module)), CProgram(fn_of(module))):
            assert (prog.run(x)[0] == want).all(), (q, bound)

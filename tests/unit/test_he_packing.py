"""Packed-slot HE: Halevi-Shoup/BSGS matvec, einsum packing, the packing ILP, the slot
simulator and real CKKS on SEAL (tenseal.sealapi)."""

from __future__ import annotations

import hetc
import numpy as np
import pytest
from hetc.backends.numpy.he_slots import SimEngine, packed_stats, run_packed
from hetc.diagnostics import HetcError
from hetc.dialects import he
from hetc.he_packed import PackedProgram, build_matvec
from hetc.passes.he_matvec_bsgs import HeMatvecBsgs
from xdsl.context import Context

SEAL_MISSING = None
try:
    import tenseal.sealapi  # noqa: F401
except (ImportError, OSError) as e:  # pragma: no cover
    SEAL_MISSING = f"tenseal (SEAL) is not importable: {e}; pip install 'hetc[he]'"

SHAPES = [(4, 6), (7, 5), (16, 64), (64, 16), (33, 10), (48, 48), (64, 64), (256, 256), (100, 3), (5, 37)]


def _rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("m,n", SHAPES)
@pytest.mark.parametrize("strategy", ["diagonal", "bsgs", "ilp"])
def test_matvec_matches_numpy_on_sim(m, n, strategy):
    rng = _rng(m * 1000 + n)
    W, x = rng.standard_normal((m, n)), rng.standard_normal(n)
    y, st = hetc.he.encrypted_matvec(W, x, strategy=strategy)
    np.testing.assert_allclose(y, W @ x, atol=1e-10)
    from hetc.passes.he_matvec_bsgs import replica_count

    rep = replica_count(m, n).bit_length() - 1  # doubling rotations replicating x at period n
    assert st["depth"] == 1
    assert st["diagonal"]["rotations"] == rep + n - 1  # + the n - 1 diagonal rotations
    assert st["rotations"] <= st["diagonal"]["rotations"]
    if strategy == "diagonal":
        assert st["rotations"] == rep + n - 1
    elif n > 4:
        assert st["rotations"] < rep + n - 1


@pytest.mark.parametrize("n1", [1, 2, 3, 5, 8, 13])
def test_bsgs_any_split_rotation_count(n1):
    m, n = 13, 21  # N = 21, not a power of two
    rng = _rng(n1)
    W, x = rng.standard_normal((m, n)), rng.standard_normal(n)
    module = build_matvec(m, n, 256)
    HeMatvecBsgs(n1=n1).apply(Context(), module)
    module.verify()
    fn = next(op for op in module.walk() if op.name == "func.func")
    (y,) = run_packed(fn, [W, x], SimEngine(256))
    np.testing.assert_allclose(y, W @ x, atol=1e-10)
    n2 = -(-21 // n1)
    assert packed_stats(fn)["rotations"] == 1 + (n1 - 1) + (n2 - 1)


EINSUM_CASES = [
    ("ij,j->i", [(5, 7), (7,)], (False, True)),
    ("ij,j->i", [(16, 16), (16,)], (False, True)),
    ("ij,jk->ik", [(3, 4), (4, 5)], (False, True)),
    ("ij,jk->ik", [(3, 4), (4, 5)], (True, False)),
    ("ij,jk->ik", [(6, 3), (3, 7)], (True, True)),
    ("i,i->", [(10,), (10,)], (True, True)),
    ("i,i->", [(64,), (64,)], (True, False)),
    ("i,i->i", [(6,), (6,)], (True, True)),
    ("ij->i", [(3, 6)], (True,)),
    ("bij,bj->bi", [(2, 3, 5), (2, 5)], (False, True)),
]


@pytest.mark.parametrize("eq,shapes,enc", EINSUM_CASES)
@pytest.mark.parametrize("strategy", ["diagonal", "ilp"])
def test_einsum_matches_numpy_on_sim(eq, shapes, enc, strategy):
    rng = _rng(len(eq))
    ops = [rng.standard_normal(s) for s in shapes]
    y, st = hetc.he.encrypted_einsum(eq, *ops, encrypted=enc, strategy=strategy)
    np.testing.assert_allclose(y, np.einsum(eq, *ops), atol=1e-10)
    assert st["rotations"] <= st["diagonal"]["rotations"]
    assert st["depth"] == (1 if len(shapes) == 2 else 0)


def test_ilp_never_worse_and_reports_optimality():
    rng = _rng(3)
    examples = []
    for m, n in SHAPES:
        _, st = hetc.he.encrypted_matvec(rng.standard_normal((m, n)), rng.standard_normal(n))
        examples.append(st)
    for eq, shapes, enc in EINSUM_CASES:
        _, st = hetc.he.encrypted_einsum(eq, *[rng.standard_normal(s) for s in shapes], encrypted=enc)
        examples.append(st)
    for st in examples:
        assert st["rotations"] <= st["diagonal"]["rotations"]
        assert st["rotations"] <= st["bsgs_sqrt"]["rotations"]
        assert st["solver"]["status"] == "OPTIMAL" and st["solver"]["gap"] == 0


def test_ilp_shares_keys_across_layers_and_is_deterministic():
    rng = _rng(4)
    Ws = [rng.standard_normal((32, 64)) / 8, rng.standard_normal((16, 32)) / 6]
    x = rng.standard_normal(64)
    y, ilp = hetc.he.encrypted_mlp(Ws, x, strategy="ilp")
    _, bsgs = hetc.he.encrypted_mlp(Ws, x, strategy="bsgs")
    ref = (Ws[1] @ (Ws[0] @ x) ** 2) ** 2
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9)
    assert ilp["rotations"] <= bsgs["rotations"] < ilp["diagonal"]["rotations"]
    assert ilp["keys"] < bsgs["keys"]
    assert ilp["depth"] == 4
    _, again = hetc.he.encrypted_mlp(Ws, x, strategy="ilp")
    assert again["choices"] == ilp["choices"]


def test_printed_ir_round_trips():
    from hetc.pipeline import make_context
    from xdsl.parser import Parser

    prog = PackedProgram(build_matvec(16, 64, 4096, square=True))
    text = str(prog.module)
    assert '"diag rows=16 cols=64 d=64' in text and "he.rotate" in text
    again = Parser(make_context(), text).parse_module()
    again.verify()
    assert str(again) == text


@pytest.mark.skipif(SEAL_MISSING is not None, reason=SEAL_MISSING or "")
def test_seal_linear_square_within_ckks_tolerance():
    # CKKS: poly modulus degree 8192 (4096 slots), coeff modulus [60, 40, 40, 60], scale 2^40
    rng = _rng(5)
    W, x = rng.standard_normal((16, 64)) / 8, rng.standard_normal(64)
    y, st = hetc.he.encrypted_linear_square(W, x, backend="seal")
    ref = (W @ x) ** 2
    assert st["ckks"] == {"poly_modulus_degree": 8192, "coeff_modulus_bits": [60, 40, 40, 60], "scale_bits": 40}
    assert st["depth"] == 2
    assert st["galois_steps"] == st["rotation_offsets"]  # keys for exactly the steps used
    assert st["rotations"] < st["diagonal"]["rotations"]
    np.testing.assert_allclose(y, ref, atol=1e-3 * max(1.0, np.abs(ref).max()))


@pytest.mark.skipif(SEAL_MISSING is not None, reason=SEAL_MISSING or "")
def test_seal_einsum_and_missing_key():
    rng = _rng(6)
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    y, _ = hetc.he.encrypted_einsum("ij,jk->ik", A, B, encrypted=(False, True), backend="seal")
    np.testing.assert_allclose(y, A @ B, atol=1e-4)
    # a Galois key for a step the program does not use is not generated: SEAL refuses it
    from hetc.backends.seal_ckks import SealEngine

    eng = SealEngine(4096, [1], depth=1)
    ct = eng.encrypt(np.arange(4096.0))
    np.testing.assert_allclose(eng.decrypt(eng.rotate(ct, 1))[:4], [1, 2, 3, 4], atol=1e-4)
    with pytest.raises(ValueError, match="Galois key"):
        eng.rotate(ct, 2)


def test_slot_overflow_names_the_sizes():
    with pytest.raises(HetcError, match=r"x has 5000 elements but a ciphertext has 4096 slots"):
        hetc.he.encrypted_matvec(np.ones((2, 5000)), np.ones(5000))
    with pytest.raises(HetcError, match=r"a 16x3000 matvec packs the vector 3000 replicated 2 times = 6000 slots, "
                       r"but a ciphertext has 4096"):
        hetc.he.encrypted_matvec(np.ones((16, 3000)), np.ones(3000))
    with pytest.raises(HetcError, match=r"a 1000x8 matvec .* 8 replicated 128 times = 1024 slots, .* has 512"):
        hetc.he.encrypted_matvec(np.ones((1000, 8)), np.ones(8), slots=512)
    with pytest.raises(HetcError, match=r"needs 8192 slots .* i=100\(->128\) x k=60\(->64\) .* has 4096"):
        hetc.he.encrypted_einsum("ij,jk->ik", np.ones((100, 1)), np.ones((1, 60)), encrypted=(True, False))
    with pytest.raises(Exception, match=r"needs 40 slots but the vector has 32"):
        he.CiphertextType(32, "grid dims=40 strides=1 clean").verify()


def test_bad_inputs_are_named():
    with pytest.raises(HetcError, match="W is 3x4 but x has length 5"):
        hetc.he.encrypted_matvec(np.ones((3, 4)), np.ones(5))
    with pytest.raises(HetcError, match="backend 'gpu'"):
        hetc.he.encrypted_matvec(np.ones((3, 4)), np.ones(4), backend="gpu")
    with pytest.raises(HetcError, match="NaN"):
        hetc.he.encrypted_matvec(np.full((2, 2), np.nan), np.ones(2))
    with pytest.raises(HetcError, match="no operand is encrypted"):
        hetc.he.encrypted_einsum("i,i->", np.ones(3), np.ones(3), encrypted=(False, False))
    with pytest.raises(Exception, match="bad slot layout"):
        he.Layout.parse("rows 3")

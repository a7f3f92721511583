"""Tensor operations on encrypted data: packed CKKS programs (hetc.he.encrypted_*).

    import hetc
    y, stats = hetc.he.encrypted_matvec(W, x, backend="sim")          # or backend="seal"
    y, stats = hetc.he.encrypted_einsum("ij,jk->ik", A, B, encrypted=(False, True))
    y, stats = hetc.he.encrypted_linear_square(W, x, backend="seal")  # (W @ x)^2

Each call builds `he` IR with the packed-slot ops (he.encrypt at the client boundary,
he.matvec / he.einsum, he.slot_mul, he.decrypt), plans it with hetc-he-choose-packing
(strategy "ilp" by default; "bsgs" = n1 = ceil(sqrt N); "diagonal" = n1 = N, N the matrix's columns), lowers it
with hetc-he-matvec-bsgs and hetc-he-einsum-pack to rotations / slot-wise products /
rescales, and runs the lowered function on the slot simulator ("sim": float64, no noise)
or on SEAL ("seal": real CKKS through tenseal.sealapi; keys for exactly the program's
rotation offsets). `stats` holds the rotations, distinct keys and depth of the lowered
program, the rotations/keys of the diagonal and sqrt-BSGS baselines, the solver's status,
the plaintext reference's max abs error and the wall time of the run (and the CKKS
parameters on SEAL).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np
from hetc.diagnostics import HetcError

#: the lowering every packed program goes through
PACKED_PIPELINE = ("hetc-he-choose-packing", "hetc-he-matvec-bsgs", "hetc-he-einsum-pack")
BACKENDS = ("sim", "seal")
DEFAULT_SLOTS = 4096  # CKKS poly modulus degree 8192


class PackedProgram:
    """A lowered packed program: `source` (as built), `module` (lowered), `plan` (the
    packing report), `stats`, and `run(*arrays, backend=...)`."""

    def __init__(self, module, strategy: str = "ilp", time_limit: float = 10.0, seed: int = 0,
                 client_packing: bool = True):
        from hetc.backends.numpy.he_slots import packed_stats, slot_count
        from hetc.passes.he_choose_packing import choose_packing
        from hetc.passes.he_einsum_pack import HeEinsumPack
        from hetc.passes.he_matvec_bsgs import HeMatvecBsgs
        from xdsl.context import Context
        from xdsl.dialects import func
        from xdsl.utils.exceptions import VerifyException

        try:
            module.verify()
            self.source = str(module)
            self.plan = choose_packing(module, time_limit, seed, strategy, client_packing)
            HeMatvecBsgs().apply(Context(), module)
            HeEinsumPack().apply(Context(), module)
            module.verify()
        except VerifyException as e:
            raise HetcError(str(e)) from None
        self.module = module
        self.func = next(op for op in module.walk() if isinstance(op, func.FuncOp))
        self.slots = slot_count(self.func)
        self.stats = packed_stats(self.func)

    def run(self, *arrays, backend: str = "sim", poly_degree: int | None = None) -> tuple[list[np.ndarray], dict]:
        from hetc.backends.numpy.he_slots import SimEngine, run_packed

        if backend not in BACKENDS:
            raise HetcError(f"backend '{backend}' is not one of {', '.join(BACKENDS)}")
        info: dict = {"backend": backend}
        t0 = time.perf_counter()
        if backend == "sim":
            engine = SimEngine(self.slots)
        else:
            from hetc.backends.seal_ckks import SealEngine, available

            why = available()
            if why:
                raise HetcError(why)
            try:
                engine = SealEngine(self.slots, self.stats["rotation_offsets"], self.stats["depth"], poly_degree)
            except ValueError as e:
                raise HetcError(str(e)) from None
            info["ckks"] = dict(engine.params)
            info["galois_steps"] = engine.galois_steps
            info["keygen_s"] = round(time.perf_counter() - t0, 4)
        t1 = time.perf_counter()
        outs = run_packed(self.func, [np.asarray(a, dtype=np.float64) for a in arrays], engine)
        info["run_s"] = round(time.perf_counter() - t1, 4)
        info["wall_s"] = round(time.perf_counter() - t0, 4)
        return outs, info


def _f64(shape):
    from xdsl.dialects.builtin import TensorType, f64

    return TensorType(f64, list(shape))


def _module(arg_shapes, body):
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Block, Region

    block = Block(arg_types=[_f64(s) for s in arg_shapes])
    results = body(list(block.args), block)
    block.add_op(func.ReturnOp(*results))
    fn = func.FuncOp("packed", ([_f64(s) for s in arg_shapes], [r.type for r in results]), Region(block))
    return ModuleOp([fn])


def _add(block, op, hint=None):
    block.add_op(op)
    if hint:
        op.results[0].name_hint = hint
    return op.results[0]


def _array(name: str, a, ndim: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise HetcError(f"{name} is not a numeric array") from None
    if ndim is not None and arr.ndim != ndim:
        raise HetcError(f"{name} must be {ndim}-D, got shape {list(arr.shape)}")
    if not np.isfinite(arr).all():
        raise HetcError(f"{name} holds NaN or Inf; CKKS encodes finite reals only")
    return arr


def _check_slots(slots: int) -> int:
    if not isinstance(slots, int) or slots < 2 or slots & (slots - 1):
        raise HetcError(f"slots = {slots} is not a power of two >= 2 (CKKS: slots = poly modulus degree / 2)")
    return slots


def build_matvec(m: int, n: int, slots: int, square: bool = False):
    """@packed(W: [m, n], x: [n]) -> (W @ x) or (W @ x)^2, x encrypted zero-padded."""
    return build_mlp([(m, n)], slots, square)


def build_mlp(shapes: Sequence[tuple[int, int]], slots: int, square: bool = True):
    """@packed(W1, ..., Wk, x) -> Wk @ act(... act(W1 @ x)), act = x^2 after every layer
    (square=True) or none; x encrypted zero-padded; every W plaintext."""
    from hetc.dialects import he

    for (m, n), (m2, n2) in itertools.pairwise(shapes):
        if n2 != m:
            raise HetcError(f"layer shapes do not chain: {m}x{n} then {m2}x{n2}")
    from hetc.passes.he_matvec_bsgs import replica_count

    for m, n in shapes:
        copies = replica_count(m, n)
        if copies * n > slots:
            raise HetcError(
                f"slot overflow: a {m}x{n} matvec packs the vector {n} replicated {copies} times = "
                f"{copies * n} slots, but a ciphertext has {slots}; use more slots (a larger poly modulus degree)"
            )

    def body(args, block):
        *ws, x = args
        n0 = shapes[0][1]
        y = _add(block, he.EncryptOp.make([x], he.CiphertextType(slots, he.Layout.grid((n0,), (1,)))), "x_enc")
        for k, (w, (m, n)) in enumerate(zip(ws, shapes)):
            y_t = he.CiphertextType(slots, he.Layout.grid((m,), (1,)))
            y = _add(block, he.MatVecOp.make([w, y], y_t), f"y{k}")
            if square:
                y = _add(block, he.SlotMulOp.make([y, y], y_t), f"y{k}_sq")
                y = _add(block, he.RescaleOp.make([y], y_t), f"y{k}_act")
        return [_add(block, he.DecryptOp.make([y], _f64((shapes[-1][0],))), "out")]

    return _module([*shapes, (shapes[0][1],)], body)


def build_einsum(equation: str, shapes: Sequence[tuple[int, ...]], encrypted: Sequence[bool], slots: int):
    """@packed(*operands) -> einsum(equation), the `encrypted` operands he.encrypt-ed in the
    compact layout of the default iteration order (hetc-he-einsum-pack re-packs them at the
    he.encrypt if hetc-he-choose-packing picks another order)."""
    from hetc.dialects import he
    from hetc.passes.he_einsum_pack import plan_einsum
    from xdsl.dialects.builtin import StringAttr
    from xdsl.utils.exceptions import VerifyException

    try:
        plan = plan_einsum(equation, [tuple(s) for s in shapes], tuple(encrypted), None, slots)
    except VerifyException as e:
        raise HetcError(str(e).replace("he.einsum", "slot overflow" if "slots" in str(e) else "einsum")) from None

    def body(args, block):
        vals = []
        for k, (a, enc) in enumerate(zip(args, encrypted)):
            if enc:
                t = he.CiphertextType(slots, plan.compact(k))
                vals.append(_add(block, he.EncryptOp.make([a], t), f"enc{k}"))
            else:
                vals.append(a)
        es = he.EinsumOp.create(
            operands=vals,
            result_types=[he.CiphertextType(slots, "auto")],
            attributes={"equation": StringAttr(equation)},
        )
        r = _add(block, es, "r")
        return [r]

    module = _module(shapes, body)
    return module, plan


def _stats(prog: PackedProgram, info: dict, err: float) -> dict:
    out = dict(prog.stats)
    out["strategy"] = prog.plan["strategy"]
    out["diagonal"] = prog.plan["diagonal"]
    out["bsgs_sqrt"] = prog.plan["bsgs_sqrt"]
    out["choices"] = prog.plan["choices"]
    if "solver" in prog.plan:
        out["solver"] = prog.plan["solver"]
    out.update(info)
    out["max_abs_error"] = err
    out["slots"] = prog.slots
    return out


def _backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise HetcError(f"backend '{backend}' is not one of {', '.join(BACKENDS)}")
    return backend


def encrypted_matvec(W, x, *, backend: str = "sim", strategy: str = "ilp", slots: int = DEFAULT_SLOTS,
                     time_limit: float = 10.0, seed: int = 0, square: bool = False, client_packing: bool = True):
    """y = W @ x (or (W @ x)^2 with square=True) with W plaintext [m, n] and x encrypted [n].
    client_packing=False keeps the ILP from packing x replicated at encryption.
    Returns (y, stats)."""
    _backend(backend)
    w = _array("W", W, 2)
    v = _array("x", x, 1)
    m, n = w.shape
    if v.shape[0] != n:
        raise HetcError(f"W @ x: W is {m}x{n} but x has length {v.shape[0]}")
    if v.shape[0] > _check_slots(slots):
        raise HetcError(f"slot overflow: x has {v.shape[0]} elements but a ciphertext has {slots} slots")
    prog = PackedProgram(build_matvec(m, n, slots, square), strategy, time_limit, seed, client_packing)
    (y,), info = prog.run(w, v, backend=backend)
    ref = w @ v
    if square:
        ref = ref * ref
    return y, _stats(prog, info, float(np.max(np.abs(y - ref))) if y.size else 0.0)


def encrypted_linear_square(W, x, **kw):
    """The encrypted linear layer + square activation: (W @ x)^2 (depth 2)."""
    return encrypted_matvec(W, x, square=True, **kw)


def encrypted_mlp(Ws: Sequence, x, *, backend: str = "sim", strategy: str = "ilp", square: bool = True,
                  slots: int = DEFAULT_SLOTS, time_limit: float = 10.0, seed: int = 0, poly_degree: int | None = None):
    """Layers of plaintext matrices over an encrypted vector, x^2 after each (square=True).
    The layers share rotation keys where their BSGS splits allow (the ILP's second goal).
    Returns (y, stats)."""
    _backend(backend)
    ws = [_array(f"W{k}", w, 2) for k, w in enumerate(Ws)]
    if not ws:
        raise HetcError("no layers given")
    v = _array("x", x, 1)
    if v.shape[0] != ws[0].shape[1]:
        raise HetcError(f"W0 is {ws[0].shape[0]}x{ws[0].shape[1]} but x has length {v.shape[0]}")
    prog = PackedProgram(build_mlp([w.shape for w in ws], _check_slots(slots), square), strategy, time_limit, seed)
    (y,), info = prog.run(*ws, v, backend=backend, poly_degree=poly_degree)
    ref = v
    for w in ws:
        ref = w @ ref
        if square:
            ref = ref * ref
    return y, _stats(prog, info, float(np.max(np.abs(y - ref))) if y.size else 0.0)


def encrypted_einsum(equation: str, *operands, encrypted: Sequence[bool] | None = None, backend: str = "sim",
                     strategy: str = "ilp", slots: int = DEFAULT_SLOTS, time_limit: float = 10.0, seed: int = 0):
    """einsum(equation, *operands) with the `encrypted` operands encrypted (default: all).
    At most two operands. Returns (result, stats)."""
    _backend(backend)
    arrays = [_array(f"operand {k}", a) for k, a in enumerate(operands)]
    enc = tuple(bool(e) for e in (encrypted if encrypted is not None else [True] * len(arrays)))
    if len(enc) != len(arrays):
        raise HetcError(f"encrypted= has {len(enc)} flags for {len(arrays)} operands")
    if not any(enc):
        raise HetcError("no operand is encrypted; use numpy.einsum")
    try:
        ref = np.einsum(equation, *arrays)
    except ValueError as e:
        raise HetcError(f"einsum '{equation}': {e}") from None
    module, _ = build_einsum(equation, [a.shape for a in arrays], enc, _check_slots(slots))
    # the result layout is fixed by the lowering: read it back there
    prog = PackedProgram(module, strategy, time_limit, seed)
    _add_decrypt(prog, ref.shape)
    (y,), info = prog.run(*arrays, backend=backend)
    return y, _stats(prog, info, float(np.max(np.abs(y - ref))) if y.size else 0.0)


def _add_decrypt(prog: PackedProgram, shape) -> None:
    """Replace the returned ciphertext by its he.decrypt (the client reads the result
    in whatever layout the lowering left it)."""
    from hetc.dialects import he
    from xdsl.dialects import func

    ret = prog.func.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    v = ret.arguments[0]
    dec = he.DecryptOp.make([v], _f64(shape))
    dec.results[0].name_hint = "out"
    prog.func.body.block.insert_op_before(dec, ret)
    ret.operands = [dec.results[0]]
    prog.func.function_type = func.FunctionType.from_lists(
        list(prog.func.function_type.inputs.data), [dec.results[0].type]
    )
    prog.module.verify()


__all__ = [
    "PACKED_PIPELINE", "PackedProgram", "build_einsum", "build_matvec",
    "build_mlp", "encrypted_einsum", "encrypted_linear_square", "encrypted_matvec", "encrypted_mlp",
]  # fmt: skip

"""Slot-level execution of packed `he` programs (he.encode/encrypt/decrypt, he.rotate,
he.slot_add/sub/mul, he.rescale), with two interchangeable engines:

- `SimEngine`: a float64 (CKKS-like, no noise) NumPy simulator: a ciphertext is its
  slot vector, he.rotate is `np.roll(v, -k)`, he.rescale is the identity. Exact up to
  float rounding; the oracle for the packing passes.
- `hetc.backends.seal_ckks.SealEngine`: real CKKS on Microsoft SEAL (TenSEAL's sealapi).

`run_packed(func, args, engine)` interprets one func.func op by op (the high-level
he.matvec / he.einsum must have been lowered by hetc-he-matvec-bsgs / hetc-he-einsum-pack).
`packed_stats(func)` counts rotations, distinct rotation offsets (= Galois keys) and the
multiplicative depth (he.rescale on the longest path).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hetc.dialects import he
from xdsl.dialects import func
from xdsl.ir import Operation, SSAValue


def pack(array: np.ndarray, layout: he.Layout, slots: int) -> np.ndarray:
    """The slot vector holding `array` in `layout` (unmapped slots 0)."""
    array = np.asarray(array, dtype=np.float64)
    layout.check_fits(slots, "pack")
    out = np.zeros(slots, dtype=np.float64)
    if layout.kind == "diag":
        rows, cols, d, k = layout.rows, layout.cols, layout.d, layout.k
        i = np.arange(max(rows, d))
        j = (i + k) % d
        ok = (i < rows) & (j < cols)
        vals = np.zeros(i.size)
        vals[ok] = array[i[ok], j[ok]]
        out[layout.base_slots()] = vals
        return out
    if layout.kind != "grid":
        raise ValueError(f"cannot pack into layout '{layout}'")
    base = layout.base_slots().reshape(-1)
    flat = array.reshape(-1)
    for off in layout.offsets():
        out[base + off] = flat
    return out


def unpack(vec: np.ndarray, layout: he.Layout) -> np.ndarray:
    """Read the tensor back from its base slots (replica 0)."""
    if layout.kind != "grid":
        raise ValueError(f"cannot read a tensor from layout '{layout}'")
    return np.asarray(vec)[layout.base_slots()].astype(np.float64)


class SimEngine:
    """Float64 slot vectors: no noise, no levels (he.rescale is the identity)."""

    name = "sim"

    def __init__(self, slots: int, **_):
        self.slots = slots

    def encode(self, vec: np.ndarray):
        return vec

    def encrypt(self, vec: np.ndarray):
        return vec.copy()

    def decrypt(self, ct) -> np.ndarray:
        return ct

    def rotate(self, ct, k: int):
        return np.roll(ct, -k)

    def add(self, a, b, plain: bool):
        return a + b

    def sub(self, a, b, plain: bool):
        return a - b

    def mul(self, a, b, plain: bool):
        return a * b

    def rescale(self, ct):
        return ct


def slot_count(func_op: func.FuncOp) -> int:
    for op in func_op.walk():
        for v in (*op.results, *op.operands):
            if isinstance(v.type, (he.CiphertextType, he.PlaintextType)):
                return v.type.n_slots
    raise ValueError(f"@{func_op.sym_name.data}: no he.ct/he.pt value, nothing is packed")


def run_packed(func_op: func.FuncOp, args: Sequence[np.ndarray], engine) -> list[np.ndarray]:
    block = func_op.body.block
    if len(args) != len(block.args):
        raise ValueError(f"@{func_op.sym_name.data} takes {len(block.args)} arguments, got {len(args)}")
    env: dict[SSAValue, object] = {}
    for a, v in zip(block.args, args):
        if isinstance(a.type, he.CiphertextType):
            env[a] = engine.encrypt(pack(v, a.type.packing, a.type.n_slots))
        else:
            env[a] = np.asarray(v, dtype=np.float64)
    for op in block.ops:
        if isinstance(op, func.ReturnOp):
            return [env[v] for v in op.arguments]
        env[op.results[0]] = _step(op, [env[v] for v in op.operands], engine)
    raise ValueError("function has no func.return")


def _step(op: Operation, vals: list, engine):
    if isinstance(op, (he.EncodeOp, he.EncryptOp)):
        t = op.result.type
        vec = pack(vals[0], t.packing, t.n_slots)
        return engine.encode(vec) if isinstance(op, he.EncodeOp) else engine.encrypt(vec)
    if isinstance(op, he.DecryptOp):
        return unpack(engine.decrypt(vals[0]), op.input.type.packing)
    if isinstance(op, he.RotateOp):
        return engine.rotate(vals[0], op.amount)
    if isinstance(op, (he.SlotAddOp, he.SlotSubOp, he.SlotMulOp)):
        plain = isinstance(op.rhs.type, he.PlaintextType)
        fn = {he.SlotAddOp: engine.add, he.SlotSubOp: engine.sub, he.SlotMulOp: engine.mul}[type(op)]
        return fn(vals[0], vals[1], plain)
    if isinstance(op, he.RescaleOp):
        return engine.rescale(vals[0])
    if isinstance(op, (he.MatVecOp, he.EinsumOp)):
        raise TypeError(f"{op.name} is not lowered: run hetc-he-matvec-bsgs and hetc-he-einsum-pack first")
    raise ValueError(f"the slot engines cannot run {op.name}")


def packed_stats(func_op: func.FuncOp) -> dict:
    """rotations, distinct keys (rotation offsets), depth (rescales on the longest path),
    ct x ct and ct x pt multiplications."""
    depth: dict[SSAValue, int] = {}
    offsets: list[int] = []
    ctct = ctpt = 0
    best = 0
    for op in func_op.body.block.ops:
        if isinstance(op, he.RotateOp):
            offsets.append(op.amount)
        if isinstance(op, he.SlotMulOp):
            if isinstance(op.rhs.type, he.CiphertextType):
                ctct += 1
            else:
                ctpt += 1
        d = max((depth.get(v, 0) for v in op.operands), default=0) + isinstance(op, he.RescaleOp)
        for r in op.results:
            depth[r] = d
        best = max(best, d)
    return {
        "rotations": len(offsets),
        "keys": len(set(offsets)),
        "rotation_offsets": sorted(set(offsets)),
        "depth": best,
        "ct_ct_mults": ctct,
        "ct_pt_mults": ctpt,
    }

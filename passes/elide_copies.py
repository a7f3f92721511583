"""hetc-elide-copies: drop kernels that only copy a buffer, in the loop-level IR.

A float16 / bfloat16 model lifted to float32 (hetc-lift-narrow-floats) and narrowed back
(hetc-narrow-storage) keeps its io Casts as kernels that copy every element unchanged:
f16 -> f16, or f16 -> f32 -> f16, which is the identity (up to a NaN's payload, which ONNX
leaves open). On a GPU such a copy of each input and output costs as much memory traffic
as a layer (an fp16 4096^3 MatMul: 192 MB of its 0.36 ms). Two cases are rewritten in
`@main`, where they are provably safe:

- **input**: `call @k(%in, %t)` with %in an argument of @main (inputs are never written)
  and %t an alloc: every later use of %t reads %in instead; the call and the alloc go.
- **output**: `call @k(%t, %out)` with %out an argument of @main used by nothing else and
  %t an alloc used last by this call: %t's writers write %out directly; the call and the
  alloc go.

A kernel is a copy when its body is a perfect nest of unit-step loops over the whole
(identical) shape of its two memref arguments that loads the first at the loop indices
and stores that value, or its extf/truncf round trip to the same type, to the second at
the same indices. The rewrites are counted in `@main`'s `hetc.elided_copies`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import BlockArgument, SSAValue
from xdsl.passes import ModulePass

from hetc.backends.cfamily.printer import static_bounds


def _is_copy_kernel(fn: func.FuncOp) -> bool:
    args = list(fn.body.block.args)
    if len(args) != 2 or args[0].type != args[1].type:
        return False
    shape = list(args[0].type.get_shape())
    ivs: list[SSAValue] = []
    block = fn.body.block
    for dim in shape:
        loops = [op for op in block.ops if isinstance(op, scf.ForOp)]
        rest = [op for op in block.ops if not isinstance(op, (scf.ForOp, arith.ConstantOp, scf.YieldOp, func.ReturnOp))]
        if len(loops) != 1 or rest or static_bounds(loops[0]) != (0, dim, 1):
            return False
        ivs.append(loops[0].body.block.args[0])
        block = loops[0].body.block
    body = [op for op in block.ops if not isinstance(op, (arith.ConstantOp, scf.YieldOp, func.ReturnOp))]
    loads = [op for op in body if isinstance(op, memref.LoadOp)]
    stores = [op for op in body if isinstance(op, memref.StoreOp)]
    if len(loads) != 1 or len(stores) != 1 or len(body) not in (2, 4):
        return False
    load, store = loads[0], stores[0]
    if load.memref is not args[0] or store.memref is not args[1] or list(load.indices) != ivs or list(store.indices) != ivs:
        return False
    value = store.value
    if len(body) == 4:  # truncf(extf(x)) back to x's own type
        trunc = value.owner
        if not isinstance(trunc, arith.TruncFOp) or not isinstance(trunc.input.owner, arith.ExtFOp):
            return False
        ext = trunc.input.owner
        if ext.input is not load.results[0] or trunc.result.type != load.results[0].type:
            return False
        return body.index(ext) < body.index(trunc) < body.index(store)
    return value is load.results[0]


def elide_copies(module: ModuleOp) -> int:
    """Apply the rewrites of the module docstring; returns how many copies were dropped."""
    funcs = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp)}
    main = funcs.get("main")
    if main is None:
        return 0
    n_inputs = len(main.attributes["hetc.input_names"].data) if "hetc.input_names" in main.attributes else 0
    inputs = set(list(main.body.block.args)[:n_inputs])
    outputs = set(list(main.body.block.args)[n_inputs:])
    elided = 0
    for call in list(main.body.block.ops):
        if not isinstance(call, func.CallOp) or len(call.arguments) != 2:
            continue
        fn = funcs.get(call.callee.root_reference.data)
        if fn is None or not _is_copy_kernel(fn):
            continue
        src, dst = call.arguments
        ops = list(main.body.block.ops)
        if src in inputs and isinstance(dst.owner, memref.AllocOp):
            if any(ops.index(u.operation) < ops.index(call) for u in dst.uses if u.operation is not call):
                continue  # something uses the buffer before the copy fills it
            alloc = dst.owner
            main.body.block.erase_op(call)
            dst.replace_all_uses_with(src)
            main.body.block.erase_op(alloc)
            elided += 1
        elif dst in outputs and isinstance(dst, BlockArgument) and isinstance(src.owner, memref.AllocOp):
            if len(list(dst.uses)) != 1 or any(ops.index(u.operation) > ops.index(call) for u in src.uses):
                continue  # the output is used elsewhere, or the buffer after the copy
            alloc = src.owner
            main.body.block.erase_op(call)
            src.replace_all_uses_with(dst)
            main.body.block.erase_op(alloc)
            elided += 1
    if elided:
        main.attributes["hetc.elided_copies"] = IntegerAttr(elided, 64)
        called = {op.callee.root_reference.data for op in main.walk() if isinstance(op, func.CallOp)}
        for name, fn in funcs.items():
            if name != "main" and name not in called and _is_copy_kernel(fn):
                module.body.block.erase_op(fn)  # no call left: not printed, not compiled
    return elided


@dataclass(frozen=True)
class ElideCopies(ModulePass):
    name = "hetc-elide-copies"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        elide_copies(op)

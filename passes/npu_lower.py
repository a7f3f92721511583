"""hetc-npu-lower: the loop-level host program -> a scratchpad plan in the `npu` dialect.

After hetc-npu-tile and convert-onnx-to-loops every kernel call of @main fits in the
scratchpad. This pass states the allocation problem (hetc.passes.spm.problem): one
SpmTensor per buffer (graph inputs and outputs, `memref.get_global` weights,
`memref.alloc` intermediates; views count as their base buffer; a slice of a graph
input that hetc-npu-tile recorded in `hetc.npu_regions` is an input tensor of its own,
loaded by one strided DMA instead of a copy kernel), one SpmOp per kernel call; asks an
allocator (`ilp`, `belady` or `lru`) for a plan; and writes the plan's steps into @main
as npu ops (dma_in / alloc / compute / dma_out / free / move), after the DRAM buffer
definitions. Intermediates the plan spills get a DRAM home (`hetc.dram_offset` on their
`memref.alloc`, a scratch arena of `hetc.npu_dram_bytes`); the plan, its predicted
traffic and the solver's status are left on @main for the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hetc.diagnostics import HetcError
from hetc.dialects import npu
from hetc.passes.npu_tile import CONCATS_ATTR, REGIONS_ATTR
from hetc.passes.spm.problem import (
    Alloc,
    Compute,
    Free,
    Load,
    Move,
    SpmOp,
    SpmPlan,
    SpmProblem,
    SpmTensor,
    SpmTooLarge,
    Store,
    replay,
)
from xdsl.context import Context
from xdsl.dialects import func, memref, scf
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, ModuleOp, StringAttr, i64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

TENSOR_ATTR = "npu.tensor"
ARG_TENSORS_ATTR = "npu.arg_tensors"
#: npu.compute callee of a plain copy between two resident tensors
COPY = "hetc_npu_copy"
PLAN_ATTR = "hetc.npu_plan"
DRAM_BYTES_ATTR = "hetc.npu_dram_bytes"
ALLOCATORS = ("ilp", "belady", "lru")


def _nbytes(t) -> int:
    n = 1
    for d in t.get_shape():
        n *= d
    return n * max(1, t.get_element_type().bitwidth // 8)


def _main(module: ModuleOp) -> func.FuncOp:
    return next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")


def base_of(v: SSAValue) -> tuple[SSAValue, int]:
    """The buffer a view reads and the view's element offset into it."""
    off = 0
    while isinstance(v.owner, memref.ReinterpretCastOp):
        off += v.owner.static_offsets.get_values()[0]
        v = v.owner.source
    return v, off


def written_args(kernel: func.FuncOp) -> list[int]:
    """Indices of the kernel's parameters it stores to (its outputs)."""
    params = {s.memref for s in kernel.walk() if isinstance(s, memref.StoreOp)}
    return [i for i, p in enumerate(kernel.body.block.args) if p in params]


def _volume(block) -> int:
    from hetc.backends.cfamily.printer import _nest_volume

    return sum(_nest_volume(op) if isinstance(op, scf.ForOp) else 1 for op in block.ops)


@dataclass
class NpuProgram:
    """The problem and what the printer needs to map it back to IR."""

    problem: SpmProblem
    #: tensor -> its DRAM buffer (main argument, get_global or alloc)
    dram: dict[str, SSAValue] = field(default_factory=dict)
    #: region tensors: name -> (graph input value, starts, ends)
    regions: dict[str, tuple[SSAValue, list[int], list[int]]] = field(default_factory=dict)
    #: SpmOp name -> the func.calls (or a memref.copy) that compute it (several for a batched op)
    calls: dict[str, list] = field(default_factory=dict)
    #: output pieces: name -> (graph output buffer, starts, ends) of their box in it
    out_regions: dict[str, tuple[SSAValue, list[int], list[int]]] = field(default_factory=dict)
    #: gather calls that read a DRAM table by indexed DMA -> bytes gathered
    gathers: dict = field(default_factory=dict)
    #: SpmOp name -> ([(M, N, K)], vector elements)
    work: dict[str, tuple[list[tuple[int, int, int]], int]] = field(default_factory=dict)


def build_problem(module: ModuleOp, capacity: int, alignment: int = 64) -> NpuProgram:
    """The SpmProblem of a loop-lowered module's @main (not validated: call `.validate()`)."""
    main = _main(module)
    kernels = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp) and op is not main}
    regions_attr = main.attributes.get(REGIONS_ATTR)
    regions = json.loads(regions_attr.data) if isinstance(regions_attr, StringAttr) else {}
    in_names = [a.data for a in main.attributes["hetc.input_names"].data]
    out_names = [a.data for a in main.attributes["hetc.output_names"].data]
    args = list(main.body.block.args)
    n_in = len(in_names)
    prog = NpuProgram(SpmProblem({}, [], capacity, alignment))
    names: dict[SSAValue, str] = {}
    kinds: dict[SSAValue, str] = {}
    taken: set[str] = set()
    global_names: dict[str, str] = {}

    suffix: dict[str, int] = {}  # base -> its last suffix (tiles share a base: no rescan from #2)

    def unique(base: str) -> str:
        name, i = base, suffix.get(base, 1)
        while name in taken:
            i += 1
            name = f"{base}#{i}"
        suffix[base] = i
        taken.add(name)
        return name

    for i, a in enumerate(args):
        names[a] = unique(in_names[i] if i < n_in else out_names[i - n_in])
        kinds[a] = "input" if i < n_in else "output"
    region_of: dict[SSAValue, tuple[SSAValue, list[int], list[int]]] = {}
    joins_attr = main.attributes.get(CONCATS_ATTR)
    joins = json.loads(joins_attr.data) if isinstance(joins_attr, StringAttr) else {}
    concat_ops: dict[str, tuple[int, list[SSAValue], SSAValue]] = {}
    count = 0
    for op in main.body.block.ops:
        if isinstance(op, memref.GetGlobalOp):
            # one tensor per global, however often it is fetched (one DRAM copy, one first load)
            sym = op.name_.root_reference.data
            if sym not in global_names:
                global_names[sym] = unique(sym)
            names[op.memref] = global_names[sym]
            kinds[op.memref] = "weight"
        elif isinstance(op, memref.AllocOp):
            names[op.memref] = unique(op.memref.name_hint or "t")
            kinds[op.memref] = "intermediate"
        elif isinstance(op, func.CallOp):
            callee = op.callee.root_reference.data
            kernel = kernels[callee]
            nodes = [a.data for a in kernel.attributes["hetc.onnx_nodes"].data] if "hetc.onnx_nodes" in kernel.attributes else []
            written = written_args(kernel)
            operands = list(op.arguments)
            src, src_off = base_of(operands[0]) if operands else (None, 0)
            # (the box is in the sliced value's shape: only a slice of the input itself, not of a view)
            if (nodes and nodes[0] in regions and kernel.attributes.get("hetc.kernel", StringAttr("")).data == "slice"
                    and src in kinds and kinds[src] == "input" and len(operands) == 2 and not src_off
                    and list(src.type.get_shape()) == list(operands[0].type.get_shape())):
                # a tile's window of a graph input: one strided DMA, no copy kernel
                dst, doff = base_of(operands[1])
                if doff or _nbytes(dst.type) != _nbytes(operands[1].type):
                    raise HetcError(f"npu lowering: the slice {nodes[0]} writes a view")
                r = regions[nodes[0]]
                box = ",".join(f"{a}:{b}" for a, b in zip(r["starts"], r["ends"]))
                taken.discard(names[dst])
                names[dst] = unique(f"{names[src]}[{box}]")
                kinds[dst] = "input"
                region_of[dst] = (src, r["starts"], r["ends"])
                continue
            reads, writes = [], []
            gathered = 0
            kind = kernel.attributes.get("hetc.kernel", StringAttr("")).data
            for i, v in enumerate(operands):
                b, _ = base_of(v)
                if i == 0 and kind == "gather" and kinds.get(b) == "weight":
                    gathered = _nbytes(operands[-1].type)  # the table stays in DRAM: rows by indexed DMA
                    continue
                if b not in names:
                    raise HetcError(f"npu lowering: call of {callee} reads a buffer that is not a tensor ({v})")
                (writes if i in written else reads).append(names[b])
            gemm = kernel.attributes.get("hetc.gemm")
            mats = [tuple(a.value.data for a in gemm.data)] if gemm is not None else []
            vec = 0 if mats else _volume(kernel.body.block)
            if gathered:
                prog.gathers[op] = gathered
            last = prog.problem.ops[-1] if prog.problem.ops else None
            if last is not None and set(writes) & set(last.writes):
                # per-batch calls of one op (a batched MatMul) write views of one buffer:
                # one SpmOp, computed by all of them
                w = tuple(dict.fromkeys((*last.writes, *writes)))
                r = tuple(x for x in dict.fromkeys((*last.reads, *reads)) if x not in w)
                prog.problem.ops[-1] = SpmOp(last.name, r, w, last.source)
                prog.calls[last.name].append(op)
                m0, v0 = prog.work[last.name]
                prog.work[last.name] = (m0 + mats, v0 + vec)
                continue
            count += 1
            name = f"c{count}"
            reads = [r for r in dict.fromkeys(reads) if r not in writes]
            prog.problem.ops.append(SpmOp(name, tuple(reads), tuple(dict.fromkeys(writes)), ", ".join(nodes) or callee))
            prog.calls[name] = [op]
            prog.work[name] = (mats, vec)
            if kind == "concat" and nodes and nodes[0] in joins:
                concat_ops[name] = (joins[nodes[0]], operands[:-1], operands[-1])
        elif isinstance(op, memref.CopyOp):
            # an output that is a view of another tensor (a Reshape), an input or a constant:
            # an SPM-to-SPM copy (printed as memcpy between scratchpad pointers)
            src, dst = base_of(op.source)[0], base_of(op.destination)[0]
            count += 1
            name = f"c{count}"
            prog.problem.ops.append(SpmOp(name, (names[src],), (names[dst],), "copy to output"))
            prog.calls[name] = [op]
            prog.work[name] = ([], 0)
    _store_outputs_by_piece(prog, concat_ops, names, kinds)
    used = {t for op in prog.problem.ops for t in (*op.reads, *op.writes)}
    writers: dict[str, str] = {}
    for op in prog.problem.ops:
        for t in op.writes:
            if t in writers:
                raise HetcError(f"npu lowering: '{t}' is written by two kernels ({writers[t]}, {op.name}); not supported yet")
            writers[t] = op.name
    for v, n in names.items():
        if n in used and n not in prog.problem.tensors:
            prog.problem.tensors[n] = SpmTensor(n, _nbytes(v.type), kinds[v])
            prog.dram[n] = v
            if v in region_of:
                prog.regions[n] = region_of[v]
    return prog


def _store_outputs_by_piece(prog: NpuProgram, concat_ops: dict, names: dict, kinds: dict) -> None:
    """A graph output that hetc-npu-tile joined from tiles: no Concat kernel (it would
    need the whole output and its pieces resident at once); each piece becomes an output
    tensor of its own, stored by a strided DMA into its box of the output buffer."""
    ops = prog.problem.ops
    writer = {t: op.name for op in ops for t in op.writes}
    readers: dict[str, int] = {}
    for op in ops:
        for t in op.reads:
            readers[t] = readers.get(t, 0) + 1

    def leaves(opname: str, box: list[tuple[int, int]], drop: list[str], out: list) -> bool:
        axis, ins, _ = concat_ops[opname]
        drop.append(opname)
        at = box[axis][0]
        for v in ins:
            b, off = base_of(v)
            n = v.type.get_shape()[axis]
            sub = [(at, at + n) if d == axis else box[d] for d in range(len(box))]
            at += n
            t = names[b]
            if off or _nbytes(b.type) != _nbytes(v.type) or kinds[b] != "intermediate":
                return False
            w = writer.get(t)
            if w in concat_ops and readers.get(t) == 1:
                if not leaves(w, sub, drop, out):
                    return False
            else:
                out.append((b, sub))
        return True

    for opname, (_, _, dst) in list(concat_ops.items()):
        base, off = base_of(dst)
        if kinds.get(base) != "output" or off or opname not in {o.name for o in ops}:
            continue
        drop: list[str] = []
        pieces: list = []
        if not leaves(opname, [(0, d) for d in base.type.get_shape()], drop, pieces):
            continue
        prog.problem.ops[:] = [o for o in prog.problem.ops if o.name not in drop]
        for b, box in pieces:
            kinds[b] = "output"
            prog.out_regions[names[b]] = (base, [a for a, _ in box], [e for _, e in box])


def allocate_plan(problem: SpmProblem, method: str, time_limit_s: float = 10.0, seed: int = 0, progress=None) -> SpmPlan:
    if method not in ALLOCATORS:
        raise HetcError(f"unknown scratchpad allocator '{method}' (known: {', '.join(ALLOCATORS)})")
    try:
        from hetc.passes.spm.allocate import allocate
    except ImportError:
        raise HetcError("the scratchpad allocators (hetc.passes.spm.allocate) are not installed in this checkout") from None
    return allocate(problem, method=method, time_limit_s=time_limit_s, seed=seed, progress=progress)


def emit_plan(module: ModuleOp, prog: NpuProgram, plan: SpmPlan) -> dict:
    """Rewrite @main: DRAM buffer definitions, then the plan as npu ops. Returns the
    summary left on @main (traffic as `replay` predicts it, solver status)."""
    traffic = replay(prog.problem, plan)
    main = _main(module)
    block = main.body.block
    ret = block.last_op
    for op in list(block.ops):
        if isinstance(op, (func.CallOp, memref.CopyOp)):
            block.erase_op(op)
    arg_tensors = {v: name for name, v in prog.dram.items() if not isinstance(v.owner, Operation)}
    gathered = sum(prog.gathers.values())
    for name, v in prog.dram.items():
        owner = v.owner
        if isinstance(owner, Operation):
            owner.attributes[TENSOR_ATTR] = StringAttr(name)
    main.attributes[ARG_TENSORS_ATTR] = ArrayAttr([StringAttr(arg_tensors.get(a, "")) for a in block.args])
    # DRAM homes for what the plan stores and is not a graph output
    stored = [s.tensor for s in plan.steps if isinstance(s, Store)]
    dram_off, dram_bytes = {}, 0
    for t in dict.fromkeys(stored):
        if prog.problem.tensors[t].kind == "intermediate":
            dram_off[t] = dram_bytes
            dram_bytes += prog.problem.aligned(t)
            prog.dram[t].owner.attributes["hetc.dram_offset"] = IntegerAttr(dram_off[t], i64)
    where: dict[str, int] = {}
    ops = {op.name: op for op in prog.problem.ops}
    for s in plan.steps:
        if isinstance(s, Load):
            size = prog.problem.tensors[s.tensor].size
            if s.tensor in prog.regions:
                src, starts, ends = prog.regions[s.tensor]
                new = npu.DmaInOp(src, s.tensor, s.offset, size, starts, ends)
            else:
                new = npu.DmaInOp(prog.dram[s.tensor], s.tensor, s.offset, size)
            where[s.tensor] = s.offset
            block.insert_op_before(new, ret)
        elif isinstance(s, Alloc):
            where[s.tensor] = s.offset
            block.insert_op_before(npu.AllocOp(s.tensor, s.offset, prog.problem.tensors[s.tensor].size), ret)
        elif isinstance(s, Store):
            size = prog.problem.tensors[s.tensor].size
            if s.tensor in prog.out_regions:
                dst, starts, ends = prog.out_regions[s.tensor]
                block.insert_op_before(npu.DmaOutOp(dst, s.tensor, where[s.tensor], size, starts, ends), ret)
            else:
                block.insert_op_before(npu.DmaOutOp(prog.dram[s.tensor], s.tensor, where[s.tensor], size), ret)
        elif isinstance(s, Free):
            block.insert_op_before(npu.FreeOp(s.tensor), ret)
        elif isinstance(s, Move):
            block.insert_op_before(npu.MoveOp(s.tensor, where[s.tensor], s.offset, prog.problem.tensors[s.tensor].size), ret)
            where[s.tensor] = s.offset
        elif isinstance(s, Compute):
            mats, vec = prog.work[s.op]
            for m, n, k in mats:
                block.insert_op_before(npu.MatmulTileOp(m, n, k), ret)
            if vec:
                block.insert_op_before(npu.VectorOp(vec), ret)
            for call in prog.calls[s.op]:
                if isinstance(call, memref.CopyOp):
                    block.insert_op_before(npu.ComputeOp(COPY, [call.source, call.destination], ops[s.op].name), ret)
                    continue
                if call in prog.gathers:
                    block.insert_op_before(npu.DmaGatherOp(prog.gathers[call]), ret)
                block.insert_op_before(npu.ComputeOp(call.callee.root_reference.data, call.arguments, ops[s.op].name), ret)
    summary = {
        "spm_alloc": plan.allocator,
        "capacity_bytes": prog.problem.capacity,
        "ops": len(prog.problem.ops),
        "tensors": len(prog.problem.tensors),
        "traffic": traffic.as_dict(),
        "loads": traffic.loads,
        "stores": traffic.stores,
        "moved": traffic.moved,
        "peak_bytes": traffic.peak_bytes,
        "gathered_bytes": gathered,
        "solver": {k: v for k, v in plan.solver.items() if isinstance(v, (str, int, float, bool))},
    }
    main.attributes[PLAN_ATTR] = StringAttr(json.dumps(summary, sort_keys=True))
    main.attributes[DRAM_BYTES_ATTR] = IntegerAttr(dram_bytes, i64)
    return summary


def lower_for_npu(model, capacity: int, *, input_shapes=None, alignment: int = 64, retries: int = 6, module=None,
                  progress=None, tile_budget: float = 1.0):
    """(loop-level module, validated SpmProblem, NpuProgram) of a model for a scratchpad of
    `capacity` bytes. `module`: an onnx-dialect module after the graph pipeline (else the
    model is imported). The tiling budget shrinks by 0.8 per retry where a lowered
    kernel's scratch buffers push a tile over the capacity. `tile_budget` < 1 tiles for
    that fraction of the capacity (smaller tiles: more ops, room to keep a producer's
    tiles resident beside its consumer's; on cnn.onnx at 64 KiB belady's non-compulsory
    traffic was 475 KB at 1.0, 279 KB at 0.5, 164 KB at 0.33, but at 16 KiB it grew)."""
    from hetc.api import compile_module
    from hetc.passes.convert_onnx_to_loops import convert_onnx_to_loops
    from hetc.passes.dce import erase_dead_ops
    from hetc.passes.npu_tile import tile_module
    from hetc.pipeline import run_pipeline

    if module is None:
        module = compile_module(model, input_shapes, progress=progress)
        run_pipeline(module, ["hetc-choose-layout{layout=nchw}", "hetc-canonicalize", "hetc-dce"], progress=progress)
    if not 0 < tile_budget <= 1:
        raise HetcError(f"tile_budget is {tile_budget}: expected a fraction of the scratchpad in (0, 1]")
    budget = int(capacity * tile_budget)
    last: Exception | None = None
    for _ in range(retries):
        trial = module.clone()
        tile_module(trial, budget, alignment)
        erase_dead_ops(trial)
        if progress:
            progress(f"convert-onnx-to-loops (tiles for {budget} bytes)")
        convert_onnx_to_loops(trial, "gpu")
        prog = build_problem(trial, capacity, alignment)
        try:
            prog.problem.validate()
            return trial, prog.problem, prog
        except SpmTooLarge as err:
            last = err
            budget = int(budget * 0.8)
    raise HetcError(f"{last} (after tiling for {budget} bytes)")


@dataclass(frozen=True)
class NpuLower(ModulePass):
    name = "hetc-npu-lower"
    capacity: int = 262144
    alloc: str = "belady"
    alignment: int = 64
    time_limit: float = 10.0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        prog = build_problem(op, int(self.capacity), int(self.alignment))
        prog.problem.validate()
        plan = allocate_plan(prog.problem, self.alloc, float(self.time_limit))
        emit_plan(op, prog, plan)

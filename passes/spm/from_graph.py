"""Whole-tensor scratchpad problems from ONNX graphs: one SpmOp per node.

Why: the allocators and their benchmark need problems from real architectures before
(and besides) the NPU tiling pass; at whole-tensor granularity every node is one op
that needs all its inputs and outputs resident at once.

How: input shapes are bound (`bind_input_shapes`, as the compiler does), onnx shape
inference gives every value's shape and element type, and a tensor's size is
elements x element bytes. Initializers and Constant nodes are weights (in DRAM from the
start; a Constant node is not an op), graph inputs are inputs, graph outputs outputs,
everything else intermediates.

Views. Reshape, Flatten, Squeeze, Unsqueeze and Identity do not move data on an NPU
(they relabel the same bytes), so by default (`alias_views=True`) they are not ops:
their output is the same SpmTensor as their data input (the shape operand is ignored).
A view whose output is a graph output is kept as an op (a copy), since one tensor cannot
be both a graph input/weight and an output, and the output must be stored under its
own name. With `alias_views=False` every view is an ordinary op (a copy). Either way a
view's shape/axes operand is a compile-time parameter, not a resident tensor.

Node names are used as op names (made unique; an unnamed node is `<OpType>_<index>`).
A value whose shape inference leaves a dimension unknown is an error naming the node.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import onnx
from hetc.diagnostics import HetcError
from hetc.passes.spm.problem import SpmOp, SpmProblem, SpmTensor

VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})


def _bytes(vi: onnx.TypeProto) -> int | None:
    tt = vi.tensor_type
    if not tt.HasField("shape"):
        return None
    n = 1
    for d in tt.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
            return None
        n *= d.dim_value
    itemsize = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).itemsize
    return n * itemsize


def _sizes_by_running(model: onnx.ModelProto, file: str) -> dict[str, int]:
    """Sizes of every node output, by running the model once in onnxruntime on zeros
    (for shapes onnx's inference leaves symbolic, e.g. computed by Shape -> Expand)."""
    import numpy as np

    try:
        import onnxruntime as ort
    except ImportError:
        raise HetcError("some shapes are unknown after onnx shape inference and onnxruntime is not installed", file=file) from None
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.ir_version = min(m.ir_version, 10)  # onnxruntime 1.31 reads at most IR 13
    have = {o.name for o in m.graph.output}
    names = [t for node in m.graph.node for t in node.output if t and t not in have]
    for t in names:
        m.graph.output.add().name = t
    inits = {i.name for i in m.graph.initializer}
    feeds = {}
    for inp in m.graph.input:
        if inp.name in inits:
            continue
        tt = inp.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        feeds[inp.name] = np.zeros([d.dim_value for d in tt.shape.dim], dtype=dtype)
    try:
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        outs = sess.run(None, feeds)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own kinds
        raise HetcError(f"some shapes are unknown after onnx shape inference and onnxruntime could not run the model: {exc}", file=file) from None
    return {o.name: np.asarray(v).nbytes for o, v in zip(sess.get_outputs(), outs)}


def whole_tensor_problem(
    model: onnx.ModelProto | str | Path,
    capacity: int,
    *,
    alignment: int = 64,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    alias_views: bool = True,
) -> SpmProblem:
    """One SpmOp per ONNX node (views aliased, see the module docstring)."""
    from hetc.frontend.onnx_importer import bind_input_shapes, load_model

    file = str(model) if isinstance(model, (str, Path)) else "<model>"
    if not isinstance(model, onnx.ModelProto):
        model = load_model(model)
    model = bind_input_shapes(model, input_shapes, file)
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - onnx raises several kinds
        raise HetcError(f"onnx shape inference failed: {exc}", file=file) from None
    g = model.graph
    types: dict[str, onnx.TypeProto] = {}
    for vi in (*g.input, *g.value_info, *g.output):
        types[vi.name] = vi.type
    sizes: dict[str, int] = {}
    produced = [t for node in g.node if node.op_type != "Constant" for t in node.output if t]
    if any(t not in types or _bytes(types[t]) is None for t in produced):
        sizes.update(_sizes_by_running(model, file))
    kinds: dict[str, str] = {}
    for init in g.initializer:
        sizes[init.name] = math.prod(init.dims) * onnx.helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
        kinds[init.name] = "weight"
    for inp in g.input:
        if inp.name not in kinds:
            kinds[inp.name] = "input"
    outputs = {o.name for o in g.output}
    alias: dict[str, str] = {}
    ops: list[SpmOp] = []
    names: set[str] = set()

    def root(t: str) -> str:
        while t in alias:
            t = alias[t]
        return t

    def size_of(t: str, node: onnx.NodeProto) -> int:
        if t in sizes:
            return sizes[t]
        b = _bytes(types[t]) if t in types else None
        if b is None:
            raise HetcError(f"the shape of '{t}' is unknown after shape inference; bind the input shapes",
                            file=file, node=node.name or None, op_type=node.op_type)
        sizes[t] = b
        return b

    for i, node in enumerate(g.node):
        if node.op_type == "Constant":
            for t in node.output:
                kinds[t] = "weight"
                size_of(t, node)
            continue
        ins = [t for t in node.input if t]
        if node.op_type in VIEW_OPS:
            ins = ins[:1]  # the shape / axes operand is read at compile time, never resident
        outs = [t for t in node.output if t]
        if alias_views and node.op_type in VIEW_OPS and ins and len(outs) == 1 and outs[0] not in outputs:
            alias[outs[0]] = root(ins[0])
            continue
        name = node.name or f"{node.op_type}_{i}"
        while name in names:
            name = f"{name}_{i}"
        names.add(name)
        for t in outs:
            kinds[t] = "output" if t in outputs else "intermediate"
            size_of(t, node)
        reads = tuple(dict.fromkeys(root(t) for t in ins))
        for t in reads:
            if t not in kinds:
                raise HetcError(f"reads '{t}', which no node produces and is not a graph input or initializer",
                                file=file, node=node.name or None, op_type=node.op_type)
            size_of(t, node)
        ops.append(SpmOp(name, reads, tuple(outs), source=node.name or node.op_type))
    used = {t for op in ops for t in (*op.reads, *op.writes)}
    tensors = {t: SpmTensor(t, sizes[t], kinds[t]) for t in kinds if t in used}
    return SpmProblem(tensors, ops, capacity, alignment)

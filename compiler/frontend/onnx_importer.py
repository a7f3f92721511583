"""ONNX ModelProto -> a builtin.module holding one func.func of `onnx` dialect ops.

Steps: load (external data only from inside the model's folder), check, convert to
the pinned opset, bind symbolic input dimensions, infer static shapes (onnx shape
inference with data propagation; where that leaves a shape open, fold the
constant subgraph feeding it with the NumPy kernels and infer again), then build
the IR. Initializers become `onnx.Constant` ops holding their raw bytes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnx.inliner
import onnx.version_converter
from onnx import helper, numpy_helper
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, NoneType, StringAttr, TensorType
from xdsl.ir import Attribute, Block, Region, SSAValue

from hetc.diagnostics import HetcError, UnsupportedError
from hetc.dialects import onnx as onnx_d

DEFAULT_DOMAINS = ("", "ai.onnx")
INPUT_NAMES_ATTR = "hetc.input_names"
OUTPUT_NAMES_ATTR = "hetc.output_names"

InputShapes = Mapping[str, Sequence[int]]


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_model(path: str | Path) -> onnx.ModelProto:
    """Read and check a model file; external data may come only from its own folder."""
    path = Path(path)
    if not path.exists():
        raise HetcError("no such file", file=str(path))
    if path.is_dir():
        raise HetcError("is a folder, expected an .onnx file", file=str(path))
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise HetcError(
            f"not a valid ONNX model (protobuf parse failed: {exc})", file=str(path)
        ) from None
    if not model.graph.node and not model.graph.output:
        raise HetcError("not a valid ONNX model (empty or truncated graph)", file=str(path))
    _load_external_data(model, path.parent.resolve(), str(path))
    return model


def _load_external_data(model: onnx.ModelProto, base: Path, file: str) -> None:
    from onnx.external_data_helper import (
        _get_all_tensors,
        load_external_data_for_tensor,
        uses_external_data,
    )

    for tensor in _get_all_tensors(model):
        if not uses_external_data(tensor):
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (base / location).resolve()
        if not location or not target.is_relative_to(base):
            raise HetcError(
                f"tensor '{tensor.name}' points at external data '{location}' outside "
                "the model's folder; hetc reads external data only from beside the model",
                file=file,
            )
        if not target.exists():
            raise HetcError(
                f"tensor '{tensor.name}': external data file '{location}' is missing", file=file
            )
        load_external_data_for_tensor(tensor, str(base))
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.external_data[:]


# ---------------------------------------------------------------------------
# Opset conversion
# ---------------------------------------------------------------------------


def _default_opset(model: onnx.ModelProto) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), None)


def to_pinned_opset(model: onnx.ModelProto, file: str) -> onnx.ModelProto:
    """Convert `model` to the dialect's opset, or explain why it cannot be."""
    for node in model.graph.node:
        if node.domain not in DEFAULT_DOMAINS:
            raise UnsupportedError(
                f"op domain '{node.domain}' is not supported (only ai.onnx)",
                file=file,
                node=node.name,
                op_type=node.op_type,
            )
    version = _default_opset(model)
    target = onnx_d.ONNX_OPSET
    if version is None:
        raise HetcError("model imports no ai.onnx opset", file=file)
    if version > target:
        raise UnsupportedError(
            f"opset {version} is newer than hetc's opset {target}", file=file,
            hint="upgrade hetc, or export the model at an older opset",
        )
    if version == target:
        return model
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = onnx.version_converter.convert_version(model, target)
        if version < 11:
            _keep_pre11_resize_meaning(converted)
        return converted
    except Exception as exc:
        # The converter lacks adapters for some old versions. Where no op in the
        # model changed between its opset and ours, re-labelling the opset is exact.
        changed = [
            n.op_type
            for n in model.graph.node
            if _since(n.op_type, version) != _since(n.op_type, target)
        ]
        if changed:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise UnsupportedError(
                f"cannot convert opset {version} to {target}: ops {sorted(set(changed))} "
                f"changed meaning and the onnx version converter failed ({first})",
                file=file,
            ) from None
        relabelled = onnx.ModelProto()
        relabelled.CopyFrom(model)
        for o in relabelled.opset_import:
            if o.domain in DEFAULT_DOMAINS:
                o.version = target
        return relabelled


def _keep_pre11_resize_meaning(converted: onnx.ModelProto) -> None:
    """Before opset 11, Resize/Upsample always mapped coordinates `asymmetric`ally
    (nearest: floor). The converter's adapter leaves the new defaults (half_pixel,
    round_prefer_floor) in place, which changes results: set the old meaning on every
    Resize of a converted pre-11 model (they all come from old Resize/Upsample)."""
    for node in converted.graph.node:
        if node.op_type != "Resize":
            continue
        present = {a.name for a in node.attribute}
        if "coordinate_transformation_mode" not in present:
            node.attribute.append(helper.make_attribute("coordinate_transformation_mode", "asymmetric"))
        if "nearest_mode" not in present:
            node.attribute.append(helper.make_attribute("nearest_mode", "floor"))


def _since(op_type: str, opset: int) -> int | None:
    try:
        return onnx.defs.get_schema(op_type, opset).since_version
    except Exception:
        return None


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------


def _graph_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    """Real inputs: in old IR versions initializers are listed as inputs too."""
    inits = {i.name for i in graph.initializer}
    return [i for i in graph.input if i.name not in inits]


def bind_input_shapes(
    model: onnx.ModelProto, input_shapes: InputShapes | None, file: str
) -> onnx.ModelProto:
    """Give every graph input a static shape, from the model or from `input_shapes`."""
    input_shapes = dict(input_shapes or {})
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    inputs = _graph_inputs(graph)
    known = {i.name for i in inputs}
    for name in input_shapes:
        if name not in known:
            raise HetcError(
                f"--input-shape names '{name}', which is not a graph input "
                f"(inputs: {', '.join(sorted(known)) or 'none'})",
                file=file,
            )
    for inp in inputs:
        ttype = inp.type
        if ttype.WhichOneof("value") != "tensor_type":
            raise UnsupportedError(
                f"input '{inp.name}' is a {ttype.WhichOneof('value')}, only tensors are supported",
                file=file,
            )
        shape = ttype.tensor_type.shape
        if inp.name in input_shapes:
            want = [int(d) for d in input_shapes[inp.name]]
            if ttype.tensor_type.HasField("shape") and len(shape.dim) != len(want):
                raise HetcError(
                    f"input '{inp.name}' has rank {len(shape.dim)}, "
                    f"but --input-shape gives {len(want)} dims {want}",
                    file=file,
                )
            for i, (dim, value) in enumerate(zip(shape.dim, want)):
                if dim.HasField("dim_value") and dim.dim_value != value:
                    raise HetcError(
                        f"input '{inp.name}' dim {i} is fixed to {dim.dim_value}, "
                        f"but --input-shape gives {value}",
                        file=file,
                    )
            del shape.dim[:]
            for value in want:
                shape.dim.add().dim_value = value
            continue
        if not ttype.tensor_type.HasField("shape"):
            raise HetcError(
                f"input '{inp.name}' has no shape; bind it with --input-shape {inp.name}=D0xD1x...",
                file=file,
            )
        for i, dim in enumerate(shape.dim):
            if not dim.HasField("dim_value") or dim.dim_value < 0:
                label = f"'{dim.dim_param}'" if dim.dim_param else "unknown"
                example = "x".join(
                    str(d.dim_value) if d.HasField("dim_value") else "1" for d in shape.dim
                )
                raise HetcError(
                    f"input '{inp.name}' has a symbolic dimension {label} (dim {i}); "
                    "hetc compiles static shapes",
                    file=file,
                    hint=f"bind it: --input-shape {inp.name}={example} "
                    f"(Python: input_shapes={{'{inp.name}': ...}})",
                )
    return model_copy


def _is_static(vi: onnx.ValueInfoProto) -> bool:
    t = vi.type
    if t.WhichOneof("value") != "tensor_type":
        return False
    tt = t.tensor_type
    if not tt.elem_type or not tt.HasField("shape"):
        return False
    return all(d.HasField("dim_value") and d.dim_value >= 0 for d in tt.shape.dim)


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    # Recompute every intermediate and output shape from the (bound) input shapes.
    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.value_info[:]
    for out in model.graph.output:
        if out.type.WhichOneof("value") == "tensor_type":
            out.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    if _infer_function_ops(inferred):  # downstream of them, infer again
        inferred = onnx.shape_inference.infer_shapes(inferred, strict_mode=False, data_prop=True)
    return inferred


def _infer_function_ops(model: onnx.ModelProto) -> bool:
    """Shapes for ops onnx's shape inference skips: those with no inference function
    whose meaning is a context-dependent function (GroupNormalization). Their function
    body, built for this node and its input types, is inferred as a model-local
    function; the results are recorded as value_info. Returns whether any were."""
    version = _default_opset(model) or onnx_d.ONNX_OPSET
    vis = _value_infos(model)
    added = False
    for node in model.graph.node:
        if node.domain not in DEFAULT_DOMAINS or all(n in vis and _is_static(vis[n]) for n in node.output if n):
            continue
        try:
            schema = onnx.defs.get_schema(node.op_type, version)
        except onnx.defs.SchemaError:
            continue
        if schema.has_type_and_shape_inference_function or not schema.has_context_dependent_function:
            continue
        if not all(n in vis and _is_static(vis[n]) for n in node.input if n):
            continue
        full = onnx.NodeProto()
        full.CopyFrom(node)
        present = {a.name for a in node.attribute}
        for name, attr in schema.attributes.items():
            if name not in present and attr.default_value.name:
                full.attribute.append(attr.default_value)
        try:
            body = schema.get_context_dependent_function_with_opset_version(
                schema.context_dependent_function_opset_versions[-1],
                full.SerializeToString(),
                [vis[n].type.SerializeToString() for n in node.input if n],
            )
            fn = onnx.FunctionProto.FromString(body)
            fn.domain = "hetc.infer"
            call = onnx.NodeProto()
            call.CopyFrom(full)
            call.domain, call.op_type = "hetc.infer", fn.name
            graph = helper.make_graph(
                [call], "infer", [vis[n] for n in node.input if n],
                [helper.make_value_info(n, onnx.TypeProto()) for n in node.output if n],
            )
            probe = helper.make_model(
                graph, opset_imports=[*fn.opset_import, helper.make_opsetid("hetc.infer", 1)], functions=[fn]
            )
            probe.ir_version = model.ir_version
            outs = onnx.shape_inference.infer_shapes(probe, strict_mode=True, data_prop=True).graph.output
        except Exception:  # noqa: BLE001, S112 - any failure leaves the shape open, reported later
            continue
        graph_outputs = {o.name: o for o in model.graph.output}
        for out in outs:
            if _is_static(out):
                if out.name in graph_outputs:
                    graph_outputs[out.name].type.CopyFrom(out.type)
                else:
                    model.graph.value_info.append(out)
                added = True
    return added


def _value_infos(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    g = model.graph
    vis = {vi.name: vi for vi in g.value_info}
    vis.update({vi.name: vi for vi in g.input})
    vis.update({vi.name: vi for vi in g.output})
    for init in g.initializer:
        vis[init.name] = helper.make_tensor_value_info(init.name, init.data_type, list(init.dims))
    return vis


def _fold_for_shapes(model: onnx.ModelProto) -> bool:
    """Fold nodes whose inputs are all known (constants, or Shape/Size of a static
    tensor) into initializers. Returns whether anything changed."""
    from hetc.backends.numpy.evaluate import NONDETERMINISTIC_OPS, has_kernel, run_kernel, shape_value

    g = model.graph
    vis = _value_infos(model)
    consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    keep, changed = [], False
    for node in g.node:
        value = None
        if node.op_type in ("Shape", "Size") and node.input[0] in vis and _is_static(vis[node.input[0]]):
            dims = [d.dim_value for d in vis[node.input[0]].type.tensor_type.shape.dim]
            attrs = {a.name: python_attribute(a) for a in node.attribute}
            value = [shape_value(node.op_type, dims, attrs)]
        elif (
            node.op_type not in NONDETERMINISTIC_OPS
            and has_kernel(node.op_type)
            and all(not name or name in consts for name in node.input)
            and not _has_subgraph(node)
        ):
            attrs = {a.name: python_attribute(a) for a in node.attribute}
            if node.op_type == "Split" and "num_outputs" not in attrs and not (len(node.input) > 1 and node.input[1]):
                attrs["num_outputs"] = len(node.output)
            try:
                value = run_kernel(
                    node.op_type, [consts[n] if n else None for n in node.input], attrs, len(node.output)
                )
            except Exception:
                value = None
        elif node.op_type == "Loop" and all(
            not name or name in consts for name in [*node.input, *_outer_names(node)]
        ):
            value = _evaluate_loop(model, node, consts)
        if value is None:
            keep.append(node)
            continue
        changed = True
        for name, array in zip(node.output, value):
            if name:
                consts[name] = array
                g.initializer.append(numpy_helper.from_array(array, name))
    if changed:
        del g.node[:]
        g.node.extend(keep)
    return changed


def _outer_names(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs read from the enclosing scope."""
    outer: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for graph in graphs:
            local = {i.name for i in graph.input} | {i.name for i in graph.initializer}
            for inner in graph.node:
                outer |= {n for n in [*inner.input, *_outer_names(inner)] if n and n not in local}
                local |= set(inner.output)
    return outer


def _evaluate_loop(model: onnx.ModelProto, node: onnx.NodeProto, consts) -> list[np.ndarray] | None:
    """A Loop whose inputs and captured values are all constants, run here: its body
    by onnx's reference evaluator once per iteration (the NumPy kernels have no
    control flow), scan outputs stacked. None where it cannot be (no iterations to
    give the scan outputs a shape, too many iterations, an error)."""
    from onnx.reference import ReferenceEvaluator

    body = onnx.GraphProto()
    body.CopyFrom(next(a.g for a in node.attribute if a.name == "body"))
    for name in sorted(_outer_names(node)):
        body.initializer.append(numpy_helper.from_array(np.asarray(consts[name]), name))
    probe = helper.make_model(body, opset_imports=list(model.opset_import))
    probe.ir_version = model.ir_version
    trips = int(np.asarray(consts[node.input[0]]).reshape(-1)[0]) if node.input[0] else None
    cond = bool(np.asarray(consts[node.input[1]]).reshape(-1)[0]) if len(node.input) > 1 and node.input[1] else True
    carried = [np.asarray(consts[n]) for n in node.input[2:]]
    scans: list[list[np.ndarray]] = [[] for _ in range(len(body.output) - 1 - len(carried))]
    names = [i.name for i in body.input]
    limit = 1 << 16
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            sess = ReferenceEvaluator(probe)
            i = 0
            while cond and (trips is None or i < trips):
                if i >= limit:
                    return None
                feeds = dict(zip(names, [np.array(i, np.int64), np.array(cond), *carried]))
                outs = sess.run(None, feeds)
                cond = bool(np.asarray(outs[0]).reshape(-1)[0])
                carried = [np.asarray(v) for v in outs[1 : 1 + len(carried)]]
                for acc, v in zip(scans, outs[1 + len(carried) :]):
                    acc.append(np.asarray(v))
                i += 1
    except Exception:  # noqa: BLE001 - not evaluable here: the Loop stays, reported later
        return None
    if any(not acc for acc in scans):
        return None
    return carried + [np.stack(acc) for acc in scans]


def python_attribute(attr: onnx.AttributeProto):
    """An attribute as the plain Python value the NumPy kernels take."""
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list):
        return [v.decode() if isinstance(v, bytes) else v for v in value]
    return value


def infer_static_shapes(model: onnx.ModelProto, file: str) -> onnx.ModelProto:
    """Infer a static shape for every value, folding shape subgraphs where needed.

    Also inlines the taken branch of every `If` whose condition folds to a constant
    (exporters emit those for shape checks); other control flow is left for the
    builder to report."""
    for _ in range(16):
        inferred = _infer(model)
        vis = _value_infos(inferred)
        missing = _first_unresolved(inferred, vis)
        has_if = any(n.op_type == "If" for n in inferred.graph.node)
        if missing is None and not has_if:
            return inferred
        changed = _fold_for_shapes(inferred)
        changed = _inline_constant_ifs(inferred) or changed
        if not changed:
            if missing is None:
                return inferred
            node, name = missing
            raise UnsupportedError(
                f"cannot infer a static shape for '{name}' (its shape depends on "
                "tensor values, or shape inference does not know this op)",
                file=file,
                node=node.name,
                op_type=node.op_type,
            )
        model = inferred
    node, name = missing or (inferred.graph.node[0], "?")
    raise UnsupportedError(f"shape of '{name}' did not resolve", file=file, node=node.name, op_type=node.op_type)


def _has_subgraph(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _inline_constant_ifs(model: onnx.ModelProto) -> bool:
    """Replace each `If` with a constant condition by the nodes of its taken branch."""
    g = model.graph
    consts = {i.name: i for i in g.initializer}
    nodes, changed = [], False
    for index, node in enumerate(g.node):
        if node.op_type != "If" or node.input[0] not in consts:
            nodes.append(node)
            continue
        cond = bool(numpy_helper.to_array(consts[node.input[0]]).reshape(-1)[0])
        branch = next(a.g for a in node.attribute if a.name == ("then_branch" if cond else "else_branch"))
        if any(_has_subgraph(n) for n in branch.node):
            nodes.append(node)  # nested control flow: not inlined
            continue
        prefix = f"{node.name or 'If'}_{index}_{'then' if cond else 'else'}/"
        internal = {i.name for i in branch.initializer} | {o for n in branch.node for o in n.output if o}

        def rename(name: str) -> str:
            return prefix + name if name in internal else name

        for init in branch.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(init)
            copy.name = rename(init.name)
            g.initializer.append(copy)
        for bn in branch.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(bn)
            copy.name = prefix + (bn.name or bn.op_type)
            copy.input[:] = [rename(n) if n else n for n in bn.input]
            copy.output[:] = [rename(n) if n else n for n in bn.output]
            nodes.append(copy)
        for out, bout in zip(node.output, branch.output):
            nodes.append(helper.make_node("Identity", [rename(bout.name)], [out], name=f"{prefix}{out}"))
        changed = True
    if changed:
        del g.node[:]
        g.node.extend(nodes)
    return changed


def _first_unresolved(model: onnx.ModelProto, vis) -> tuple[onnx.NodeProto, str] | None:
    for node in model.graph.node:
        for name in node.output:
            if name and (name not in vis or not _is_static(vis[name])):
                return node, name
    return None


# ---------------------------------------------------------------------------
# Building the IR
# ---------------------------------------------------------------------------


def _tensor_type(vi: onnx.ValueInfoProto) -> TensorType:
    tt = vi.type.tensor_type
    return TensorType(onnx_d.element_type_from_onnx(tt.elem_type), [d.dim_value for d in tt.shape.dim])


_NAME_RE = re.compile(r"[^A-Za-z0-9_]")


def _name_hint(name: str) -> str | None:
    hint = _NAME_RE.sub("_", name).strip("_")
    if not hint:
        return None
    return hint if not hint[0].isdigit() else f"v{hint}"


def _constant_node(node: onnx.NodeProto, result_types: list[Attribute], where: dict) -> onnx_d.OnnxOp:
    from hetc.backends.numpy.evaluate import run_kernel

    try:
        (array,) = run_kernel("Constant", [], {a.name: python_attribute(a) for a in node.attribute}, 1)
    except Exception as exc:
        raise UnsupportedError(f"cannot read the constant: {exc}", **where) from None
    op = onnx_d.constant_op(array)
    if op.results[0].type != result_types[0]:
        raise HetcError(f"constant has type {op.results[0].type}, shape inference says {result_types[0]}", **where)
    if node.name:
        op.attributes[onnx_d.NODE_NAME_ATTR] = StringAttr(node.name)
    return op


def build_module(model: onnx.ModelProto, file: str) -> ModuleOp:
    g = model.graph
    vis = _value_infos(model)
    inputs = _graph_inputs(g)
    try:
        arg_types = [_tensor_type(i) for i in inputs]
    except onnx_d.UnsupportedType as exc:
        raise UnsupportedError(f"graph input: {exc}", file=file) from None
    block = Block(arg_types=arg_types)
    values: dict[str, SSAValue] = {}
    for arg, inp in zip(block.args, inputs):
        arg.name_hint = _name_hint(inp.name)
        values[inp.name] = arg

    no_value: SSAValue | None = None
    for init in g.initializer:
        try:
            array = numpy_helper.to_array(init)
            attr = onnx_d.dense_from_numpy(array)
        except Exception as exc:
            raise UnsupportedError(f"initializer '{init.name}': {exc}", file=file) from None
        op = onnx_d.create_op("Constant", [], [attr.type], {"value": attr})
        op.results[0].name_hint = _name_hint(init.name)
        block.add_op(op)
        values[init.name] = op.results[0]

    for node in g.node:
        where = dict(file=file, node=node.name, op_type=node.op_type)
        if node.op_type not in onnx_d.OPS:
            raise UnsupportedError("unknown ai.onnx op", **where)
        operands = []
        for name in node.input:
            if not name:
                if no_value is None:
                    nv = onnx_d.NoValueOp()
                    block.add_op(nv)
                    no_value = nv.result
                operands.append(no_value)
            elif name not in values:
                raise HetcError(f"input '{name}' is not produced by any node or initializer", **where)
            else:
                operands.append(values[name])
        attrs: dict[str, Attribute] = {}
        for a in node.attribute:
            if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                raise UnsupportedError(
                    f"attribute '{a.name}' holds a subgraph; control flow (If/Loop/Scan) "
                    "is not supported yet",
                    **where,
                )
            if a.ref_attr_name:
                raise UnsupportedError(f"attribute '{a.name}' refers to a function attribute", **where)
            try:
                attrs[a.name] = onnx_d.attribute_from_python(a.type, helper.get_attribute_value(a))
            except onnx_d.UnsupportedType as exc:
                raise UnsupportedError(f"attribute '{a.name}': {exc}", **where) from None
        if node.op_type == "Split" and "num_outputs" not in attrs and not (len(node.input) > 1 and node.input[1]):
            from xdsl.dialects.builtin import IntegerAttr, i64

            attrs["num_outputs"] = IntegerAttr(len(node.output), i64)
        if node.name:
            attrs[onnx_d.NODE_NAME_ATTR] = StringAttr(node.name)
        result_types: list[Attribute] = []
        for name in node.output:
            if not name:
                result_types.append(NoneType())
                continue
            vi = vis.get(name)
            if vi is None or vi.type.WhichOneof("value") != "tensor_type":
                kind = vi.type.WhichOneof("value") if vi is not None else "unknown"
                raise UnsupportedError(f"output '{name}' is a {kind} value; only tensors are supported", **where)
            try:
                result_types.append(_tensor_type(vi))
            except onnx_d.UnsupportedType as exc:
                raise UnsupportedError(f"output '{name}': {exc}", **where) from None
        if node.op_type == "Constant":
            # Every Constant form (value_float, value_ints, ...) becomes a tensor `value`.
            op = _constant_node(node, result_types, where)
        else:
            op = onnx_d.create_op(node.op_type, operands, result_types, attrs)
        block.add_op(op)
        for name, res in zip(node.output, op.results):
            if name:
                res.name_hint = _name_hint(name)
                values[name] = res

    outputs = []
    for out in g.output:
        if out.name not in values:
            raise HetcError(f"graph output '{out.name}' is not produced by any node", file=file)
        outputs.append(values[out.name])
    block.add_op(func.ReturnOp(*outputs))
    fn = func.FuncOp(
        "main",
        (arg_types, [v.type for v in outputs]),
        Region(block),
    )
    fn.attributes[INPUT_NAMES_ATTR] = ArrayAttr([StringAttr(i.name) for i in inputs])
    fn.attributes[OUTPUT_NAMES_ATTR] = ArrayAttr([StringAttr(o.name) for o in g.output])
    return ModuleOp([fn])


def freeze_inputs(
    model: onnx.ModelProto, frozen: Mapping[str, np.ndarray], file: str
) -> onnx.ModelProto:
    """Turn the named graph inputs into initializers holding the given values.

    Specializes a model whose shapes depend on input values (a Reshape's target
    shape, a reduction's axes fed as inputs) into one hetc can compile statically.
    """
    if not frozen:
        return model
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    g = model_copy.graph
    inputs = {i.name: i for i in _graph_inputs(g)}
    for name, value in frozen.items():
        if name not in inputs:
            raise HetcError(f"cannot freeze '{name}': not a graph input (inputs: {', '.join(inputs)})", file=file)
        want = inputs[name].type.tensor_type.elem_type
        array = np.asarray(value)
        if want and helper.np_dtype_to_tensor_dtype(array.dtype) != want:
            raise HetcError(
                f"cannot freeze '{name}': value has dtype {array.dtype}, the input is "
                f"{onnx.TensorProto.DataType.Name(want)}",
                file=file,
            )
        g.initializer.append(numpy_helper.from_array(array, name))
    keep = [i for i in g.input if i.name not in frozen]
    del g.input[:]
    g.input.extend(keep)
    return model_copy


def import_model(
    model: onnx.ModelProto | str | Path,
    input_shapes: InputShapes | None = None,
    *,
    frozen_inputs: Mapping[str, np.ndarray] | None = None,
    file: str | None = None,
) -> ModuleOp:
    """Import an ONNX model (a path or a ModelProto) into the `onnx` dialect.

    `input_shapes` binds symbolic input dimensions; `frozen_inputs` turns inputs
    into constants (see `freeze_inputs`)."""
    if not isinstance(model, onnx.ModelProto):
        file = file or str(model)
        model = load_model(model)
    file = file or (model.graph.name or "<model>")
    try:
        if model.functions:
            model = onnx.inliner.inline_local_functions(model)
        # Checker complaints are kept, not fatal: exporters write models onnxruntime
        # accepts but the checker does not (e.g. outputs without shapes). They are the
        # explanation if the import then fails for a reason of its own.
        checker_error = None
        try:
            onnx.checker.check_model(model)
        except Exception as exc:
            checker_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        try:
            model = freeze_inputs(model, frozen_inputs or {}, file)
            model = to_pinned_opset(model, file)
            model = bind_input_shapes(model, input_shapes, file)
            model = infer_static_shapes(model, file)
            return build_module(model, file)
        except HetcError:
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if checker_error:
                reason = f"model fails the ONNX checker ({checker_error}); import stopped at {reason}"
            raise HetcError(f"cannot import: {reason}", file=file) from exc
    except HetcError as err:
        raise err.with_file(file)

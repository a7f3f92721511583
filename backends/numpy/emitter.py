"""The NumPy backend: one readable, standalone Python module per model.

The module needs only numpy. It carries the source of each NumPy kernel it uses
(copied from `hetc.backends.numpy.kernels`, with the private helpers they call),
a `load_weights()` that reads `weights.npz` beside it, and `forward(w, *inputs)`
with one line per ONNX op, commented with the node it came from.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import keyword
import sys
import textwrap
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, NoneType
from xdsl.ir import SSAValue

from hetc.backends.numpy.kernels import KERNELS
from hetc.diagnostics import UnsupportedError
from hetc.dialects import onnx as onnx_d

#: constants up to this many elements are written inline instead of into weights.npz
#: (fewer for floats: their exact decimal form is long)
INLINE_LIMIT = 16
INLINE_FLOAT_LIMIT = 4


@dataclass
class NumpyArtifact:
    source: str
    #: arrays for weights.npz; extension dtypes are stored as unsigned views
    weights: dict[str, np.ndarray] = field(default_factory=dict)


def main_func(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise ValueError("module has no func.func @main")


def unsupported_ops(module: ModuleOp) -> list[onnx_d.OnnxOp]:
    """Ops the NumPy backend has no kernel for (named up front, before emitting)."""
    return [
        op
        for op in main_func(module).walk()
        if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE != "Constant" and op.OP_TYPE not in KERNELS
    ]


# ---------------------------------------------------------------------------
# Kernel sources
# ---------------------------------------------------------------------------


def _module_defs(module_name: str) -> dict[str, str]:
    """Top-level definitions (functions without decorators, assignments) of a kernels module."""
    mod = sys.modules[module_name]
    source = inspect.getsource(mod)
    lines = source.splitlines()
    defs: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defs[node.name] = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    defs[t.id] = "\n".join(lines[node.lineno - 1 : node.end_lineno])
    return defs


def _code_names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _code_names(const)
    return names


def kernel_sources(op_types: list[str]) -> list[str]:
    """Sources of the kernels for `op_types` and everything they reference, helpers first."""
    ordered: list[str] = []
    seen: set[tuple[str, str]] = set()
    defs_cache: dict[str, dict[str, str]] = {}

    def visit(obj_name: str, module_name: str) -> None:
        key = (module_name, obj_name)
        if key in seen:
            return
        seen.add(key)
        defs = defs_cache.setdefault(module_name, _module_defs(module_name))
        mod = sys.modules[module_name]
        obj = getattr(mod, obj_name)
        if inspect.isfunction(obj):
            for name in sorted(_code_names(obj.__code__)):
                target = obj.__globals__.get(name)
                home = getattr(target, "__module__", None) if target is not None else None
                if name in defs and name != obj_name:
                    visit(name, module_name)
                elif home and home.startswith("hetc.backends.numpy.kernels.") and callable(target):
                    visit(name, home)
        ordered.append(defs[obj_name])

    for op_type in op_types:
        fn = KERNELS[op_type]
        visit(fn.__name__, fn.__module__)
    return ordered


# ---------------------------------------------------------------------------
# Emission
# ---------------------------------------------------------------------------


class _Names:
    def __init__(self, reserved: set[str]) -> None:
        self.taken = set(reserved) | set(keyword.kwlist) | set(dir(builtins))
        self.names: dict[SSAValue, str] = {}

    def fresh(self, hint: str | None) -> str:
        base = hint or "t"
        if base[0].isdigit():
            base = "t" + base
        name, i = base, 1
        while name in self.taken:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name

    def define(self, value: SSAValue) -> str:
        self.names[value] = self.fresh(value.name_hint)
        return self.names[value]


def _literal(value) -> str:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return f"float('{value}')"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def _is_extension_dtype(dtype: np.dtype) -> bool:
    """bfloat16, float8, int4, ...: ml_dtypes types that .npz files cannot name."""
    return dtype.isbuiltin == 2


def _inline_array(array: np.ndarray) -> str | None:
    if array.size > (INLINE_FLOAT_LIMIT if array.dtype.kind in "fcV" else INLINE_LIMIT):
        return None
    if _is_extension_dtype(array.dtype):
        values = array.astype(np.float64).tolist()
        if not np.all(np.isfinite(values)):
            return None
        return f"np.array({values!r}).astype(np.dtype({array.dtype.name!r}))"
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        return None
    values = array.tolist()
    return f"np.array({values!r}, dtype=np.{array.dtype.name})"


def emit_numpy(module: ModuleOp, *, source_name: str = "model.onnx", version: str = "") -> NumpyArtifact:
    """Emit the standalone NumPy module for `module` (its `func.func @main`)."""
    fn = main_func(module)
    missing = unsupported_ops(module)
    if missing:
        op = missing[0]
        names = sorted({o.OP_TYPE for o in missing})
        raise UnsupportedError(
            f"the NumPy backend has no kernel for {', '.join(names)}", node=op.node_name, op_type=op.OP_TYPE
        )
    op_types = sorted(
        {op.OP_TYPE for op in fn.walk() if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE != "Constant"}
    )
    sources = kernel_sources(op_types)
    reserved = set(KERNELS) | {"np", "math", "os", "ml_dtypes", "w", "forward", "load_weights", "INPUT_NAMES", "OUTPUT_NAMES", "VIEW_DTYPES"}
    for src in sources:
        reserved |= {n.name for n in ast.parse(src).body if hasattr(n, "name")}
        reserved |= {t.id for n in ast.parse(src).body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    names = _Names(reserved)
    weight_keys = _Names(set())
    weights: dict[str, np.ndarray] = {}
    body: list[str] = []
    args = [names.define(a) for a in fn.body.block.args]
    in_names = [a.data for a in fn.attributes["hetc.input_names"].data] if "hetc.input_names" in fn.attributes else args
    out_names = [a.data for a in fn.attributes["hetc.output_names"].data] if "hetc.output_names" in fn.attributes else []

    for op in fn.body.block.ops:
        if isinstance(op, onnx_d.NoValueOp):
            names.names[op.result] = "None"
            continue
        if isinstance(op, func.ReturnOp):
            outs = ", ".join(names.names[v] for v in op.operands)
            body.append(f"return [{outs}]")
            continue
        if not isinstance(op, onnx_d.OnnxOp):
            raise UnsupportedError(f"the NumPy backend cannot emit {op.name}")
        if op.OP_TYPE == "Constant" and "value" in op.attributes:
            array = onnx_d.numpy_from_dense(op.attributes["value"])
            inline = _inline_array(array)
            if inline is not None:
                names.names[op.results[0]] = inline
            else:
                key = weight_keys.fresh(op.results[0].name_hint or "w")
                weights[key] = array
                names.names[op.results[0]] = f"w[{key!r}]"
            continue
        call_args = [names.names[v] for v in op.operands]
        for k, v in op.onnx_attributes().items():
            value = onnx_d.attribute_to_python(v)
            if isinstance(value, np.ndarray):
                inline = _inline_array(value)
                if inline is None:
                    key = weight_keys.fresh(f"{op.OP_TYPE}_{k}")
                    weights[key] = value
                    inline = f"w[{key!r}]"
                call_args.append(f"{k}={inline}")
            else:
                call_args.append(f"{k}={_literal(value)}")
        call = f"{op.OP_TYPE}({', '.join(call_args)})"
        results = [r for r in op.results]
        targets = ["_" if isinstance(r.type, NoneType) or not r.uses else names.define(r) for r in results]
        if op.SCHEMA.max_output > 1:
            lhs = ", ".join(targets) + ("," if len(targets) == 1 else "")
            line = f"{lhs} = {call}[:{len(targets)}]"
        else:
            line = f"{targets[0]} = {call}"
        comment = f"  # {op.node_name}" if op.node_name else ""
        body.append(line + comment)

    view_dtypes = {}
    for key, array in list(weights.items()):
        if _is_extension_dtype(array.dtype):
            view_dtypes[key] = array.dtype.name
            weights[key] = array.view(np.dtype(f"u{array.dtype.itemsize}"))

    header = textwrap.dedent(
        f'''\
        """NumPy module generated by hetc {version} from {source_name}.

        Standalone: needs only numpy. Usage:
            import model
            w = model.load_weights()            # reads weights.npz beside this file
            outputs = model.forward(w, {", ".join(args)})
        """

        import math
        import os

        import numpy as np

        try:  # only models using bfloat16 / float8 / int4 tensors need it
            import ml_dtypes  # noqa: F401
        except ImportError:
            pass

        INPUT_NAMES = {in_names!r}
        OUTPUT_NAMES = {out_names!r}
        # weights stored as raw unsigned views because .npz cannot name their dtype
        VIEW_DTYPES = {view_dtypes!r}


        def load_weights(path=None):
            path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.npz")
            if not os.path.exists(path):
                return {{}}
            with np.load(path, allow_pickle=False) as data:
                w = {{k: data[k] for k in data.files}}
            for k, name in VIEW_DTYPES.items():
                w[k] = w[k].view(np.dtype(name))
            return w

        '''
    )
    kernels_text = "\n\n\n".join(sources)
    forward = f"def forward(w, {', '.join(args)}):\n" + textwrap.indent("\n".join(body), "    ") + "\n"
    source = (
        header
        + "\n# --- NumPy semantics of the ONNX ops this model uses (from hetc's kernel library) ---\n\n"
        + kernels_text
        + "\n\n\n# --- the model ---\n\n"
        + forward
    )
    return NumpyArtifact(source, weights)

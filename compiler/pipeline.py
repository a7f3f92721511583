"""The one pass pipeline `hetc compile` runs: named passes, in order, in memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from hetc.passes import all_passes

#: graph-level cleanup every target gets before its own lowering
GRAPH_PIPELINE: tuple[str, ...] = (
    "hetc-verify-shapes",
    "hetc-fold-constants",
    "hetc-canonicalize",
    "hetc-decompose",
    "hetc-fold-constants",
    "hetc-canonicalize",
    "hetc-dce",
    "hetc-verify-shapes",
)


def make_context() -> Context:
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func

    from hetc.dialects.he import HE
    from hetc.dialects.hw import HW
    from hetc.dialects.onnx import ONNX
    from hetc.dialects.kernel import KERNEL
    from hetc.dialects.sched import SCHED

    ctx = Context()
    for dialect in (Builtin, Func, ONNX, HW, HE, SCHED, KERNEL):
        ctx.load_dialect(dialect)
    return ctx


def run_pipeline(
    module: ModuleOp,
    names: Sequence[str] = GRAPH_PIPELINE,
    *,
    ctx: Context | None = None,
    progress: Callable[[str], None] | None = None,
) -> ModuleOp:
    registry = all_passes()
    ctx = ctx or make_context()
    for spec in names:
        # `name` or `name{key=value,...}`, as hetc-opt spells pass options
        name, _, opts = spec.partition("{")
        options = dict(kv.split("=", 1) for kv in opts.rstrip("}").split(",") if kv)
        if name not in registry:
            raise KeyError(f"unknown pass '{name}' (known: {', '.join(sorted(registry))})")
        if progress:
            progress(spec)
        registry[name](**options).apply(ctx, module)
    return module

"""ONNX conformance runner: compile and run every ONNX backend node case per backend.

    python tests/conformance/run.py --target numpy            # all cases, writes STATUS.md
    python tests/conformance/run.py --target numpy --sample 200 --seed 0 --no-write

Each case is `passed` (outputs match the case's expected outputs within its rtol/atol,
same dtypes and shapes), `failed` (wrong result, or a crash while running) or
`unsupported` (hetc refused it up front with a reason: unsupported op, type, or
attribute). `tests/conformance/STATUS.md` gets the per-op table.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import NodeCase, load_cases  # noqa: E402

#: the op set CNNs and transformers use (issue 2's bar: >= 90% of these cases pass)
CNN_TRANSFORMER_OPS = {
    "Conv", "ConvTranspose", "Gemm", "MatMul",
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal",
    "Max", "Min", "Sum", "Mean", "Floor", "Ceil", "Round", "Sign",
    "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Not", "And", "Or", "Xor",
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "Tanh", "Elu", "Selu", "Celu",
    "Gelu", "Erf", "HardSwish", "Mish", "Softplus", "Softsign",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
    "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
    "Softmax", "LogSoftmax",
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin",
    "Reshape", "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND",
    "Squeeze", "Unsqueeze", "Expand", "Where", "Cast", "CastLike", "Pad", "Resize", "Clip",
    "Shape", "ConstantOfShape", "Range", "Tile", "TopK", "Einsum", "CumSum", "LSTM", "GRU",
    "Flatten", "Identity", "Dropout",
}


def _all_op_types() -> list[str]:
    import onnx.defs

    return sorted({s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain == ""})


_OPS_BY_KEY = None


def case_op(case: NodeCase) -> str:
    """The ONNX op a case tests: the longest op name its test name starts with."""
    global _OPS_BY_KEY
    if _OPS_BY_KEY is None:
        _OPS_BY_KEY = sorted(((o.lower(), o) for o in _all_op_types()), key=lambda kv: -len(kv[0]))
    key = case.name.removeprefix("test_").replace("_", "").lower()
    for low, op in _OPS_BY_KEY:
        if key.startswith(low):
            return op
    ops = case.op_types
    return ops[0] if len(ops) == 1 else "?"


@dataclass
class Result:
    name: str
    op: str
    status: str  # passed | failed | unsupported
    reason: str = ""
    #: inputs compiled in as constants because shapes depend on their values
    frozen: tuple[str, ...] = ()


def _matches(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str:
    if got.dtype != want.dtype:
        return f"dtype {got.dtype} != expected {want.dtype}"
    if got.shape != want.shape:
        return f"shape {list(got.shape)} != expected {list(want.shape)}"
    if want.dtype.kind == "V" or (want.dtype.kind in "iu" and want.dtype.itemsize == 1 and not want.dtype.isbuiltin):
        # ml_dtypes types (bfloat16, float8, int4): compare as float64, NaN == NaN
        got, want = got.astype(np.float64), want.astype(np.float64)
    if want.dtype.kind in "fc":
        if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
            err = np.nanmax(np.abs(got.astype(np.float64) - want.astype(np.float64)))
            return f"max abs err {err:.3g} > atol {atol:g} + rtol {rtol:g}*|expected|"
    elif not np.array_equal(got, want):
        return "values differ"
    return ""


def run_case(case: NodeCase, target: str) -> Result:
    import hetc
    from hetc.api import Session, build
    from hetc.diagnostics import HetcError

    from onnx import TensorProto, numpy_helper

    op = case_op(case)
    # Narrow-type data (float8, int4, ...) comes as TensorProtos: as arrays via ml_dtypes.
    case.inputs = [numpy_helper.to_array(x) if isinstance(x, TensorProto) else x for x in case.inputs]
    case.outputs = [numpy_helper.to_array(x) if isinstance(x, TensorProto) else x for x in case.outputs]
    if any(not isinstance(x, np.ndarray) and not np.isscalar(x) for x in case.inputs + case.outputs):
        return Result(case.name, op, "unsupported", "sequence/optional/non-tensor values are not supported")
    graph_inputs = [i.name for i in case.model.graph.input if i.name not in {t.name for t in case.model.graph.initializer}]
    values = dict(zip(graph_inputs, (np.asarray(x) for x in case.inputs)))
    # Shapes that depend on input values (a Reshape's shape, a reduction's axes fed as
    # inputs) compile only once those inputs are frozen into constants: retry so,
    # first freezing integer inputs, then also small float ones (Resize scales), then
    # every input but the first (weights a backend needs at compile time), then all
    # inputs where all are scalars.
    stages = [
        {},
        {n: v for n, v in values.items() if v.dtype.kind in "iub"},
        {n: v for i, (n, v) in enumerate(values.items()) if v.dtype.kind in "iub" or (i > 0 and v.size <= 8)},
        # weights fed as inputs (RNN W/R/B): real models carry them as initializers
        {n: v for i, (n, v) in enumerate(values.items()) if i > 0},
    ]
    if values and all(v.ndim == 0 for v in values.values()):
        # every input, when all are scalars: a model whose inputs are all shape-
        # determining scalars (Range's start, limit, delta) is a constant program
        stages.append(dict(values))
    stages = [s for i, s in enumerate(stages) if i == 0 or s.keys() != stages[i - 1].keys()]
    with tempfile.TemporaryDirectory(prefix="hetc-conf-") as tmp:
        for frozen in stages:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = build(case.model, target, Path(tmp) / "out", frozen_inputs=frozen)
                sess = Session(out)
                break
            except HetcError as err:
                if ("static shape" in err.reason or "compile-time constant" in err.reason) and frozen is not stages[-1]:
                    continue
                return Result(case.name, op, "unsupported", err.reason)
            except Exception as exc:
                return Result(case.name, op, "failed", f"compiler crashed: {type(exc).__name__}: {exc}")
        feeds = {n: values[n] for n in sess.input_names}
        try:
            outs = sess.run(feeds)
        except HetcError as err:
            return Result(case.name, op, "failed", f"run: {err.reason}")
        except Exception as exc:
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            return Result(case.name, op, "failed", f"run crashed: {type(exc).__name__}: {exc} (line {tb.lineno} {tb.name})")
    for i, (got, want) in enumerate(zip(outs, case.outputs)):
        bad = _matches(np.asarray(got), np.asarray(want), case.rtol, case.atol)
        if bad:
            return Result(case.name, op, "failed", f"output {i}: {bad}", tuple(frozen))
    return Result(case.name, op, "passed", "", tuple(frozen))


def _worker(args: tuple[int, str]) -> Result:
    index, target = args
    case = _CASES[index]
    try:
        return run_case(case, target)
    except BaseException as exc:  # never let one case take the run down
        return Result(case.name, case_op(case), "failed", f"runner: {type(exc).__name__}: {exc}")


_CASES: list[NodeCase] = []


def run_all(target: str, indices: list[int], jobs: int, quiet: bool) -> list[Result]:
    results: list[Result] = []
    start = time.perf_counter()
    work = [(i, target) for i in indices]
    if jobs <= 1:
        iterator = map(_worker, work)
    else:
        pool = ProcessPoolExecutor(max_workers=jobs)
        iterator = pool.map(_worker, work, chunksize=8)
    for n, res in enumerate(iterator, 1):
        results.append(res)
        if not quiet and (n % 50 == 0 or n == len(work)):
            c = Counter(r.status for r in results)
            print(
                f"[{time.perf_counter() - start:6.1f}s] {n}/{len(work)} cases: "
                f"{c['passed']} passed, {c['failed']} failed, {c['unsupported']} unsupported",
                file=sys.stderr,
                flush=True,
            )
    if jobs > 1:
        pool.shutdown()
    return results


def summarize(results: list[Result]) -> dict:
    core = [r for r in results if r.op in CNN_TRANSFORMER_OPS]
    passed_core = sum(r.status == "passed" for r in core)
    return {
        "total": len(results),
        "passed": sum(r.status == "passed" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "unsupported": sum(r.status == "unsupported" for r in results),
        "core_total": len(core),
        "core_passed": passed_core,
        "core_rate": passed_core / len(core) if core else 1.0,
    }


def write_status(results: list[Result], target: str, path: Path, command: str) -> None:
    import onnx

    import hetc

    s = summarize(results)
    by_op: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        by_op[r.op][r.status] += 1
    lines = [
        "# ONNX conformance status",
        "",
        f"Generated by `{command}` with hetc {hetc.__version__}, onnx {onnx.__version__} "
        f"(backend node cases regenerated from `onnx.backend.test.case`), target `{target}`.",
        "",
        f"- cases: {s['total']}: **{s['passed']} passed**, {s['failed']} failed, {s['unsupported']} unsupported",
        f"- CNN/transformer op set: **{s['core_passed']}/{s['core_total']} passed "
        f"({100 * s['core_rate']:.1f}%)**",
        f"- {sum(bool(r.frozen) for r in results)} cases feed a shape-determining or compile-time value (a Reshape's "
        "shape, a reduction's axes, CumSum's axis) as a graph input; hetc compiles static shapes, so the runner "
        "compiles those with the integer inputs frozen to the case's values (`frozen_inputs=`), then small float "
        "ones, then (for weights a backend needs at compile time, e.g. RNN W/R/B) every input but the first, "
        "then, where every input is a scalar (Range's start, limit, delta), all of them: a constant program.",
        "",
        "A case passes when every output has the expected dtype and shape and matches within the case's",
        "own rtol/atol (exactly, for integer and bool outputs). `unsupported` means hetc refused the model",
        "up front with a reason; `failed` means a wrong result or a crash.",
        "",
        "| op | CNN/transformer set | passed | failed | unsupported |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for op in sorted(by_op):
        c = by_op[op]
        lines.append(
            f"| {op} | {'yes' if op in CNN_TRANSFORMER_OPS else ''} | {c['passed']} | {c['failed']} | {c['unsupported']} |"
        )
    for status in ("failed", "unsupported"):
        rows = [r for r in results if r.status == status]
        if not rows:
            continue
        lines += ["", f"## {status.capitalize()} cases", "", "| case | op | reason |", "| --- | --- | --- |"]
        for r in sorted(rows, key=lambda r: (r.op, r.name)):
            reason = r.reason.replace("|", "\\|").replace("\n", " ")[:200]
            lines.append(f"| {r.name} | {r.op} | {reason} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Run the ONNX backend node cases through hetc and write tests/conformance/STATUS.md.",
        epilog="example: python tests/conformance/run.py --target numpy --jobs 2",
    )
    p.add_argument("--target", default="numpy")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--sample", type=int, default=0, help="run a seeded random sample of this many cases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--filter", default="", help="regex on case names")
    p.add_argument("--no-write", action="store_true", help="do not write STATUS.md")
    p.add_argument("--output", default=None, help="default: STATUS.md (numpy) or STATUS-<target>.md")
    p.add_argument("--quiet", "-q", action="store_true")
    args = p.parse_args(argv)

    global _CASES
    _CASES = load_cases()
    indices = [i for i, c in enumerate(_CASES) if re.search(args.filter, c.name)]
    if args.sample:
        indices = sorted(random.Random(args.seed).sample(indices, min(args.sample, len(indices))))
    results = run_all(args.target, indices, args.jobs, args.quiet)
    s = summarize(results)
    print(
        f"{s['passed']} passed, {s['failed']} failed, {s['unsupported']} unsupported; "
        f"CNN/transformer set {s['core_passed']}/{s['core_total']} ({100 * s['core_rate']:.1f}%)"
    )
    if not args.no_write:
        default = HERE / ("STATUS.md" if args.target == "numpy" else f"STATUS-{args.target}.md")
        write_status(results, args.target, Path(args.output or default), "python tests/conformance/run.py --target " + args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `hetc` command: compile and run ONNX models."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hetc.diagnostics import HetcError

EXAMPLES = {
    "compile": "example: hetc compile examples/cnn.onnx --target numpy -o out/cnn",
    "run": "example: hetc run examples/mlp.onnx --target numpy --check --input-shape x=4x784\n"
    "example: hetc run examples/cnn.onnx --target c --profile",
}


class Progress:
    """Progress lines on stderr; silent with --quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, step: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.start:6.2f}s] {step}", file=sys.stderr, flush=True)


def _targets() -> list[str]:
    from hetc.backends.targets import TARGETS

    return list(TARGETS)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="path to an .onnx model")
    p.add_argument("--target", "-t", default="numpy", help=f"code generator ({', '.join(_targets())})")
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=D0xD1x...",
        help="bind an input's symbolic dimensions, e.g. x=1x3x224x224 (repeatable)",
    )
    p.add_argument("--threads", type=int, default=1, help="C target: threads for parallel loops (OpenMP), default 1")
    p.add_argument(
        "--layout",
        choices=("auto", "nchw", "nhwc"),
        default="auto",
        help="C target: tensor layout of convolution regions; auto = chosen per region by the cost model "
        "(see layout.json in the output)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hetc",
        description="hetc: compile ONNX models for heterogeneous machines (targets today: numpy, c).",
        epilog="examples:\n  " + "\n  ".join(EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser(
        "compile",
        help="compile a model into an output folder",
        description="Compile an ONNX model; writes the generated code, weights, manifest.json and a README.",
        epilog=EXAMPLES["compile"],
    )
    _add_common(c)
    c.add_argument("-o", "--output", required=True, help="output folder (written whole or not at all)")

    r = sub.add_parser(
        "run",
        help="compile, run on inputs, optionally check against onnxruntime",
        description="Compile a model to a temporary folder and run it on random inputs (or --inputs).",
        epilog=EXAMPLES["run"],
    )
    _add_common(r)
    r.add_argument("--inputs", help=".npz file of inputs by name (default: seeded random inputs)")
    r.add_argument("--check", action="store_true", help="compare every output with onnxruntime")
    r.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="--check passes when max|hetc - ort| <= tolerance * max|ort| per float output (default 1e-4); "
        "integer and bool outputs must match exactly",
    )
    r.add_argument("--seed", type=int, default=0, help="seed for random inputs")
    r.add_argument("--save-outputs", help="write the outputs to this .npz file")
    r.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=10,
        default=0,
        metavar="RUNS",
        help="C target: time every kernel call over RUNS runs (default 10) and print where the time goes",
    )
    return parser


def random_inputs(specs: list[dict], seed: int) -> dict[str, np.ndarray]:
    """Seeded inputs matching the manifest: normal floats, small non-negative ints."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
        if dtype.kind == "f":
            feeds[spec["name"]] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[spec["name"]] = rng.random(shape) < 0.5
        else:
            feeds[spec["name"]] = rng.integers(0, 10, shape).astype(dtype)
    return feeds


def _load_inputs(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:
        raise HetcError(f"cannot read inputs: {exc}", file=path) from None


def onnxruntime_outputs(model_path: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The reference: onnxruntime's CPU provider on the original model."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(model_path)
    if model.ir_version > 10:
        model.ir_version = 10  # onnx 1.23 writes IR 14; onnxruntime reads at most 13
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return sess.run(None, feeds)
    except Exception as exc:
        raise HetcError(f"onnxruntime could not run the model for --check: {exc}", file=model_path) from None


def compare(
    names: list[str], got: list[np.ndarray], want: list[np.ndarray], tolerance: float
) -> tuple[bool, list[str]]:
    """Per-output max abs/rel error lines, and whether all are within tolerance."""
    ok, lines = True, []
    for name, g, w in zip(names, got, want):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape or g.dtype != w.dtype:
            ok = False
            lines.append(f"  {name}: MISMATCH shape/dtype hetc {g.dtype}{list(g.shape)} vs onnxruntime {w.dtype}{list(w.shape)}")
            continue
        if w.dtype.kind in "fc":
            diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
            nan_mismatch = bool(np.any(np.isnan(g) != np.isnan(w)))
            diff = np.where(np.isnan(diff) & np.isnan(w), 0.0, diff)
            max_abs = float(np.max(diff)) if diff.size else 0.0
            scale = float(np.max(np.abs(w[np.isfinite(w)]))) if np.isfinite(w).any() else 0.0
            rel = max_abs / scale if scale else max_abs
            good = (not nan_mismatch) and max_abs <= tolerance * max(scale, 1e-30)
            lines.append(
                f"  {name}: max abs err {max_abs:.3e}  max rel err {rel:.3e}  (max |ref| {scale:.3e})  "
                + ("ok" if good else "FAIL")
            )
        else:
            good = bool(np.array_equal(g, w))
            lines.append(f"  {name}: exact {'ok' if good else 'FAIL (values differ)'}")
        ok &= good
    return ok, lines


def print_profile(calls: list[tuple[str, float]], top: int = 15) -> None:
    """Where the time goes: totals per kernel kind, then the most expensive calls."""
    import re
    from collections import defaultdict

    total = sum(t for _, t in calls) or 1e-30
    by_kind: dict[str, list[float]] = defaultdict(list)
    for label, t in calls:
        kind = re.sub(r"^k\d+_", "", label.split(" <- ")[0])
        by_kind[kind].append(t)
    print(f"profile: {len(calls)} kernel calls, {total * 1e3:.3f} ms per run in kernels")
    print(f"  {'kernel kind':<24} {'calls':>5} {'ms':>9} {'share':>6}")
    for kind, ts in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {kind:<24} {len(ts):>5} {sum(ts) * 1e3:>9.3f} {100 * sum(ts) / total:>5.1f}%")
    print(f"  top {min(top, len(calls))} calls:")
    for label, t in sorted(calls, key=lambda c: -c[1])[:top]:
        print(f"  {t * 1e3:>9.3f} ms {100 * t / total:>5.1f}%  {label}")


def cmd_compile(args: argparse.Namespace) -> int:
    from hetc.api import build
    from hetc.opt import parse_shape_bindings

    progress = Progress(args.quiet)
    out = build(
        args.model, args.target, args.output, parse_shape_bindings(args.input_shape),
        threads=args.threads, layout=args.layout, progress=progress,
    )
    if not args.quiet:
        print(f"wrote {out}/ (see {out}/README.md and manifest.json)")
        plan_file = Path(out) / "memory_plan.json"
        if plan_file.exists():
            import json

            plan = json.loads(plan_file.read_text())
            if "arena_bytes" in plan:
                print(
                    f"arena {plan['arena_bytes'] / 1024:.1f} KiB ({plan['method']}"
                    f"{', optimal' if plan.get('optimal') else ''}); greedy-by-size "
                    f"{plan['greedy_by_size_bytes'] / 1024:.1f} KiB; no reuse {plan['tensor_bytes'] / 1024:.1f} KiB"
                )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from hetc.api import Session, build
    from hetc.opt import parse_shape_bindings

    progress = Progress(args.quiet)
    with tempfile.TemporaryDirectory(prefix="hetc-run-") as tmp:
        out = build(
            args.model, args.target, Path(tmp) / "out", parse_shape_bindings(args.input_shape),
            threads=args.threads, layout=args.layout, progress=progress,
        )
        sess = Session(out)
        feeds = _load_inputs(args.inputs) if args.inputs else random_inputs(sess.manifest["inputs"], args.seed)
        progress(f"run {args.target}")
        outs = sess.run(feeds)
        if args.profile:
            progress(f"profile: {args.profile} runs with per-kernel timers")
            print_profile(sess.profile(feeds, args.profile))
    if args.save_outputs:
        np.savez(args.save_outputs, **dict(zip(sess.output_names, outs)))
    for name, value in zip(sess.output_names, outs):
        print(f"{name}: {value.dtype}{list(value.shape)}")
    if not args.check:
        return 0
    progress("run onnxruntime")
    want = onnxruntime_outputs(args.model, feeds)
    ok, lines = compare(sess.output_names, outs, want, args.tolerance)
    print(f"check against onnxruntime (tolerance {args.tolerance:g} x max|ref|):")
    print("\n".join(lines))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return {"compile": cmd_compile, "run": cmd_run}[args.command](args)
    except HetcError as err:
        if args.debug:
            raise
        print(f"hetc: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an internal error: say so, traceback only with --debug
        if args.debug:
            raise
        print(
            f"hetc: internal error: {type(exc).__name__}: {exc}\n  (rerun with --debug for a traceback; please report it)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())

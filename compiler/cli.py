"""The `hetc` command: compile and run ONNX models."""

from __future__ import annotations

import argparse
import json
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
    "example: hetc run examples/cnn.onnx --target c --profile\n"
    "example: hetc run examples/transformer_block.onnx --target c --profile --report-html /tmp/tb-report.html\n"
    "example: hetc run examples/cnn.onnx --targets cpu,u250 --pin MaxPool=u250 --check\n"
    "example: hetc run examples/cnn.onnx --target npu --npu-config npu-tiny --spm-alloc ilp --spm-time-limit 2 --check --report-json -",
    "calibrate": "example: hetc calibrate                      # measure this machine -> ~/.cache/hetc/profile.toml\n"
    "example: hetc calibrate --validate examples/cnn.onnx examples/transformer_block.onnx --report out/calibration.json",
    "place": "example: hetc place examples/dag_topcuoglu.json --scheduler heft      # HEFT: makespan 80\n"
    "example: hetc place examples/dag_topcuoglu.json --scheduler ilp --time-limit 5 --json out/place.json\n"
    "example: hetc place examples/cnn.onnx --devices cpu,h100 --scheduler ilp --report out/report.html\n"
    "example: hetc place examples/transformer_block.onnx --devices cpu,h100,npu --catalog my.toml --scheduler heft",
    "agent": "example: hetc agent plan examples/agents/rag.yaml --fleet examples/agents/fleet.toml --sla 2s -o out/rag",
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
        "(see report.json in the output)",
    )
    p.add_argument(
        "--fusion",
        choices=("none", "greedy", "ilp"),
        default="ilp",
        help="C target: operator fusion; ilp = CP-SAT over legal fusion groups against the cost model (default), "
        "greedy = rule-based, none = one kernel per op (groups in report.json)",
    )
    p.add_argument("--fuse-attention", action=argparse.BooleanOptionalAction, default=None,
                   help="add attention (QK^T, softmax, P.V as one kernel) to the fusion candidates; default: on for "
                   "CUDA at fp16 / bf16 (a FlashAttention-style tensor-core kernel), off elsewhere (the one-kernel "
                   "form measured slower than the unfused GEMMs on the CPU and for exact fp32 on the GPU)")  # fmt: skip
    p.add_argument("--part", default="u280", help="HLS target: FPGA part for estimates and synthesis (u280, zcu104)")
    p.add_argument(
        "--precision",
        default=None,
        help="HLS target: arithmetic, float, ap_fixed<W,I>, or auto (ap_fixed<W,I> per layer searched under "
        "--error-bound, default float); CUDA target: fp32 (float32 GEMMs on the CUDA cores, default), tf32 "
        "(float32 data, GEMMs on the tensor cores), fp16 / bf16 (float16 / bfloat16 intermediates and weights, "
        "float32 io and accumulation, GEMMs on the tensor cores); C target: fp32 (default), fp16 / bf16 (the same "
        "narrowed storage with float32 compute: half the memory, and the GPU's fp16 path checked on a CPU); "
        "e.g. --target cuda --precision fp16",
    )
    p.add_argument(
        "--pragmas",
        choices=("search", "default"),
        default="search",
        help="HLS target: search = unroll/partition chosen by CP-SAT under the part's resources (default); "
        "default = pipeline innermost loops only (both estimates are in report.json)",
    )
    p.add_argument(
        "--weights",
        choices=("auto", "rom", "axi"),
        default="auto",
        help="HLS target: weights as on-chip ROMs, or read from DDR through an m_axi port (float only); "
        "auto = ROMs while they fit in the part's BRAM",
    )
    p.add_argument("--dataflow", action="store_true",
                   help="HLS target: #pragma HLS DATAFLOW over the layers (ping-pong buffers; interval = largest stage)")
    p.add_argument("--error-bound", type=float, default=None,
                   help="HLS target, --precision auto: max|fixed - float| <= BOUND * max|float| per output (default 0.01)")
    p.add_argument(
        "--targets",
        metavar="LIST",
        help="partition the model over several devices: cpu,cuda (or catalog devices, e.g. cpu,h200); every op is "
        "placed by the cost model and --scheduler, each partition compiled for its device (overrides --target)",
    )
    p.add_argument("--scheduler", choices=("heft", "ilp", "greedy"), default="heft",
                   help="--targets: how ops are placed (default heft)")  # fmt: skip
    p.add_argument("--pin", action="append", default=[], metavar="NODE=DEVICE",
                   help="--targets: force an ONNX node (or every op of a type, e.g. MatMul=cpu) onto a device")  # fmt: skip
    p.add_argument("--npu-config", metavar="PRESET_OR_FILE", default="npu-edge",
                   help="NPU target: a preset (npu-tiny 64 KiB, npu-edge 256 KiB, npu-large 2 MiB scratchpad) or a "
                   "TOML file (the [devices.NAME.npu] keys of backends/devices/catalog.toml); default npu-edge")  # fmt: skip
    p.add_argument("--spm-alloc", choices=("ilp", "belady", "lru"), default="belady",
                   help="NPU target: scratchpad allocator (CP-SAT over order, offsets and spills; furthest-next-use; "
                   "LRU first-fit); default belady")  # fmt: skip
    p.add_argument("--spm-time-limit", type=float, default=10.0, metavar="S", help="NPU target: ilp time limit (default 10)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _build(args: argparse.Namespace, out: Path | str, progress) -> Path:
    """build() for --target, build_partitioned() for --targets."""
    from hetc.api import build
    from hetc.opt import parse_shape_bindings

    shapes = parse_shape_bindings(args.input_shape)
    if args.targets:
        from hetc.partitioned import build_partitioned, devices_for_targets

        pins = {}
        for spec in args.pin:
            if "=" not in spec:
                raise HetcError(f"--pin {spec}: expected NODE=DEVICE (e.g. MatMul=cpu)")
            k, v = spec.split("=", 1)
            pins[k] = v
        # --precision goes to the partitions whose target takes it (storage: c and cuda; tf32: cuda)
        from hetc.passes.narrow_storage import C_PRECISIONS

        per_target = {}
        if args.precision:
            per_target["cuda"] = {"precision": args.precision}
            if args.precision in C_PRECISIONS:
                per_target["c"] = {"precision": args.precision}
        return build_partitioned(
            args.model, out, devices_for_targets(args.targets.split(",")), shapes, scheduler=args.scheduler,
            pins=pins, threads=args.threads, fusion=args.fusion, progress=progress, target_options=per_target,
        )  # fmt: skip
    if args.pin:
        raise HetcError("--pin needs --targets (it places ops of a partitioned model)")
    return build(
        args.model, args.target, out, shapes, threads=args.threads, layout=args.layout, fusion=args.fusion,
        fuse_attention=args.fuse_attention, progress=progress, target_options={**_target_options(args), **({"progress": progress} if args.target in ("npu", "hls") else {})},
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hetc",
        description="hetc: compile ONNX models for heterogeneous machines (targets today: numpy, c, hls).",
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
        default=None,
        help="--check passes when max|hetc - ort| <= tolerance * max|ort| per float output (default 1e-4; "
        "1e-2 where GEMMs run in tf32 or tensors are stored in float16, 5e-2 in bfloat16: --precision, or an "
        "fp16/bf16 model); integer and bool outputs must match exactly",
    )
    r.add_argument("--seed", type=int, default=0, help="seed for random inputs")
    r.add_argument("--save-outputs", help="write the outputs to this .npz file")
    r.add_argument("--report-json", metavar="OUT",
                   help="write the compile report as JSON to OUT ('-': stdout); NPU target: key \"npu\" with the allocator's "
                   "predicted traffic and the simulator's counted DMA bytes and cycles")  # fmt: skip
    r.add_argument("--report-html", metavar="OUT",
                   help="C/CUDA targets: write the compile report page to OUT (fusion groups, none/greedy/ilp, layout, "
                   "arena), with each kernel's measured time beside its predicted one when --profile is given")  # fmt: skip
    r.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=10,
        default=0,
        metavar="RUNS",
        help="C target: time every kernel call over RUNS runs (default 10) and print where the time goes",
    )
    cal = sub.add_parser(
        "calibrate",
        help="measure this machine for the cost model; compare predicted and measured kernel times",
        description="Run microbenchmarks (CPU through the C backend; a CUDA GPU through torch, skipped without "
        "one) and write a profile the cost model uses over the device catalog's numbers. --validate compiles "
        "models for the C target, times every kernel and prints the cost model's prediction beside each "
        "measurement (MAPE), and with two models or more a learned correction evaluated on held-out models.",
        epilog=EXAMPLES["calibrate"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cal.add_argument("-o", "--output", help="profile to write (default: $HETC_PROFILE or ~/.cache/hetc/profile.toml)")
    cal.add_argument("--runs", type=int, default=10, help="timed runs per measurement (default 10)")
    cal.add_argument(
        "--no-micro", action="store_true", help="skip the microbenchmarks (keep the profile's earlier numbers)"
    )
    cal.add_argument("--validate", nargs="+", default=[], metavar="MODEL", help=".onnx models to check the cost model on")
    cal.add_argument("--report", help="write the per-kernel validation to this JSON file")
    cal.add_argument(
        "--input-shape", action="append", default=[], metavar="NAME=D0xD1x...",
        help="bind symbolic input dimensions of the --validate models (repeatable)",
    )  # fmt: skip
    cal.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    cal.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    _add_place_parser(sub)
    from hetc.cli_agent import add_agent_parser  # hetc agent validate|plan|run

    add_agent_parser(sub)
    return parser


PLACE_FORMAT = """task graph (.json):
  {"devices": ["p0", "p1"],
   "tasks": {"t1": {"cost": {"p0": 14, "p1": 16}}, "t2": {"cost": {"p1": 9}}},
   "edges": [{"src": "t1", "dst": "t2", "comm": 18}]}
  cost: run time on each device that can run the task (omit the devices it cannot run on);
  comm: transfer time when the two ends run on different devices (none on the same device).
  optional: "memory" per task with "capacity": {device: size} (a device's tasks must fit),
  "cost_rate": {device: rate} for --objective cost (cost = run time x rate).
"""


def _add_place_parser(sub) -> None:
    from hetc.passes.place import OBJECTIVES, SCHEDULERS

    p = sub.add_parser(
        "place",
        help="place and schedule a task graph on heterogeneous devices (HEFT, CP-SAT, baselines)",
        description="Assign every task of a task graph to a device and a start time, minimising the makespan "
        "(or the cost under a makespan SLA). Prints a table and the makespan, or writes JSON with --json.",
        epilog=PLACE_FORMAT + "\n" + EXAMPLES["place"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "graph",
        help="task graph: a .json file (format below), or an .onnx model: its ops are placed on catalog "
        "--devices with the cost model (report with --report)",
    )
    p.add_argument("--scheduler", "-s", choices=SCHEDULERS, default="ilp",
                   help="heft: HEFT (Topcuoglu et al. 2002); ilp: CP-SAT warm-started from the best heuristic "
                   "(default); greedy: topological order, earliest finish; single: best single device")
    p.add_argument("--time-limit", type=float, default=10.0, metavar="S", help="ilp: seconds (default 10)")
    p.add_argument("--seed", type=int, default=0, help="ilp: CP-SAT's random seed (default 0)")
    p.add_argument("--workers", type=int, default=2, help="ilp: CP-SAT threads (default 2)")
    p.add_argument("--objective", choices=OBJECTIVES, default="makespan",
                   help="makespan (default), or cost: sum of run time x cost_rate, subject to --sla")
    p.add_argument("--sla", type=float, metavar="S", help="latency SLA: the makespan must not exceed S (in the graph's time unit; "
                   "seconds for .onnx models)")
    p.add_argument("--json", metavar="OUT", help="write the schedule as JSON to OUT ('-': stdout)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")  # fmt: skip
    from hetc.passes.place_model import add_model_arguments

    add_model_arguments(p.add_argument_group(".onnx models (the device catalog and the cost model)"))


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


def default_tolerance(report: dict) -> float:
    """--check's tolerance when none is given: by the arithmetic the build used (report.json)."""
    storage = (report.get("narrow_storage") or {}).get("type")
    precision = (report.get("cuda") or report.get("c") or {}).get("precision")
    if storage == "bf16" or precision == "bf16":
        return 5e-2
    if storage == "f16" or precision in ("fp16", "tf32"):
        return 1e-2
    return 1e-4


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


def print_partitions(sess, feeds: dict[str, np.ndarray], runs: int) -> None:
    """Measured wall time per launch of a partitioned model next to the placement's prediction."""
    report = json.loads((sess.out_dir / "report.json").read_text())
    predicted: dict[str, float] = {}
    node_part = {n: p["name"] for p in report["partitions"] for n in p["nodes"]}
    for task in report.get("ops", []):
        part = node_part.get(task.get("node", ""))
        if part:
            predicted[part] = predicted.get(part, 0.0) + task.get("end_s", 0.0) - task.get("start_s", 0.0)
    totals: dict[str, float] = {}
    for _ in range(runs):
        sess.run(feeds)
        for label, t in sess._runner.last_times:
            totals[label] = totals.get(label, 0.0) + t / runs
    print("launch                        measured    predicted (placement's cost model)")
    for label, t in totals.items():
        part = label.split(" ")[0]
        pred = predicted.get(part)
        print(f"  {label:<28}{t * 1e3:>8.3f} ms" + (f"  {pred * 1e3:>8.3f} ms" if pred is not None else ""))


def cmd_compile(args: argparse.Namespace) -> int:
    progress = Progress(args.quiet)
    out = _build(args, args.output, progress)
    if not args.quiet:
        print(f"wrote {out}/ (see {out}/README.md and manifest.json)")
        report_file = Path(out) / "report.json"
        if report_file.exists():
            print_compile_report(json.loads(report_file.read_text()))
    return 0


def _target_options(args: argparse.Namespace) -> dict:
    """Options only some targets take (the HLS target's part, precision and pragma mode)."""
    if args.target == "hls":
        return {"part": args.part, "precision": args.precision or "float", "pragmas": args.pragmas, "weights": args.weights,
                "dataflow": args.dataflow, "error_bound": args.error_bound}
    if args.target in ("c", "cuda"):  # none given: the target's default (fp32) or what the model's types ask
        return {"precision": args.precision} if args.precision else {}
    if args.target == "npu":
        return {"npu_config": args.npu_config, "spm_alloc": args.spm_alloc, "time_limit": args.spm_time_limit}
    return {}


def print_compile_report(report: dict) -> None:
    """One line each for the fusion, layout and memory decisions (details in report.json)."""
    fusion = report.get("fusion")
    if fusion:
        solver = fusion["solver"]
        print(
            f"fusion {fusion['mode']}: {fusion['kernels']} kernels, {len(fusion['groups'])} fused groups; predicted "
            f"{fusion['predicted_bytes'] / 1e6:.2f} MB moved, {fusion['predicted_time_s'] * 1e3:.3f} ms "
            f"on {fusion.get('device') or 'cpu'} (solver: {solver['status']}, gap {solver['gap']:.3g})"
        )
        fused_h = [s for s in (fusion.get("horizontal") or {}).get("sets", []) if s["fused"]]
        if fused_h:
            print(f"horizontal fusion: {len(fused_h)} sibling MatMul set(s) -> one GEMM + Split each "
                  f"({', '.join(str(len(s['nodes'])) for s in fused_h)} MatMuls)")
    narrow = report.get("narrow_storage")  # hetc-narrow-storage (--precision fp16/bf16)
    if narrow:
        print(f"storage {narrow['type']}: {narrow['buffers_narrowed']} intermediates, {narrow['weights_narrowed']} weights "
              f"({narrow['bytes_saved'] / 1e6:.2f} MB saved), {len(narrow['kept_f32'])} group(s) kept float32, io float32")
    regions = report.get("layout", {}).get("regions", [])
    if regions:
        chosen = [r["layout"] for r in regions]
        print(f"layout: {len(regions)} convolution region(s): " + ", ".join(
            f"{c} ({r['convs']} convs)" for c, r in zip(chosen, regions)))
    hls = report.get("hls")
    if hls:
        for label, est in (("default", hls["default"]["estimate"]), ("searched", hls["searched"]["estimate"])):
            print(
                f"hls {hls['part']} {hls['precision']} {label:>8}: {est['latency_cycles']} cycles "
                f"({est['latency_us']} us){', interval ' + str(est['interval_cycles']) if est.get('dataflow') else ''}, "
                f"DSP {est['dsp']}, BRAM {est['bram']}, LUT {est['lut']}, FF {est['ff']}"
            )
        layers = hls["pragmas"].get("layers") or {}
        if layers:  # the kernels the search made layers (backends/hls/layer.py), with their reuse factors
            print(f"hls layers{' (one top pipeline)' if hls['pragmas'].get('top_pipeline') else ''}: " + ", ".join(
                f"{k} R={v['reuse_factor']}" for k, v in layers.items()))
    npu = report.get("npu")
    if npu:
        t, solver = npu["traffic"], npu["solver"]
        print(
            f"npu {npu['preset']} ({npu['capacity_bytes'] // 1024} KiB scratchpad), {npu['ops']} tile ops, "
            f"{npu['spm_alloc']}: DMA {t['compulsory']} B compulsory + {t['noncompulsory']} B non-compulsory, "
            f"{npu['predicted']['cycles']} cycles predicted, {npu.get('simulated', {}).get('cycles', '?')} simulated "
            f"(solver: {solver['status']}, gap {solver['gap']:.3g})"
        )
    plan = report.get("memory", {})
    if "arena_bytes" in plan:
        print(
            f"arena {plan['arena_bytes'] / 1024:.1f} KiB ({plan['method']}"
            f"{', optimal' if plan.get('optimal') else ''}); greedy-by-size "
            f"{plan['greedy_by_size_bytes'] / 1024:.1f} KiB; no reuse {plan['tensor_bytes'] / 1024:.1f} KiB"
        )


def cmd_run(args: argparse.Namespace) -> int:
    from hetc.api import Session

    progress = Progress(args.quiet)
    with tempfile.TemporaryDirectory(prefix="hetc-run-") as tmp:
        out = _build(args, Path(tmp) / "out", progress)
        sess = Session(out)
        # the loosest arithmetic of the build (a partitioned build: any of its partitions)
        reports = [json.loads(f.read_text()) for f in [out / "report.json", *sorted(out.glob("*/report.json"))] if f.exists()]
        feeds = _load_inputs(args.inputs) if args.inputs else random_inputs(sess.manifest["inputs"], args.seed)
        progress(f"run {args.targets or args.target}")
        outs = sess.run(feeds)
        if getattr(args, "report_json", None):
            write_report_json(args.report_json, out, sess)
        if args.profile and args.targets:
            progress(f"profile: {args.profile} runs, wall time per launch")
            print_partitions(sess, feeds, args.profile)
        elif args.profile:
            progress(f"profile: {args.profile} runs with per-kernel timers")
            calls = sess.profile(feeds, args.profile)
            print_profile(calls)
        if getattr(args, "report_html", None):
            write_report_html(args.report_html, out, args, calls if args.profile and not args.targets else None)
    if args.save_outputs:
        np.savez(args.save_outputs, **dict(zip(sess.output_names, outs)))
    for name, value in zip(sess.output_names, outs):
        print(f"{name}: {value.dtype}{list(value.shape)}")
    if not args.check:
        return 0
    progress("run onnxruntime")
    want = onnxruntime_outputs(args.model, feeds)
    tolerance = args.tolerance if args.tolerance is not None else max([default_tolerance(r) for r in reports] or [1e-4])
    ok, lines = compare(sess.output_names, outs, want, tolerance)
    print(f"check against onnxruntime (tolerance {tolerance:g} x max|ref|):")
    print("\n".join(lines))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def write_report_html(path: str, out: Path, args: argparse.Namespace, calls) -> None:
    """`out`'s compile report as a page, with the profiled calls' measured times if any."""
    from hetc.passes.fuse_report import render_compile_report

    report_file = Path(out) / "report.json"
    if args.target not in ("c", "cuda") or not report_file.exists():
        raise HetcError(f"--report-html needs the C or CUDA target (got '{args.target}')")
    page = render_compile_report(json.loads(report_file.read_text()), calls, title=Path(args.model).name, target=args.target)
    Path(path).write_text(page)


def write_report_json(path: str, out: Path, sess) -> None:
    """The compile report of `out`; for the NPU target with what the simulator counted in the run."""
    report_file = Path(out) / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    stats = sess.stats
    if "npu" in report and stats is not None:
        n = report["npu"]
        report = {"npu": {
            "preset": n["preset"], "capacity_bytes": n["capacity_bytes"], "spm_alloc": n["spm_alloc"],
            "traffic": n["traffic"],
            "simulated": {"dma_bytes": stats["dma_in_bytes"] + stats["dma_out_bytes"],
                          "noncompulsory": stats["noncompulsory_bytes"], "cycles": stats["cycles"],
                          "compulsory": stats["compulsory_bytes"], "moved_bytes": stats["moved_bytes"],
                          "gathered_bytes": stats["gathered_bytes"], "serial_cycles": stats["serial_cycles"],
                          "compute_wait_cycles": stats["compute_wait_cycles"]},
            "solver": n["solver"],
            "predicted": n["predicted"],
            "cycles_ratio": n["predicted"]["cycles"] / max(1, stats["cycles"]),
            "ops": n["ops"], "tensors": n["tensors"], "tiled_ops": n["tiled_ops"],
        }}  # fmt: skip
    text = json.dumps(report, indent=2) + "\n"
    if path == "-":
        print(text, end="")
    else:
        Path(path).write_text(text)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from hetc.backends.calibrate import run
    from hetc.opt import parse_shape_bindings

    if args.runs < 1:
        raise HetcError(f"--runs must be at least 1, not {args.runs}")
    run(
        output=args.output, runs=args.runs, micro=not args.no_micro, validate_models=args.validate,
        report=args.report, input_shapes=parse_shape_bindings(args.input_shape), progress=Progress(args.quiet),
    )  # fmt: skip
    return 0


def cmd_place(args: argparse.Namespace) -> int:
    """`hetc place GRAPH`: a task graph (.json) goes to hetc.passes.place; other inputs
    (ONNX models) are placed by building a TaskGraph from them first."""
    from hetc.passes.place import load_dag_json

    path = Path(args.graph)
    if path.suffix.lower() == ".onnx":
        from hetc.passes.place_model import cmd_place_model

        return cmd_place_model(args)
    if path.suffix.lower() != ".json":
        raise HetcError(
            f"hetc place reads task graphs as .json; '{path.suffix or path.name}' input is not supported yet",
            file=str(path), hint="see `hetc place --help` for the task-graph format",
        )  # fmt: skip
    return place_graph(load_dag_json(path), args)


def place_graph(graph, args: argparse.Namespace) -> int:
    """Schedule a TaskGraph as `args` says; print the table or write the JSON."""
    from hetc.passes.place import schedule

    progress = Progress(args.quiet)
    progress(f"{args.scheduler}: {len(graph.cost)} tasks, {len(graph.edges)} edges, {len(graph.devices)} devices")
    s = schedule(
        graph, args.scheduler, time_limit=args.time_limit, seed=args.seed, objective=args.objective,
        sla=args.sla, workers=args.workers, progress=None if args.quiet else progress,
    )  # fmt: skip
    for note in s.notes:
        progress(note)
    if args.json:
        text = json.dumps(s.to_json(), indent=1)
        if args.json == "-":
            print(text)
            return 0
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
        if not args.quiet:
            print(f"wrote {args.json}: {s.summary()}")
        return 0
    print(s.table())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from hetc.cli_agent import cmd_agent

        handlers = {
            "compile": cmd_compile, "run": cmd_run, "calibrate": cmd_calibrate, "place": cmd_place, "agent": cmd_agent,
        }  # fmt: skip
        rc = handlers[args.command](args)
        sys.stdout.flush()  # a closed pipe surfaces here, inside the handlers below, not at exit
        return rc
    except HetcError as err:
        if args.debug:
            raise
        print(f"hetc: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hetc ... | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
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

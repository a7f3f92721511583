"""hetc performance harness: compile, verify and time each model on each runner.

    python benchmarks/run.py [--models resnet18,mobilenetv2,...] [--runners hetc-c,hetc-numpy,ort-1t,...]
                             [--repeats 50] [--warmup 5] [--budget 10] [--quiet]
                             [--output benchmarks/RESULTS.md]

For each model: every runner compiles it (timed), runs it once and is checked against an
onnxruntime reference (graph optimizations off, 1 thread): max|diff| <= 1e-4 * max|ref|
on every output, else the runner is reported WRONG and not timed. Then all correct runners
of that model are timed in this process, interleaved round by round: `--warmup` untimed
runs each, then up to `--repeats` timed runs each (fewer for a runner whose runs would take
more than `--budget` seconds in all, never fewer than `--min-repeats`; the count is
reported). Median, p10 and p90 of the per-run wall time are reported.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))

from runners import RUNNERS, Runner, RunnerUnavailable, one_line, ort_session  # noqa: E402

DEFAULT_MODELS = ["resnet18", "resnet50", "mobilenetv2", "vit_tiny", "bert_mini", "mlp", "cnn", "transformer_block"]
DEFAULT_RUNNERS = ["hetc-c", "hetc-numpy", "ort-1t", "ort-2t", "iree", "iree-sync", "tvm"]
EXAMPLES = {  # example model -> input shapes bound for the benchmark (batch 1)
    "mlp": {"x": (1, 784)},
    "cnn": {"image": (1, 3, 32, 32)},
    "transformer_block": {"x": (1, 16, 64)},
}
RTOL = 1e-4
BASELINE = "ort-1t"


@dataclass
class Result:
    runner: str
    status: str = "ok"  # ok | n/a | compile failed | run failed | WRONG
    reason: str = ""
    compile_s: float | None = None
    max_diff: float | None = None
    times: list[float] = field(default_factory=list)
    fn: object = None
    want: int = 0

    @property
    def median_ms(self):
        return statistics.median(self.times) * 1e3 if self.times else None

    def pct_ms(self, q):
        return float(np.percentile(np.array(self.times), q)) * 1e3 if self.times else None


def log(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def cache_dir() -> Path:
    return Path(os.environ.get("HETC_CACHE", "/tmp/hetc_cache")) / "models"


def load_model(name: str):
    """(path, feeds, input_shapes, description) for a zoo model or an example model."""
    if name in EXAMPLES:
        import onnx

        path = ROOT / "examples" / f"{name}.onnx"
        m = onnx.load(str(path))
        rng = np.random.default_rng(0)
        feeds = {}
        for inp in m.graph.input:
            shape = EXAMPLES[name][inp.name]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type)
            feeds[inp.name] = rng.standard_normal(shape).astype(dtype)
        desc = f"examples/{name}.onnx"
        return path, feeds, {k: tuple(v.shape) for k, v in feeds.items()}, desc
    from tests.models import zoo

    if name not in zoo.MODELS:
        raise SystemExit(f"unknown model {name!r}; zoo models: {', '.join(zoo.MODELS)}; examples: {', '.join(EXAMPLES)}")
    path = zoo.export(name, cache_dir(), dynamo=False)
    feeds = zoo.make_inputs(name, seed=0)
    return path, feeds, zoo.input_shapes(feeds), f"zoo {name} (TorchScript export, opset {zoo.MODELS[name].opset or zoo.TORCHSCRIPT_OPSET}): {zoo.MODELS[name].description}"


def check(outs, ref) -> tuple[bool, float, str]:
    """(ok, worst max|diff| / max|ref|, reason)."""
    if len(outs) != len(ref):
        return False, math.inf, f"{len(outs)} outputs, expected {len(ref)}"
    worst = 0.0
    for i, (o, r) in enumerate(zip(outs, ref)):
        o, r = np.asarray(o), np.asarray(r)
        if o.shape != r.shape:
            return False, math.inf, f"output {i} has shape {list(o.shape)}, expected {list(r.shape)}"
        if r.size == 0:
            continue
        diff = np.abs(o.astype(np.float64) - r.astype(np.float64))
        if np.isnan(diff).any() and not np.array_equal(np.isnan(o), np.isnan(r)):
            return False, math.inf, f"output {i} has NaNs where the reference has none"
        d = float(np.nanmax(diff)) if not np.isnan(diff).all() else 0.0
        scale = float(np.nanmax(np.abs(r.astype(np.float64))))
        rel = d / scale if scale > 0 else (0.0 if d == 0 else math.inf)
        worst = max(worst, rel)
        if d > RTOL * scale:
            return False, worst, f"output {i}: max|diff| {d:.3g} > {RTOL:g} * max|ref| ({scale:.3g})"
    return True, worst, ""


def _repeats_for(r: Result, feeds, args) -> int:
    """--repeats, cut so that the timed runs take about --budget s (from one warm run)."""
    t = time.perf_counter()
    r.fn(dict(feeds))
    warm = time.perf_counter() - t
    return min(args.repeats, max(args.min_repeats, int(args.budget / max(warm, 1e-9))))


def _time_once(r: Result, feeds) -> None:
    f = dict(feeds)
    t = time.perf_counter()
    r.fn(f)
    r.times.append(time.perf_counter() - t)


def bench_model(name, runners: dict[str, Runner], args) -> tuple[str, list[Result]]:
    t0 = time.perf_counter()
    path, feeds, shapes, desc = load_model(name)
    log(args, f"[{name}] model ready in {time.perf_counter() - t0:.1f} s: {Path(path).name} {shapes}")
    ref = ort_session(path, 1, opt_level="none").run(None, dict(feeds))

    results: list[Result] = []
    for rname, runner in runners.items():
        res = Result(rname)
        results.append(res)
        try:
            t = time.perf_counter()
            fn = runner.compile(path, shapes)
            res.compile_s = time.perf_counter() - t
        except RunnerUnavailable as err:
            res.status, res.reason = "n/a", str(err)
            log(args, f"[{name}] {rname}: n/a ({err})")
            continue
        except Exception as err:  # noqa: BLE001 - reported per runner, the run goes on
            res.status, res.reason = "compile failed", one_line(err)
            log(args, f"[{name}] {rname}: compile failed: {res.reason}")
            continue
        try:
            t = time.perf_counter()
            outs = fn(dict(feeds))
            first = time.perf_counter() - t
        except Exception as err:  # noqa: BLE001
            res.status, res.reason = "run failed", one_line(err)
            log(args, f"[{name}] {rname}: run failed: {res.reason}")
            continue
        ok, res.max_diff, why = check(outs, ref)
        if not ok:
            res.status, res.reason = "WRONG", why
            log(args, f"[{name}] {rname}: WRONG ({why}); compile {res.compile_s:.2f} s; not timed")
            continue
        res.fn = fn
        # fewer repeats for slow runners: keep each runner's timed runs within --budget s
        log(args, f"[{name}] {rname}: compiled in {res.compile_s:.2f} s, correct (max rel diff {res.max_diff:.1e}), first run {first * 1e3:.2f} ms")

    live = [r for r in results if r.fn is not None]
    current = None
    try:
        if args.order == "interleaved":
            for _ in range(args.warmup):
                for r in live:
                    current = r
                    r.fn(dict(feeds))
            for r in live:
                current = r
                r.want = _repeats_for(r, feeds, args)
            for i in range(max((r.want for r in live), default=0)):
                # rotate the order each round: no runner always follows the same (cache-trashing) one
                k = i % len(live)
                for r in live[k:] + live[:k]:
                    if i < r.want:
                        current = r
                        _time_once(r, feeds)
        else:  # back to back: each runner's warm-up and timed runs in one block
            for r in live:
                current = r
                # let the thread pools of the runners that ran before (the correctness runs of
                # onnxruntime, TVM, OpenMP builds) stop spinning: on 2 cores a spinning pool
                # slowed the first runner timed after them by up to 60%
                time.sleep(args.cooldown)
                for _ in range(args.warmup):
                    r.fn(dict(feeds))
                r.want = _repeats_for(r, feeds, args)
                for _ in range(r.want):
                    _time_once(r, feeds)
    except Exception as err:  # noqa: BLE001 - a runner that fails mid-timing is reported
        if current is not None:
            current.status, current.reason, current.times = "run failed", one_line(err), []
            log(args, f"[{name}] {current.runner}: run failed while timing: {current.reason}")
    base = next((r for r in results if r.runner == BASELINE and r.times), None)
    for r in live:
        if r.times:
            ratio = f", {r.median_ms / base.median_ms:.2f}x {BASELINE}" if base else ""
            log(args, f"[{name}] {r.runner}: median {r.median_ms:.3f} ms (p10 {r.pct_ms(10):.3f}, p90 {r.pct_ms(90):.3f}, {len(r.times)} runs){ratio}")
        r.fn = None
    return desc, results


# --- report --------------------------------------------------------------------------


def machine_info(runners: dict[str, Runner]) -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import onnx
    import onnxruntime

    def ver(mod, dist=None):
        try:
            from importlib.metadata import version

            return version(dist or mod)
        except Exception:  # noqa: BLE001
            return "not installed"

    try:
        import hetc

        hetc_v = hetc.__version__
    except Exception:  # noqa: BLE001
        hetc_v = "?"
    commit = "?"
    try:
        import subprocess

        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "?"
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
        commit += " (+ uncommitted changes)" if dirty else ""
    except Exception:  # noqa: BLE001
        pass
    blas_env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    return [
        f"- CPU: {cpu}; {os.cpu_count()} logical cores; {platform.system()} {platform.release()} {platform.machine()}",
        f"- Python {platform.python_version()}; numpy {numpy.__version__}; onnx {onnx.__version__}; onnxruntime {onnxruntime.__version__}",
        f"- hetc {hetc_v} at commit {commit}",
        f"- IREE: iree-base-compiler {ver('iree-base-compiler')}, iree-base-runtime {ver('iree-base-runtime')}; TVM: apache-tvm {ver('apache-tvm')}",
        "- BLAS environment: " + ", ".join(f"{k}={v if v is not None else '(unset)'}" for k, v in blas_env.items()),
    ]


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def write_report(path: Path, all_results, runners, args, wall_s: float) -> None:
    L = ["# hetc benchmark results", ""]
    L.append(f"Written by `benchmarks/run.py` on {time.strftime('%Y-%m-%d %H:%M:%S %Z')} in {wall_s:.0f} s. Command:")
    L += ["", "```", args.command, "```", "", "## Machine", ""]
    L += machine_info(runners)
    L.append(f"- Load average (1/5/15 min) at start: {args.load_start}; at end: {loadavg()} "
             "(anything above ~0 on this machine is other work competing for the cores)")
    L += [
        "",
        "## Method",
        "",
        "Batch-1 inference latency, one process. Per model, each runner compiles it (\"compile s\": "
        "import + compile + load / session creation), runs it once and is compared with onnxruntime "
        f"(graph optimizations off, 1 thread): max|diff| <= {RTOL:g} * max|ref| on every output or it is WRONG "
        "and not timed. Then the correct runners are timed in the same process, "
        + ("interleaved round by round, the order rotated each round: " if args.order == "interleaved" else
           f"each runner's runs back to back (`--order blocks`), after {args.cooldown:g} s idle: ")
        + f"{args.warmup} warm-up runs each, then up to {args.repeats} timed runs each (fewer, at least "
        f"{args.min_repeats}, when a runner's runs would take over {args.budget:g} s; the count is in the \"runs\" column). "
        "A run is one call from host NumPy arrays to host NumPy arrays. \"ratio\" is the runner's median over "
        f"{BASELINE}'s median (below 1 = faster than {BASELINE}).",
        "",
    ]
    names = list(runners)
    per_runner_ratio: dict[str, list[float]] = {n: [] for n in names}
    per_runner_ms: dict[str, list[float]] = {n: [] for n in names}
    per_runner_compile: dict[str, list[float]] = {n: [] for n in names}
    per_runner_models: dict[str, list[str]] = {n: [] for n in names}
    for model, (desc, results) in all_results.items():
        L += [f"## {model}", "", desc, ""]
        L += ["| runner | compile s | median ms | p10–p90 ms | runs | ratio to ort-1t | correct? |", "|---|---:|---:|---:|---:|---:|---|"]
        base = next((r for r in results if r.runner == BASELINE and r.times), None)
        for r in results:
            if r.status == "n/a":
                L.append(f"| {r.runner} | n/a ({r.reason}) | | | | | |")
                continue
            if r.status in ("compile failed", "run failed"):
                L.append(f"| {r.runner} | {fmt(r.compile_s, '.2f')} | {r.status}: {r.reason} | | | | |")
                continue
            if r.status == "WRONG":
                L.append(f"| {r.runner} | {fmt(r.compile_s, '.2f')} | not timed | | | | WRONG ({r.reason}) |")
                continue
            ratio = r.median_ms / base.median_ms if base else None
            L.append(
                f"| {r.runner} | {r.compile_s:.2f} | {r.median_ms:.3f} | {r.pct_ms(10):.3f}–{r.pct_ms(90):.3f} | {len(r.times)} "
                f"| {fmt(ratio, '.2f')} | yes ({r.max_diff:.0e}) |"
            )
            per_runner_ms[r.runner].append(r.median_ms)
            per_runner_compile[r.runner].append(r.compile_s)
            per_runner_models[r.runner].append(model)
            if ratio is not None:
                per_runner_ratio[r.runner].append(ratio)
        L.append("")
    L += [
        "## Geometric means",
        "",
        "Over the models where the runner ran and was correct (the ratio only over models where ort-1t ran too).",
        "",
        "| runner | models | geomean median ms | geomean ratio to ort-1t | geomean compile s |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in names:
        if not per_runner_ms[n]:
            reasons = {r.status + (f" ({r.reason})" if r.status == "n/a" else "") for _, res in all_results.values() for r in res if r.runner == n}
            L.append(f"| {n} | 0 | {', '.join(sorted(reasons))} | | |")
            continue
        L.append(
            f"| {n} | {len(per_runner_ms[n])}/{len(all_results)} | {geomean(per_runner_ms[n]):.3f} "
            f"| {fmt(geomean(per_runner_ratio[n]), '.2f')} | {geomean(per_runner_compile[n]):.2f} |"
        )
    L += ["", "## Notes", ""]
    for n, runner in runners.items():
        L.append(f"- **{n}** ({runner.version()}): {runner.threads()}")
    L += [
        "- IREE is compiled with the same flags for two drivers: `iree` = `local-task` with one worker thread (the caller "
        "thread hands each dispatch to the worker), `iree-sync` = `local-sync` (inline on the calling thread, the "
        "like-for-like single-thread setting). Both compile times include their own import + compile.",
        "- TVM numbers are an **untuned default build** (`tvm.compile` with the default Relax/TIR pipelines for an llvm "
        "target, no MetaSchedule / AutoTVM tuning); tuned TVM is typically much faster.",
        "- IREE and TVM get a copy of the model with the input shapes bound (static shapes) and shapes re-inferred; "
        "onnxruntime and hetc get the original file (hetc with `input_shapes`).",
        "- Zoo models are the TorchScript exports (`zoo.export(name, dynamo=False)`, opset 17 unless noted) with "
        "`zoo.make_inputs(name, seed=0)`; example models get seeded N(0,1) inputs at batch 1.",
        "- The machine may be shared and has few cores: compare ratios within one run, not absolute numbers across runs.",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    # this harness owns the file's head, up to the first section another harness wrote
    # (`<!-- name: begin ... -->`); that section and everything after it, marked or not, is kept
    old = path.read_text() if path.exists() else ""
    cut = old.find("\n<!-- ")
    rest = old[cut + 1 :] if cut >= 0 else ""
    path.write_text("\n".join(L) + "\n" + ("\n" + rest if rest else ""))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--runners", default=",".join(DEFAULT_RUNNERS))
    p.add_argument("--repeats", type=int, default=50, help="timed runs per runner and model (at most)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--budget", type=float, default=10.0, help="seconds of timed runs per runner and model before repeats are cut")
    p.add_argument("--min-repeats", type=int, default=5)
    p.add_argument("--order", choices=["blocks", "interleaved"], default="blocks",
                   help="blocks: each runner's runs back to back (default; thread pools that spin after a run, "
                   "like onnxruntime's, do not steal cores from the next runner); interleaved: round by round")
    p.add_argument("--cooldown", type=float, default=1.0, help="seconds of idle before each runner's block (--order blocks)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--output", default=str(HERE / "RESULTS.md"))
    args = p.parse_args(argv)
    args.min_repeats = min(args.min_repeats, args.repeats)
    args.command = "python " + " ".join(shlex.quote(a) for a in ([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])))

    models = [m for m in args.models.split(",") if m]
    names = [r for r in args.runners.split(",") if r]
    unknown = [r for r in names if r not in RUNNERS]
    if unknown:
        p.error(f"unknown runner(s) {unknown}; known: {', '.join(RUNNERS)}")
    runners = {n: RUNNERS[n]() for n in names}

    args.load_start = loadavg()
    t0 = time.perf_counter()
    all_results = {}
    for model in models:
        try:
            all_results[model] = bench_model(model, runners, args)
        except SystemExit:
            raise
        except Exception as err:  # noqa: BLE001 - a model that cannot be built is reported, the run goes on
            log(args, f"[{model}] could not be prepared: {one_line(err)}")
            all_results[model] = (f"could not be prepared: {one_line(err)}", [])
    wall = time.perf_counter() - t0
    write_report(Path(args.output), all_results, runners, args, wall)
    log(args, f"wrote {args.output} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

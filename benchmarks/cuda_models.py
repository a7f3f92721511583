"""hetc's CUDA target against PyTorch on the same zoo models, plus the GPU's ceilings.

    python benchmarks/cuda_models.py --json OUT.json [--models a,b] [--batches 1,32] [--runs 100]
    python benchmarks/cuda_models.py --write OUT.json [MORE.json ...] [--output benchmarks/RESULTS.md]
    python benchmarks/cuda_models.py --hetc-target c --torch-device cpu --models resnet18 \
        --batches 1 --runs 3 --json /tmp/smoke.json        # smoke test without a GPU

What it measures, per zoo model (tests/models/zoo.py, TorchScript export, seeded inputs) and
batch (1 always; 32 only where the export's batch axis is dynamic):

1. reference: onnxruntime CPU on the ONNX file (graph optimizations off, 1 thread);
2. hetc (`hetc.compile(target="cuda", target_options={"precision": "fp32" | "tf32"})`):
   compile time; every output checked, max|diff| <= tol * max(1, max|ref|) with tol 1e-3
   (fp32) / 2e-2 (tf32), "rel" = max|diff| / max(1, max|ref|); a WRONG result is never
   timed. Timing is the runner's `time()`: inputs uploaded once, one CUDA-graph replay per
   run timed with CUDA events, no host copies;
3. PyTorch on the GPU, same module and inputs, fp32 and fp16 (`model.half()`, float inputs
   cast, token ids unchanged): eager, eager captured once and replayed as a CUDA graph
   (torch.cuda.CUDAGraph, warm-up on a side stream), and torch.compile(mode="reduce-overhead").
   Each run: the GPU is idle (previous run's end event synchronized), then start event, the
   forward, end event; so eager includes its launch overhead. torch's TF32 flags are recorded;
4. once per run: ceilings (1 GiB device-to-device copy, (read + write) bytes / time;
   torch.matmul 4096^3 in fp32, tf32 and fp16), a one-node ONNX MatMul 4096^3 and a fused
   Mul-Add-Relu over [32,1024,1024] compiled by hetc (TFLOP/s and GB/s against those);
5. a per-kernel profile of each model at batch 1 fp32 (runner's `profile()`): top 10 kernels
   by time, GB/s (argument bytes / time) and TFLOP/s, as a fraction of the ceilings.

Every timing: `--warmup` untimed runs, then `--runs` timed runs; median, p10 and p90 reported.
Each job (ceilings, micro-benchmarks, one model) runs in its own subprocess, so a crash or a
poisoned CUDA context in one model never kills the run; a failure is recorded as one line.
Jobs still waiting when `--deadline` seconds have passed are skipped (and say so). The JSON is
rewritten after every job. `--write` merges one or more JSONs (later files win per model and
batch) into the section of benchmarks/RESULTS.md between this script's markers.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import functools
import importlib.util
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BEGIN = "<!-- cuda_models: begin (written by benchmarks/cuda_models.py --write) -->"
END = "<!-- cuda_models: end -->"
DEFAULT_MODELS = ["resnet18", "mobilenetv2", "vit_tiny", "bert_mini", "gpt2_small"]
PRECISIONS = ["fp32", "tf32"]
TOL = {"fp32": 1e-3, "tf32": 2e-2, "fp16": 5e-2}  # fp16: torch sanity only, not a gate
VARIANTS = ["eager", "graph", "compile"]
LOG = {"quiet": False}


def log(msg: str) -> None:
    if not LOG["quiet"]:
        print(msg, file=sys.stderr, flush=True)


def one_line(err: BaseException | str, limit: int = 200) -> str:
    text = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()] or ["unknown error"]
    pick = next((ln for ln in lines if "error" in ln.lower()), lines[0]).replace("|", "/")
    return pick if len(pick) <= limit else pick[: limit - 1] + "…"


def import_hetc():
    """`import hetc`, or load it from this checkout (the repo's folders are its subpackages)."""
    try:
        import hetc
    except ImportError:
        spec = importlib.util.spec_from_file_location(
            "hetc", ROOT / "compiler" / "__init__.py", submodule_search_locations=[str(ROOT / "compiler"), str(ROOT)]
        )
        hetc = importlib.util.module_from_spec(spec)
        sys.modules["hetc"] = hetc
        spec.loader.exec_module(hetc)
    return hetc


def stats(seconds: list[float]) -> dict:
    a = np.asarray(seconds, dtype=np.float64) * 1e3
    return {"median_ms": float(np.median(a)), "p10_ms": float(np.percentile(a, 10)), "p90_ms": float(np.percentile(a, 90)), "n": len(a)}


def check(outs: list, refs: list[np.ndarray], tol: float) -> dict:
    """max|diff| <= tol * max(1, max|ref|) on every output."""
    if len(outs) != len(refs):
        return {"ok": False, "reason": f"{len(outs)} outputs, reference has {len(refs)}"}
    max_abs = max_rel = 0.0
    for o, r in zip(outs, refs):
        o, r = np.asarray(o), np.asarray(r)
        if o.shape != r.shape:
            return {"ok": False, "reason": f"output shape {list(o.shape)} != reference {list(r.shape)}"}
        if not r.size:
            continue
        d = float(np.max(np.abs(o.astype(np.float64) - r.astype(np.float64))))
        d = d if np.isfinite(d) else float("inf")
        max_abs, max_rel = max(max_abs, d), max(max_rel, d / max(1.0, float(np.max(np.abs(r)))))
    return {"ok": max_rel <= tol, "max_abs": max_abs, "max_rel": max_rel, "tol": tol}


def cache_dir() -> Path:
    return Path(os.environ.get("HETC_CACHE", "/tmp/hetc_cache")) / "models"


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------


def time_fn(fn, runs: int, warmup: int, cuda: bool) -> list[float]:
    """Seconds per call: CUDA events around each call on an idle GPU, else perf_counter."""
    if cuda:
        from hetc.backends.devices.gpu_bench import event_times

        return event_times(fn, runs, warmup)
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def hetc_compile(hetc, model, shapes: dict, target: str, precision: str):
    opts = {"precision": precision} if target == "cuda" else None
    t0 = time.perf_counter()
    sess = hetc.compile(model, target=target, input_shapes=shapes, target_options=opts)
    return sess, time.perf_counter() - t0


def hetc_time(sess, feeds: dict, runs: int, warmup: int) -> list[float]:
    inputs = [feeds[n] for n in sess.input_names]
    if hasattr(sess._runner, "time"):
        return [float(t) for t in sess._runner.time(inputs, runs=runs, warmup=warmup)]
    sub = {n: feeds[n] for n in sess.input_names}
    return time_fn(lambda: sess.run(sub), runs, warmup, cuda=False)


def hetc_entry(hetc, model, feeds: dict, refs: list, target: str, precision: str, args) -> tuple[dict, object]:
    """Compile, check, time one hetc build; (entry, session or None)."""
    ent: dict = {"status": "ok"}
    try:
        sess, ent["compile_s"] = hetc_compile(hetc, model, {k: v.shape for k, v in feeds.items()}, target, precision)
    except Exception as e:  # noqa: BLE001 - one line in the table
        return {"status": "compile failed", "reason": one_line(e)}, None
    try:
        outs = sess.run({n: feeds[n] for n in sess.input_names})
        ent.update(check(outs, refs, TOL[precision]))
        if not ent["ok"]:
            ent["status"] = "WRONG"
            return ent, None
        ent.update(stats(hetc_time(sess, feeds, args.runs, args.warmup)))
    except Exception as e:  # noqa: BLE001
        ent.update(status="run failed", reason=one_line(e))
        return ent, None
    return ent, sess


def hetc_profile(sess, feeds: dict, target: str) -> list[dict]:
    """Per kernel launch: label, seconds (mean per run), bytes, flops (None where unknown)."""
    if target == "c":  # the C target's timer build: (label, seconds) only
        raw = sess.profile({n: feeds[n] for n in sess.input_names}, runs=10)
    else:
        raw = sess._runner.profile([feeds[n] for n in sess.input_names], runs=10)
    out = []
    for k in raw:
        if isinstance(k, dict):
            out.append({"label": str(k["label"]), "seconds": float(k["seconds"]), "bytes": k.get("bytes"), "flops": k.get("flops")})
        else:
            out.append({"label": str(k[0]), "seconds": float(k[1]), "bytes": None, "flops": None})
    return out


# --------------------------------------------------------------------------------------
# jobs (each runs in its own subprocess unless --no-isolate)
# --------------------------------------------------------------------------------------


def tf32_flags() -> dict:
    import torch

    return {"matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32), "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "float32_matmul_precision": torch.get_float32_matmul_precision()}  # fmt: skip


def job_ceilings(args) -> dict:
    import torch

    res = {"gpu": torch.cuda.get_device_name(), "torch_tf32_defaults": tf32_flags()}
    src = torch.empty(2**28, dtype=torch.float32, device="cuda")  # 1 GiB
    dst = torch.empty_like(src)
    t = stats(time_fn(functools.partial(dst.copy_, src), 20, 3, cuda=True))
    res["copy_1gib"] = {**t, "gbps": 2 * 2**30 / (t["median_ms"] * 1e-3) / 1e9}
    del src, dst
    n = 4096
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        for name, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True), ("fp16", torch.float16, False)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a, b = torch.randn(n, n, device="cuda", dtype=dtype), torch.randn(n, n, device="cuda", dtype=dtype)
            t = stats(time_fn(functools.partial(torch.matmul, a, b), 20, 3, cuda=True))
            res[f"matmul_{name}"] = {**t, "n": n, "tflops": 2 * n**3 / (t["median_ms"] * 1e-3) / 1e12}
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    return res


def micro_model(kind: str, shape: tuple[int, ...], seed: int = 0):
    """(ModelProto, input array, reference output, bytes, flops) of a one-op GEMM or a
    fused elementwise chain."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    if kind == "gemm":
        b = rng.standard_normal(shape).astype(np.float32)
        nodes = [helper.make_node("MatMul", ["x", "B"], ["y"])]
        inits = [numpy_helper.from_array(b, "B")]
        ref = (x.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
        nbytes, flops = 3 * x.nbytes, 2 * shape[0] * shape[1] * shape[1]
    else:
        nodes = [helper.make_node("Mul", ["x", "s"], ["t0"]), helper.make_node("Add", ["t0", "c"], ["t1"]), helper.make_node("Relu", ["t1"], ["y"])]
        inits = [numpy_helper.from_array(np.array(1.5, np.float32), "s"), numpy_helper.from_array(np.array(0.25, np.float32), "c")]
        ref = np.maximum(x * np.float32(1.5) + np.float32(0.25), 0)
        nbytes, flops = 2 * x.nbytes, 0
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))
    graph = helper.make_graph(nodes, kind, [inp], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model, x, ref, nbytes, flops


def job_micro(args) -> dict:
    hetc = import_hetc()
    gpu = args.hetc_target == "cuda"
    res = {}
    for kind, shape in (("gemm", (4096, 4096) if gpu else (256, 256)), ("eltwise", (32, 1024, 1024) if gpu else (4, 256, 256))):
        model, x, ref, nbytes, flops = micro_model(kind, shape)
        res[kind] = {"shape": list(shape), "bytes": nbytes, "flops": flops}
        for prec in PRECISIONS if kind == "gemm" else ["fp32"]:
            log(f"[micro] {kind} {shape} hetc {args.hetc_target} {prec}")
            ent, sess = hetc_entry(hetc, model, {"x": x}, [ref], args.hetc_target, prec, args)
            if sess is not None:
                s = ent["median_ms"] * 1e-3
                ent.update(tflops=flops / s / 1e12, gbps=nbytes / s / 1e9)
            res[kind][prec] = ent
            del sess
    return res


def batch_feeds(zoo, name: str, batch: int) -> tuple[dict | None, str]:
    spec = zoo.MODELS[name]
    if batch == 1:
        return zoo.make_inputs(name, seed=0), ""
    if not all(0 in spec.dynamic.get(i, {}) for i in spec.inputs):
        return None, "batch axis is static in the export"
    shapes = {i: (batch, *s[0][1:]) for i, s in spec.inputs.items()}
    return zoo.make_inputs(name, seed=0, shapes=shapes), ""


def to_torch(feeds: dict, order: list[str], device: str, half: bool) -> list:
    import torch

    out = []
    for k in order:
        t = torch.from_numpy(feeds[k]).to(device)
        out.append(t.half() if half and t.is_floating_point() else t)
    return out


def flat(y) -> list:
    if isinstance(y, (tuple, list)):
        return [t for v in y for t in flat(v)]
    return [y]


def torch_np(y) -> list[np.ndarray]:
    return [t.detach().float().cpu().numpy() for t in flat(y)]


def torch_variant(variant: str, m, xs: list, refs: list, tol: float, args, cuda: bool) -> dict:
    import torch

    ent: dict = {"status": "ok"}
    try:
        if variant == "eager":
            fn = functools.partial(m, *xs)
            ent.update(check(torch_np(fn()), refs, tol))
        elif variant == "graph":
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    m(*xs)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                static_out = m(*xs)
            fn = g.replay
            g.replay()
            torch.cuda.synchronize()
            ent.update(check(torch_np(static_out), refs, tol))
        else:
            torch._dynamo.reset()
            cm = torch.compile(m, mode="reduce-overhead")
            step = getattr(torch.compiler, "cudagraph_mark_step_begin", lambda: None)

            def fn():
                step()
                return cm(*xs)

            t0 = time.perf_counter()
            for _ in range(3):
                y = fn()
            torch.cuda.synchronize()
            ent["compile_s"] = time.perf_counter() - t0
            ent.update(check(torch_np(y), refs, tol))
        ent.update(stats(time_fn(fn, args.runs, args.warmup, cuda)))
    except Exception as e:  # noqa: BLE001
        ent = {"status": "failed", "reason": one_line(e)}
        try:
            torch.cuda.synchronize() if cuda else None
        except Exception as e2:  # noqa: BLE001 - a broken context shows in the next entries
            ent["reason"] += f" (then: {one_line(e2, 80)})"
    return ent


def job_model(name: str, args, partial) -> dict:
    import onnxruntime as ort
    import torch

    from tests.models import zoo

    hetc = import_hetc()
    cuda = args.torch_device == "cuda"
    spec = zoo.MODELS[name]
    res: dict = {"model": name, "description": spec.description, "dynamic": {k: {str(a): s for a, s in v.items()} for k, v in spec.dynamic.items()},
                 "batches": []}  # fmt: skip
    t0 = time.perf_counter()
    path = zoo.export(name, cache_dir())
    res["export_s"] = time.perf_counter() - t0
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    ref_sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    model32 = zoo.build(name).to(args.torch_device)
    model16 = copy.deepcopy(model32).half() if cuda else None
    if cuda:
        res["torch_tf32"] = tf32_flags()
    for batch in args.batches:
        ent: dict = {"model": name, "batch": batch, "status": "ok", "hetc": {}, "torch": {"fp32": {}, "fp16": {}}}
        res["batches"].append(ent)
        feeds, why = batch_feeds(zoo, name, batch)
        if feeds is None:
            ent.update(status="skipped", reason=why)
            continue
        ent["input_shapes"] = {k: list(v.shape) for k, v in feeds.items()}
        log(f"[{name} b{batch}] onnxruntime reference")
        refs = ref_sess.run(None, feeds)
        for prec in PRECISIONS:
            log(f"[{name} b{batch}] hetc {args.hetc_target} {prec}")
            he, sess = hetc_entry(hetc, str(path), feeds, refs, args.hetc_target, prec, args)
            ent["hetc"][prec] = he
            log(f"[{name} b{batch}]   {he['status']} {he.get('median_ms', he.get('reason', ''))}")
            if sess is not None and batch == 1 and prec == "fp32" and not args.no_profile:
                try:
                    res["profile"] = hetc_profile(sess, feeds, args.hetc_target)
                except Exception as e:  # noqa: BLE001
                    res["profile_error"] = one_line(e)
            del sess
            partial(res)
        order = list(spec.inputs)
        with torch.no_grad():
            precs = [("fp32", model32), ("fp16", model16)] if cuda else [("fp32", model32)]
            variants = [v for v in VARIANTS if v in args.torch_variants and (cuda or v == "eager")]
            # eager and torch.compile first, CUDA-graph capture (which may fail mid-capture) last
            for variant in sorted(variants, key=lambda v: v == "graph"):
                for prec, m in precs:
                    log(f"[{name} b{batch}] torch {variant} {prec}")
                    xs = to_torch(feeds, order, args.torch_device, prec == "fp16")
                    ent["torch"][prec][variant] = torch_variant(variant, m, xs, refs, TOL[prec], args, cuda)
                    partial(res)
        if cuda:
            torch.cuda.empty_cache()
    return res


def run_job(job: str, args, out_path: Path | None) -> dict:
    def partial(res: dict) -> None:
        if out_path is not None:
            out_path.write_text(json.dumps(res))

    if job == "ceilings":
        res = job_ceilings(args)
    elif job == "micro":
        res = job_micro(args)
    else:
        res = job_model(job.split(":", 1)[1], args, partial)
    partial(res)
    return res


# --------------------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------------------


def spawn(job: str, args, timeout: float) -> dict:
    """Run one job in a subprocess; its result, or {"error": one line} (plus partial results)."""
    with tempfile.TemporaryDirectory(prefix="hetc-cuda-bench-") as tmp:
        out = Path(tmp) / "job.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--job", job, "--job-out", str(out),
               "--hetc-target", args.hetc_target, "--torch-device", args.torch_device, "--runs", str(args.runs),
               "--warmup", str(args.warmup), "--batches", ",".join(map(str, args.batches)),
               "--torch-variants", ",".join(args.torch_variants)] + (["--quiet"] if args.quiet else []) \
            + (["--no-profile"] if args.no_profile else [])  # fmt: skip
        err = None
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if args.quiet else None, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
            if rc != 0:
                err = f"job exited with status {rc}" + (f" ({signal.Signals(-rc).name})" if rc < 0 else "")
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)  # the job and what it started (nvcc, inductor workers)
            p.wait()
            err = f"job killed after {timeout:.0f} s (--deadline)"
        res = json.loads(out.read_text()) if out.exists() else {}
    if err:
        res["error"] = err
    return res


def run(args) -> dict:
    import onnxruntime
    import torch

    cuda = args.torch_device == "cuda"
    res: dict = {
        "command": shlex.join(["python", "benchmarks/cuda_models.py", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "hetc_target": args.hetc_target, "torch_device": args.torch_device, "runs": args.runs, "warmup": args.warmup,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
                     "onnxruntime": onnxruntime.__version__, "numpy": np.__version__},
        "gpu": None, "ceilings": {}, "micro": {}, "models": [], "profiles": {},
    }  # fmt: skip
    if not cuda:
        res["gpu"] = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), platform.processor())
        res["ceilings"] = {"skipped": "torch device is not cuda"}
    jobs = (["ceilings"] if cuda else []) + ([] if args.no_micro else ["micro"]) + [f"model:{m}" for m in args.models]
    t_start = time.perf_counter()
    for job in jobs:
        left = args.deadline - (time.perf_counter() - t_start)
        log(f"== job {job} ({left:.0f} s left)")
        if left < 10:
            out = {"error": "skipped: --deadline reached"}
        elif args.no_isolate:
            try:
                out = run_job(job, args, None)
            except Exception as e:  # noqa: BLE001
                out = {"error": one_line(e)}
        else:
            out = spawn(job, args, left)
        if job == "ceilings":
            res["gpu"] = out.pop("gpu", None)
            res["torch_tf32"] = out.get("torch_tf32_defaults")
            res["ceilings"] = out
        elif job == "micro":
            res["micro"] = out
        else:
            name = job.split(":", 1)[1]
            rows = out.get("batches", [])
            done = {r["batch"] for r in rows}
            for b in args.batches:
                if b not in done:
                    why = out.get("error", "no result")
                    rows.append({"model": name, "batch": b, "status": "skipped" if why.startswith("skipped") else "failed", "reason": why, "hetc": {}, "torch": {}})
            for r in rows:
                if out.get("error") and r["status"] == "ok":
                    r["reason"] = out["error"]  # a partial row: what came before the crash
                r["export_s"] = out.get("export_s")
            res["models"] += rows
            res["torch_tf32"] = res.get("torch_tf32") or out.get("torch_tf32")
            if "profile" in out or "profile_error" in out:
                res["profiles"][name] = {"kernels": out.get("profile"), "error": out.get("profile_error")}
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1))
    return res


# --------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------


def ms(e: dict | None) -> str:
    if not e:
        return "-"
    if "median_ms" in e:
        return f"{e['median_ms']:.3f}"
    return e.get("status", "-") if e.get("status") != "ok" else "-"


def ratio(a: dict | None, b: dict | None) -> str:
    if a and b and "median_ms" in a and "median_ms" in b:
        return f"{a['median_ms'] / b['median_ms']:.2f}"
    return "-"


def ceil_of(res: dict, key: str, field: str) -> float | None:
    return (res.get("ceilings") or {}).get(key, {}).get(field)


def top_kernels(res: dict, name: str, k: int = 10) -> list[dict]:
    kernels = (res["profiles"].get(name) or {}).get("kernels") or []
    bw, peak = ceil_of(res, "copy_1gib", "gbps"), ceil_of(res, "matmul_fp32", "tflops")
    out = []
    for kr in sorted(kernels, key=lambda r: -r["seconds"])[:k]:
        s = kr["seconds"]
        gbps = kr["bytes"] / s / 1e9 if kr.get("bytes") and s > 0 else None
        tflops = kr["flops"] / s / 1e12 if kr.get("flops") and s > 0 else None
        out.append({**kr, "gbps": gbps, "tflops": tflops, "bw_frac": gbps / bw if gbps and bw else None,
                    "peak_frac": tflops / peak if tflops and peak else None})  # fmt: skip
    return out


def fmt(v: float | None, spec: str = ".1f", pct: bool = False) -> str:
    return "-" if v is None else (f"{100 * v:.0f}%" if pct else format(v, spec))


def micro_lines(res: dict) -> list[str]:
    out, m = [], res.get("micro") or {}
    if m.get("error"):
        out.append(f"micro-benchmarks failed: {m['error']}")
    for prec in PRECISIONS:
        e = (m.get("gemm") or {}).get(prec)
        if e:
            ref = ceil_of(res, f"matmul_{prec}", "tflops")
            txt = (f"{e['median_ms']:.3f} ms, {e['tflops']:.1f} TFLOP/s" + (f" = {e['tflops'] / ref:.2f}x torch.matmul {prec} ({ref:.1f} TFLOP/s)" if ref else "")
                   if "median_ms" in e else f"{e['status']}" + (f": {e['reason']}" if e.get("reason") else f" (rel err {fmt(e.get('max_rel'), '.1e')})"))  # fmt: skip
            out.append(f"GEMM {'x'.join(map(str, m['gemm']['shape']))} (K={m['gemm']['shape'][1]}) hetc {prec}: {txt}")
    e = (m.get("eltwise") or {}).get("fp32")
    if e:
        bw = ceil_of(res, "copy_1gib", "gbps")
        txt = (f"{e['median_ms']:.3f} ms, {e['gbps']:.0f} GB/s" + (f" = {e['gbps'] / bw:.2f}x the copy ceiling ({bw:.0f} GB/s)" if bw else "")
               if "median_ms" in e else f"{e['status']}" + (f": {e['reason']}" if e.get("reason") else f" (rel err {fmt(e.get('max_rel'), '.1e')})"))  # fmt: skip
        out.append(f"Mul-Add-Relu over {'x'.join(map(str, m['eltwise']['shape']))} hetc fp32: {txt}")
    return out


def verdict(e: dict | None) -> str:
    return "-" if not e or "max_rel" not in e else ("PASS" if e["ok"] else "WRONG")


def stdout_table(res: dict) -> str:
    lines = [f"hetc {res['hetc_target']} vs torch on {res['gpu']} ({res['date']}); median ms; ratio < 1 = hetc faster"]
    c = res.get("ceilings") or {}
    if "copy_1gib" in c:
        lines.append("ceilings: copy " + f"{c['copy_1gib']['gbps']:.0f} GB/s; matmul 4096^3 " + ", ".join(f"{p} {c[f'matmul_{p}']['tflops']:.1f}" for p in ("fp32", "tf32", "fp16")) + " TFLOP/s")
    elif c.get("error") or c.get("skipped"):
        lines.append(f"ceilings: {c.get('error') or c.get('skipped')}")
    lines += micro_lines(res)
    hdr = f"{'model':<12} {'b':>2} | {'hetc32':>8} {'chk':<5} {'hetcTF':>8} {'chk':<5} | {'eager':>7} {'graph':>7} {'compile':>7} | {'fp16 e':>7} {'fp16 g':>7} {'fp16 c':>7} | {'h32/g':>5} {'h32/c':>5} {'hTF/g':>5}"
    lines += [hdr, "-" * len(hdr)]
    for r in res["models"]:
        if r["status"] != "ok":
            lines.append(f"{r['model']:<12} {r['batch']:>2} | {r['status']}: {r.get('reason', '')}")
            continue
        h, t32, t16 = r["hetc"], r["torch"].get("fp32", {}), r["torch"].get("fp16", {})
        lines.append(
            f"{r['model']:<12} {r['batch']:>2} | {ms(h.get('fp32')):>8} {verdict(h.get('fp32')):<5} {ms(h.get('tf32')):>8} {verdict(h.get('tf32')):<5} | "
            f"{ms(t32.get('eager')):>7} {ms(t32.get('graph')):>7} {ms(t32.get('compile')):>7} | {ms(t16.get('eager')):>7} {ms(t16.get('graph')):>7} {ms(t16.get('compile')):>7} | "
            f"{ratio(h.get('fp32'), t32.get('graph')):>5} {ratio(h.get('fp32'), t32.get('compile')):>5} {ratio(h.get('tf32'), t32.get('graph')):>5}"
        )
        for who, d in (("hetc", h), ("torch fp32", t32), ("torch fp16", t16)):
            for k, e in d.items():
                if e.get("reason") and e.get("status") != "ok":
                    lines.append(f"    {who} {k}: {e['status']}: {e['reason']}")
    for name in res["profiles"]:
        top = top_kernels(res, name, 3)
        if top:
            lines.append(f"{name} top kernels: " + "; ".join(f"{k['label'][:40]} {k['seconds'] * 1e3:.3f} ms {fmt(k['gbps'], '.0f')} GB/s" for k in top))
    return "\n".join(lines)


def cell(e: dict | None) -> str:
    if not e:
        return "-"
    if "median_ms" in e:
        return f"{e['median_ms']:.3f} ({e['p10_ms']:.3f}-{e['p90_ms']:.3f})"
    return f"{e.get('status', 'n/a')}: {e.get('reason', '')}".replace("|", "/")


def check_cell(e: dict | None) -> str:
    if not e or "max_rel" not in e:
        return "-" if not e else (e.get("reason") or e.get("status", "-")).replace("|", "/")
    return f"{'PASS' if e['ok'] else 'WRONG'} (abs {e['max_abs']:.1e}, rel {e['max_rel']:.1e})"


def section(res: dict) -> str:
    c, tf = res.get("ceilings") or {}, res.get("torch_tf32") or {}
    lines = [
        BEGIN,
        "## hetc CUDA target vs PyTorch on the zoo models (benchmarks/cuda_models.py)",
        "",
        (f"Measured {res['date']} on {res['gpu']} (hetc target `{res['hetc_target']}`, torch {res['versions']['torch']}, "
         f"CUDA {res['versions']['cuda']}, onnxruntime {res['versions']['onnxruntime']}). Command:"),
        "",
        "```",
        res["command"],
        "```",
        "",
        f"Median (p10-p90) ms of {res['runs']} runs after {res['warmup']} warm-ups. " + (
            "hetc: its runner's `time()` (inputs on the device, one CUDA-graph replay per run, CUDA events). torch: CUDA "
            "events around each forward on an idle GPU (eager includes its launch overhead); *graph* = eager captured once "
            "with torch.cuda.CUDAGraph and replayed; *compile* = torch.compile(mode=\"reduce-overhead\"). "
            if res["torch_device"] == "cuda" and res["hetc_target"] == "cuda" else
            f"Smoke run without a GPU: hetc target `{res['hetc_target']}` timed around `Session.run` (host copies included), "
            f"torch eager on `{res['torch_device']}` timed with perf_counter; no CUDA graphs, torch.compile or ceilings. "
        ) + ("Checks against onnxruntime CPU (optimizations off): "
         "max|diff| <= tol * max(1, max|ref|), tol 1e-3 fp32 / 2e-2 tf32; rel = max|diff| / max(1, max|ref|). "
         "Ratios are hetc / torch: below 1 = hetc faster. "
         + (f"torch fp32 flags: matmul.allow_tf32={tf.get('matmul_allow_tf32')}, cudnn.allow_tf32={tf.get('cudnn_allow_tf32')}." if tf else "")),
        "",
    ]  # fmt: skip
    if "copy_1gib" in c:
        lines.append(f"Ceilings: device-to-device copy of 1 GiB {c['copy_1gib']['gbps']:.0f} GB/s (read + write); torch.matmul 4096³ "
                     + ", ".join(f"{p} {c[f'matmul_{p}']['tflops']:.1f}" for p in ("fp32", "tf32", "fp16")) + " TFLOP/s.")  # fmt: skip
    else:
        lines.append(f"Ceilings: not measured ({c.get('error') or c.get('skipped') or 'no data'}).")
    lines += [""] + [f"- {ln}" for ln in micro_lines(res)]
    for batch in sorted({r["batch"] for r in res["models"]}):
        rows = [r for r in res["models"] if r["batch"] == batch]
        for hp, tp in (("fp32", "fp32"), ("tf32", "fp32"), ("tf32", "fp16")):
            if not any(r["torch"].get(tp) for r in rows) and (tp == "fp16" or not any(r["hetc"].get(hp) for r in rows)):
                continue
            lines += ["", f"**Batch {batch}: hetc {hp} vs torch {tp}**", "",
                      f"| model | hetc {hp} ms | hetc check | compile s | torch eager | eager + CUDA graph | torch.compile | hetc/graph | hetc/compile | torch check |",
                      "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]  # fmt: skip
            for r in rows:
                if r["status"] == "skipped":
                    lines.append(f"| {r['model']} | skipped: {r.get('reason', '')} | | | | | | | | |")
                    continue
                h, t = r["hetc"].get(hp), r["torch"].get(tp) or {}
                lines.append(
                    f"| {r['model']} | {cell(h)} | {check_cell(h)} | {fmt((h or {}).get('compile_s'))} | {cell(t.get('eager'))} | "
                    f"{cell(t.get('graph'))} | {cell(t.get('compile'))} | {ratio(h, t.get('graph'))} | {ratio(h, t.get('compile'))} | {check_cell(t.get('eager'))} |"
                )
            if any(r.get("status") == "failed" for r in rows):
                lines += [f"- {r['model']}: {r['reason']}" for r in rows if r.get("status") == "failed"]
    if res["profiles"]:
        lines += ["", ("**Per-kernel profile, batch 1, hetc fp32** (runner's `profile()`, mean of 10 runs; GB/s = bytes of all "
                       "buffer arguments / time, an estimate of the traffic; % of the copy and fp32 matmul ceilings)")]  # fmt: skip
        for name, p in res["profiles"].items():
            kernels = p.get("kernels") or []
            total = sum(k["seconds"] for k in kernels)
            lines += ["", f"{name}: {len(kernels)} kernel launches, {total * 1e3:.3f} ms in all" + (f" (profile failed: {p['error']})" if p.get("error") else ""), ""]
            if not kernels:
                continue
            lines += ["| kernel | ms | % of model | GB/s | % copy BW | TFLOP/s | % fp32 peak |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
            for k in top_kernels(res, name):
                lines.append(f"| `{k['label'][:90]}` | {k['seconds'] * 1e3:.4f} | {fmt(k['seconds'] / total if total else None, pct=True)} | "
                             f"{fmt(k['gbps'], '.0f')} | {fmt(k['bw_frac'], pct=True)} | {fmt(k['tflops'], '.2f')} | {fmt(k['peak_frac'], pct=True)} |")  # fmt: skip
    lines += ["", ("(`python benchmarks/cuda_models.py --write FILE.json` puts this section back from the JSON the GPU run wrote, "
                   "replacing only the text between its markers.)"), END]  # fmt: skip
    return "\n".join(lines)


def merge(paths: list[str]) -> dict:
    """Later files win per (model, batch) and per profile; run metadata from the first."""
    res = None
    for p in paths:
        r = json.loads(Path(p).read_text())
        if res is None:
            res = r
            continue
        rows = {(x["model"], x["batch"]): x for x in res["models"]}
        rows.update({(x["model"], x["batch"]): x for x in r["models"]})  # replaced rows keep their place
        res["models"] = list(rows.values())
        res["profiles"].update(r["profiles"])
        for key in ("ceilings", "micro"):
            if r.get(key) and not r[key].get("error") and not r[key].get("skipped"):
                res[key] = r[key]
        if r["command"] not in res["command"]:
            res["command"] += "\n" + r["command"]
    return res


def write(res: dict, path: Path) -> None:
    text = path.read_text() if path.exists() else ""
    block = section(res)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the results here (rewritten after every job)")
    ap.add_argument("--write", nargs="+", metavar="JSON", help="write RESULTS.md's section from results JSON(s)")
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "RESULTS.md"), help="markdown file for --write")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--hetc-target", default="cuda", help="cuda, or c for a smoke test without a GPU")
    ap.add_argument("--torch-device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--torch-variants", default=",".join(VARIANTS), help="subset of eager,graph,compile")
    ap.add_argument("--deadline", type=float, default=540, help="skip jobs not started after this many seconds")
    ap.add_argument("--no-micro", action="store_true", help="skip the GEMM / elementwise micro-benchmarks")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-kernel profiles")
    ap.add_argument("--no-isolate", action="store_true", help="run every job in this process (debugging)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--job-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    LOG["quiet"] = args.quiet
    if args.write:
        write(merge(args.write), Path(args.output))
        print(f"wrote the cuda_models section of {args.output}")
        return
    args.batches = [int(b) for b in str(args.batches).split(",") if b]
    args.models = [m for m in str(args.models).split(",") if m]
    args.torch_variants = [v for v in str(args.torch_variants).split(",") if v]
    if args.job:
        out = Path(args.job_out) if args.job_out else None
        try:
            run_job(args.job, args, out)
        except Exception as e:  # the driver records it; keep what was measured
            if out is None:
                raise
            res = json.loads(out.read_text()) if out.exists() else {}
            res["error"] = one_line(e)
            out.write_text(json.dumps(res))
            log(f"[{args.job}] failed: {res['error']}")
        return
    from tests.models import zoo

    unknown = [m for m in args.models if m not in zoo.MODELS]
    args.models = [m for m in args.models if m in zoo.MODELS]
    res = run(args)
    for m in unknown:
        res["models"].append({"model": m, "batch": 1, "status": "skipped", "reason": "not in tests/models/zoo.py", "hetc": {}, "torch": {}})
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print(stdout_table(res))


if __name__ == "__main__":
    main()

"""hetc's CUDA target against PyTorch on the same zoo models, plus the GPU's ceilings.

    python benchmarks/cuda_models.py --json OUT.json [--models a,b] [--batches 1,32] [--runs 100] [--bf16]
    python benchmarks/cuda_models.py --write OUT.json [MORE.json ...] [--output benchmarks/RESULTS.md]
    python benchmarks/cuda_models.py --hetc-target c --torch-device cpu --models resnet18 \
        --batches 1 --runs 3 --json /tmp/smoke.json        # smoke test without a GPU

What it measures, per zoo model (tests/models/zoo.py, seeded weights and inputs) and batch:

0. the model file: the zoo's TorchScript export where its batch axis is dynamic (resnet18,
   bert_mini) or the batch is the exported one (1); otherwise (mobilenetv2, vit_tiny, gpt2_small
   at batch 32) the same module (`zoo.build`: same seed, same weights) exported here like the zoo
   does (TorchScript exporter, the zoo's opset, IR version 10) from batch-B example inputs, so the
   batch axis is static at B; cached beside the zoo's exports as `NAME.ts-batchB.*.onnx`. Inputs:
   `zoo.make_inputs(seed=0)` at that batch, the same arrays for every runner;
1. reference: onnxruntime CPU on that file (graph optimizations off, 1 thread), fp32 always;
2. hetc, one build per precision (`--precisions`, default fp32,tf32,fp16; `--bf16` adds bf16):
   `hetc.compile(target="cuda", target_options={"precision": P})`. fp32: exact float32 GEMMs;
   tf32: GEMMs on the tensor cores in TF32; fp16 / bf16: weights and intermediates stored in
   half, f32 arithmetic, half GEMMs on the tensor cores (graph inputs and outputs stay f32).
   Compile time; every output checked against the fp32 reference: max|diff| <= tol *
   max(1, max|ref|) ("rel" = max|diff| / max(1, max|ref|)) with tol per precision (TOL):
     fp32 1e-3: only reassociated float32 sums differ;
     tf32 2e-2, fp16 2e-2: both keep 10 mantissa bits (unit roundoff u = 2^-11 = 4.9e-4); 2e-2
       is ~40 u, ~18x the worst error of torch's own fp16 models here (1.1e-3 rel on bert_mini,
       CPU), and far below what a wrong index or a lost term gives (rel of order 1);
     bf16 1e-1: 7 mantissa bits (u = 3.9e-3, 8x fp16's), ~25 u, ~10x torch bf16's worst here
       (9.5e-3 rel on bert_mini);
   a WRONG result is never timed. A precision the target does not take is "skipped" with the
   compiler's message: tf32 on target c (it would build the fp32 code again), and fp16 / bf16
   wherever the target has no such precision option. Timing is the runner's `time()`: inputs
   uploaded once, one CUDA-graph replay per run timed with CUDA events, no host copies;
3. PyTorch on the GPU, same module and inputs, fp32 and each narrow precision asked for
   (fp16: `model.half()`, bf16: `model.to(torch.bfloat16)`; float inputs cast, token ids
   unchanged): eager, eager captured once and replayed as a CUDA graph (torch.cuda.CUDAGraph,
   warm-up on a side stream), and torch.compile(mode="reduce-overhead"). Each run: the GPU is
   idle (previous run's end event synchronized), then start event, the forward, end event; so
   eager includes its launch overhead. torch is checked with hetc's tolerance at the same
   precision (and still timed when it fails: its check column says so). torch's TF32 flags are
   recorded: with PyTorch's defaults (cudnn.allow_tf32=True, matmul.allow_tf32=False) torch
   "fp32" convolutions already run on TF32 tensor cores while its matmuls are full fp32, which
   the tf32 tables say in words;
4. once per run: ceilings (1 GiB device-to-device copy, (read + write) bytes / time;
   torch.matmul 4096^3 in fp32, tf32, fp16 and bf16); a one-node ONNX MatMul 4096^3 (a float32
   model, compiled by hetc at each precision: under fp16 its constant B is stored in half, the
   graph input A and output y stay f32) checked against NumPy (float64 product) at the
   precision's tol, its TFLOP/s as a fraction of torch.matmul at the same precision (fp16 and
   bf16 target: >= 0.60 of cuBLAS); and a fused Mul-Add-Relu over [32,1024,1024] at fp32 and
   fp16, GB/s against the copy ceiling with bytes = 4 (f32 input read) + 4 (f32 output
   written) per element at every precision: the chain's input and output are graph I/O buffers
   that stay f32 and its intermediates live in registers, so fp16 has no narrowed tensor to
   count here (any conversion traffic hetc adds at the boundary is not credited);
5. a per-kernel profile of each model at batch 1 fp32 (runner's `profile()`): top 10 kernels
   by time, GB/s (argument bytes / time) and TFLOP/s, as a fraction of the ceilings.

Reports (`--write` and stdout): per batch, one table per precision pair (hetc fp32 vs torch
fp32, hetc tf32 vs torch fp32, hetc fp16 vs torch fp16, hetc bf16 vs torch bf16) with hetc/graph
and hetc/compile ratios, and a summary per model and batch: hetc fp32 and fp16 against torch at
the same precision, replayed as a CUDA graph (torch.compile where capture fails; eager in smoke
runs), the fastest hetc precision against torch at its matching precision (tf32 -> fp32), and a
verdict on the issue's target (hetc <= torch at fp32 and at fp16).

Every timing: `--warmup` untimed runs, then `--runs` timed runs; median, p10 and p90 reported.
Each job (ceilings, micro-benchmarks, one model) runs in its own subprocess, so a crash or a
poisoned CUDA context in one model never kills the run; a failure is recorded as one line.
Jobs still waiting when `--deadline` seconds have passed are skipped (and say so). The JSON is
rewritten after every job. `--write` merges one or more JSONs into the section of
benchmarks/RESULTS.md between this script's markers: later files win per model and batch, and
where both files ran a row, per precision and variant (a later `--precisions fp16` run adds its
columns to an earlier full run); micro-benchmarks merge per kind and precision. JSONs written
before fp16 existed read fine (their missing entries show as "-").
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
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BEGIN = "<!-- cuda_models: begin (written by benchmarks/cuda_models.py --write) -->"
END = "<!-- cuda_models: end -->"
DEFAULT_MODELS = ["resnet18", "mobilenetv2", "vit_tiny", "bert_mini", "gpt2_small"]
ALL_PRECISIONS = ["fp32", "tf32", "fp16", "bf16"]  # hetc's, in report order
PRECISIONS = ["fp32", "tf32", "fp16"]  # compiled by default; --bf16 adds bf16
# max|diff| <= tol * max(1, max|ref|) against the fp32 reference; why these: the docstring
TOL = {"fp32": 1e-3, "tf32": 2e-2, "fp16": 2e-2, "bf16": 1e-1}
# the torch precision each hetc precision is compared with: torch has no "tf32" model, its fp32
# runs with the recorded TF32 flags (cuDNN convolutions in TF32 by default)
TORCH_MATCH = {"fp32": "fp32", "tf32": "fp32", "fp16": "fp16", "bf16": "bf16"}
# the issue's target: hetc <= torch at each of these precisions, at every model and batch
TARGET_PRECISIONS = ["fp32", "fp16"]
# torch.matmul at the same precision is the cuBLAS ceiling; the narrow GEMMs' target fraction
GEMM_TARGET = 0.60
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


def torch_precisions(precisions: list[str]) -> list[str]:
    """The torch precisions the hetc ones are compared with, fp32 always first."""
    return ["fp32"] + [p for p in ("fp16", "bf16") if any(TORCH_MATCH[h] == p for h in precisions)]


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


def target_options(target: str, precision: str) -> dict | None:
    # the C target takes no options today: fp32 must compile there without any
    if target == "cuda" or precision != "fp32":
        return {"precision": precision}
    return None


def hetc_compile(hetc, model, shapes: dict, target: str, precision: str):
    t0 = time.perf_counter()
    sess = hetc.compile(model, target=target, input_shapes=shapes, target_options=target_options(target, precision))
    return sess, time.perf_counter() - t0


def unsupported_precision(err: BaseException) -> bool:
    """The compiler refused the precision option itself (as opposed to failing on the model):
    the target takes no options, or does not know this precision yet."""
    msg = str(err).lower()
    return "takes no target options" in msg or "has no option" in msg or ("precision" in msg and "unknown" in msg)


def hetc_time(sess, feeds: dict, runs: int, warmup: int) -> list[float]:
    inputs = [feeds[n] for n in sess.input_names]
    if hasattr(sess._runner, "time"):
        return [float(t) for t in sess._runner.time(inputs, runs=runs, warmup=warmup)]
    sub = {n: feeds[n] for n in sess.input_names}
    return time_fn(lambda: sess.run(sub), runs, warmup, cuda=False)


def hetc_entry(hetc, model, feeds: dict, refs: list, target: str, precision: str, args) -> tuple[dict, object]:
    """Compile, check, time one hetc build; (entry, session or None)."""
    if precision == "tf32" and target != "cuda":
        return {"status": "skipped", "reason": f"tf32 is a CUDA tensor-core GEMM mode; target {target} would build its fp32 code again"}, None
    ent: dict = {"status": "ok"}
    try:
        sess, ent["compile_s"] = hetc_compile(hetc, model, {k: v.shape for k, v in feeds.items()}, target, precision)
    except Exception as e:  # noqa: BLE001 - one line in the table
        if precision != "fp32" and unsupported_precision(e):
            return {"status": "skipped", "reason": f"target {target} has no precision {precision}: {one_line(e)}"}, None
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
        for name, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True), ("fp16", torch.float16, False),
                                  ("bf16", torch.bfloat16, False)):  # fmt: skip
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a, b = torch.randn(n, n, device="cuda", dtype=dtype), torch.randn(n, n, device="cuda", dtype=dtype)
            t = stats(time_fn(functools.partial(torch.matmul, a, b), 20, 3, cuda=True))
            res[f"matmul_{name}"] = {**t, "n": n, "tflops": 2 * n**3 / (t["median_ms"] * 1e-3) / 1e12}
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    return res


def micro_model(kind: str, shape: tuple[int, ...], seed: int = 0, half: str | None = None):
    """(ModelProto, input array, reference output, bytes, flops) of a one-op GEMM or a
    fused elementwise chain (bytes: at fp32; `micro_bytes` for the narrow precisions).
    `half` ("fp16" / "bf16", GEMM only): an ONNX model whose x, B and y are that type,
    like the half tensors torch.matmul is timed on."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    elem, np_t = TensorProto.FLOAT, np.float32
    if half is not None:
        import ml_dtypes

        elem, np_t = (TensorProto.FLOAT16, np.float16) if half == "fp16" else (TensorProto.BFLOAT16, ml_dtypes.bfloat16)
    x = rng.standard_normal(shape).astype(np_t)
    inp = helper.make_tensor_value_info("x", elem, list(shape))
    if kind == "gemm":
        b = rng.standard_normal(shape).astype(np_t)
        nodes = [helper.make_node("MatMul", ["x", "B"], ["y"])]
        inits = [numpy_helper.from_array(b, "B")]
        ref = (x.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
        nbytes, flops = 3 * x.nbytes, 2 * shape[0] * shape[1] * shape[1]
    else:
        nodes = [helper.make_node("Mul", ["x", "s"], ["t0"]), helper.make_node("Add", ["t0", "c"], ["t1"]), helper.make_node("Relu", ["t1"], ["y"])]
        inits = [numpy_helper.from_array(np.array(1.5, np.float32), "s"), numpy_helper.from_array(np.array(0.25, np.float32), "c")]
        ref = np.maximum(x * np.float32(1.5) + np.float32(0.25), 0)
        nbytes, flops = 2 * x.nbytes, 0
    out = helper.make_tensor_value_info("y", elem, list(shape))
    graph = helper.make_graph(nodes, kind, [inp], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model, x, ref, nbytes, flops


def micro_bytes(kind: str, shape: tuple[int, ...], precision: str) -> tuple[int, str]:
    """Bytes one run must move at `precision`, and what was counted. Graph inputs and outputs
    stay f32 under every precision; only constants and intermediates are narrowed."""
    n = int(np.prod(shape))
    if kind == "gemm":
        m, k = shape
        if precision in ("fp16", "bf16"):
            return 2 * (m * k + k * k + m * k), f"A, B, y in {precision} (a {precision} ONNX model: A is a graph input, B a constant)"
        return 3 * 4 * m * k, "A, B, y in f32"
    # a one-kernel chain: its intermediates never reach memory whatever the precision
    return 8 * n, "x f32 read + y f32 written (I/O stays f32; the fused intermediates stay in registers)"


def job_micro(args) -> dict:
    hetc = import_hetc()
    gpu = args.hetc_target == "cuda"
    res = {}
    for kind, shape in (("gemm", (4096, 4096) if gpu else (256, 256)), ("eltwise", (32, 1024, 1024) if gpu else (4, 256, 256))):
        model, x, ref, _, flops = micro_model(kind, shape)
        res[kind] = {"shape": list(shape), "bytes": micro_bytes(kind, shape, "fp32")[0], "flops": flops}
        # tf32 changes GEMMs only
        for prec in args.precisions if kind == "gemm" else [p for p in args.precisions if p != "tf32"]:
            log(f"[micro] {kind} {shape} hetc {args.hetc_target} {prec}")
            if kind == "gemm" and prec in ("fp16", "bf16"):  # a half model, as torch.matmul gets half tensors
                model_p, x_p, ref_p, _, _ = micro_model(kind, shape, half=prec)
                ent, sess = hetc_entry(hetc, model_p, {"x": x_p}, [ref_p], args.hetc_target, prec, args)
            else:
                ent, sess = hetc_entry(hetc, model, {"x": x}, [ref], args.hetc_target, prec, args)
            nbytes, what = micro_bytes(kind, shape, prec)
            ent.update(bytes=nbytes, bytes_counted=what)
            if sess is not None:
                s = ent["median_ms"] * 1e-3
                ent.update(tflops=flops / s / 1e12, gbps=nbytes / s / 1e9)
            res[kind][prec] = ent
            del sess
    return res


def static_batch_export(zoo, name: str, batch: int, out_dir: Path) -> Path:
    """`name` exported as zoo.export does it (zoo.build's seeded module, TorchScript exporter,
    the zoo's opset, IR version 10) but from batch-`batch` example inputs: a static batch axis of
    that size. A separate file; zoo.export and its cache are untouched."""
    import onnx
    import torch

    spec = zoo.MODELS[name]
    # zoo's own cache key (torch, transformers, zoo.py digest) with the batch in the name
    path = out_dir / zoo._file_name(name, False).replace(f"{name}.ts.", f"{name}.ts-batch{batch}.", 1)
    if path.exists():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    model = zoo.build(name)
    shapes = {k: (batch, *v[0][1:]) for k, v in spec.inputs.items()}
    example = zoo.make_inputs(name, seed=123, shapes=shapes)  # the zoo exports from seed 123 too
    args = tuple(torch.from_numpy(example[k]) for k in spec.inputs)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # as in zoo.export: the fused MHA fast path has no TorchScript export
            torch.backends.mha.set_fastpath_enabled(False)
            torch.onnx.export(model, args, str(tmp), input_names=list(spec.inputs), output_names=spec.outputs,
                              opset_version=spec.opset or zoo.TORCHSCRIPT_OPSET, dynamo=False, do_constant_folding=True)  # fmt: skip
        m = onnx.load(str(tmp))
        m.ir_version = zoo.IR_VERSION
        onnx.save(m, str(tmp))
        os.replace(tmp, path)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        if tmp.exists():
            tmp.unlink()
    return path


def model_at_batch(zoo, name: str, batch: int, zoo_path: Path) -> tuple[Path, dict, dict]:
    """(ONNX file, feeds, how the file was made) for zoo model `name` at `batch`."""
    spec = zoo.MODELS[name]
    shapes = {i: (batch, *s[0][1:]) for i, s in spec.inputs.items()}
    feeds = zoo.make_inputs(name, seed=0, shapes=shapes)  # at the spec's batch: make_inputs(name, seed=0)
    if all(0 in spec.dynamic.get(i, {}) for i in spec.inputs):
        return zoo_path, feeds, {"export": "zoo export, dynamic batch axis"}
    if all(s[0][0] == batch for s in spec.inputs.values()):
        return zoo_path, feeds, {"export": "zoo export"}
    t0 = time.perf_counter()
    path = static_batch_export(zoo, name, batch, cache_dir())
    return path, feeds, {"export": f"static batch {batch}: {path.name}", "batch_export_s": time.perf_counter() - t0}


def to_torch(feeds: dict, order: list[str], device: str, precision: str) -> list:
    import torch

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    out = []
    for k in order:
        t = torch.from_numpy(feeds[k]).to(device)
        out.append(t.to(dtype) if dtype is not None and t.is_floating_point() else t)
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
    zoo_path = zoo.export(name, cache_dir())
    res["export_s"] = time.perf_counter() - t0
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    ref_sessions: dict = {}
    tprecs = torch_precisions(args.precisions)
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    torch_models = {"fp32": zoo.build(name).to(args.torch_device)}
    for p in tprecs[1:]:
        torch_models[p] = copy.deepcopy(torch_models["fp32"]).to(dtypes[p])
    if cuda:
        res["torch_tf32"] = tf32_flags()
    for batch in args.batches:
        ent: dict = {"model": name, "batch": batch, "status": "ok", "hetc": {}, "torch": {p: {} for p in tprecs}}
        res["batches"].append(ent)
        try:
            path, feeds, how = model_at_batch(zoo, name, batch, zoo_path)
        except Exception as e:  # noqa: BLE001 - the other batches still run
            ent.update(status="failed", reason=f"export at batch {batch} failed: {one_line(e)}")
            partial(res)
            continue
        ent.update(how)
        ent["input_shapes"] = {k: list(v.shape) for k, v in feeds.items()}
        log(f"[{name} b{batch}] onnxruntime reference ({how['export']})")
        if path not in ref_sessions:
            ref_sessions[path] = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        refs = ref_sessions[path].run(None, feeds)
        for prec in args.precisions:
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
            variants = [v for v in VARIANTS if v in args.torch_variants and (cuda or v == "eager")]
            # eager and torch.compile first, CUDA-graph capture (which may fail mid-capture) last
            for variant in sorted(variants, key=lambda v: v == "graph"):
                for prec in tprecs:
                    log(f"[{name} b{batch}] torch {variant} {prec}")
                    xs = to_torch(feeds, order, args.torch_device, prec)
                    ent["torch"][prec][variant] = torch_variant(variant, torch_models[prec], xs, refs, TOL[prec], args, cuda)
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
               "--precisions", ",".join(args.precisions),
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
        "precisions": args.precisions, "tolerances": {p: TOL[p] for p in args.precisions},
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


def not_timed(e: dict) -> str:
    """Why an entry has no time: its status and reason (or its check numbers)."""
    return f"{e.get('status', 'n/a')}" + (f": {e['reason']}" if e.get("reason") else f" (rel err {fmt(e.get('max_rel'), '.1e')})")


def matmul_ceilings(c: dict) -> str:
    return ", ".join(f"{p} {c[f'matmul_{p}']['tflops']:.1f}" for p in ALL_PRECISIONS if f"matmul_{p}" in c)


def micro_lines(res: dict) -> list[str]:
    out, m = [], res.get("micro") or {}
    if m.get("error"):
        out.append(f"micro-benchmarks failed: {m['error']}")
    gemm = m.get("gemm") or {}
    for prec in ALL_PRECISIONS:
        e = gemm.get(prec)
        if not e:
            continue
        if "median_ms" in e:
            ref = ceil_of(res, f"matmul_{prec}", "tflops")
            txt = f"{e['median_ms']:.3f} ms, {e['tflops']:.1f} TFLOP/s"
            if ref:
                frac = e["tflops"] / ref
                txt += f" = {frac:.2f}x torch.matmul {prec} ({ref:.1f} TFLOP/s)"
                if prec in ("fp16", "bf16"):
                    txt += f", target >= {GEMM_TARGET:.2f}x cuBLAS: {'met' if frac >= GEMM_TARGET else 'NOT met'}"
            if "max_rel" in e:
                txt += f"; vs NumPy rel err {e['max_rel']:.1e} (tol {e['tol']:g})"
        else:
            txt = not_timed(e)
        out.append(f"GEMM {'x'.join(map(str, gemm['shape']))} (K={gemm['shape'][1]}) hetc {prec}: {txt}")
    elt = m.get("eltwise") or {}
    bw = ceil_of(res, "copy_1gib", "gbps")
    for prec in ALL_PRECISIONS:
        e = elt.get(prec)
        if not e:
            continue
        if "median_ms" in e:
            txt = f"{e['median_ms']:.3f} ms, {e['gbps']:.0f} GB/s" + (f" = {e['gbps'] / bw:.2f}x the copy ceiling ({bw:.0f} GB/s)" if bw else "")
            if e.get("bytes_counted") and prec != "fp32":
                txt += f"; bytes counted: {e['bytes_counted']}"
        else:
            txt = not_timed(e)
        out.append(f"Mul-Add-Relu over {'x'.join(map(str, elt['shape']))} hetc {prec}: {txt}")
    return out


def verdict(e: dict | None) -> str:
    return "-" if not e or "max_rel" not in e else ("PASS" if e["ok"] else "WRONG")


def torch_ref(t: dict | None) -> tuple[str, dict | None]:
    """The torch time hetc is held to: the CUDA-graph replay, torch.compile where capture
    failed, eager where neither ran (smoke runs)."""
    for v in ("graph", "compile", "eager"):
        e = (t or {}).get(v)
        if e and "median_ms" in e:
            return v, e
    return "", None


def short(e: dict | None) -> str:
    return "not run" if not e else str(e.get("status", "n/a"))


def summary(r: dict) -> dict:
    """Per (model, batch) row: hetc vs torch at each target precision, the fastest hetc build
    against torch at its matching precision, and the verdict on the issue's target."""
    out: dict = {"pairs": {}, "bad": [], "missing": []}
    for p in TARGET_PRECISIONS:
        h = r["hetc"].get(p)
        v, t = torch_ref(r["torch"].get(TORCH_MATCH[p]))
        out["pairs"][p] = (h, v, t)
        if not h or "median_ms" not in h:
            out["missing"].append(f"hetc {p} {short(h)}")
        elif t is None:
            out["missing"].append(f"no torch {p} time")
        elif h["median_ms"] > t["median_ms"]:
            out["bad"].append(f"{p} {h['median_ms'] / t['median_ms']:.2f}x {v}")
    timed = [(p, e) for p, e in r["hetc"].items() if e and "median_ms" in e]
    if timed:
        bp, be = min(timed, key=lambda pe: pe[1]["median_ms"])
        v, t = torch_ref(r["torch"].get(TORCH_MATCH.get(bp, "fp32")))
        out["best"] = (bp, be, TORCH_MATCH.get(bp, "fp32"), v, t)
    if out["bad"]:
        out["verdict"] = "not met: " + ", ".join(out["bad"]) + (f" ({'; '.join(out['missing'])})" if out["missing"] else "")
    elif out["missing"]:
        out["verdict"] = "incomplete: " + "; ".join(out["missing"])
    else:
        out["verdict"] = "meets target"
    if r.get("reason"):  # an ok row whose job died part way: what is missing says why
        out["verdict"] += f" (job cut short: {r['reason']})"
    return out


def torch_cell(v: str, t: dict | None) -> str:
    return "-" if t is None else f"{t['median_ms']:.3f} ({v})"


def summary_table(rows: list[dict]) -> list[str]:
    lines = ["| model | batch | hetc fp32 | torch fp32 | fp32 ratio | hetc fp16 | torch fp16 | fp16 ratio | fastest hetc | torch, same precision | ratio | target: hetc <= torch at fp32 and fp16 |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"]  # fmt: skip
    for r in sorted(rows, key=lambda r: (r["batch"], DEFAULT_MODELS.index(r["model"]) if r["model"] in DEFAULT_MODELS else 99, r["model"])):
        if r["status"] not in ("ok",):
            why = str(r.get("reason", "")).replace("|", "/")
            lines.append(f"| {r['model']} | {r['batch']} | {r['status']}: {why} | | | | | | | | | |")
            continue
        s = summary(r)
        cells = []
        for p in TARGET_PRECISIONS:
            h, v, t = s["pairs"][p]
            cells += [ms(h) if h else "-", torch_cell(v, t), ratio(h, t)]
        if "best" in s:
            bp, be, tp, v, t = s["best"]
            cells += [f"{bp} {be['median_ms']:.3f}", torch_cell(v, t) if t is None else f"{tp} {torch_cell(v, t)}", ratio(be, t)]
        else:
            cells += ["-", "-", "-"]
        lines.append(f"| {r['model']} | {r['batch']} | " + " | ".join(cells) + f" | {s['verdict'].replace('|', '/')} |")
    return lines


def present(rows: list[dict], side: str) -> list[str]:
    """The precisions that have an entry on `side` ("hetc" or "torch") in any row."""
    return [p for p in ALL_PRECISIONS if any((r.get(side) or {}).get(p) for r in rows)]


def stdout_table(res: dict) -> str:
    lines = [(f"hetc {res['hetc_target']} vs torch on {res['gpu']} ({res['date']}); median ms; ratio < 1 = hetc faster; "
              "h/t = hetc vs torch at the same precision (graph, else compile, else eager)")]  # fmt: skip
    c = res.get("ceilings") or {}
    if "copy_1gib" in c:
        lines.append("ceilings: copy " + f"{c['copy_1gib']['gbps']:.0f} GB/s; matmul 4096^3 " + matmul_ceilings(c) + " TFLOP/s")
    elif c.get("error") or c.get("skipped"):
        lines.append(f"ceilings: {c.get('error') or c.get('skipped')}")
    lines += micro_lines(res)
    rows = res["models"]
    hp, tp = present(rows, "hetc") or ["fp32"], present(rows, "torch") or ["fp32"]
    tag = {"fp32": "32", "tf32": "TF", "fp16": "16", "bf16": "BF"}
    hdr = (f"{'model':<12} {'b':>2} | " + " ".join(f"{'h' + tag[p]:>7}" for p in hp) + " | "
           + " | ".join(" ".join(f"{'t' + tag[p] + ' ' + v[0]:>7}" for v in VARIANTS) for p in tp) + " | "
           + " ".join(f"{'h/t ' + tag[p]:>7}" for p in TARGET_PRECISIONS) + " | verdict")  # fmt: skip
    lines += [hdr, "-" * len(hdr)]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"{r['model']:<12} {r['batch']:>2} | {r['status']}: {r.get('reason', '')}")
            continue
        h, s = r["hetc"], summary(r)
        lines.append(
            f"{r['model']:<12} {r['batch']:>2} | " + " ".join(f"{ms(h.get(p)):>7}" for p in hp) + " | "
            + " | ".join(" ".join(f"{ms((r['torch'].get(p) or {}).get(v)):>7}" for v in VARIANTS) for p in tp) + " | "
            + " ".join(f"{ratio(s['pairs'][p][0], s['pairs'][p][2]):>7}" for p in TARGET_PRECISIONS) + f" | {s['verdict']}"
        )  # fmt: skip
        for who, d in [("hetc", h)] + [(f"torch {p}", r["torch"].get(p) or {}) for p in tp]:
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


def tf32_note(tf: dict) -> str:
    """What hetc tf32 vs torch fp32 compares, from the TF32 flags torch ran with."""
    if not tf:
        return "torch's TF32 flags were not recorded (no GPU run): torch fp32 here is plain fp32."
    conv = ("its convolutions already ran on TF32 tensor cores (cudnn.allow_tf32=True, PyTorch's default), so on the CNNs "
            "this is TF32 against TF32 convolutions" if tf.get("cudnn_allow_tf32") else "its convolutions were full fp32 (cudnn.allow_tf32=False)")  # fmt: skip
    mm = ("its matmuls and linear layers were full fp32 (matmul.allow_tf32=False), so on the transformers hetc tf32 has the "
          "faster arithmetic and these ratios flatter hetc" if not tf.get("matmul_allow_tf32") else "its matmuls also ran in TF32 (matmul.allow_tf32=True)")  # fmt: skip
    return f"torch has no separate tf32 run: it is torch fp32 with the flags it ran with: {conv}; {mm}."


def section(res: dict) -> str:
    c, tf = res.get("ceilings") or {}, res.get("torch_tf32") or {}
    rows = res["models"]
    hprecs = present(rows, "hetc") or res.get("precisions") or ["fp32"]
    tols = ", ".join(f"{p} {TOL[p]:g}" for p in ALL_PRECISIONS if p in hprecs or p in present(rows, "torch"))
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
        ) + ("hetc fp16 / bf16: weights and intermediates stored in half, f32 arithmetic (CUDA: GEMMs on the tensor cores), "
             "graph inputs and outputs f32; torch fp16 / bf16: the module and its float inputs cast. "
             "Every output of both is checked against onnxruntime CPU in fp32 (optimizations off): "
             f"max|diff| <= tol * max(1, max|ref|), tol {tols} (why: the script's docstring); rel = max|diff| / max(1, max|ref|). "
             "Ratios are hetc / torch: below 1 = hetc faster. Batch-32 rows of models whose zoo export has a static batch axis "
             "use the same module and weights exported at batch 32. "
         + (f"torch fp32 flags: matmul.allow_tf32={tf.get('matmul_allow_tf32')}, cudnn.allow_tf32={tf.get('cudnn_allow_tf32')}." if tf else "")),
        "",
    ]  # fmt: skip
    if "copy_1gib" in c:
        lines.append(f"Ceilings: device-to-device copy of 1 GiB {c['copy_1gib']['gbps']:.0f} GB/s (read + write); torch.matmul 4096³ "
                     + matmul_ceilings(c) + " TFLOP/s.")  # fmt: skip
    else:
        lines.append(f"Ceilings: not measured ({c.get('error') or c.get('skipped') or 'no data'}).")
    lines += [""] + [f"- {ln}" for ln in micro_lines(res)]
    if any(r["status"] == "ok" for r in rows):
        lines += ["", ("**Summary: hetc against PyTorch at the same precision.** torch = eager captured and replayed as a CUDA graph, "
                       "or torch.compile where capture failed (eager in a smoke run): the label says which. The issue's target: "
                       "hetc <= torch at fp32 and at fp16 on every model and batch. *Fastest hetc*: its quickest build that "
                       "passed its check, against torch at the matching precision (tf32 -> torch fp32)."), ""]  # fmt: skip
        lines += summary_table(rows)
    for batch in sorted({r["batch"] for r in rows}):
        brows = [r for r in rows if r["batch"] == batch]
        for hp, tp in (("fp32", "fp32"), ("tf32", "fp32"), ("fp16", "fp16"), ("bf16", "bf16")):
            if not any(r["hetc"].get(hp) for r in brows) and not (hp == tp and any(r["torch"].get(tp) for r in brows)):
                continue
            lines += ["", f"**Batch {batch}: hetc {hp} vs torch {tp}**", ""]
            if hp == "tf32":
                lines += [tf32_note(tf), ""]
            lines += [f"| model | hetc {hp} ms | hetc check | compile s | torch eager | eager + CUDA graph | torch.compile | hetc/graph | hetc/compile | torch check |",
                      "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]  # fmt: skip
            for r in brows:
                if r["status"] == "skipped":
                    lines.append(f"| {r['model']} | skipped: {r.get('reason', '')} | | | | | | | | |")
                    continue
                h, t = r["hetc"].get(hp), r["torch"].get(tp) or {}
                tcheck = next((t[v] for v in ("eager", "graph", "compile") if t.get(v) and "max_rel" in t[v]), t.get("eager"))
                lines.append(
                    f"| {r['model']} | {cell(h)} | {check_cell(h)} | {fmt((h or {}).get('compile_s'))} | {cell(t.get('eager'))} | "
                    f"{cell(t.get('graph'))} | {cell(t.get('compile'))} | {ratio(h, t.get('graph'))} | {ratio(h, t.get('compile'))} | {check_cell(tcheck)} |"
                )
            if any(r.get("status") == "failed" for r in brows):
                lines += [f"- {r['model']}: {r['reason']}" for r in brows if r.get("status") == "failed"]
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


def merge_row(old: dict, new: dict) -> dict:
    """A later row wins; where both ran, entry by entry (hetc per precision, torch per
    precision and variant), so a later partial run adds to an earlier one."""
    if new.get("status") != "ok" or old.get("status") != "ok":
        return new
    out = {**old, **new, "hetc": {**old.get("hetc", {}), **new.get("hetc", {})}, "torch": {}}
    for p in {**old.get("torch", {}), **new.get("torch", {})}:
        out["torch"][p] = {**(old.get("torch", {}).get(p) or {}), **(new.get("torch", {}).get(p) or {})}
    return out


def merge(paths: list[str]) -> dict:
    """Later files win per (model, batch) row (entry by entry where both rows ran), per profile
    and per micro-benchmark precision; run metadata from the first."""
    res = None
    for p in paths:
        r = json.loads(Path(p).read_text())
        if res is None:
            res = r
            continue
        rows = {(x["model"], x["batch"]): x for x in res["models"]}
        for x in r["models"]:  # replaced rows keep their place
            key = (x["model"], x["batch"])
            rows[key] = merge_row(rows[key], x) if key in rows else x
        res["models"] = list(rows.values())
        res["profiles"].update(r["profiles"])
        c = r.get("ceilings") or {}
        if c and not c.get("error") and not c.get("skipped"):
            res["ceilings"] = c
        m = r.get("micro") or {}
        if m and not m.get("error"):
            old = res.get("micro") if not (res.get("micro") or {}).get("error") else {}
            res["micro"] = {**(old or {}), **{k: {**((old or {}).get(k) or {}), **v} if isinstance(v, dict) else v for k, v in m.items()}}
        res["torch_tf32"] = res.get("torch_tf32") or r.get("torch_tf32")
        res["precisions"] = [q for q in ALL_PRECISIONS if q in (res.get("precisions") or ["fp32", "tf32"]) + (r.get("precisions") or [])]
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
    ap.add_argument("--precisions", default=",".join(PRECISIONS), help=f"hetc precisions, a subset of {','.join(ALL_PRECISIONS)}")
    ap.add_argument("--bf16", action="store_true", help="add bf16 (hetc and torch) to --precisions")
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
    precs = [p for p in str(args.precisions).split(",") if p] + (["bf16"] if args.bf16 else [])
    unknown = sorted(set(precs) - set(ALL_PRECISIONS))
    if unknown:
        ap.error(f"unknown precision {', '.join(unknown)} (known: {', '.join(ALL_PRECISIONS)})")
    args.precisions = [p for p in ALL_PRECISIONS if p in precs]
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

"""GPU microbenchmarks for `hetc calibrate`, through PyTorch's CUDA runtime.

hetc has no CUDA backend yet, so the GPU side is measured with torch (cuBLAS GEMMs,
device copies, host<->device copies, an empty-ish kernel launch). Only the standard
library and torch are imported, so this file also runs alone on a GPU machine without
hetc installed:

    python backends/devices/gpu_bench.py            # prints the measurements as JSON

`measure()` returns None (with the reason in `skip_reason()`) when there is no usable
CUDA GPU; `hetc calibrate` then skips the GPU cleanly.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

#: catalog device for a CUDA device name
_NAMES = (("H200", "h200"), ("H100", "h100"), ("A100", "a100"))


def skip_reason() -> str | None:
    """None when a CUDA GPU can be measured, else why not."""
    try:
        import torch
    except Exception:
        return "no GPU measurement: PyTorch is not installed (the GPU is measured through torch's CUDA runtime)"
    try:
        if not torch.cuda.is_available():
            return f"no CUDA GPU visible to torch {torch.__version__}"
    except Exception as exc:  # a broken driver
        return f"CUDA is not usable: {exc}"
    return None


def catalog_name(cuda_name: str) -> str | None:
    for key, name in _NAMES:
        if key in cuda_name:
            return name
    return None


def event_times(fn, runs: int, warmup: int = 3) -> list[float]:
    """Seconds of each of `runs` calls of `fn`, CUDA events around each call on an idle
    GPU (synchronized before the next), after `warmup` untimed calls."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e-3)
    return times


def _time(fn, runs: int) -> float:
    """Median seconds of `fn` over `runs` timed calls (CUDA events), after warm-up."""
    times = sorted(event_times(fn, runs))
    return times[len(times) // 2]


def measure(runs: int = 20) -> dict[str, Any] | None:
    if skip_reason() is not None:
        return None
    import torch

    dev = torch.device("cuda", 0)
    props = torch.cuda.get_device_properties(dev)
    out: dict[str, Any] = {
        "cuda_name": props.name,
        "device": catalog_name(props.name),
        "memory_bytes": int(props.total_memory),
        "torch": torch.__version__,
    }
    gemm: dict[str, Any] = {}
    n = 8192
    for label, dtype, tf32 in (
        ("float32", torch.float32, False), ("tf32", torch.float32, True), ("float16", torch.float16, False),
        ("bfloat16", torch.bfloat16, False),
    ):  # fmt: skip
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(n, n, device=dev, dtype=dtype)
        b = torch.randn(n, n, device=dev, dtype=dtype)
        t = _time(lambda: torch.mm(a, b), runs)
        gemm[label] = {"n": n, "seconds": t, "flops_per_s": 2.0 * n**3 / t}
        del a, b
    torch.backends.cuda.matmul.allow_tf32 = False
    out["gemm"] = gemm
    # device memory: copy 2 GiB (reads 1 + writes 1)
    nbytes = 1 << 30
    x = torch.empty(nbytes // 4, device=dev, dtype=torch.float32).fill_(1.0)
    y = torch.empty_like(x)
    t = _time(lambda: y.copy_(x), runs)
    out["copy"] = {"bytes": 2 * nbytes, "seconds": t, "bandwidth_Bps": 2 * nbytes / t}
    # elementwise add, the roofline's kind of memory-bound op (reads 2, writes 1)
    z = torch.empty_like(x)
    t = _time(lambda: torch.add(x, y, out=z), runs)
    out["add"] = {"bytes": 3 * nbytes, "seconds": t, "bandwidth_Bps": 3 * nbytes / t}
    del x, y, z
    # launch overhead: a 1-element add, timed on the host end to end (launch + sync)
    import time

    s = torch.ones(1, device=dev)
    for _ in range(100):
        s.add_(1.0)
    torch.cuda.synchronize()
    k = 2000
    t0 = time.perf_counter()
    for _ in range(k):
        s.add_(1.0)
    torch.cuda.synchronize()
    out["launch"] = {"kernels": k, "seconds_per_kernel": (time.perf_counter() - t0) / k}
    # host <-> device over the bus, pinned host memory, 256 MiB each way
    nb = 256 << 20
    h = torch.empty(nb // 4, dtype=torch.float32).pin_memory()
    d = torch.empty(nb // 4, device=dev, dtype=torch.float32)
    t = _time(lambda: d.copy_(h, non_blocking=True), max(5, runs // 2))
    out["h2d"] = {"bytes": nb, "seconds": t, "bandwidth_Bps": nb / t}
    t = _time(lambda: h.copy_(d, non_blocking=True), max(5, runs // 2))
    out["d2h"] = {"bytes": nb, "seconds": t, "bandwidth_Bps": nb / t}
    # small-transfer latency: 4 bytes host -> device, synchronous
    h1 = torch.ones(1).pin_memory()
    d1 = torch.empty(1, device=dev)
    k = 500
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(k):
        d1.copy_(h1)
        torch.cuda.synchronize()
    out["h2d_latency_s"] = (time.perf_counter() - t0) / k
    return out


def kernel_suite(runs: int = 20) -> list[dict[str, Any]]:
    """Measured times of single ops at a range of sizes (torch on the GPU), for checking
    the roofline's GPU predictions: each row names the ONNX op type, the shapes and the
    dtype so hetc can count its FLOPs and bytes (`hetc.backends.calibrate.gpu_suite_rows`)."""
    if skip_reason() is not None:
        return []
    import torch
    import torch.nn.functional as F

    dev = torch.device("cuda", 0)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows: list[dict[str, Any]] = []

    def add(op: str, shapes: list[list[int]], out: list[int], dtype: str, fn, **attrs: Any) -> None:
        rows.append({"op": op, "in": shapes, "out": out, "dtype": dtype, "attrs": attrs, "seconds": _time(fn, runs)})

    for dtype_name, dt in (("float32", torch.float32), ("float16", torch.float16)):
        for m, n, k in ((64, 64, 64), (256, 256, 256), (1024, 1024, 1024), (4096, 4096, 4096), (8192, 1024, 4096),
                        (16, 4096, 4096), (1, 4096, 4096)):  # fmt: skip
            a, b = torch.randn(m, k, device=dev, dtype=dt), torch.randn(k, n, device=dev, dtype=dt)
            add("MatMul", [[m, k], [k, n]], [m, n], dtype_name, lambda a=a, b=b: torch.mm(a, b))
        for numel in (1 << 10, 1 << 16, 1 << 20, 1 << 24, 1 << 27):
            x, y = torch.randn(numel, device=dev, dtype=dt), torch.randn(numel, device=dev, dtype=dt)
            add("Add", [[numel], [numel]], [numel], dtype_name, lambda x=x, y=y: torch.add(x, y))
            add("Relu", [[numel]], [numel], dtype_name, lambda x=x: torch.relu(x))
            add("Exp", [[numel]], [numel], dtype_name, lambda x=x: torch.exp(x))
        for rows_, cols in ((128, 64), (4096, 1024), (16384, 4096)):
            x = torch.randn(rows_, cols, device=dev, dtype=dt)
            add("Softmax", [[rows_, cols]], [rows_, cols], dtype_name, lambda x=x: torch.softmax(x, -1), axis=-1)
            add("ReduceSum", [[rows_, cols]], [rows_, 1], dtype_name, lambda x=x: x.sum(-1, keepdim=True))
            w = torch.ones(cols, device=dev, dtype=dt)
            add("LayerNormalization", [[rows_, cols], [cols], [cols]], [rows_, cols], dtype_name,
                lambda x=x, w=w: F.layer_norm(x, (cols,), w, w))  # fmt: skip
        for nb, c, hw, m_, kk in ((1, 3, 224, 64, 7), (1, 64, 56, 64, 3), (8, 64, 56, 64, 3), (32, 256, 14, 256, 3),
                                   (1, 512, 7, 512, 3), (8, 256, 28, 512, 1)):  # fmt: skip
            x = torch.randn(nb, c, hw, hw, device=dev, dtype=dt)
            w = torch.randn(m_, c, kk, kk, device=dev, dtype=dt)
            pad = kk // 2
            add("Conv", [[nb, c, hw, hw], [m_, c, kk, kk]], [nb, m_, hw, hw], dtype_name,
                lambda x=x, w=w, pad=pad: F.conv2d(x, w, padding=pad), kernel_shape=[kk, kk])  # fmt: skip
            add("MaxPool", [[nb, c, hw, hw]], [nb, c, hw // 2, hw // 2], dtype_name,
                lambda x=x: F.max_pool2d(x, 2), kernel_shape=[2, 2])  # fmt: skip
    return rows


def profile_entries(m: dict[str, Any]) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """(catalog device, its overrides, the link overrides) from `measure()`'s numbers."""
    name = m.get("device")
    if name is None:
        return None, {}, {}
    peak = {k: m["gemm"][k]["flops_per_s"] for k in ("float32", "tf32", "float16", "bfloat16") if k in m["gemm"]}
    mem = re.sub(r"[^a-z0-9]", "", {"h100": "hbm3", "h200": "hbm3e", "a100": "hbm2e"}.get(name, "hbm"))
    dev = {
        "launch_overhead_s": m["launch"]["seconds_per_kernel"],
        "peak_flops": peak,
        "memory": {mem: {"bandwidth_Bps": m["add"]["bandwidth_Bps"]}},
    }
    link_name = {"h100": "pcie5-h100", "h200": "pcie5-h200", "a100": "pcie4-a100"}[name]
    link = {link_name: {"bandwidth_Bps": min(m["h2d"]["bandwidth_Bps"], m["d2h"]["bandwidth_Bps"]),
                        "latency_s": m["h2d_latency_s"]}}  # fmt: skip
    return name, dev, link


if __name__ == "__main__":
    why = skip_reason()
    if why:
        print(json.dumps({"skipped": why}))
        sys.exit(0)
    out = measure()
    if "--suite" in sys.argv:
        out["suite"] = kernel_suite()
    print(json.dumps(out, indent=1))

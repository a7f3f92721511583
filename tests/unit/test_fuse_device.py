"""hetc-fuse priced per device: the catalog's bandwidth and launch overhead, the CUDA
pipeline's `device=h100`, and hetc-fuse-horizontal's device-dependent decision."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from hetc.api import _with_options, compile_module
from hetc.backends.devices import load_catalog
from hetc.backends.targets import TARGETS
from hetc.diagnostics import HetcError
from hetc.passes.fuse import Price, plan_fusion
from hetc.passes.fuse_horizontal import gain_seconds, sibling_sets


def _main(model):
    module = compile_module(model)
    return next(op for op in module.ops if getattr(op, "sym_name", None) and op.sym_name.data == "main")


def test_prices_come_from_the_catalog():
    cat = load_catalog()
    gpu, cpu = Price.of("h100"), Price.of("cpu")
    assert (gpu.bandwidth_Bps, gpu.launch_s) == (cat.device("h100").bandwidth, cat.device("h100").launch_overhead_s)
    # the host's C kernels stream at the [kernels] table's measured rate
    assert cpu.bandwidth_Bps == cat.device("cpu").kernels["stream_bandwidth"]
    assert cpu.launch_s == cat.device("cpu").launch_overhead_s
    assert gpu.launch_bytes > 1000 * cpu.launch_bytes  # a GPU launch is worth far more traffic


def test_unknown_device_is_a_user_error():
    with pytest.raises(HetcError, match="unknown device 'h1000'"):
        Price.of("h1000")


def test_gpu_prices_predict_the_gpu_time():
    from test_c_fusion import _rows_model

    fn = _main(_rows_model())
    cpu = plan_fusion(fn, "greedy", device="cpu")
    gpu = plan_fusion(fn, "greedy", device="h100")
    assert [[o.node_name for o in g] for g in cpu.groups] == [[o.node_name for o in g] for g in gpu.groups]
    p = Price.of("h100")
    assert gpu.predicted_time_s == pytest.approx(gpu.predicted_bytes / p.bandwidth_Bps + len(gpu.groups) * p.launch_s)
    assert gpu.predicted_time_s != pytest.approx(cpu.predicted_time_s)
    # every mode's whole-graph prediction, on the same device
    assert set(gpu.predictions) == {"none", "greedy", "ilp"}
    assert gpu.predictions["none"]["kernels"] > gpu.predictions["greedy"]["kernels"]
    assert gpu.predictions["greedy"]["predicted_time_s"] == gpu.predicted_time_s
    # per kernel: a roofline time on the device and the bytes its fusion saved
    fused = [d for d in gpu.details if len(d["nodes"]) > 1]
    assert fused and all(d["bytes_saved"] > 0 and d["predicted_time_s"] >= p.launch_s for d in fused)


def test_cuda_pipeline_prices_on_the_gpu_and_keeps_the_mode_option():
    passes = TARGETS["cuda"].passes
    assert "hetc-fuse{device=h100}" in passes and "hetc-fuse-horizontal{device=h100}" in passes
    assert _with_options("hetc-fuse{device=h100}", "mode=greedy") == "hetc-fuse{mode=greedy,device=h100}"
    assert _with_options("hetc-fuse", "mode=none") == "hetc-fuse{mode=none}"
    # a target's own option wins over the caller's
    assert _with_options("hetc-choose-layout{layout=nchw}", "layout=nhwc") == "hetc-choose-layout{layout=nchw}"


def test_horizontal_gain_depends_on_the_device():
    from test_c_fusion import _qkv_model

    sets = sibling_sets(_main(_qkv_model()))
    assert [[s.matmul.node_name for s in ss] for ss in sets] == [["q", "k", "v"]]
    # the Split is free: on the H100 two launches and two reads of x [2, 8, 16] are saved;
    # on the CPU the lowering keeps one GEMM call per range, so nothing changes
    h100 = Price.of("h100")
    assert gain_seconds(sets[0], h100) == pytest.approx(2 * (h100.launch_s + 2 * 8 * 16 * 4 / h100.bandwidth_Bps))
    assert gain_seconds(sets[0], Price.of("cpu")) == 0.0


def test_horizontal_modes():
    from test_c_fusion import _qkv_model

    from hetc.passes.fuse_horizontal import fuse_horizontal

    with pytest.raises(HetcError, match="unknown mode 'sometimes'"):
        fuse_horizontal(compile_module(_qkv_model()), "cpu", "sometimes")
    module = compile_module(_qkv_model())
    assert fuse_horizontal(module, "cpu", "off") == []
    entries = fuse_horizontal(module, "cpu", "always")
    assert entries[0]["fused"] and entries[0]["into"] == "q+2"
    ops = [op.OP_TYPE for op in _main_of(module).body.block.ops if hasattr(op, "OP_TYPE")]
    assert ops.count("MatMul") == 1 and ops.count("Split") == 1


def _main_of(module):
    return next(op for op in module.ops if getattr(op, "sym_name", None) and op.sym_name.data == "main")

"""Partitioned models (`--targets`, `hetc.partitioned`): placed op by op over several devices,
each partition compiled by its device's target, the `sched` plan run by the runtime.

Here (no GPU) the partitions run on the CPU (C) and on the FPGA through the HLS target's
g++ C-simulation, which is real generated code for both; CPU+CUDA plans are built with
nvcc and run where a GPU exists (the device machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hetc
from hetc.diagnostics import HetcError
from hetc.partitioned import build_partitioned
from cuda_check import HAS_GPU, HAS_NVCC
from ort_check import ort_outputs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _feeds(sess, seed=0):
    rng = np.random.default_rng(seed)
    return {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in sess.manifest["inputs"]}


def _close(got, want, tol=1e-4):
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert float(np.max(np.abs(g - w))) <= tol * max(float(np.max(np.abs(w))), 1e-30)


def test_cpu_fpga_partitions_match_onnxruntime(tmp_path):
    # pinning MaxPool and MatMul to the FPGA forces CPU -> FPGA -> CPU round trips
    out = build_partitioned(EXAMPLES / "cnn.onnx", tmp_path / "p", ["cpu", "u250"], pins={"MaxPool": "u250", "MatMul": "u250"})
    sess = hetc.Session(out)
    feeds = _feeds(sess)
    _close(sess.run(feeds), ort_outputs(EXAMPLES / "cnn.onnx", feeds))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"] == "partitioned"
    targets = {p["target"] for p in manifest["parts"]}
    assert targets == {"c", "hls"}, manifest["parts"]
    plan = (out / "plan.mlir").read_text()
    assert 'sched.copy' in plan and 'on "u250"' in plan and 'sched.wait on "u250"' in plan
    # every partition is a complete output folder of its target
    for p in manifest["parts"]:
        assert json.loads((out / p["name"] / "manifest.json").read_text())["target"] == p["target"]
    report = json.loads((out / "report.json").read_text())
    pinned_ops = [o for o in report["ops"] if o["op_type"] == "MaxPool"]
    assert report["pins"] == ["MaxPool=u250", "MatMul=u250"] and pinned_ops
    # the launches of the last run, each named with its device and target
    labels = [label for label, _ in sess._runner.last_times]
    assert any(label.endswith("on u250 (hls)") for label in labels)


def test_transformer_block_partitions_match(tmp_path):
    out = build_partitioned(EXAMPLES / "transformer_block.onnx", tmp_path / "t", ["cpu", "u250"], pins={"Exp": "u250", "ReduceSum": "u250"})
    sess = hetc.Session(out)
    feeds = _feeds(sess, seed=3)
    _close(sess.run(feeds), ort_outputs(EXAMPLES / "transformer_block.onnx", feeds))


def test_single_device_plan_is_one_launch(tmp_path):
    out = build_partitioned(EXAMPLES / "cnn.onnx", tmp_path / "one", ["cpu"])
    plan = (out / "plan.mlir").read_text()
    assert plan.count("sched.launch") == 1 and "sched.copy" not in plan


def test_bad_partition_requests_are_clear_errors(tmp_path):
    with pytest.raises(HetcError, match="has no host"):
        build_partitioned(EXAMPLES / "cnn.onnx", tmp_path / "a", ["u250"])
    with pytest.raises(HetcError, match="pin Gemmm: no node or op type") as err:
        build_partitioned(EXAMPLES / "cnn.onnx", tmp_path / "b", ["cpu", "u250"], pins={"Gemmm": "u250"})
    assert "MatMul" in err.value.hint
    with pytest.raises(HetcError, match="'h100' is not one of the devices"):
        build_partitioned(EXAMPLES / "cnn.onnx", tmp_path / "c", ["cpu", "u250"], pins={"MatMul": "h100"})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_cli_run_with_targets_checks_against_onnxruntime(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "hetc.cli", "run", str(EXAMPLES / "cnn.onnx"), "--targets", "cpu,u250",
         "--pin", "MaxPool=u250", "--check", "--profile", "2", "-q"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout and "on u250 (hls)" in r.stdout and "predicted" in r.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "hetc.cli", "compile", str(EXAMPLES / "cnn.onnx"), "--targets", "cpu,u250",
         "--pin", "MaxPool", "-o", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert bad.returncode != 0 and "expected NODE=DEVICE" in bad.stderr and not (tmp_path / "x").exists()


@pytest.mark.skipif(not HAS_NVCC, reason="no nvcc")
@pytest.mark.parametrize("model", ["cnn", "resnet18"])
def test_cpu_gpu_partitions(model, tmp_path):
    """CPU + GPU: built here with nvcc; run and checked against onnxruntime where a GPU is."""
    if model == "cnn":
        path, feeds_of, zoo = EXAMPLES / "cnn.onnx", None, None
    else:
        pytest.importorskip("torch")
        from tests.models import zoo

        path = zoo.export("resnet18", Path(os.environ.get("HETC_CACHE", "/tmp/hetc_cache")) / "models")
        feeds_of = zoo.make_inputs("resnet18", seed=0)
    # the classifier on the CPU, the convolutions wherever the scheduler puts them
    shapes = zoo.input_shapes(feeds_of) if feeds_of else None
    out = build_partitioned(path, tmp_path / "p", ["cpu", "h100"], shapes, pins={"MatMul": "cpu"})
    manifest = json.loads((out / "manifest.json").read_text())
    assert {p["target"] for p in manifest["parts"]} == {"c", "cuda"}

    if not HAS_GPU:
        return
    sess = hetc.Session(out)
    feeds = feeds_of or _feeds(sess)
    _close(sess.run(feeds), ort_outputs(path, feeds), tol=1e-3)

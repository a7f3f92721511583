"""benchmarks/cuda_models.py without a GPU: its smoke mode end to end (hetc's C target, torch
eager on the CPU) records the fp16 columns, `--write` renders them into a copy of RESULTS.md,
the summary's verdict follows the numbers, a later partial JSON merges into an earlier one,
and models whose zoo export has a static batch axis get an export at the batch asked for."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "cuda_models.py"


def _bench():
    spec = importlib.util.spec_from_file_location("cuda_models_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _timed(ms: float) -> dict:
    return {"status": "ok", "median_ms": ms, "p10_ms": ms, "p90_ms": ms, "n": 3, "ok": True, "max_abs": 1e-4, "max_rel": 1e-4, "tol": 2e-2}


def _row(model: str, batch: int, hetc: dict, torch: dict) -> dict:
    return {"model": model, "batch": batch, "status": "ok", "hetc": hetc, "torch": torch}


def _res(rows: list[dict], command: str = "python benchmarks/cuda_models.py --json a.json", **extra) -> dict:
    return {"command": command, "date": "2026-01-01 00:00:00 UTC", "hetc_target": "cuda", "torch_device": "cuda", "runs": 3,
            "warmup": 1, "versions": {"torch": "t", "cuda": "c", "onnxruntime": "o"}, "gpu": "GPU", "ceilings": {},
            "micro": {}, "models": rows, "profiles": {}, **extra}  # fmt: skip


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_smoke_run_records_fp16_and_write_renders_it(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "smoke.json"
    cmd = [sys.executable, str(SCRIPT), "--hetc-target", "c", "--torch-device", "cpu", "--models", "resnet18", "--batches", "1",
           "--runs", "2", "--warmup", "1", "--no-profile", "--quiet", "--json", str(out)]  # fmt: skip
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["precisions"] == ["fp32", "tf32", "fp16"] and res["tolerances"]["fp16"] == 2e-2
    (row,) = res["models"]
    assert row["status"] == "ok", row
    h16, t16 = row["hetc"]["fp16"], row["torch"]["fp16"]["eager"]
    # timed and checked at the fp16 tolerance, or a recorded reason why the target cannot
    assert ("median_ms" in h16 and h16["ok"] and h16["tol"] == 2e-2 and h16["max_rel"] <= 2e-2) or (h16["status"] == "skipped" and h16["reason"])
    assert t16["tol"] == 2e-2 and "median_ms" in t16
    # fp16 storage is not bit-identical to fp32: a nonzero error says a narrow build really ran
    assert h16.get("max_rel", 1.0) > 0
    assert row["hetc"]["tf32"]["status"] == "skipped" and "tf32" in row["hetc"]["tf32"]["reason"]
    assert "median_ms" in row["hetc"]["fp32"] and row["hetc"]["fp32"]["max_rel"] <= 1e-3
    gemm16 = res["micro"]["gemm"]["fp16"]
    assert ("median_ms" in gemm16 and gemm16["max_rel"] <= 2e-2) or gemm16["status"] == "skipped"
    assert "f32" in res["micro"]["eltwise"]["fp16"]["bytes_counted"]
    assert "h16" in p.stdout and "verdict" in p.stdout

    md = tmp_path / "RESULTS.md"
    shutil.copy(ROOT / "benchmarks" / "RESULTS.md", md)
    before = md.read_text()
    bench = _bench()
    w = subprocess.run([sys.executable, str(SCRIPT), "--write", str(out), "--output", str(md)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert w.returncode == 0, w.stderr[-2000:]
    text = md.read_text()
    # only the text between the markers changed
    assert text.split(bench.BEGIN)[0] == before.split(bench.BEGIN)[0]
    assert text.split(bench.END)[1] == before.split(bench.END)[1]
    block = text.split(bench.BEGIN)[1].split(bench.END)[0]
    assert "**Batch 1: hetc fp16 vs torch fp16**" in block
    assert "| model | batch | hetc fp32 | torch fp32 | fp32 ratio | hetc fp16 | torch fp16 | fp16 ratio |" in block
    summary = next(ln for ln in block.splitlines() if ln.startswith("| resnet18 | 1 |"))
    assert summary.count("|") == 13 and ("meets target" in summary or "not met" in summary or "incomplete" in summary)
    fp16_row = block.split("**Batch 1: hetc fp16 vs torch fp16**")[1].split("\n| resnet18 |")[1].split("\n")[0]
    assert (f"{h16['median_ms']:.3f}" if "median_ms" in h16 else "skipped") in fp16_row


def test_verdict_and_summary_follow_the_numbers():
    bench = _bench()
    fails = {"status": "failed", "reason": "RuntimeError: capture"}
    meets = _row("bert_mini", 1, {"fp32": _timed(0.08), "fp16": _timed(0.05)},
                 {"fp32": {"graph": fails, "compile": _timed(0.4)}, "fp16": {"graph": fails, "compile": _timed(0.1)}})  # fmt: skip
    slow16 = _row("vit_tiny", 32, {"fp32": _timed(0.2), "tf32": _timed(0.15), "fp16": _timed(0.3)},
                  {"fp32": {"graph": _timed(0.25), "compile": _timed(0.1)}, "fp16": {"graph": _timed(0.2)}})  # fmt: skip
    no16 = _row("resnet18", 1, {"fp32": _timed(0.1), "fp16": {"status": "skipped", "reason": "no fp16"}}, {"fp32": {"graph": _timed(0.3)}})
    s = bench.summary(meets)
    assert s["verdict"] == "meets target"
    assert s["pairs"]["fp16"][1] == "compile"  # capture failed: torch.compile is the bar
    s = bench.summary(slow16)
    assert s["verdict"].startswith("not met") and "fp16 1.50x graph" in s["verdict"] and "fp32" not in s["verdict"]
    assert s["best"][:3] == ("tf32", slow16["hetc"]["tf32"], "fp32")  # fastest hetc vs torch fp32
    assert bench.summary(no16)["verdict"] == "incomplete: hetc fp16 skipped"
    no16["hetc"]["fp16"] = _timed(0.05)
    assert bench.summary(no16)["verdict"] == "incomplete: no torch fp16 time"
    lines = bench.summary_table([slow16, meets])
    assert lines[2].startswith("| bert_mini | 1 |") and lines[3].startswith("| vit_tiny | 32 |")  # batch, then model order
    assert "| 0.300 | 0.200 (graph) | 1.50 |" in lines[3] and "| tf32 0.150 | fp32 0.250 (graph) | 0.60 |" in lines[3]


def test_merge_adds_a_later_fp16_run_to_an_old_schema_json(tmp_path):
    bench = _bench()
    # the schema before fp16 columns: hetc fp32/tf32, torch fp32/fp16, no precisions key
    old = _res([_row("resnet18", 1, {"fp32": _timed(0.127), "tf32": _timed(0.138)}, {"fp32": {"graph": _timed(0.307)}, "fp16": {"graph": _timed(0.354)}}),
                {"model": "vit_tiny", "batch": 32, "status": "skipped", "reason": "batch axis is static in the export", "hetc": {}, "torch": {}}],
               micro={"gemm": {"shape": [4096, 4096], "fp32": _timed(6.1) | {"tflops": 22.5}}},
               ceilings={"matmul_fp16": {"tflops": 700.0}, "copy_1gib": {"gbps": 3000.0}})  # fmt: skip
    new = _res([_row("resnet18", 1, {"fp16": _timed(0.2)}, {"fp16": {"graph": _timed(0.25)}}),
                _row("vit_tiny", 32, {"fp32": _timed(1.0), "fp16": _timed(0.5)}, {"fp32": {"graph": _timed(2.0)}, "fp16": {"graph": _timed(0.6)}})],
               command="python benchmarks/cuda_models.py --precisions fp16 --json b.json", precisions=["fp16"],
               micro={"gemm": {"shape": [4096, 4096], "fp16": _timed(0.5) | {"tflops": 275.0}}})  # fmt: skip
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for p, r in zip(paths, (old, new)):
        p.write_text(json.dumps(r))
    res = bench.merge([str(p) for p in paths])
    r18 = next(r for r in res["models"] if r["model"] == "resnet18")
    assert set(r18["hetc"]) == {"fp32", "tf32", "fp16"} and r18["torch"]["fp16"]["graph"]["median_ms"] == 0.25
    assert r18["torch"]["fp32"]["graph"]["median_ms"] == 0.307  # kept from the first file
    assert [r["model"] for r in res["models"]] == ["resnet18", "vit_tiny"] and res["models"][1]["status"] == "ok"
    assert set(res["micro"]["gemm"]) == {"shape", "fp32", "fp16"} and "--precisions fp16" in res["command"]
    lines = bench.micro_lines(res)
    assert any("hetc fp16" in ln and "0.39x torch.matmul fp16" in ln and "NOT met" in ln for ln in lines)
    md = tmp_path / "R.md"
    md.write_text("# results\n\nabove\n")
    bench.write(res, md)
    text = md.read_text()
    assert text.startswith("# results\n\nabove\n") and text.count(bench.BEGIN) == 1
    assert "**Batch 32: hetc fp16 vs torch fp16**" in text and "**Batch 1: hetc tf32 vs torch fp32**" in text
    assert "| resnet18 | 1 | 0.127 | 0.307 (graph) | 0.41 | 0.200 | 0.250 (graph) | 0.80 |" in text
    bench.write(res, md)  # idempotent between the markers
    assert md.read_text() == text


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_static_batch_models_get_their_own_export(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    import onnx
    import onnxruntime as ort

    from tests.models import zoo

    bench = _bench()
    monkeypatch.setenv("HETC_CACHE", str(tmp_path))
    zoo_path = zoo.export("vit_tiny", bench.cache_dir())
    path, feeds, how = bench.model_at_batch(zoo, "vit_tiny", 3, zoo_path)
    assert path != zoo_path and path.parent == bench.cache_dir() and "static batch 3" in how["export"]
    dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [3, 3, 32, 32] and feeds["x"].shape == (3, 3, 32, 32)
    # the zoo's own file is untouched (batch 1), and batch 1 still uses it with the zoo's inputs
    assert onnx.load(str(zoo_path)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    p1, f1, _ = bench.model_at_batch(zoo, "vit_tiny", 1, zoo_path)
    assert p1 == zoo_path and np.array_equal(f1["x"], zoo.make_inputs("vit_tiny", seed=0)["x"])
    # same module and weights: onnxruntime on the batch-3 export equals torch on the same inputs
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    with torch.no_grad():
        y = bench.torch_np(zoo.build("vit_tiny")(*bench.to_torch(feeds, ["x"], "cpu", "fp32")))
    assert bench.check(y, ref, 1e-4)["ok"]
    assert os.path.getmtime(path) == os.path.getmtime(bench.model_at_batch(zoo, "vit_tiny", 3, zoo_path)[0])  # cached

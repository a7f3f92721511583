"""hetc's HLS target against hls4ml on the same small models (issue 9's comparison).

    pip install -r benchmarks/requirements.txt      # hls4ml's frontend deps (h5py, quantizers, ...)
    python benchmarks/hls_vs_hls4ml.py              # table on stdout, JSON in /tmp/hls_vs_hls4ml/
    python benchmarks/hls_vs_hls4ml.py --models jet --reuse 1 --samples 50

For each model (the jet-tagging MLP 16-64-32-32-5 hls4ml is known for, a small dense
model 32-16-10, a LeNet-style CNN on 1x14x14), built in PyTorch with a fixed seed and
exported to ONNX:

* accuracy: hls4ml's C simulation (its `compile()` + `predict()`, io_parallel, its default
  ap_fixed<16,6>) and hetc's (`hetc.compile(..., target="hls")` at ap_fixed<16,6>, g++
  C simulation) on the same seeded inputs, each against onnxruntime
  (max|y - ort| / max|ort| over all samples);
* latency and resources: hls4ml gives none without vendor synthesis (not available here),
  so its design is estimated with an analytic model of ITS architecture
  (`hetc.backends.hls.hls4ml_model`, documented there), from the same operator table hetc's
  estimate uses (`hetc.backends.hls.estimate`). BOTH COLUMNS ARE ANALYTIC ESTIMATES.

hetc rows: "searched" is the pragma search under 80% of the part (whole top: m_axi ports
and the copies of the I/O included); "core" leaves the m_axi interface out, as hls4ml's
io_parallel top has none (its I/O are ap_vld wires); "at hls4ml RF=R resources" is the
search capped at hls4ml's estimated DSP/LUT/FF/BRAM (core), the issue's "same or better
latency at equal or lower resources" test.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

PRECISION = "ap_fixed<16,6>"
MODELS = ("jet", "dense", "lenet")


def build_model(name: str):
    """(torch module, input shape without batch) with seeded weights."""
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    if name == "jet":
        return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                             nn.Linear(32, 5)).eval(), (16,)
    if name == "dense":
        return nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10)).eval(), (32,)
    if name == "lenet":
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 10)).eval(), (1, 14, 14)
    raise SystemExit(f"unknown model {name} (known: {', '.join(MODELS)})")


def export_onnx(model, shape, path: Path) -> None:
    import torch

    with contextlib.redirect_stderr(io.StringIO()):  # the legacy exporter's deprecation warning
        torch.onnx.export(model, torch.zeros(1, *shape), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], opset_version=17)


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got.reshape(want.shape) - want)) / np.max(np.abs(want)))


def run_hls4ml(model, shape, rf: int, x: np.ndarray, part: dict, work: Path) -> dict:
    """Convert with hls4ml (io_parallel, Vitis backend, ap_fixed<16,6>, reuse factor rf), run its
    C simulation on x, and estimate its design with the analytic model."""
    import hls4ml
    from hetc.backends.hls.estimate import Precision
    from hetc.backends.hls.hls4ml_model import design_estimate

    t0 = time.time()
    with contextlib.redirect_stdout(io.StringIO()):
        cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=shape, granularity="name", backend="Vitis",
                                                     default_precision=PRECISION, default_reuse_factor=rf)
        hm = hls4ml.converters.convert_from_pytorch_model(model, hls_config=cfg, output_dir=str(work), backend="Vitis",
                                                          io_type="io_parallel", part=part["device"])
        hm.compile()
        y = hm.predict(np.ascontiguousarray(x))
    keys = ("n_in", "n_out", "reuse_factor", "n_chan", "n_filt", "filt_height", "filt_width", "out_height",
            "out_width", "n_partitions", "pool_height", "pool_width")
    layers = [{"name": lay.name, "class_name": lay.class_name,
               **{k: lay.get_attr(k) for k in keys if lay.get_attr(k) is not None}} for lay in hm.get_layers()]
    est = design_estimate(layers, Precision.parse(PRECISION), part["clock_mhz"])
    return {"y": np.asarray(y), "estimate": est, "layers": layers, "seconds": round(time.time() - t0, 1),
            "reuse": sorted({int(lay.get("reuse_factor", rf)) for lay in layers})}


def run_hetc(onnx_path: Path, x: np.ndarray, part_key: str, out: Path, precision: str = PRECISION,
             error_bound: float | None = None) -> dict:
    """hetc's design at `precision` (ap_fixed<16,6>, or auto under `error_bound`): the g++ C
    simulation on every sample, the report's estimates, the lowered module's Design for capped
    searches, and the precision as an object (per layer for auto)."""
    import hetc
    from hetc.api import compile_module
    from hetc.backends.hls.estimate import Precision, analyze
    from hetc.backends.hls.precision import LayerPrecision, array_owners
    from hetc.backends.targets import TARGETS
    from hetc.pipeline import run_pipeline

    t0 = time.time()
    sess = hetc.compile(onnx_path, target="hls", output_dir=out, target_options={
        "part": part_key, "precision": precision, "error_bound": error_bound})
    name = sess.input_names[0]
    y = np.stack([sess.run({name: xi[None]})[0][0] for xi in x])
    report = json.loads((out / "report.json").read_text())["hls"]
    module = compile_module(onnx_path)
    run_pipeline(module, list(TARGETS["hls"].passes))
    prec = Precision.parse(PRECISION)
    if precision == "auto":
        fx = report["fixed_point"]
        prec = LayerPrecision(Precision.parse(fx["input_precision"]),
                              tuple((lay["kernel"], Precision.parse(lay["precision"])) for lay in fx["per_layer"]),
                              tuple(sorted(array_owners(module).items())))
    return {"y": y, "report": report, "design": analyze(module), "prec": prec, "seconds": round(time.time() - t0, 1)}


def core(design):
    """hetc's design without the m_axi interface (hls4ml's io_parallel top has none): no copies
    of the I/O over the bus, no s_axilite control, and the inputs are the ports themselves
    (hls4ml's ap_vld wires, which its estimate does not count either)."""
    return dataclasses.replace(design, io_words=0, io_ports=0, wires={a for a in design.arrays if a.startswith("in")})


def compare(name: str, reuses: list[int], samples: int, part_key: str, root: Path) -> dict:
    import onnxruntime as ort
    from hetc.backends.hls.estimate import (
        Precision,
        estimate,
        resolve_part,
        search_pragmas,
    )

    part_key, part = resolve_part(part_key)
    prec = Precision.parse(PRECISION)
    model, shape = build_model(name)
    root.mkdir(parents=True, exist_ok=True)
    onnx_path = root / f"{name}.onnx"
    export_onnx(model, shape, onnx_path)
    x = np.random.default_rng(1).standard_normal((samples, *shape)).astype(np.float32)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    want = np.concatenate([sess.run(None, {"x": xi[None]})[0] for xi in x])
    ours = run_hetc(onnx_path, x, part_key, root / f"{name}-hetc")
    rows = []
    hr = ours["report"]
    for label, est in (("hetc searched (whole top, m_axi)", hr["estimate"]), ("hetc default pragmas (whole top)",
                                                                              hr["default"]["estimate"])):
        rows.append({"design": label, **{k: est[k] for k in ("latency_cycles", "dsp", "bram", "lut", "ff")},
                     "rel_err_vs_ort": rel_err(ours["y"], want)})
    design = core(ours["design"])
    searched, _ = search_pragmas(design, part, prec, time_limit=5.0, seed=0)
    est = estimate(design, searched, part, prec)
    rows.append({"design": "hetc searched (core, no m_axi)", **{k: est[k] for k in ("latency_cycles", "dsp", "bram",
                                                                                      "lut", "ff")},
                 "rel_err_vs_ort": rel_err(ours["y"], want)})
    theirs_by_rf = {}
    for rf in reuses:
        theirs_by_rf[rf] = theirs = run_hls4ml(model, shape, rf, x, part, root / f"{name}-hls4ml-rf{rf}")
        te = theirs["estimate"]
        rows.append({"design": f"hls4ml io_parallel RF={rf} (analytic)", "latency_cycles": te["latency_cycles"],
                     "interval_cycles": te["interval_cycles"], **{k: te[k] for k in ("dsp", "bram", "lut", "ff")},
                     "rel_err_vs_ort": rel_err(theirs["y"], want), "hls4ml_reuse": theirs["reuse"]})
        caps = {k: te[k] for k in ("dsp", "lut", "ff", "bram")}
        capped, info = search_pragmas(design, part, prec, time_limit=5.0, seed=0, caps=caps)
        ce = estimate(design, capped, part, prec)
        within = all(ce[k] <= caps[k] for k in caps)
        rows.append({"design": f"hetc core at hls4ml RF={rf} resources", **{k: ce[k] for k in ("latency_cycles", "dsp",
                                                                                               "bram", "lut", "ff")},
                     "rel_err_vs_ort": rel_err(ours["y"], want), "within_caps": within,
                     "meets_target": within and ce["latency_cycles"] <= te["latency_cycles"],
                     "solver": info["status"]})
    # hetc with per-layer precision searched under hls4ml's own error (vs its float C-sim) at hls4ml's resources
    bound = max(rel_err(t["y"], want) for t in theirs_by_rf.values())
    auto = run_hetc(onnx_path, x, part_key, root / f"{name}-hetc-auto", "auto", bound)
    widths = ", ".join(lay["precision"] for lay in auto["report"]["fixed_point"]["per_layer"])
    for rf, theirs in theirs_by_rf.items():
        te = theirs["estimate"]
        caps = {k: te[k] for k in ("dsp", "lut", "ff", "bram")}
        capped, info = search_pragmas(core(auto["design"]), part, auto["prec"], time_limit=5.0, seed=0, caps=caps)
        ce = estimate(core(auto["design"]), capped, part, auto["prec"])
        within = all(ce[k] <= caps[k] for k in caps)
        rows.append({"design": f"hetc core, precision auto (bound {bound:.3f}), at hls4ml RF={rf} resources",
                     **{k: ce[k] for k in ("latency_cycles", "dsp", "bram", "lut", "ff")},
                     "rel_err_vs_ort": rel_err(auto["y"], want), "within_caps": within, "widths": widths,
                     "meets_target": within and ce["latency_cycles"] <= te["latency_cycles"], "solver": info["status"]})
    return {"model": name, "samples": samples, "part": part_key, "precision": PRECISION, "rows": rows}


def table(results: list[dict]) -> str:
    lines = ["| model | design | latency (cycles) | DSP | BRAM_18K | LUT | FF | max rel err vs ORT | target met |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for res in results:
        for r in res["rows"]:
            met = {True: "yes", False: "no"}.get(r.get("meets_target"), "")
            lines.append(f"| {res['model']} | {r['design']} | {r['latency_cycles']} | {r['dsp']} | {r['bram']} | "
                         f"{r['lut']} | {r['ff']} | {r['rel_err_vs_ort']:.4f} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="example: python benchmarks/hls_vs_hls4ml.py --models jet,lenet --reuse 1,16")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--reuse", default="1,16", help="hls4ml reuse factors (comma separated)")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--part", default="u280")
    ap.add_argument("--out", default="/tmp/hls_vs_hls4ml")
    args = ap.parse_args(argv)
    try:
        import hls4ml  # noqa: F401
    except ImportError as exc:
        print(f"hls4ml's frontend does not import ({exc}); pip install -r benchmarks/requirements.txt",
              file=sys.stderr)
        return 2
    root = Path(args.out)
    results = []
    for name in args.models.split(","):
        t0 = time.time()
        results.append(compare(name, [int(r) for r in args.reuse.split(",")], args.samples, args.part, root))
        print(f"[{time.time() - t0:6.1f}s] {name}", file=sys.stderr)
    (root / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())

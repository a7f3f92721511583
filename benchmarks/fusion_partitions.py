"""What hetc-fuse decides on the benchmark models, per mode: kernels, predicted bytes
moved, whether the ILP's partition differs from greedy's, and the solver's status; then
the same graphs priced on the H100 as the CUDA pipeline does (`hetc-fuse-horizontal
{device=h100}` + `hetc-fuse{device=h100}`): predicted time per mode and the sibling
MatMul sets the horizontal rewrite fused (CPU pricing: the C target's report).

    python benchmarks/fusion_partitions.py            # print the table
    python benchmarks/fusion_partitions.py --write    # ... and update benchmarks/RESULTS.md
    python benchmarks/fusion_partitions.py --time-attention bert_mini   # C target, attention groups on/off

Read it beside the timing table of benchmarks/run.py: where the ILP and greedy
partitions are the same, the generated code is the same, and a difference between
the hetc-c and hetc-c-fuse-greedy columns is run-to-run noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

RESULTS = HERE / "RESULTS.md"
BEGIN = "<!-- fusion_partitions: begin (written by benchmarks/fusion_partitions.py --write) -->"
END = "<!-- fusion_partitions: end -->"
ZOO = ["resnet18", "resnet50", "mobilenetv2", "vit_tiny", "bert_mini", "gpt2_small"]
EXAMPLES = {"mlp": {"x": (1, 784)}, "cnn": None, "transformer_block": None}


def _call_times(sess, feeds, runs: int, calls: int) -> list[float]:
    """Seconds per `sess.run(feeds)`, averaged over `calls` back-to-back calls, `runs` times."""
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(calls):
            sess.run(feeds)
        ts.append((time.perf_counter() - t) / calls)
    return ts


def rows(tmp: Path) -> tuple[list[str], list[str]]:
    import hetc
    from models import zoo

    models = {n: (str(zoo.export(n, tmp)), {k: v.shape for k, v in zoo.make_inputs(n, 0).items()}) for n in ZOO}
    models.update({n: (str(REPO / "examples" / f"{n}.onnx"), s) for n, s in EXAMPLES.items()})
    out, gpu = [], []
    for name, (path, shapes) in models.items():
        rep = {}
        for mode in ("none", "greedy", "ilp"):
            hetc.build(path, "c", tmp / f"{name}-{mode}", shapes, fusion=mode)
            rep[mode] = json.loads((tmp / f"{name}-{mode}" / "report.json").read_text())["fusion"]
        same = rep["greedy"]["groups"] == rep["ilp"]["groups"]
        plain = _fusion_report(path, shapes, ["hetc-choose-layout", "hetc-canonicalize", "hetc-dce", "hetc-fuse-horizontal",
                                              "hetc-fuse{attention=false}"])
        out.append(
            f"| {name} | {rep['none']['kernels']} / {rep['greedy']['kernels']} / {rep['ilp']['kernels']} | "
            + " / ".join(f"{rep[m]['predicted_bytes'] / 1e6:.2f}" for m in ("none", "greedy", "ilp"))
            + f" | {'same' if same else 'differs'} | {rep['ilp']['solver']['status']} | "
            + f"{rep['ilp']['group_kinds'].count('attention')} | {plain['kernels']} / {plain['predicted_bytes'] / 1e6:.2f} |"
        )
        print(out[-1], flush=True)
        gpu.append(_gpu_row(name, path, shapes, rep["ilp"].get("horizontal", {}).get("sets", [])))
        print(gpu[-1], flush=True)
    return out, gpu


def _fusion_report(path: str, shapes, passes: list[str]) -> dict:
    """hetc-fuse's report after the graph pipeline and `passes` (no code generated)."""
    from hetc.api import compile_module
    from hetc.pipeline import run_pipeline
    from xdsl.dialects import func

    module = compile_module(path, shapes)
    run_pipeline(module, passes)
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    return json.loads(main.attributes["hetc.fusion_report"].data)


def _gpu_row(name: str, path: str, shapes, cpu_sets: list[dict]) -> str:
    """The CUDA pipeline's fusion passes on the graph, priced on the H100 (no GPU needed)."""
    gpu = ["hetc-choose-layout{layout=nchw}", "hetc-canonicalize", "hetc-dce", "hetc-fuse-horizontal{device=h100}"]
    rep = _fusion_report(path, shapes, gpu + ["hetc-fuse{device=h100}"])
    plain = _fusion_report(path, shapes, gpu + ["hetc-fuse{device=h100,attention=false}"])
    p = rep["predictions"]
    h_gpu = sum(s["fused"] for s in rep.get("horizontal", {}).get("sets", []))
    h_cpu = sum(s["fused"] for s in cpu_sets)
    n_sets = len(rep.get("horizontal", {}).get("sets", []))
    return (
        f"| {name} | {p['none']['kernels']} / {p['greedy']['kernels']} / {p['ilp']['kernels']} | "
        + " / ".join(f"{p[m]['predicted_time_s'] * 1e3:.3f}" for m in ("none", "greedy", "ilp"))
        + f" | {p['none']['predicted_time_s'] / p['ilp']['predicted_time_s']:.2f}x | {n_sets} / {h_cpu} / {h_gpu} | "
        + f"{rep['group_kinds'].count('attention')} | {plain['kernels']} / {plain['predicted_time_s'] * 1e3:.3f} |"
    )


def time_horizontal(name: str, runs: int = 7, calls: int = 50) -> list[str]:
    """C target, this machine: `name` with hetc-fuse-horizontal off vs always (forced: the
    CPU's prices keep it off), median wall time of `run` over `runs` x `calls`, outputs
    checked against onnxruntime."""
    import dataclasses

    import numpy as np

    import hetc
    from hetc.backends.targets import TARGETS
    from models import zoo

    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    from ort_check import assert_matches, ort_outputs

    base = TARGETS["c"]
    lines = []
    with tempfile.TemporaryDirectory(prefix="hetc-hfuse-") as tmp:
        path = zoo.export(name, tmp)
        feeds = zoo.make_inputs(name, 0)
        want = ort_outputs(path, feeds)
        try:
            for mode in ("off", "always"):
                passes = tuple(f"hetc-fuse-horizontal{{mode={mode}}}" if p == "hetc-fuse-horizontal" else p for p in base.passes)
                TARGETS["c"] = dataclasses.replace(base, passes=passes)
                out = Path(tmp) / f"{name}-{mode}"
                sess = hetc.compile(path, target="c", input_shapes={k: v.shape for k, v in feeds.items()}, output_dir=out)
                assert_matches(sess.run(feeds), want)
                ts = _call_times(sess, feeds, runs, calls)
                rep = json.loads((out / "report.json").read_text())["fusion"]
                fused = sum(s["fused"] for s in rep["horizontal"]["sets"])
                lines.append(f"| {name} | {mode} | {fused} | {rep['kernels']} | {rep['predicted_time_s'] * 1e3:.4f} | "
                             f"{np.median(ts) * 1e3:.3f} |")
                print(lines[-1], flush=True)
        finally:
            TARGETS["c"] = base
    return lines


def time_attention(name: str, runs: int = 7, calls: int = 30) -> list[str]:
    """C target, this machine: `name` (a zoo name or `transformer_block`) with hetc-fuse's
    attention groups on vs off (`hetc-fuse{attention=false}`), median wall time of `run`
    over `runs` x `calls`, outputs checked against onnxruntime. Two shared cores: noisy."""
    import dataclasses

    import numpy as np

    import hetc
    from hetc.backends.targets import TARGETS
    from models import zoo

    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    from ort_check import assert_matches, ort_outputs

    base = TARGETS["c"]
    lines = []
    with tempfile.TemporaryDirectory(prefix="hetc-attn-") as tmp:
        if name in EXAMPLES:
            path, shapes = REPO / "examples" / f"{name}.onnx", EXAMPLES[name]
            rng = np.random.default_rng(0)
            feeds = None
        else:
            path = zoo.export(name, tmp)
            feeds = zoo.make_inputs(name, 0)
            shapes = {k: v.shape for k, v in feeds.items()}
        try:
            for att in ("true", "false"):
                passes = tuple(f"hetc-fuse{{attention={att}}}" if p == "hetc-fuse" else p for p in base.passes)
                TARGETS["c"] = dataclasses.replace(base, passes=passes)
                out = Path(tmp) / f"{name}-{att}"
                sess = hetc.compile(path, target="c", input_shapes=shapes, output_dir=out)
                if feeds is None:
                    feeds = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in sess.manifest["inputs"]}
                assert_matches(sess.run(feeds), ort_outputs(path, feeds))
                ts = _call_times(sess, feeds, runs, calls)
                rep = json.loads((out / "report.json").read_text())["fusion"]
                lines.append(f"| {name} | {'on' if att == 'true' else 'off'} | {rep['group_kinds'].count('attention')} | "
                             f"{rep['kernels']} | {rep['predicted_time_s'] * 1e3:.4f} | {np.median(ts) * 1e3:.3f} |")
                print(lines[-1], flush=True)
        finally:
            TARGETS["c"] = base
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="example: python benchmarks/fusion_partitions.py --write")
    ap.add_argument("--write", action="store_true", help=f"update the fusion_partitions section of {RESULTS.name}")
    ap.add_argument("--time-horizontal", metavar="MODEL",
                    help="instead: time MODEL (a zoo name, e.g. bert_mini) on the C target with hetc-fuse-horizontal off vs always")
    ap.add_argument("--time-attention", metavar="MODEL",
                    help="instead: time MODEL (a zoo name or transformer_block) on the C target with attention groups on vs off")
    args = ap.parse_args(argv)
    if args.time_attention:
        print("| model | attention groups | groups formed | kernels | predicted ms (cpu) | measured ms (median) |")
        time_attention(args.time_attention)
        return 0
    if args.time_horizontal:
        print("| model | horizontal | sets fused | kernels | predicted ms (cpu) | measured ms (median) |")
        time_horizontal(args.time_horizontal)
        return 0
    with tempfile.TemporaryDirectory(prefix="hetc-fusion-") as tmp:
        table, gpu = rows(Path(tmp))
    text = "\n".join([
        "## Fusion partitions (hetc-fuse, C target)",
        "",
        "Command: `python benchmarks/fusion_partitions.py --write`. Kernels and predicted bytes moved (the cost",
        "model's traffic of materialized tensors) for `--fusion none / greedy / ilp`, whether the ILP's groups",
        "differ from greedy's, and the CP-SAT status (`cut rounds exhausted (greedy fallback)`: the convexity",
        "cuts did not converge in 20 rounds, so the greedy partition was kept and the report says so).",
        "Attention groups (QK^T, scale/mask, softmax and P.V as one kernel) in the ILP's partition, and the",
        "ILP's partition without them (`hetc-fuse{attention=false}`: QK^T + epilogue, a softmax row group, P.V).",
        "",
        "| model | kernels none / greedy / ilp | MB moved none / greedy / ilp | ilp vs greedy | ilp status "
        "| attention groups | ilp w/o attention: kernels / MB |",
        "|---|---:|---:|---|---|---:|---:|",
        *table,
        "",
        "Priced on the H100 (the CUDA pipeline's `hetc-fuse-horizontal{device=h100}` and `hetc-fuse{device=h100}`:",
        "HBM3 3.35 TB/s, 4 us per launch from the device catalog): the ILP's predicted time per mode, its predicted",
        "speedup over unfused, and the sibling MatMul sets found / fused by the horizontal rewrite's cost rule",
        "on the CPU / on the H100 (a GEMM + Split for k GEMMs pays on the GPU's launches, not on a 50 ns CPU call).",
        "",
        "| model | kernels none / greedy / ilp | predicted ms none / greedy / ilp | none / ilp | sibling sets / fused cpu / fused h100 "
        "| attention groups | ilp w/o attention: kernels / ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *gpu,
    ])
    if args.write:
        old = RESULTS.read_text() if RESULTS.exists() else "# hetc benchmark results\n"
        block = f"{BEGIN}\n{text}\n{END}\n"
        start, end = old.find(BEGIN), old.find(END)
        if start < 0 or end < 0:
            RESULTS.write_text(old.rstrip("\n") + "\n\n" + block)
        else:
            RESULTS.write_text(old[:start] + block + old[end + len(END) + 1 :])
    return 0


if __name__ == "__main__":
    sys.exit(main())

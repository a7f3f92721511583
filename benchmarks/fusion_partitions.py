"""What hetc-fuse decides on the benchmark models, per mode: kernels, predicted bytes
moved, whether the ILP's partition differs from greedy's, and the solver's status.

    python benchmarks/fusion_partitions.py            # print the table
    python benchmarks/fusion_partitions.py --write    # ... and update benchmarks/RESULTS.md

Read it beside the timing table of benchmarks/run.py: where the ILP and greedy
partitions are the same, the generated code is the same, and a difference between
the hetc-c and hetc-c-fuse-greedy columns is run-to-run noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

RESULTS = HERE / "RESULTS.md"
BEGIN = "<!-- fusion_partitions: begin (written by benchmarks/fusion_partitions.py --write) -->"
END = "<!-- fusion_partitions: end -->"
ZOO = ["resnet18", "resnet50", "mobilenetv2", "vit_tiny", "bert_mini"]
EXAMPLES = {"mlp": {"x": (1, 784)}, "cnn": None, "transformer_block": None}


def rows(tmp: Path) -> list[str]:
    import hetc
    from models import zoo

    models = {n: (str(zoo.export(n, tmp)), {k: v.shape for k, v in zoo.make_inputs(n, 0).items()}) for n in ZOO}
    models.update({n: (str(REPO / "examples" / f"{n}.onnx"), s) for n, s in EXAMPLES.items()})
    out = []
    for name, (path, shapes) in models.items():
        rep = {}
        for mode in ("none", "greedy", "ilp"):
            hetc.build(path, "c", tmp / f"{name}-{mode}", shapes, fusion=mode)
            rep[mode] = json.loads((tmp / f"{name}-{mode}" / "report.json").read_text())["fusion"]
        same = rep["greedy"]["groups"] == rep["ilp"]["groups"]
        out.append(
            f"| {name} | {rep['none']['kernels']} / {rep['greedy']['kernels']} / {rep['ilp']['kernels']} | "
            + " / ".join(f"{rep[m]['predicted_bytes'] / 1e6:.2f}" for m in ("none", "greedy", "ilp"))
            + f" | {'same' if same else 'differs'} | {rep['ilp']['solver']['status']} |"
        )
        print(out[-1], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="example: python benchmarks/fusion_partitions.py --write")
    ap.add_argument("--write", action="store_true", help=f"update the fusion_partitions section of {RESULTS.name}")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hetc-fusion-") as tmp:
        table = rows(Path(tmp))
    text = "\n".join([
        "## Fusion partitions (hetc-fuse, C target)",
        "",
        "Command: `python benchmarks/fusion_partitions.py --write`. Kernels and predicted bytes moved (the cost",
        "model's traffic of materialized tensors) for `--fusion none / greedy / ilp`, whether the ILP's groups",
        "differ from greedy's, and the CP-SAT status (`cut rounds exhausted (greedy fallback)`: the convexity",
        "cuts did not converge in 20 rounds, so the greedy partition was kept and the report says so).",
        "",
        "| model | kernels none / greedy / ilp | MB moved none / greedy / ilp | ilp vs greedy | ilp status |",
        "|---|---:|---:|---|---|",
        *table,
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

"""Scratchpad allocators compared: non-compulsory DRAM traffic of `lru`, `belady` and `ilp`.

The problems (issue 8's "Checks and targets" table): for every scratchpad capacity in
--capacities (KiB) and every model, the allocation problem of that model for that
capacity, and seeded synthetic branchy DAGs.

- Models: zoo architectures built by the builders of tests/models/zoo.py (random
  weights, nothing downloaded) and exported with torch's TorchScript exporter at several
  input sizes (CNNs) or widths (ViT, the torch TransformerEncoder block). When
  `hetc.passes.npu_tile.tiled_problem` works (`--granularity auto` or `tiled`), the
  problem is the tiled one at the model's zoo size; otherwise it is the whole-tensor
  problem (`hetc.passes.spm.from_graph.whole_tensor_problem`, one op per ONNX node,
  views aliased) of the largest variant whose largest op fits the capacity; a model with
  no such variant is skipped at that capacity.
- Synthetic: `hetc.passes.spm.synthetic.branchy(seed, ops)` with its size unit scaled
  so the largest op takes 80-100% of the capacity (a different seed per capacity).

Every plan is checked by `replay` (problem.py), which is also the traffic reported.
The ILP gets --time-limit seconds (its order search included), seed --seed.

    python benchmarks/npu_spm.py                         # the default set, 10 s per ILP
    python benchmarks/npu_spm.py --write --json /tmp/npu_spm.json   # ... and update RESULTS.md
    python benchmarks/npu_spm.py --models squeezenet --capacities 64,256 --time-limit 2 --quiet
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
SECTION = "## NPU scratchpad allocation: lru vs belady vs ilp (benchmarks/npu_spm.py)"
KIB = 1024

#: model -> [(label, builder kwargs, input shape at export, dynamic spatial axes)]: the
#: widths of each architecture; CNNs are exported once per width with dynamic H and W and
#: bound to any input size afterwards. The zoo builders are imported, never copied.
WIDTHS: dict[str, list[tuple[str, dict, tuple[int, ...], bool]]] = {
    "resnet18": [(f"w{w}", {"width": w}, (1, 3, 64, 64), True) for w in (4, 8, 16, 32)],
    "mobilenetv2": [(f"x{m}", {"width_mult": m}, (1, 3, 96, 96), True) for m in (0.25, 0.5, 1.0)],
    "densenet": [(f"g{g}", {"growth": g, "init_features": 2 * g}, (1, 3, 64, 64), True) for g in (6, 12, 24)],
    "inception": [(f"s{d}", {"s": d}, (1, 3, 107, 107), True) for d in (16, 8, 4, 2)],
    "squeezenet": [("", {}, (1, 3, 70, 70), True)],
    "vit_tiny": [(f"dim{d}", {"dim": d}, (1, 3, 32, 32), False) for d in (12, 24, 36, 48, 72, 96, 144, 192)],
    "torch_transformer": [(f"seq{q}", {}, (1, q, 64), False) for q in (8, 16, 32, 64, 128, 256, 512)],
}
#: input sizes (px) tried for the CNNs (the largest whose largest op fits is used)
SIZES = list(range(16, 97, 4)) + list(range(104, 225, 8))
#: op count up to which issue 8 asks for proven optimality (the exact model's limit)
SMALL_OPS = 150
#: the graphs the issue calls branchy (the ">= 20% below belady" target)
BRANCHY = {"inception", "squeezenet", "densenet", "vit_tiny", "synthetic"}


def _zoo():
    sys.path.insert(0, str(REPO / "tests" / "models"))
    import zoo

    return zoo


def export_variant(model: str, label: str, kwargs: dict, shape: tuple[int, ...], dynamic: bool, cache: Path) -> Path:
    """The ONNX file of one model width (cached in `cache`)."""
    zoo = _zoo()
    path = cache / f"{model}.{label or 'base'}.{'x'.join(map(str, shape))}.{zoo._SOURCE_DIGEST}.onnx"
    if path.exists():
        return path
    import torch

    torch.manual_seed(0)
    module = (getattr(zoo, f"build_{model}")(**kwargs) if kwargs else zoo.build(model)).eval()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the TorchScript exporter cannot export the fused path
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.zeros(shape),), str(tmp), input_names=["x"], opset_version=17, dynamo=False,
                              dynamic_axes={"x": {2: "h", 3: "w"}} if dynamic else None, do_constant_folding=True)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    tmp.replace(path)
    return path


def _tiled():
    try:
        import hetc.passes.npu_lower  # noqa: F401  (tiled_problem needs it)
        from hetc.passes.npu_tile import tiled_problem
    except ImportError:
        return None
    return tiled_problem


class _TooSlow(Exception):
    pass


def _too_slow(signum, frame):
    raise _TooSlow


#: points left out of the table, with why (for the report)
skipped: list[str] = []


def problems(args, say) -> Iterator[tuple[str, str, int, object]]:
    """(model, variant, capacity, SpmProblem) for every point of the table, as built."""
    from hetc.diagnostics import HetcError
    from hetc.passes.spm.from_graph import whole_tensor_problem
    from hetc.passes.spm.synthetic import branchy

    tiled = _tiled() if args.granularity in ("auto", "tiled") else None
    if args.granularity == "tiled" and tiled is None:
        raise SystemExit("--granularity tiled: hetc.passes.npu_tile.tiled_problem is not available yet")
    cache = Path(args.cache)
    for model in args.models:
        if tiled is not None:
            zoo = _zoo()
            path = zoo.export(model, cache)
            shapes = {k: v[0] for k, v in zoo.MODELS[model].inputs.items()}  # the zoo's static sizes
            for cap in args.capacities:
                t0 = time.perf_counter()
                signal.signal(signal.SIGALRM, _too_slow)
                signal.alarm(int(args.tile_timeout))
                try:
                    p = tiled(path, cap * KIB, input_shapes=shapes)
                except HetcError as e:
                    say(f"{model} {cap} KiB: not tiled ({str(e).splitlines()[0][:160]}) (skipped)")
                    continue
                except _TooSlow:
                    say(f"{model} {cap} KiB: tiling took over {args.tile_timeout:g} s (skipped)")
                    skipped.append(f"{model} at {cap} KiB (tiling > {args.tile_timeout:g} s)")
                    continue
                finally:
                    signal.alarm(0)
                say(f"{model} {cap} KiB: tiled, {len(p.ops)} ops ({time.perf_counter() - t0:.1f} s)")
                yield model, "tiled", cap * KIB, p
            continue
        # (largest op bytes, label, problem) of every width x input size, built lazily
        memo: dict[tuple[str, int], tuple[int, str, object] | None] = {}

        def variant(w: int, px: int, model: str = model, memo: dict = memo):
            label, kwargs, shape, dynamic = WIDTHS[model][w]
            key = (label, px)
            if key not in memo:
                path = export_variant(model, label, kwargs, shape, dynamic, cache)
                try:
                    p = whole_tensor_problem(path, 1 << 40, input_shapes={"x": (1, 3, px, px)} if dynamic else None)
                except Exception:  # noqa: BLE001 - an input size the architecture rejects
                    memo[key] = None
                else:
                    name = "-".join(x for x in (label, f"{px}px" if dynamic else "") if x)
                    memo[key] = (max(p.footprint(op) for op in p.ops), name, p)
            return memo[key]

        for cap in args.capacities:
            best = None
            for w, (_, _, shape, dynamic) in enumerate(WIDTHS[model]):
                sizes = SIZES if dynamic else [shape[-1]]
                lo, hi = 0, len(sizes) - 1  # the largest size whose largest op fits: binary search
                found = None
                while lo <= hi:
                    mid = (lo + hi) // 2
                    v = variant(w, sizes[mid])
                    if v is not None and v[0] <= cap * KIB:
                        found, lo = v, mid + 1
                    else:
                        hi = mid - 1
                if found and (best is None or found[0] >= best[0]):
                    best = found
            if best is None:
                say(f"{model}: no width's largest op fits {cap} KiB (skipped)")
                skipped.append(f"{model} at {cap} KiB (no variant's largest op fits)")
                continue
            fp, label, p = best
            say(f"{model} {cap} KiB: {label}, {len(p.ops)} ops, largest op {fp / KIB:.0f} KiB")
            p = type(p)(p.tensors, p.ops, cap * KIB, p.alignment)
            yield model, label, cap * KIB, p
    for seed in range(args.synthetic):
        for ci, cap in enumerate(args.capacities):
            # a different graph per capacity (seed 100 * seed + capacity index), its size
            # unit scaled so that the largest op takes 80..100% of the capacity
            g = 100 * seed + ci
            base = branchy(g, args.synthetic_ops, unit=64)
            largest = max(base.footprint(op) for op in base.ops)
            unit = max(64, int(cap * KIB * (0.8 + 0.05 * (g % 5)) * 64 / largest) // 64 * 64)
            p = branchy(g, args.synthetic_ops, capacity=cap * KIB, unit=unit)
            yield "synthetic", f"seed{g}", cap * KIB, p


def run_point(model: str, label: str, cap: int, p, args) -> dict:
    from hetc.passes.spm.allocate import allocate
    from hetc.passes.spm.problem import compulsory_bytes, replay

    row = {"model": model, "variant": label, "capacity_kib": cap // KIB, "ops": len(p.ops), "compulsory": compulsory_bytes(p)}
    for m in ("lru", "belady", "ilp"):
        t0 = time.perf_counter()
        plan = allocate(p, m, time_limit_s=args.time_limit, seed=args.seed)
        secs = time.perf_counter() - t0
        traffic = replay(p, plan)
        if traffic.compulsory != row["compulsory"]:
            raise SystemExit(f"{model} {label} {cap // KIB} KiB: {m} pays {traffic.compulsory} compulsory bytes, expected {row['compulsory']}")
        row[m] = traffic.noncompulsory
        if m == "ilp":
            s = plan.solver
            row.update(status=s["status"], gap=round(s["gap"], 4), seconds=round(secs, 2), cpsat=s.get("cpsat_status", "-"),
                       method=s.get("method", ""))
    if row["ilp"] > row["belady"]:
        raise SystemExit(f"{model} {label} {cap // KIB} KiB: ilp ({row['ilp']}) above belady ({row['belady']})")
    return row


def _red(a: int, b: int) -> float | None:
    """How much below b a is (1 = all of it), None when b is 0."""
    return None if b == 0 else (b - a) / b


def summary(rows: list[dict]) -> dict:
    vs_lru = [_red(r["ilp"], r["lru"]) for r in rows if r["lru"] > 0]
    br = [r for r in rows if r["model"] in BRANCHY]
    vs_bel = [_red(r["ilp"], r["belady"]) for r in br if r["belady"] > 0]
    vs_bel_all = [_red(r["ilp"], r["belady"]) for r in rows if r["belady"] > 0]
    tot = lambda k, rs: sum(r[k] for r in rs)
    return {
        "points": len(rows),
        "points_lru_pays": len(vs_lru),
        "mean_below_lru": statistics.mean(vs_lru) if vs_lru else None,
        "total_below_lru": _red(tot("ilp", rows), tot("lru", rows)),
        "branchy_points_belady_pays": len(vs_bel),
        "mean_below_belady_branchy": statistics.mean(vs_bel) if vs_bel else None,
        "total_below_belady_branchy": _red(tot("ilp", br), tot("belady", br)),
        "mean_below_belady_all": statistics.mean(vs_bel_all) if vs_bel_all else None,
        "above_belady": sum(r["ilp"] > r["belady"] for r in rows),
        "max_seconds": max((r["seconds"] for r in rows), default=0.0),
        "optimal": sum(r["status"] == "OPTIMAL" for r in rows),
        "optimal_nonzero": sum(r["status"] == "OPTIMAL" and r["ilp"] > 0 for r in rows),
        # issue 8: "optimality proven up to ~150 ops" (the exact model's size, MAX_EXACT_OPS)
        **{f"{k}_{tag}": v for tag, rs in (("small", [r for r in rows if r["ops"] <= SMALL_OPS]),
                                           ("large", [r for r in rows if r["ops"] > SMALL_OPS]))
           for k, v in (("points", len(rs)), ("optimal", sum(r["status"] == "OPTIMAL" for r in rs)),
                        ("nonzero", sum(r["ilp"] > 0 for r in rs)),
                        ("optimal_nonzero", sum(r["status"] == "OPTIMAL" and r["ilp"] > 0 for r in rs)))},
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def table(rows: list[dict], s: dict, command: str, args) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if rows and rows[0]["variant"] == "tiled":
        problems_text = "Problems: tiled (`hetc.passes.npu_tile.tiled_problem`) at each zoo model's size."
    else:
        problems_text = (
            "Problems: whole-tensor (one op per ONNX node, views aliased) of the variant of each model whose "
            "largest op is the largest that fits the capacity (variants: width x input size for the CNNs, width for "
            "ViT, sequence length for the TransformerEncoder block; `WIDTHS` and `SIZES` in the script), plus seeded "
            f"synthetic branchy DAGs ({args.synthetic_ops} ops, largest op at 80-100% of the capacity)."
        )
    lines = [
        SECTION, "",
        f"Run {now} on {platform.processor() or platform.machine()} ({platform.python_version()}), reproduce with:", "",
        f"    {command}", "",
        ("Non-compulsory DRAM bytes (spills, reloads, repeated stores; KiB) as `replay` counts them; compulsory "
         "(first load of each input/weight, one store per output) is the same for all three. " + problems_text),
        (f"ILP: {args.time_limit:g} s limit (order search included), seed {args.seed}, CP-SAT with 2 workers. "
         "`status` OPTIMAL = proven: zero traffic, or equal to the best lower bound (the residency model, exact for "
         "the problem since compaction moves no DRAM bytes, strengthened with position windows and forced-liveness "
         "covers; or the sum of the phases' bounds, phases being groups of ops whose relative order every "
         "topological order keeps: `passes/spm/bounds.py`); FEASIBLE / HEURISTIC (windows above 150 ops) = not "
         "proven, `gap` = (ilp - bound) / ilp."),
        "",
        "| model | variant | capacity KiB | ops | compulsory KiB | lru | belady | ilp | ilp vs lru | ilp vs belady | status | gap | s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    k = lambda b: f"{b / KIB:.1f}"
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['capacity_kib']} | {r['ops']} | {k(r['compulsory'])} | {k(r['lru'])} | "
            f"{k(r['belady'])} | {k(r['ilp'])} | {_pct(_red(r['ilp'], r['lru']))} | {_pct(_red(r['ilp'], r['belady']))} | "
            f"{r['status']} | {r['gap']:.3f} | {r['seconds']:.1f} |"
        )
    lines += [
        "",
        f"Targets (issue 8), over the {s['points']} points:",
        (f"- ilp below lru: mean {_pct(s['mean_below_lru'])} over the {s['points_lru_pays']} points where lru pays "
         f"(total bytes: {_pct(s['total_below_lru'])}); target >= 50%."),
        (f"- ilp below belady on branchy graphs ({', '.join(sorted(BRANCHY))}): mean "
         f"{_pct(s['mean_below_belady_branchy'])} over the {s['branchy_points_belady_pays']} points where belady pays "
         f"(total bytes: {_pct(s['total_below_belady_branchy'])}); all models: mean {_pct(s['mean_below_belady_all'])}; "
         "target >= 20%."),
        f"- ilp above belady: {s['above_belady']} points (target 0); slowest ilp solve {s['max_seconds']:.1f} s (target <= 30 s).",
        f"- proven optimal: {s['optimal']} of {s['points']} points ({s['optimal_nonzero']} of them with non-zero traffic).",
        (f"- proven optimal by size: <= {SMALL_OPS} ops {s['optimal_small']} of {s['points_small']} "
         f"({s['optimal_nonzero_small']} of the {s['nonzero_small']} with non-zero traffic); > {SMALL_OPS} ops "
         f"{s['optimal_large']} of {s['points_large']} ({s['optimal_nonzero_large']} of the {s['nonzero_large']} "
         "with non-zero traffic)."),
        f"- not measured: {', '.join(skipped) or 'none'}.",
        "",
    ]
    return "\n".join(lines)


def write_results(text: str) -> None:
    body = RESULTS.read_text()
    if SECTION in body:
        start = body.index(SECTION)
        # the section ends at the next heading or at the next writer's marker comment
        ends = [i for i in (body.find("\n## ", start + len(SECTION)), body.find("\n<!-- ", start)) if i >= 0]
        nxt = min(ends) if ends else -1
        body = body[:start] + text + ("\n" + body[nxt + 1:] if nxt >= 0 else "")
    else:
        body = body.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(body)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=lambda s: [m for m in s.split(",") if m], default=list(WIDTHS),
                    help=f"comma-separated (default: {','.join(WIDTHS)})")
    ap.add_argument("--capacities", type=lambda s: [int(c) for c in s.split(",") if c],
                    default=[64, 128, 256, 512, 1024, 2048], help="KiB, comma-separated (default 64,...,2048)")
    ap.add_argument("--synthetic", type=int, default=5, help="synthetic branchy DAGs (seeds 0..N-1) per capacity")
    ap.add_argument("--synthetic-ops", type=int, default=60)
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per ILP solve")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--granularity", choices=("auto", "whole", "tiled"), default="whole",
                    help="whole-tensor problems, tiled ones (hetc.passes.npu_tile), or tiled when available")
    ap.add_argument("--tile-timeout", type=float, default=180, help="seconds one tiling may take before the point is skipped")
    ap.add_argument("--cache", default="/tmp/hetc-npu-spm", help="folder for the exported ONNX variants")
    ap.add_argument("--json", metavar="OUT", help="write rows + summary as JSON")
    ap.add_argument("--write", action="store_true", help="update this section of benchmarks/RESULTS.md")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    args = ap.parse_args(argv)
    unknown = [m for m in args.models if m not in WIDTHS]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)} (known: {', '.join(WIDTHS)})")
    say = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    command = "python benchmarks/npu_spm.py " + " ".join(argv if argv is not None else sys.argv[1:])
    rows = []
    for i, (model, label, cap, p) in enumerate(problems(args, say)):
        row = run_point(model, label, cap, p, args)
        rows.append(row)
        say(f"[{i + 1}] {model} {label} {cap // KIB} KiB, {row['ops']} ops: lru {row['lru'] / KIB:.0f} "
            f"belady {row['belady'] / KIB:.0f} ilp {row['ilp'] / KIB:.0f} KiB ({row['status']}, {row['seconds']:.1f} s)")
    s = summary(rows)
    text = table(rows, s, command.strip(), args)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": s}, indent=1))
    if args.write:
        write_results(text)


if __name__ == "__main__":
    main()

"""The NPU target's report: predicted traffic and cycles, and the scratchpad picture.

`predicted_cycles` applies npu.h's timing model to the npu ops of @main (what the
plan will do); the simulator counts the same events as it executes them, so the two
differ only where the program does something the plan did not say. `occupancy_svg`
draws the plan as address x step: one rectangle per tensor residency, a self-contained
SVG (no scripts, no network), which `report_html` puts in report.html.
"""

from __future__ import annotations

import html
import json

from hetc.backends.npu.config import NpuConfig
from hetc.dialects import npu
from hetc.passes.spm.problem import (
    Alloc,
    Compute,
    Free,
    Load,
    Move,
    SpmPlan,
    SpmProblem,
)
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def predicted_cycles(module: ModuleOp, c: NpuConfig) -> dict[str, int]:
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    out = {"dma": 0, "matrix": 0, "vector": 0, "move": 0}
    for op in main.body.block.ops:
        if isinstance(op, (npu.DmaInOp, npu.DmaOutOp)):
            out["dma"] += c.dma_latency_cycles + _cdiv(op.bytes.value.data, c.dma_bytes_per_cycle)
        elif isinstance(op, npu.DmaGatherOp):
            out["dma"] += c.dma_latency_cycles + _cdiv(op.bytes.value.data, c.dma_bytes_per_cycle)
        elif isinstance(op, npu.MoveOp):
            out["move"] += _cdiv(op.bytes.value.data, c.spm_bytes_per_cycle)
        elif isinstance(op, npu.MatmulTileOp):
            n = c.matrix_n
            tiles = _cdiv(op.m.value.data, n) * _cdiv(op.n.value.data, n) * _cdiv(op.k.value.data, n)
            out["matrix"] += tiles * c.matrix_cycles_per_tile
        elif isinstance(op, npu.VectorOp):
            out["vector"] += _cdiv(op.elements.value.data, c.vector_lanes)
    out["total"] = sum(out.values())
    return out


def residencies(problem: SpmProblem, plan: SpmPlan) -> list[tuple[str, int, int, int, int]]:
    """(tensor, offset, size, first step, last step) of every stay of a tensor in the SPM,
    steps counted in Compute steps."""
    spans, open_, step = [], {}, 0
    for s in plan.steps:
        if isinstance(s, (Load, Alloc)):
            open_[s.tensor] = (s.offset, step)
        elif isinstance(s, Move):
            off, start = open_.pop(s.tensor)
            spans.append((s.tensor, off, problem.aligned(s.tensor), start, step))
            open_[s.tensor] = (s.offset, step)
        elif isinstance(s, Free):
            off, start = open_.pop(s.tensor)
            spans.append((s.tensor, off, problem.aligned(s.tensor), start, step))
        elif isinstance(s, Compute):
            step += 1
    for t, (off, start) in open_.items():
        spans.append((t, off, problem.aligned(t), start, step))
    return spans


_COLORS = {"input": "#4e79a7", "weight": "#f28e2b", "intermediate": "#59a14f", "output": "#e15759"}


def occupancy_svg(problem: SpmProblem, plan: SpmPlan, width: int = 900, height: int = 420) -> str:
    spans = residencies(problem, plan)
    steps = max([e for *_, e in spans] + [1])
    cap = problem.capacity
    left, top, w, h = 70, 10, width - 90, height - 50
    x = lambda s: left + w * s / steps
    y = lambda a: top + h * (1 - a / cap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#f7f7f7" stroke="#999"/>',
    ]
    for t, off, size, start, end in spans:
        kind = problem.tensors[t].kind
        parts.append(
            f'<rect x="{x(start):.2f}" y="{y(off + size):.2f}" width="{max(x(max(end, start + 1)) - x(start), 0.5):.2f}" '
            f'height="{max(y(off) - y(off + size), 0.5):.2f}" fill="{_COLORS[kind]}" fill-opacity="0.75" stroke="#333" '
            f'stroke-width="0.2"><title>{html.escape(t)} ({kind}, {size} B at {off}; steps {start}-{end})</title></rect>'
        )
    for frac in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{left - 5}" y="{y(cap * frac) + 4:.1f}" text-anchor="end">{int(cap * frac) // 1024} KiB</text>')
    parts.append(f'<text x="{left + w / 2}" y="{height - 15}" text-anchor="middle">step (op computed), 0 - {steps}</text>')
    lx = left
    for kind, col in _COLORS.items():
        parts.append(f'<rect x="{lx}" y="{height - 10}" width="10" height="8" fill="{col}"/><text x="{lx + 14}" y="{height - 2}">{kind}</text>')
        lx += 110
    parts.append("</svg>")
    return "\n".join(parts)


def report_html(report: dict, svg: str) -> str:
    n = report["npu"]
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(json.dumps(v))}</td></tr>" for k, v in n.items() if k != "config"
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>hetc NPU report: {html.escape(report.get('source', ''))}</title>
<style>body{{font-family:sans-serif;margin:2em}} td{{padding:2px 10px;border-bottom:1px solid #ddd;font-family:monospace}}</style>
</head><body>
<h1>hetc NPU report</h1>
<p>{html.escape(report.get('source', ''))} on <b>{html.escape(n['preset'])}</b> ({n['capacity_bytes']} bytes of scratchpad),
allocator <b>{html.escape(n['spm_alloc'])}</b>.</p>
<table>{rows}</table>
<h2>Scratchpad occupancy (address x step)</h2>
<p>One rectangle per stay of a tensor in the scratchpad, from its load or allocation to its free (hover for names).</p>
{svg}
</body></html>
"""

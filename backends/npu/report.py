"""The NPU target's report: predicted traffic and cycles, and the scratchpad picture.

`predicted_cycles` is the compiler's own estimate, from the allocator's plan alone, and
deliberately not the simulator's event model: a two-stage pipeline in which the DMA
work the plan puts between two kernels (the next kernel's loads, spills, stores of
earlier results) overlaps the kernel before it, except from the first transfer that
touches that kernel's operands (a load over bytes it reads, a store of what it wrote),
after which the DMA queue waits for it; busy times as in npu.h. The simulator
(runtime/npu_sim.c) schedules the same steps on concurrent units with a scoreboard over
the scratchpad: it lets the DMA queue run ahead of the kernels, and stalls a load that
would overwrite bytes a running kernel still reads; the report puts the two side by
side with their ratio. `occupancy_svg`
draws the plan as address x step: one rectangle per tensor residency, a self-contained
SVG (no scripts, no network), which `report_html` puts in report.html.
"""

from __future__ import annotations

import html
import json

from hetc.backends.npu.config import NpuConfig
from hetc.passes.spm.problem import (
    Alloc,
    Compute,
    Free,
    Load,
    Move,
    SpmPlan,
    SpmProblem,
    Store,
)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def predicted_cycles(problem: SpmProblem, plan: SpmPlan, work: dict[str, tuple[list, int]], gathers: dict[str, int],
                     c: NpuConfig) -> dict[str, int]:
    """The plan's cycles, estimated step by step (see the module docstring).

    `work`: op -> ([(M, N, K)] products, vector elements); `gathers`: op -> bytes of
    indexed DMA. Returns busy cycles per unit ("dma", "matrix", "vector", "move"),
    "serial" (their sum), "total" (the estimate), "steps" (kernels) and "dma_waiting" (DMA
    cycles that could not overlap the kernel before them). Between two
    kernels the DMA engine first runs the transfers that touch nothing the previous kernel
    uses (overlapped with it); from the first one that does (a load over its operands, a
    store of its result) the rest of the queue waits for it."""
    out = {"dma": 0, "matrix": 0, "vector": 0, "move": 0}
    ops = {op.name: op for op in problem.ops}
    where: dict[str, int] = {}
    busy: list[tuple[int, int]] = []  # SPM byte ranges of the previous kernel's operands
    written: set[str] = set()  # tensors it wrote
    total = prev = free = blocked = stalled = 0  # free: overlappable DMA; blocked: DMA that waits for prev
    waiting = False
    steps = 0

    def dma(cycles: int, touches: tuple[int, int] | None, stores: str | None = None) -> None:
        nonlocal free, blocked, waiting
        if not waiting and ((stores is not None and stores in written)
                            or (touches is not None and any(a < touches[1] and touches[0] < b for a, b in busy))):
            waiting = True
        if waiting:
            blocked += cycles
        else:
            free += cycles

    for s in plan.steps:
        if isinstance(s, Load):
            d = c.dma_latency_cycles + _cdiv(problem.tensors[s.tensor].size, c.dma_bytes_per_cycle)
            out["dma"] += d
            where[s.tensor] = s.offset
            dma(d, (s.offset, s.offset + problem.aligned(s.tensor)))
        elif isinstance(s, Store):
            d = c.dma_latency_cycles + _cdiv(problem.tensors[s.tensor].size, c.dma_bytes_per_cycle)
            out["dma"] += d
            dma(d, None, s.tensor)
        elif isinstance(s, Move):
            d = _cdiv(problem.tensors[s.tensor].size, c.spm_bytes_per_cycle)
            out["move"] += d
            dma(d, (s.offset, s.offset + problem.aligned(s.tensor)))
            where[s.tensor] = s.offset
        elif isinstance(s, Alloc):
            where[s.tensor] = s.offset
        elif isinstance(s, Compute):
            op = ops[s.op]
            mats, vec = work.get(s.op, ([], 0))
            n = c.matrix_n
            m = sum(_cdiv(a, n) * _cdiv(b, n) * _cdiv(k, n) for a, b, k in mats) * c.matrix_cycles_per_tile
            v = _cdiv(vec, c.vector_lanes) if vec else 0
            g = gathers.get(s.op, 0)
            if g:
                d = c.dma_latency_cycles + _cdiv(g, c.dma_bytes_per_cycle)
                out["dma"] += d
                dma(d, None)
            out["matrix"] += m
            out["vector"] += v
            total += max(prev, free) + blocked
            stalled += blocked
            prev, free, blocked, waiting, steps = m + v, 0, 0, False, steps + 1
            busy = [(where[t], where[t] + problem.aligned(t)) for t in (*op.reads, *op.writes) if t in where]
            written = set(op.writes)
    total += max(prev, free) + blocked
    out["serial"] = sum(out.values())
    out["dma_waiting"] = stalled + blocked  # DMA cycles queued behind a kernel they depend on
    out["total"] = total
    out["steps"] = steps
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
    pred, sim = n.get("predicted", {}), n.get("simulated", {})
    cycles = ""
    if sim:
        cycles = (
            f"<p>Cycles: predicted <b>{pred.get('cycles')}</b> (pipelined estimate from the plan), simulated "
            f"<b>{sim.get('cycles')}</b> (DMA engine and compute units concurrent; {sim.get('serial_cycles')} with no "
            f"overlap); predicted / simulated = <b>{n.get('cycles_ratio', 0):.3f}</b>. DMA bytes: predicted "
            f"{pred.get('dma_bytes')}, simulated {sim.get('dma_bytes')}.</p>"
        )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>hetc NPU report: {html.escape(report.get('source', ''))}</title>
<style>body{{font-family:sans-serif;margin:2em}} td{{padding:2px 10px;border-bottom:1px solid #ddd;font-family:monospace}}</style>
</head><body>
<h1>hetc NPU report</h1>
<p>{html.escape(report.get('source', ''))} on <b>{html.escape(n['preset'])}</b> ({n['capacity_bytes']} bytes of scratchpad),
allocator <b>{html.escape(n['spm_alloc'])}</b>.</p>
{cycles}
<table>{rows}</table>
<h2>Scratchpad occupancy (address x step)</h2>
<p>One rectangle per stay of a tensor in the scratchpad, from its load or allocation to its free (hover for names).</p>
{svg}
</body></html>
"""

"""Pipelining a whole loop nest: `#pragma HLS PIPELINE II=1` on an outer loop P, every loop
below it unrolled fully (what Vitis does to the sub-loops of a pipelined loop), and the arrays
the nest touches partitioned completely so that all its accesses fit in one cycle.

This is the HLS design point hls4ml's io_parallel layers sit at (one layer = one pipelined
iteration of fully unrolled multiply-adds); the pragma search offers it per non-innermost loop
(`estimate.search_pragmas`, choice "pipeline") next to the innermost unroll factors and the
one-level hoist. The model, one iteration of P:

* every op of a loop D below P is instantiated ``m(D)`` times, the product of the trip counts
  from P's child down to D;
* depth: P's own ops, then its sub-loops one after another (they pass data through arrays,
  registers after complete partitioning: in fixed point loads and stores take no cycle);
  a sub-loop whose iterations are independent adds its body's depth once; one that carries a
  reduction (`Loop.carried` / `Loop.rec`) adds an adder tree of ``ceil(log2 trip)`` levels in
  fixed point (Vitis balances integer/fixed-point expressions) and a chain of ``trip - 1``
  adds in float (no reassociation without unsafe math);
* II: accesses per iteration over 2 ports per bank (none for a completely partitioned array:
  registers), at least the load-add-store loop when P itself carries a dependence;
* latency of one execution: ``(trip(P) * flat - 1) * II + depth + 2``, with ``flat`` the
  perfect nest above P that Vitis flattens into it.
"""

from __future__ import annotations

import math

from hetc.backends.hls.estimate import Loop, Precision, loop_resources, op_depth, ports

#: body copies one pipelined iteration may hold (bigger nests are not offered to the search)
MAX_NEST_UNROLL = 8192


def subtree(p: Loop) -> list[tuple[Loop, int]]:
    """P (multiplicity 1) and every loop below it with its multiplicity m(D)."""
    out = [(p, 1)]

    def rec(lp: Loop, m: int) -> None:
        for c in lp.children:
            out.append((c, m * c.trip))
            rec(c, m * c.trip)

    rec(p, 1)
    return out


def can_pipeline_nest(p: Loop) -> bool:
    return not p.innermost and sum(m for _, m in subtree(p)[1:]) <= MAX_NEST_UNROLL and not any(
        a == "?" or a.startswith("axi:") for d, _ in subtree(p) for a in d.accesses)


def nest_arrays(p: Loop) -> dict[str, int]:
    """Array -> accesses in one iteration of P."""
    acc: dict[str, int] = {}
    for d, m in subtree(p):
        for a, n in d.accesses.items():
            acc[a] = acc.get(a, 0) + n * m
    return acc


def _depth(d: Loop, prec: Precision) -> int:
    """The body's own critical path; in fixed point the nest's arrays are registers."""
    return d.depth_reg if prec.kind == "fixed" else op_depth(d, prec)


def _unrolled_depth(d: Loop, prec: Precision) -> int:
    body = _depth(d, prec) + sum(_unrolled_depth(c, prec) for c in d.children)
    if d.carried or d.rec:
        add = max(1, prec.op_cost("fadd")[0])
        return body + (math.ceil(math.log2(d.trip)) * add if prec.kind == "fixed" and d.trip > 1 else (d.trip - 1) * add)
    return body


def nest_latency(p: Loop, partition: dict[str, int], prec: Precision, flat: int = 1,
                 sizes: dict[str, int] | None = None) -> int:
    depth = _depth(p, prec) + sum(_unrolled_depth(c, prec) for c in p.children)
    # a completely partitioned array is registers: no port bound
    ii = max([1] + [math.ceil(n / ports(a, partition)) for a, n in nest_arrays(p).items()
                    if partition.get(a, 1) < (sizes or {}).get(a, 1 << 62)])
    if p.carried:
        ii = max(ii, prec.op_cost("fadd")[0] + 1)
    return (p.trip * flat - 1) * ii + depth + 2


def nest_resources(p: Loop, prec: Precision) -> tuple[int, int, int]:
    dsp = lut = ff = 0
    for d, m in subtree(p):
        r = loop_resources(d, m, prec)
        dsp, lut, ff = dsp + r[0], lut + r[1], ff + r[2]
    return dsp, lut, ff


def complete_partition(p: Loop, sizes: dict[str, int]) -> dict[str, int]:
    """The cyclic factors (= the array's size: complete) a pipelined nest P needs."""
    return {a: sizes[a] for a in nest_arrays(p) if a in sizes and sizes[a] > 1}

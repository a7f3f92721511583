"""HEFT: Heterogeneous Earliest Finish Time, as published.

H. Topcuoglu, S. Hariri, M.-Y. Wu, "Performance-effective and low-complexity task
scheduling for heterogeneous computing", IEEE TPDS 13(3), 2002, section 4.1:

1. Upward rank, from the exit tasks up:
   rank_u(n_i) = avg_w(n_i) + max over successors n_j of (avg_c(i, j) + rank_u(n_j)),
   avg_w = the task's run time averaged over the devices (here: over the devices that can
   run it), avg_c = the edge's transfer time (the input gives one time per edge).
2. Tasks in non-increasing rank_u (ties: topological position, so the list stays a
   topological order even with zero-cost tasks).
3. Each task, in that order, goes to the device that gives it the earliest finish time,
   with the insertion-based policy: the earliest idle slot on that device, between two
   tasks already placed, long enough for it, that starts after its inputs arrive
   (predecessor's finish + transfer time when on another device). Ties: the first device.

On the paper's 10-task, 3-processor example (examples/dag_topcuoglu.json) this gives the
published makespan of 80.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

from hetc.diagnostics import HetcError
from hetc.passes.place.taskgraph import EPS, Placement, Schedule, TaskGraph, total_cost


def upward_ranks(graph: TaskGraph, cost: str = "mean", comm_factor: float = 1.0) -> dict[str, float]:
    """rank_u of every task (step 1 above). The variants (cost "min": cheapest run time
    instead of the mean; comm_factor: transfers weighted) give the other priority lists of
    the ILP's warm-start portfolio; HEFT itself uses the defaults."""
    rank: dict[str, float] = {}
    for t in reversed(graph.topological_order):
        c = graph.cost[t]
        w = sum(c.values()) / len(c) if cost == "mean" else min(c.values())
        rank[t] = w + max((comm_factor * comm + rank[s] for s, comm in graph.succs[t]), default=0.0)
    return rank


def heft_order(graph: TaskGraph, rank: Mapping[str, float] | None = None) -> list[str]:
    """The priority list: non-increasing upward rank, ties by topological position."""
    rank = upward_ranks(graph) if rank is None else rank
    pos = {t: i for i, t in enumerate(graph.topological_order)}
    # ranks are sums of averages: compare them to 1e-9 so equal ranks tie exactly (n3 and n4
    # of the paper's example both have rank 80; the paper lists n3 first)
    return sorted(graph.cost, key=lambda t: (-round(rank[t], 9), pos[t]))


class Timeline:
    """The busy slots of one device, sorted by (start, end); they never overlap, so the
    ends are sorted too."""

    def __init__(self) -> None:
        self.slots: list[tuple[float, float]] = []

    def earliest(self, ready: float, duration: float, insertion: bool = True) -> float:
        """Earliest start >= ready of a slot of `duration` (insertion: in any idle gap;
        otherwise only after the last busy slot)."""
        slots = self.slots
        if not insertion or not slots:
            return max(ready, slots[-1][1] if slots else 0.0)
        # gap i is the idle time before slot i; those ending before ready + duration are too early
        k = bisect.bisect_left(slots, ready + duration - EPS, key=lambda s: s[0])
        prev_end = slots[k - 1][1] if k > 0 else 0.0
        for i in range(k, len(slots)):
            start = max(ready, prev_end)
            if start + duration <= slots[i][0] + EPS:
                return start
            prev_end = slots[i][1]
        return max(ready, prev_end)

    def add(self, start: float, end: float) -> None:
        bisect.insort(self.slots, (start, end))


def list_schedule(
    graph: TaskGraph,
    order: Sequence[str],
    *,
    insertion: bool = True,
    choose: str = "eft",
    fixed_device: Mapping[str, str] | None = None,
    respect_capacity: bool = True,
    preplaced: Mapping[str, Placement] | None = None,
    devices: Sequence[str] | None = None,
    lookahead: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Placement]:
    """Schedule tasks one by one in `order` (a topological order). Each goes to
    `fixed_device[task]` if given, else the device chosen by `choose`: "eft" = earliest
    finish time, "cost" = cheapest run_cost (ties: earliest finish). With
    `respect_capacity`, devices whose memory is used up are skipped; raises HetcError when
    a task then fits nowhere. `preplaced` tasks keep their device and times (the
    others are scheduled around them). `devices` restricts the choice to those devices;
    `lookahead[task][device]` is added to the finish time when comparing devices (PEFT's
    optimistic cost to the end)."""
    lines = {d: Timeline() for d in graph.devices}
    used = {d: 0.0 for d in graph.devices}
    placed: dict[str, Placement] = {}
    mem = graph.memory if graph.uses_memory and respect_capacity else {}
    for t, p in (preplaced or {}).items():
        placed[t] = p
        lines[p.device].add(p.start, p.end)
        used[p.device] += mem.get(t, 0.0)
    for t in order:
        if t in placed:
            continue
        arrive_any = 0.0
        preds = graph.preds[t]
        cands = [fixed_device[t]] if fixed_device is not None and t in fixed_device else graph.can_run(t)
        if devices is not None:
            cands = [d for d in cands if d in devices]
        need = mem.get(t, 0.0)
        best = None
        for d in cands:
            if need and used[d] + need > graph.capacity.get(d, math.inf) + EPS:
                continue
            ready = arrive_any
            for p, c in preds:
                pp = placed[p]
                ready = max(ready, pp.end + (c if pp.device != d else 0.0))
            w = graph.cost[t][d]
            start = lines[d].earliest(ready, w, insertion)
            key = (start + w,) if choose == "eft" else (graph.run_cost(t, d), start + w)
            if lookahead is not None:
                key = (start + w + lookahead[t][d], start + w)
            if best is None or key < best[0]:
                best = (key, d, start, start + w)
        if best is None and devices is not None and not cands:
            raise HetcError(f"task '{t}' cannot run on any of {', '.join(devices)}")
        if best is None:
            raise HetcError(
                f"task '{t}' fits on no device: the devices that can run it "
                f"({', '.join(graph.can_run(t))}) have no memory capacity left for its {need:g}",
                hint="the list schedulers place greedily; --scheduler ilp searches all placements",
            )
        _, d, s, e = best
        placed[t] = Placement(d, s, e)
        lines[d].add(s, e)
        used[d] += need
    return placed


def heft(graph: TaskGraph) -> Schedule:
    """HEFT's schedule (see the module docstring)."""
    tasks = list_schedule(graph, heft_order(graph))
    s = Schedule(tasks, "heft", "HEURISTIC", cost=total_cost(graph, tasks))
    return s

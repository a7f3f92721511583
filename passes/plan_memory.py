"""hetc-plan-memory: the C backend's static memory plan, every intermediate at an offset in one arena.

Every `memref.alloc` in the function `main` is an intermediate buffer. Its live range
runs from the first to the last op of main's block that uses it (an op nested in a
region counts as the top-level op that holds it); a memref produced by an op that uses
the buffer (a view: `memref.subview`, `memref.collapse_shape`, `memref.expand_shape`,
`memref.reinterpret_cast`, a cast, ...) is an alias, and its uses count as uses of the
buffer, transitively. Two buffers may share bytes only if their live ranges are
disjoint; a buffer read and another written by the same call are both live at it.
Each buffer takes element count x element bytes, rounded up to 64 bytes.

Why: the C backend declares one static arena instead of one array per tensor; reusing
the bytes of dead tensors keeps that arena near the peak of live bytes, not their sum.

How: the TFLite "greedy by size" planner (largest buffer first, each at the lowest
offset free of every placed buffer it is live with) is the baseline and the fallback.
Then CP-SAT packs the buffers exactly: a 2-D packing with time (fixed intervals) on one
axis and offset (variable intervals, in units of 64 bytes) on the other, under
NoOverlap2D, minimizing the arena. It is hinted with the greedy plan, bounded by a time
limit, seeded and single-threaded, so a plan it proves optimal within the limit is the
same on every run. The CP-SAT plan is used only when it is no larger than the
greedy one; when the greedy arena already equals the peak of live bytes it is proven
optimal and CP-SAT is not run.

Output: `hetc.arena_offset = N : i64` on each alloc (bytes); on `main`,
`hetc.arena_bytes = N : i64` and `hetc.memory_plan = {...}` with `tensor_bytes` (sum of
the aligned sizes: the arena without reuse), `greedy_by_size_bytes`, `arena_bytes`,
`lower_bound_bytes`, `method`, `optimal` and `gap` ((arena - lower bound) / arena).

`plan_memory(buffers)` and `report(plan)` are the pure-Python API the pass, the tests
and the reports share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import (
    BoolAttr,
    DictionaryAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    f64,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass

from hetc.diagnostics import HetcError

ALIGNMENT = 64
"""Every buffer starts at, and takes a multiple of, this many bytes."""

MAX_CP_SAT_BUFFERS = 400
"""Above this many buffers CP-SAT is skipped and the greedy plan is kept."""


@dataclass(frozen=True)
class Buffer:
    """One intermediate: `size` in bytes, live from op `first` to op `last` (both included)."""

    name: str
    size: int
    first: int
    last: int

    def __post_init__(self) -> None:
        if self.size < 0 or self.first > self.last:
            raise ValueError(f"buffer {self.name!r}: size {self.size}, live range [{self.first}, {self.last}]")

    @property
    def aligned_size(self) -> int:
        return align(self.size)

    def live_with(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class MemoryPlan:
    """Where each buffer lives in the arena (`offsets[i]` in bytes for `buffers[i]`), and how good that is."""

    buffers: list[Buffer]
    offsets: list[int]
    arena_bytes: int
    tensor_bytes: int
    greedy_by_size_bytes: int
    lower_bound_bytes: int
    method: str
    optimal: bool
    gap: float
    solve_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def align(n: int, a: int = ALIGNMENT) -> int:
    return -(-n // a) * a


def live_lower_bound(buffers: Sequence[Buffer]) -> int:
    """The most aligned bytes live at any one op: no plan's arena is smaller."""
    events: dict[int, int] = {}
    for b in buffers:
        events[b.first] = events.get(b.first, 0) + b.aligned_size
        events[b.last + 1] = events.get(b.last + 1, 0) - b.aligned_size
    peak = live = 0
    for t in sorted(events):
        live += events[t]
        peak = max(peak, live)
    return peak


def arena_of(buffers: Sequence[Buffer], offsets: Sequence[int]) -> int:
    return max((o + b.aligned_size for b, o in zip(buffers, offsets)), default=0)


def check_plan(buffers: Sequence[Buffer], offsets: Sequence[int]) -> None:
    """Raise if two buffers live at the same time share a byte, or an offset is misaligned."""
    for i, (a, oa) in enumerate(zip(buffers, offsets)):
        if oa % ALIGNMENT or oa < 0:
            raise AssertionError(f"buffer {a.name!r} at offset {oa}, not a multiple of {ALIGNMENT}")
        for b, ob in zip(buffers[i + 1 :], offsets[i + 1 :]):
            if a.live_with(b) and oa < ob + b.aligned_size and ob < oa + a.aligned_size:
                raise AssertionError(f"buffers {a.name!r} and {b.name!r} are live together and overlap in memory")


def greedy_by_size(buffers: Sequence[Buffer]) -> list[int]:
    """TFLite's GreedyBySize: largest first (ties: earlier first use, then input order), each at
    the lowest offset that overlaps no placed buffer live at the same time."""
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i].aligned_size, buffers[i].first, i))
    offsets = [0] * len(buffers)
    placed: list[int] = []
    for i in order:
        b = buffers[i]
        size = b.aligned_size
        busy = sorted((offsets[j], offsets[j] + buffers[j].aligned_size) for j in placed if buffers[j].live_with(b))
        offset = 0
        if size:
            for lo, hi in busy:
                if hi <= lo:  # an empty buffer takes no bytes
                    continue
                if offset + size <= lo:
                    break
                offset = max(offset, hi)
        offsets[i] = offset
        placed.append(i)
    return offsets


def _cp_sat(
    buffers: Sequence[Buffer], hint: Sequence[int], upper: int, lower: int, time_limit: float
) -> tuple[list[int], int, int, bool, float] | None:
    """Pack exactly with CP-SAT. Returns (offsets, arena, bound, proven optimal, seconds) in
    bytes, or None when it found no plan in time."""
    from ortools.sat.python import cp_model

    unit = ALIGNMENT
    idx = [i for i, b in enumerate(buffers) if b.aligned_size > 0]
    ub, lb = upper // unit, lower // unit
    m = cp_model.CpModel()
    arena = m.new_int_var(lb, ub, "arena")
    offs: dict[int, cp_model.IntVar] = {}
    x_iv, y_iv = [], []
    for i in idx:
        b = buffers[i]
        s = b.aligned_size // unit
        o = m.new_int_var(0, ub - s, f"off{i}")
        offs[i] = o
        y = m.new_fixed_size_interval_var(o, s, f"mem{i}")
        x_iv.append(m.new_fixed_size_interval_var(b.first, b.last - b.first + 1, f"time{i}"))
        y_iv.append(y)
        m.add(o + s <= arena)
        m.add_hint(o, hint[i] // unit)
    m.add_no_overlap_2d(x_iv, y_iv)
    m.add_hint(arena, ub)
    m.minimize(arena)

    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers = 1
    p.random_seed = 0
    # One worker and a fixed seed: a plan CP-SAT finishes (proves optimal) within the limit
    # is the same on every run. At the limit, the wall clock or the deterministic clock,
    # whichever runs out first, stops it at the best plan found so far.
    p.max_time_in_seconds = time_limit
    p.max_deterministic_time = time_limit
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    offsets = [solver.value(offs[i]) * unit if i in offs else 0 for i in range(len(buffers))]
    best = solver.value(arena) * unit
    bound = max(lower, math.ceil(solver.best_objective_bound - 1e-6) * unit)
    return offsets, best, bound, status == cp_model.OPTIMAL, solver.wall_time


def plan_memory(
    buffers: Sequence[Buffer],
    *,
    solver: str = "cp-sat",
    time_limit: float = 2.0,
    max_cp_sat_buffers: int = MAX_CP_SAT_BUFFERS,
) -> MemoryPlan:
    """Place every buffer in one arena; `solver` is "cp-sat" (greedy, then CP-SAT when it
    can do better) or "greedy" (greedy by size only)."""
    if solver not in ("cp-sat", "greedy"):
        raise ValueError(f"solver must be 'cp-sat' or 'greedy', not {solver!r}")
    buffers = list(buffers)
    tensor = sum(b.aligned_size for b in buffers)
    lower = live_lower_bound(buffers)
    greedy = greedy_by_size(buffers)
    greedy_bytes = arena_of(buffers, greedy)

    def gap(arena: int, bound: int) -> float:
        return (arena - bound) / arena if arena else 0.0

    def from_greedy(method: str, notes: list[str]) -> MemoryPlan:
        return MemoryPlan(
            buffers, greedy, greedy_bytes, tensor, greedy_bytes, lower, method,
            greedy_bytes == lower, gap(greedy_bytes, lower), 0.0, notes,
        )  # fmt: skip

    if greedy_bytes == lower:
        return from_greedy("greedy-by-size", ["greedy arena equals the peak of live bytes: optimal"])
    if solver == "greedy":
        return from_greedy("greedy-by-size", ["CP-SAT not asked for (solver=greedy)"])
    if len(buffers) > max_cp_sat_buffers:
        return from_greedy(
            f"greedy-by-size (cp-sat skipped: {len(buffers)} buffers > {max_cp_sat_buffers})",
            [f"CP-SAT skipped above {max_cp_sat_buffers} buffers"],
        )
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return from_greedy("greedy-by-size (no solver: ortools is not installed)", ["ortools missing: greedy fallback"])
    res = _cp_sat(buffers, greedy, greedy_bytes, lower, time_limit)
    if res is None or res[1] > greedy_bytes:
        return from_greedy(
            f"greedy-by-size (cp-sat found no better plan in {time_limit:g} s)",
            ["CP-SAT found no plan no larger than greedy"],
        )
    offsets, best, bound, optimal, secs = res
    return MemoryPlan(
        buffers, offsets, best, tensor, greedy_bytes, bound, "cp-sat",
        optimal or best == bound, gap(best, bound), secs, [],
    )  # fmt: skip


def report(plan: MemoryPlan) -> str:
    """A table of the plan a human can read: one row per buffer by offset, then the totals."""
    rows = [("buffer", "bytes", "aligned", "live", "offset", "end")]
    order = sorted(range(len(plan.buffers)), key=lambda i: (plan.offsets[i], plan.buffers[i].first))
    for i in order:
        b, o = plan.buffers[i], plan.offsets[i]
        rows.append((b.name, str(b.size), str(b.aligned_size), f"{b.first}..{b.last}", str(o), str(o + b.aligned_size)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) if c == 0 else v.rjust(w) for c, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))

    def pct(n: int) -> str:
        return f"{100 * n / plan.tensor_bytes:.1f}%" if plan.tensor_bytes else "-"

    lines += [
        "",
        f"buffers            {len(plan.buffers)}",
        f"sum of sizes       {plan.tensor_bytes} B (no reuse)",
        f"greedy by size     {plan.greedy_by_size_bytes} B ({pct(plan.greedy_by_size_bytes)})",
        f"arena              {plan.arena_bytes} B ({pct(plan.arena_bytes)}) by {plan.method}",
        f"lower bound        {plan.lower_bound_bytes} B",
        f"proven optimal     {'yes' if plan.optimal else 'no'} (gap {100 * plan.gap:.2f}%)",
    ]
    lines += [f"note               {n}" for n in plan.notes]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# The pass: buffers from the IR, the plan back onto it.

_BYTES_OF_INDEX = 8


def memref_bytes(t: Attribute) -> int | None:
    """Element count x element bytes of a statically shaped memref, or None."""
    if not isinstance(t, MemRefType) or any(d < 0 for d in t.get_shape()):
        return None
    el = t.get_element_type()
    if isinstance(el, IndexType):
        width = _BYTES_OF_INDEX * 8
    else:
        width = getattr(el, "bitwidth", None)
        if width is None:
            width = getattr(el, "width", None)
            width = width.data if width is not None and hasattr(width, "data") else width
        if not isinstance(width, int):
            return None
    n = 1
    for d in t.get_shape():
        n *= d
    return n * (-(-width // 8))


def _top_level(op: Operation, block: Block) -> Operation | None:
    while op is not None and op.parent_block() is not block:
        op = op.parent_op()
    return op


def live_range(alloc: memref.AllocOp, block: Block, index: dict[Operation, int]) -> tuple[int, int]:
    """First and last op of `block` using the alloc's buffer or any alias of it."""
    seen: set[SSAValue] = set()
    work: list[SSAValue] = [alloc.memref]
    uses: list[int] = []
    while work:
        v = work.pop()
        if v in seen:
            continue
        seen.add(v)
        for use in v.uses:
            top = _top_level(use.operation, block)
            if top is None:
                continue
            uses.append(index[top])
            for op in {use.operation, top}:
                work.extend(r for r in op.results if isinstance(r.type, MemRefType))
    if not uses:
        return index[alloc], index[alloc]
    return min(uses), max(uses)


def _main(module: ModuleOp) -> func.FuncOp | None:
    for op in module.walk():
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    return None


@dataclass(frozen=True)
class PlanMemory(ModulePass):
    name = "hetc-plan-memory"

    time_limit: float = 2.0
    """CP-SAT's time limit, in (deterministic) seconds."""
    solver: str = "cp-sat"
    """"cp-sat" (greedy by size, improved by CP-SAT) or "greedy" (greedy by size only)."""
    max_cp_sat_buffers: int = MAX_CP_SAT_BUFFERS
    """Above this many buffers only greedy by size runs."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        main = _main(op)
        if main is None or not main.body.blocks:
            return
        if len(main.body.blocks) > 1:
            raise HetcError(
                "memory planning needs `main` to be one block",
                hint="lower control flow to structured ops (scf) before hetc-plan-memory",
            )
        block = main.body.blocks[0]
        index = {o: i for i, o in enumerate(block.ops)}
        allocs = [o for o in main.walk() if isinstance(o, memref.AllocOp)]
        buffers = []
        for k, a in enumerate(allocs):
            size = memref_bytes(a.memref.type)
            if size is None:
                raise HetcError(
                    f"cannot plan `memref.alloc` of {a.memref.type}: the arena needs a static shape "
                    "and an element type of known width",
                    op_type="memref.alloc",
                    hint="give every intermediate of main a static shape before hetc-plan-memory",
                )
            first, last = live_range(a, block, index)
            name = a.memref.name_hint or f"alloc{k}"
            buffers.append(Buffer(name, size, first, last))
        if self.solver not in ("cp-sat", "greedy"):
            raise HetcError(f"hetc-plan-memory: solver must be cp-sat or greedy, not {self.solver!r}")
        plan = plan_memory(
            buffers, solver=self.solver, time_limit=self.time_limit, max_cp_sat_buffers=self.max_cp_sat_buffers
        )
        check_plan(plan.buffers, plan.offsets)
        for a, off in zip(allocs, plan.offsets):
            a.attributes["hetc.arena_offset"] = IntegerAttr(off, i64)
        main.attributes["hetc.arena_bytes"] = IntegerAttr(plan.arena_bytes, i64)
        main.attributes["hetc.memory_plan"] = DictionaryAttr(
            {
                "tensor_bytes": IntegerAttr(plan.tensor_bytes, i64),
                "greedy_by_size_bytes": IntegerAttr(plan.greedy_by_size_bytes, i64),
                "arena_bytes": IntegerAttr(plan.arena_bytes, i64),
                "lower_bound_bytes": IntegerAttr(plan.lower_bound_bytes, i64),
                "method": StringAttr(plan.method),
                "optimal": BoolAttr.from_bool(plan.optimal),
                "gap": FloatAttr(round(plan.gap, 6), f64),
            }
        )

"""The scratchpad allocation problem and its plan: the contract between the NPU lowering
(which builds an `SpmProblem` from tile-level ops), the allocators (`ilp`, `belady`,
`lru`, which return an `SpmPlan`) and the simulator (which executes the plan's DMA and
compute steps and must count exactly the bytes `replay` predicts).

Model. Every tensor lives in DRAM ("off chip") and may have one copy in the scratchpad
(SPM) at a byte offset. An op runs only when every tensor it reads and writes is
resident. Tensors are written once (by one op) and never change, so a DRAM copy, once
made, stays valid.

Traffic. A `Load` moves a tensor DRAM -> SPM, a `Store` SPM -> DRAM; both cost the
tensor's size in bytes. Compulsory traffic is what any allocator must move: the first
load of every input and weight, and one store of every graph output. Everything else is
non-compulsory: reloads of inputs/weights, spills (stores) and reloads of
intermediates, repeated stores. `Free` drops the SPM copy at no cost; `Alloc` reserves
space for a tensor an op is about to write; `Move` relocates a resident tensor inside
the SPM (compaction: no DRAM traffic, the simulator charges it SPM bandwidth only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hetc.diagnostics import HetcError

TensorKind = Literal["input", "weight", "intermediate", "output"]
KINDS: tuple[str, ...] = ("input", "weight", "intermediate", "output")


class SpmTooLarge(HetcError):
    """An op's operands do not fit in the scratchpad together (tile it first)."""


@dataclass(frozen=True)
class SpmTensor:
    name: str
    #: bytes (the allocators round up to the problem's alignment)
    size: int
    #: input / weight: in DRAM before the program starts; output: must be in DRAM at
    #: the end (it may also be read by later ops); intermediate: produced and consumed
    kind: str


@dataclass(frozen=True)
class SpmOp:
    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    #: the onnx node (or tile of it) this op computes, for reports and diagnostics
    source: str = ""


@dataclass
class SpmProblem:
    tensors: dict[str, SpmTensor]
    #: one valid topological order; the baselines keep it, the ILP may reorder
    ops: list[SpmOp]
    capacity: int
    alignment: int = 64

    def aligned(self, name: str) -> int:
        a = self.alignment
        return -(-self.tensors[name].size // a) * a

    def producer(self) -> dict[str, str]:
        """tensor -> the op that writes it."""
        return {t: op.name for op in self.ops for t in op.writes}

    def deps(self) -> dict[str, set[str]]:
        """op -> the ops it must follow (the producers of what it reads)."""
        prod = self.producer()
        return {op.name: {prod[t] for t in op.reads if t in prod} for op in self.ops}

    def footprint(self, op: SpmOp) -> int:
        """bytes an op needs resident at once (its reads and writes, aligned)."""
        return sum(self.aligned(t) for t in set(op.reads) | set(op.writes))

    def validate(self) -> None:
        """Raise HetcError for a malformed problem, SpmTooLarge for an op that cannot fit."""
        seen: set[str] = set()
        prod = self.producer()
        for t in self.tensors.values():
            if t.kind not in KINDS:
                raise HetcError(f"tensor '{t.name}': unknown kind '{t.kind}' (known: {', '.join(KINDS)})")
            if t.kind in ("intermediate", "output") and t.name not in prod:
                raise HetcError(f"tensor '{t.name}' ({t.kind}) is written by no op")
            if t.kind in ("input", "weight") and t.name in prod:
                raise HetcError(f"tensor '{t.name}' ({t.kind}) is written by op '{prod[t.name]}'")
        for op in self.ops:
            for t in (*op.reads, *op.writes):
                if t not in self.tensors:
                    raise HetcError(f"op '{op.name}' uses unknown tensor '{t}'")
            for t in op.reads:
                if t in prod and prod[t] not in seen:
                    raise HetcError(f"op '{op.name}' reads '{t}' before its producer '{prod[t]}' in the given order")
            need = self.footprint(op)
            if need > self.capacity:
                sizes = ", ".join(f"{t} {self.aligned(t)} B" for t in dict.fromkeys((*op.reads, *op.writes)))
                raise SpmTooLarge(
                    f"op '{op.name}'{f' (node {op.source})' if op.source else ''} needs {need} bytes of scratchpad "
                    f"({sizes}) but the capacity is {self.capacity} bytes: tile it"
                )
            seen.add(op.name)


@dataclass(frozen=True)
class Load:
    tensor: str
    offset: int


@dataclass(frozen=True)
class Store:
    tensor: str


@dataclass(frozen=True)
class Free:
    tensor: str


@dataclass(frozen=True)
class Alloc:
    tensor: str
    offset: int


@dataclass(frozen=True)
class Move:
    tensor: str
    offset: int


@dataclass(frozen=True)
class Compute:
    op: str


Step = Load | Store | Free | Alloc | Move | Compute


@dataclass
class SpmPlan:
    #: "ilp", "belady" or "lru"
    allocator: str
    steps: list[Step]
    #: {"status": "OPTIMAL"|"FEASIBLE"|"HEURISTIC"|..., "gap": float, "seconds": float, ...}
    solver: dict = field(default_factory=dict)

    def order(self) -> list[str]:
        return [s.op for s in self.steps if isinstance(s, Compute)]


@dataclass(frozen=True)
class Traffic:
    compulsory: int
    noncompulsory: int
    loads: int
    stores: int
    #: the highest end offset any resident tensor reached
    peak_bytes: int
    #: bytes relocated inside the SPM by Move steps
    moved: int

    def as_dict(self) -> dict[str, int]:
        return {"compulsory": self.compulsory, "noncompulsory": self.noncompulsory}


def replay(problem: SpmProblem, plan: SpmPlan) -> Traffic:
    """Check that `plan` is a legal execution of `problem` and count its DRAM traffic.

    Legal: every op computed exactly once, after its producers; its reads and writes
    resident (at aligned, non-overlapping, in-capacity offsets) when it runs; a tensor
    loaded only when a valid DRAM copy exists and it is not already resident; a tensor
    freed without a DRAM copy never read again; every output stored by the end.
    Raises HetcError naming the first illegal step.
    """
    t = problem.tensors
    ops = {op.name: op for op in problem.ops}
    resident: dict[str, int] = {}  # tensor -> offset
    in_dram = {n for n, x in t.items() if x.kind in ("input", "weight")}
    computed: set[str] = set()
    loaded_once: set[str] = set()
    stored_once: set[str] = set()
    comp = noncomp = loads = stores = peak = moved = 0
    prod = problem.producer()
    readers: dict[str, list[str]] = {}  # tensor -> ops reading it, in problem order
    for op in problem.ops:
        for r in dict.fromkeys(op.reads):
            readers.setdefault(r, []).append(op.name)

    def place(i: int, name: str, off: int) -> None:
        nonlocal peak
        if name in resident:
            raise HetcError(f"step {i}: '{name}' is already resident")
        size = problem.aligned(name)
        if off < 0 or off % problem.alignment or off + size > problem.capacity:
            raise HetcError(f"step {i}: '{name}' at offset {off} (+{size} B) is misaligned or outside the {problem.capacity}-byte scratchpad")
        for other, o in resident.items():
            if off < o + problem.aligned(other) and o < off + size:
                raise HetcError(f"step {i}: '{name}' at [{off}, {off + size}) overlaps '{other}' at [{o}, {o + problem.aligned(other)})")
        resident[name] = off
        peak = max(peak, off + size)

    for i, s in enumerate(plan.steps):
        if isinstance(s, Load):
            if s.tensor not in t:
                raise HetcError(f"step {i}: load of unknown tensor '{s.tensor}'")
            if s.tensor not in in_dram:
                raise HetcError(f"step {i}: load of '{s.tensor}', which has no valid copy in DRAM")
            place(i, s.tensor, s.offset)
            size = t[s.tensor].size
            loads += size
            if t[s.tensor].kind in ("input", "weight") and s.tensor not in loaded_once:
                comp += size
            else:
                noncomp += size
            loaded_once.add(s.tensor)
        elif isinstance(s, Alloc):
            if s.tensor not in prod:
                raise HetcError(f"step {i}: alloc of '{s.tensor}', which no op writes")
            if prod[s.tensor] in computed:
                raise HetcError(f"step {i}: alloc of '{s.tensor}' after its producer ran (load it instead)")
            place(i, s.tensor, s.offset)
        elif isinstance(s, Store):
            if s.tensor not in resident or (s.tensor in prod and prod[s.tensor] not in computed):
                raise HetcError(f"step {i}: store of '{s.tensor}', which is not resident with a value")
            size = t[s.tensor].size
            stores += size
            if t[s.tensor].kind == "output" and s.tensor not in stored_once:
                comp += size
            else:
                noncomp += size
            stored_once.add(s.tensor)
            in_dram.add(s.tensor)
        elif isinstance(s, Free):
            if s.tensor not in resident:
                raise HetcError(f"step {i}: free of '{s.tensor}', which is not resident")
            del resident[s.tensor]
        elif isinstance(s, Move):
            if s.tensor not in resident:
                raise HetcError(f"step {i}: move of '{s.tensor}', which is not resident")
            del resident[s.tensor]
            place(i, s.tensor, s.offset)
            moved += t[s.tensor].size
        elif isinstance(s, Compute):
            op = ops.get(s.op)
            if op is None:
                raise HetcError(f"step {i}: compute of unknown op '{s.op}'")
            if s.op in computed:
                raise HetcError(f"step {i}: op '{s.op}' computed twice")
            for r in op.reads:
                if r in prod and prod[r] not in computed:
                    raise HetcError(f"step {i}: op '{s.op}' reads '{r}' before its producer '{prod[r]}' ran")
            for x in (*op.reads, *op.writes):
                if x not in resident:
                    raise HetcError(f"step {i}: op '{s.op}' needs '{x}' resident")
            computed.add(s.op)
        else:
            raise HetcError(f"step {i}: unknown step {s!r}")
        if isinstance(s, Free):
            # a value dropped with no DRAM copy must never be needed again (an allocation
            # whose producer has not run yet holds no value: dropping it is always legal)
            if s.tensor not in in_dram and not (s.tensor in prod and prod[s.tensor] not in computed):
                later = [o for o in readers.get(s.tensor, ()) if o not in computed]
                if later or t[s.tensor].kind == "output":
                    raise HetcError(f"step {i}: '{s.tensor}' freed without a DRAM copy but still needed ({', '.join(later) or 'graph output'})")
    missing = [op.name for op in problem.ops if op.name not in computed]
    if missing:
        raise HetcError(f"plan never computes {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    unstored = [n for n, x in t.items() if x.kind == "output" and n not in stored_once]
    if unstored:
        raise HetcError(f"plan never stores output(s) {', '.join(unstored)}")
    return Traffic(comp, noncomp, loads, stores, peak, moved)


def compulsory_bytes(problem: SpmProblem) -> int:
    """The traffic every allocator pays: each input and weight read once, each output stored once."""
    used = {r for op in problem.ops for r in op.reads}
    return sum(x.size for x in problem.tensors.values() if (x.kind in ("input", "weight") and x.name in used) or x.kind == "output")

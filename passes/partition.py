"""hetc-partition: split a placed model into per-device partitions and a `sched` host program.

Input: `@main` of `onnx`-dialect ops, every op but constants carrying `#hw.place`
(what `hetc-place` writes) and the module carrying `#hw.target` (the devices and their
kinds). Output:

- one `func.func private @part<i>` per partition: a run of ops on one device, still in
  the `onnx` dialect (each partition is lowered later by its device's target: cpu → c,
  gpu → cuda, npu → npu, fpga → hls), with `hw.device`, `hetc.target` and the
  `hetc.input_names` / `hetc.output_names` a standalone model has. Constants (weights)
  are cloned into every partition that uses them: weights are resident on each device,
  as the placement's cost model assumed;
- `@main` rewritten into `sched.copy` / `sched.launch` ops (one copy per tensor and
  destination device, reused by later partitions on that device), the outputs copied
  back to the host, and a `sched.wait` on every other device used.

Why a run of consecutive ops: one launch per partition keeps the host program short and
each partition an ordinary model its target already compiles. The op order is chosen to
make runs long: a topological order that keeps taking ready ops on the current device and
otherwise takes the ready op the schedule started first (`hw.place` start).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from hetc.diagnostics import HetcError

#: the target that lowers a partition, by the catalog's device kind
TARGET_OF_KIND = {"cpu": "c", "gpu": "cuda", "npu": "npu", "fpga": "hls"}
DEVICE_ATTR = "hw.device"
TARGET_ATTR_NAME = "hetc.target"
HOST_ATTR = "hetc.host"


def _is_constant(op: Operation) -> bool:
    return op.name == "onnx.Constant"


def _node(op: Operation) -> str:
    a = op.attributes.get("hetc.node")
    return a.data if isinstance(a, StringAttr) else op.name


def _nbytes(t) -> int:
    from hetc.dialects import onnx as onnx_d

    if not isinstance(t, TensorType):
        return 0
    n = 1
    for d in t.get_shape():
        n *= d
    return n * onnx_d.numpy_dtype(t.get_element_type()).itemsize


def _order(ops: list[Operation], device: dict[Operation, str]) -> list[Operation]:
    """A topological order that keeps consecutive ops on one device where it can."""
    from hetc.dialects.hw import PLACE_ATTR

    index = {op: i for i, op in enumerate(ops)}
    preds: dict[Operation, set[Operation]] = {op: set() for op in ops}
    for op in ops:
        for v in op.operands:
            if isinstance(v.owner, Operation) and v.owner in preds:
                preds[op].add(v.owner)
    succs: dict[Operation, list[Operation]] = {op: [] for op in ops}
    for op, ps in preds.items():
        for p in ps:
            succs[p].append(op)
    waiting = {op: len(ps) for op, ps in preds.items()}
    ready = [op for op in ops if waiting[op] == 0]

    def start(op: Operation) -> float:
        return op.attributes[PLACE_ATTR].value("start")

    out: list[Operation] = []
    current = None
    while ready:
        same = [op for op in ready if device[op] == current]
        pick = min(same or ready, key=lambda op: (start(op), index[op]))
        ready.remove(pick)
        out.append(pick)
        current = device[pick]
        for s in succs[pick]:
            waiting[s] -= 1
            if waiting[s] == 0:
                ready.append(s)
    return out


@dataclass(frozen=True)
class Partition(ModulePass):
    """Outline each run of ops on one device into `@part<i>` and rewrite `@main` as a
    `sched` program of launches, copies between device memories and waits. `host`: the
    device the graph's inputs and outputs live on (default: the catalog's host)."""

    name = "hetc-partition"

    host: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from hetc.dialects.hw import PLACE_ATTR, TARGET_ATTR
        from hetc.dialects.sched import CopyOp, LaunchOp, WaitOp
        from hetc.frontend.onnx_importer import INPUT_NAMES_ATTR, OUTPUT_NAMES_ATTR

        main = next((f for f in op.ops if isinstance(f, func.FuncOp) and f.sym_name.data == "main"), None)
        if main is None:
            raise HetcError("hetc-partition: the module has no @main")
        target = op.attributes.get(TARGET_ATTR)
        if target is None:
            raise HetcError("hetc-partition: the module has no #hw.target (run hetc-place first)")
        kinds = {d.dev_name.data: d.kind.data for d in target.devices.data}
        host = self.host
        if not host:
            from hetc.backends.devices import load_catalog

            host = load_catalog([]).host.name
        if host not in kinds:
            raise HetcError(f"hetc-partition: the host '{host}' is not among the target's devices ({', '.join(kinds)})")

        block = main.body.block
        from hetc.dialects.kernel import GroupOp

        group = next((o for o in block.ops if isinstance(o, GroupOp)), None)
        if group is not None:  # hetc-place prices ops, not regions: fusion comes after
            raise HetcError(
                f"hetc-partition: @main holds kernel.group {group.group_id} ({', '.join(n.data for n in group.nodes)}): "
                "hetc-fuse ran before partitioning",
                hint="run hetc-place and hetc-partition before hetc-fuse: each partition's target fuses its own ops",
            )
        ret = block.last_op
        body = [o for o in block.ops if o is not ret]
        constants = [o for o in body if _is_constant(o)]
        placed = [o for o in body if not _is_constant(o)]
        device: dict[Operation, str] = {}
        for o in placed:
            place = o.attributes.get(PLACE_ATTR)
            if place is None:
                raise HetcError(f"hetc-partition: node '{_node(o)}' ({o.name}) has no #hw.place (run hetc-place first)")
            d = place.device.data
            if d not in kinds:
                raise HetcError(f"hetc-partition: node '{_node(o)}' is placed on '{d}', not a device of the target")
            if kinds[d] not in TARGET_OF_KIND:
                raise HetcError(f"hetc-partition: device '{d}' is of kind '{kinds[d]}', which no target lowers")
            device[o] = d

        order = _order(placed, device)
        runs: list[list[Operation]] = []
        for o in order:
            if runs and device[runs[-1][0]] == device[o]:
                runs[-1].append(o)
            else:
                runs.append([o])

        # value names: the SSA name hints, made unique
        names: dict[SSAValue, str] = {}
        taken: set[str] = set()

        def name_of(v: SSAValue) -> str:
            if v not in names:
                base = v.name_hint or "t"
                n, k = base, 0
                while n in taken:
                    k += 1
                    n = f"{base}_{k}"
                taken.add(n)
                names[v] = n
            return names[v]

        in_names = [a.data for a in main.attributes[INPUT_NAMES_ATTR].data]
        for arg, n in zip(block.args, in_names):
            taken.add(n)
            names[arg] = n
        out_names = [a.data for a in main.attributes[OUTPUT_NAMES_ATTR].data]
        graph_outputs = list(ret.operands)
        for v, n in zip(graph_outputs, out_names):
            if v not in names and n not in taken:
                taken.add(n)
                names[v] = n

        const_of = {c.results[0]: c for c in constants}
        run_of = {o: i for i, r in enumerate(runs) for o in r}
        # the values each run needs from outside and the values it must hand out
        needs: list[list[SSAValue]] = []
        gives: list[list[SSAValue]] = []
        for i, r in enumerate(runs):
            ins: list[SSAValue] = []
            for o in r:
                for v in o.operands:
                    if v in const_of or v in ins:
                        continue
                    if isinstance(v.owner, Operation) and run_of.get(v.owner) == i:
                        continue
                    ins.append(v)
            needs.append(ins)
        for i, r in enumerate(runs):
            outs: list[SSAValue] = []
            for o in r:
                for v in o.results:
                    used_outside = any(
                        u.operation is ret or (u.operation in run_of and run_of[u.operation] != i) for u in v.uses
                    )
                    if used_outside and v not in outs:
                        outs.append(v)
            gives.append(outs)

        # outline each run into @part<i>
        new_main = Block(arg_types=[a.type for a in block.args])
        where: dict[SSAValue, dict[str, SSAValue]] = {}  # original value -> device -> value in new main
        for old, new in zip(block.args, new_main.args):
            new.name_hint = old.name_hint
            where[old] = {host: new}
        used: list[str] = []

        def on(v: SSAValue, dev: str) -> SSAValue:
            copies = where[v]
            if dev not in copies:
                src = next(iter(copies))
                c = CopyOp(copies[src], src, dev, _nbytes(v.type))
                c.res.name_hint = f"{name_of(v)}_{dev}"
                new_main.add_op(c)
                copies[dev] = c.res
            return copies[dev]

        for i, r in enumerate(runs):
            dev = device[r[0]]
            if dev not in used:
                used.append(dev)
            pblock = Block(arg_types=[v.type for v in needs[i]])
            mapping: dict[SSAValue, SSAValue] = dict(zip(needs[i], pblock.args))
            for a, v in zip(pblock.args, needs[i]):
                a.name_hint = name_of(v)
            needed_consts = []
            for o in r:
                for v in o.operands:
                    if v in const_of and const_of[v] not in needed_consts:
                        needed_consts.append(const_of[v])
            for c in sorted(needed_consts, key=lambda c: body.index(c)):
                clone = c.clone()
                pblock.add_op(clone)
                mapping[c.results[0]] = clone.results[0]
                clone.results[0].name_hint = c.results[0].name_hint
            for o in r:
                clone = o.clone(value_mapper=mapping)
                for old, new in zip(o.results, clone.results):
                    mapping[old] = new
                    new.name_hint = old.name_hint
                pblock.add_op(clone)
            pblock.add_op(func.ReturnOp(*[mapping[v] for v in gives[i]]))
            fn = func.FuncOp(
                f"part{i}", ([v.type for v in needs[i]], [v.type for v in gives[i]]), Region(pblock), visibility="private"
            )
            fn.attributes[DEVICE_ATTR] = StringAttr(dev)
            fn.attributes[TARGET_ATTR_NAME] = StringAttr(TARGET_OF_KIND[kinds[dev]])
            fn.attributes[INPUT_NAMES_ATTR] = ArrayAttr([StringAttr(name_of(v)) for v in needs[i]])
            fn.attributes[OUTPUT_NAMES_ATTR] = ArrayAttr([StringAttr(name_of(v)) for v in gives[i]])
            op.body.block.add_op(fn)
            launch = LaunchOp(
                f"part{i}", dev, TARGET_OF_KIND[kinds[dev]], [on(v, dev) for v in needs[i]], [v.type for v in gives[i]]
            )
            new_main.add_op(launch)
            for v, res in zip(gives[i], launch.res):
                res.name_hint = name_of(v)
                where[v] = {dev: res}
        for v in graph_outputs:
            if v in const_of and v not in where:
                clone = const_of[v].clone()
                new_main.add_op(clone)
                where[v] = {host: clone.results[0]}
        results = [on(v, host) for v in graph_outputs]
        for dev in used:
            if dev != host:
                new_main.add_op(WaitOp(dev))
        new_main.add_op(func.ReturnOp(*results))

        main.body.detach_block(block)
        main.body.add_block(new_main)
        main.attributes[HOST_ATTR] = StringAttr(host)
        for o in reversed(list(block.ops)):
            o.detach()
            o.erase(safe_erase=False)

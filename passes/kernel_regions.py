"""Forming and inlining `kernel.group` regions (hetc.dialects.kernel).

hetc-fuse calls `form_group` for every group of two or more ops once it has made the
group contiguous in program order: the ops move into the region's block, the values
they read from outside become operands (block arguments), the values read after the
group become results. A group of one op stays a plain op: it is its own kernel anyway.

`inline_groups` undoes it: the ops go back in place of the region, in order, and the
caller gets each op's group (id, kind). The loop lowering uses that to generate each
group as one kernel; passes that treat ops one by one (partitioning, placement) call it
to see a flat graph.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import func
from xdsl.ir import Block, Operation, Region, SSAValue

from hetc.dialects.kernel import GroupOp, YieldOp

#: an op's group id and kind while the loop lowering runs (`mark_groups_for_lowering`)
GROUP_ATTR = "hetc.group"
KIND_ATTR = "hetc.group_kind"
#: on @main once hetc-fuse has run (its report): every op is then in exactly one group
FUSION_REPORT_ATTR = "hetc.fusion_report"


def _node(op: Operation) -> str:
    a = op.attributes.get("hetc.node")
    return getattr(a, "data", "") or op.name.split(".", 1)[-1]


def form_group(ops: Sequence[Operation], group_id: int, kind: str) -> GroupOp:
    """Wrap `ops` (consecutive ops of one block, in program order) in a kernel.group put
    where they were; returns it."""
    block = ops[0].parent_block()
    assert block is not None
    inside = set(ops)
    externals: list[SSAValue] = []
    for op in ops:
        for v in op.operands:
            owner = v.owner
            if (not isinstance(owner, Operation) or owner not in inside) and v not in externals:
                externals.append(v)
    escaping = [r for op in ops for r in op.results if any(u.operation not in inside for u in r.uses)]
    body = Block(arg_types=[v.type for v in externals])
    group = GroupOp(externals, [r.type for r in escaping], Region(body), group_id, kind, [_node(op) for op in ops])
    block.insert_op_before(group, ops[0])
    args = dict(zip(externals, body.args))
    for v, a in args.items():
        a.name_hint = v.name_hint
    for op in ops:
        op.detach()
        body.add_op(op)
        for i, v in enumerate(op.operands):
            if v in args:
                op.operands[i] = args[v]
    body.add_op(YieldOp(escaping))
    for r, new in zip(escaping, group.outs):
        new.name_hint = r.name_hint
        r.replace_uses_with_if(new, lambda use: use.operation.parent_block() is not body)
    return group


def inline_group(group: GroupOp) -> list[Operation]:
    """Put the group's ops back in place of it (block arguments replaced by the
    operands, results by the yielded values); returns the ops."""
    block = group.parent_block()
    assert block is not None
    body = group.body.block
    for arg, v in zip(body.args, group.args):
        arg.replace_all_uses_with(v)
    yielded = body.last_op
    assert isinstance(yielded, YieldOp)
    for r, v in zip(group.outs, yielded.values):
        r.replace_all_uses_with(v)
    ops = [op for op in body.ops if op is not yielded]
    for op in ops:
        op.detach()
        block.insert_op_before(op, group)
    body.erase_op(yielded)
    block.erase_op(group)
    return ops


def inline_groups(fn: func.FuncOp | Operation) -> dict[Operation, tuple[int, str]]:
    """Inline every kernel.group of `fn`; returns each inlined op's (group id, kind)."""
    member: dict[Operation, tuple[int, str]] = {}
    for group in [op for op in fn.walk() if isinstance(op, GroupOp)]:
        gid, kind = group.group_id, group.group_kind
        for op in inline_group(group):
            member[op] = (gid, kind)
    return member


def mark_groups_for_lowering(fn: func.FuncOp) -> None:
    """Inline `fn`'s kernel.groups and mark every op with its group for the loop
    lowering's mixins (`hetc.group` id, `hetc.group_kind`): region members get their
    region's, and, once hetc-fuse has run, every other op a group of its own (`single`)
    so that no lowering fuses what hetc-fuse kept apart. Without hetc-fuse nothing is
    marked and the lowering fuses every epilogue that fits, as it always has."""
    from xdsl.dialects.builtin import IntegerAttr, StringAttr, i64

    member = inline_groups(fn)
    if FUSION_REPORT_ATTR not in fn.attributes and not member:
        return
    next_id = max((gid for gid, _ in member.values()), default=-1) + 1
    for op in fn.body.block.ops:
        if op.name in ("onnx.Constant", "onnx.NoValue", "func.return"):
            continue
        gid, kind = member.get(op, (None, "single"))
        if gid is None:
            gid, next_id = next_id, next_id + 1
        op.attributes[GROUP_ATTR] = IntegerAttr(gid, i64)
        op.attributes[KIND_ATTR] = StringAttr(kind)

"""hetc-npu-tile: split every op whose working set exceeds the NPU scratchpad into tiles.

An NPU computes out of a scratchpad of a few hundred KiB; a 224x224 CNN has single ops
whose inputs, weights and output together take several MiB, so nothing runs until they
are split. This pass works on the onnx dialect and keeps it an ordinary ONNX graph: an op
too large for `capacity` becomes `Slice` -> the same op on a tile -> `Concat`, so the NumPy
backend checks a tiled graph against the untiled one, and the loop lowering and the
scratchpad allocator then see one kernel per tile.

How. The output is cut on a grid (output channels and spatial rows/columns of
convolutions and pools, with input halos and per-tile pads; M/N of GEMMs; batch and
row axes of everything else); a greedy search doubles the cut of the axis that shrinks
the largest tile's working set most until it fits (or reuses the grid of a tiled input,
so an elementwise chain after a tiled convolution reads its pieces one to one). A tile's
input region comes from `region()`: a slice of a weight is folded into a new constant (a
weight of its own), a region of a tiled value is its pieces (a small Slice/Concat copy
where grids differ, never the whole tensor), and a region of a graph input is a `Slice`
recorded in `hetc.npu_regions` on @main, which the NPU lowering turns into one strided
DMA from DRAM. The whole value is re-assembled by a Concat only where an untiled consumer
or the graph output needs it (hetc-dce removes the rest). An op whose smallest tile still
does not fit is an error naming the node, its bytes and the capacity.

Convolutions: a grouped one (depthwise, with or without a channel multiplier) is cut into
whole groups (`group` = their number) or a part of one group (a plain conv of that group's
input channels); grid halving cuts at group boundaries. Pools in ceil mode are cut along
rows and columns too (each tile's window exact: ceil_mode 0, the overhang as pads), except
an AveragePool that counts pads (the overhang must not count): channels only. ConvTranspose
is cut along output rows/columns (the input rows they need; pads and output_padding crop
each tile's output) and, for group 1, output channels. Not cut (yet): the spatial axes of a
ConvTranspose with `output_shape` or SAME auto_pad, a grouped ConvTranspose's channels, and
non-2-D grouped convolutions' channels.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import numpy as np
from hetc.diagnostics import HetcError
from hetc.dialects import onnx as onnx_d
from hetc.passes.loops.ops import BINARY, COMPARE, LOGICAL, REDUCE_OPS, UNARY, VARIADIC
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, NoneType, StringAttr, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

#: @main attribute: {slice node name: {"starts": [...], "ends": [...]}} for slices of graph inputs
REGIONS_ATTR = "hetc.npu_regions"
#: @main attribute: {concat node name: axis} for the Concats that join tiles (a graph
#: output joined so is stored piece by piece instead)
CONCATS_ATTR = "hetc.npu_concats"
Box = tuple[tuple[int, int], ...]

ELEMENTWISE = UNARY | BINARY | VARIADIC | set(COMPARE) | LOGICAL | {"Cast", "Where"}
#: operands the loop lowering reads at compile time only (shapes, axes, pads): never resident
PARAM_INPUTS: dict[str, set[int]] = {
    "Reshape": {1}, "Slice": {1, 2, 3, 4}, "Pad": {1, 2, 3}, "Expand": {1}, "Tile": {1}, "Resize": {1, 2, 3},
    "Split": {1}, "TopK": {1}, "Squeeze": {1}, "Unsqueeze": {1}, "CumSum": {1}, **{r: {1} for r in REDUCE_OPS},
}


class _NoTiling(Exception):
    pass


def _dtype_bytes(v: SSAValue) -> int:
    return max(1, v.type.get_element_type().bitwidth // 8)


def _box_bytes(box: Box, itemsize: int, align: int) -> int:
    n = int(np.prod([hi - lo for lo, hi in box], dtype=np.int64)) * itemsize
    return -(-n // align) * align


def _full(v: SSAValue) -> Box:
    return tuple((0, d) for d in v.type.get_shape())


def _segments(dim: int, n: int) -> list[tuple[int, int]]:
    return [(dim * i // n, dim * (i + 1) // n) for i in range(n)]


def _attr(op: onnx_d.OnnxOp, name: str, default=None):
    a = op.attributes.get(name)
    return default if a is None else onnx_d.attribute_to_python(a)


def _broadcast_box(in_shape: list[int], out_box: Box) -> Box:
    """The region of a (numpy-broadcast) operand that an output region reads."""
    r, R = len(in_shape), len(out_box)
    return tuple((0, 1) if in_shape[i] == 1 else out_box[i + R - r] for i in range(r))


def _window(lo: int, hi: int, size: int, stride: int, pad_begin: int, extent: int) -> tuple[int, int, int, int]:
    """Input rows [a, b) and the pads (before, after) that output rows [lo, hi) of a
    sliding window (`extent` = dilated kernel size) read from an input of `size` rows."""
    first = lo * stride - pad_begin
    last = (hi - 1) * stride - pad_begin + extent
    return max(first, 0), min(last, size), max(0, -first), max(0, last - size)


# -- per op: the output axes it may be cut along, and the input regions of one tile ------------


def split_axes(op: onnx_d.OnnxOp) -> list[int]:
    t = op.OP_TYPE
    out = op.results[0]
    rank = len(out.type.get_shape())
    if any(r.uses for r in op.results[1:]):
        return []
    if t in ELEMENTWISE:
        return list(range(rank))
    if t in ("Conv", "MaxPool", "AveragePool"):
        if rank != 4:
            return [0, 1] if t == "Conv" and _attr(op, "group", 1) == 1 else [0]
        axes = [0, 1]  # output channels: whole groups, or a part of one group (group = 1)
        # ceil mode: a tile's windows are exact (ceil_mode = 0, the overhang as pads), except
        # for an average that counts pads (the overhang must not count)
        ceil_ok = not _attr(op, "ceil_mode", 0) or t == "MaxPool" or not _attr(op, "count_include_pad", 0)
        if _attr(op, "auto_pad", "NOTSET") in ("NOTSET", "VALID") and ceil_ok:
            axes += [2, 3]
        return axes
    if t in ("GlobalAveragePool", "GlobalMaxPool"):
        return [0, 1]
    if t == "MatMul":
        if min(len(v.type.get_shape()) for v in op.operands[:2]) < 2:
            return []
        return list(range(rank))
    if t == "Gemm":
        return [0, 1]
    if t in ("Softmax", "LogSoftmax", "Hardmax"):
        axis = _attr(op, "axis", -1) % rank
        return [d for d in range(rank) if d != axis]
    if t == "LayerNormalization":
        return list(range(_attr(op, "axis", -1) % rank))
    if t == "Transpose":
        return list(range(rank))
    if t == "Concat":
        axis = _attr(op, "axis") % rank
        return [d for d in range(rank) if d != axis]
    if t in REDUCE_OPS:
        return [d for d in range(rank) if out.type.get_shape()[d] > 1] if _attr(op, "keepdims", 1) else []
    if t == "Gather" and _table_gather(op):
        return list(range(rank))
    if t == "Resize" and rank == 4:
        # batch and channels pass through an image resize unchanged
        x = op.operands[0].type.get_shape()
        return [d for d in (0, 1) if x[d] == out.type.get_shape()[d]]
    if t == "ConvTranspose" and rank >= 3 and "output_shape" not in op.attributes:
        axes = [0] + ([1] if _attr(op, "group", 1) == 1 else [])
        if _attr(op, "auto_pad", "NOTSET") in ("NOTSET", "VALID"):
            axes += list(range(2, rank))
        return axes
    return []


def _channel_groups(op: onnx_d.OnnxOp, lo: int, hi: int) -> tuple[tuple[int, int], int]:
    """(input channels, group) of output channels [lo, hi) of a grouped Conv: a run of
    whole groups keeps `group` = their number; a part of one group is a plain conv of that
    group's input channels."""
    g = _attr(op, "group", 1)
    cin_g = op.operands[0].type.get_shape()[1] // g
    cout_g = op.results[0].type.get_shape()[1] // g
    if lo // cout_g == (hi - 1) // cout_g:
        j = lo // cout_g
        return (j * cin_g, (j + 1) * cin_g), 1
    if lo % cout_g or hi % cout_g:
        raise _NoTiling(f"channel tile [{lo}, {hi}) cuts groups of {cout_g}")  # (_halve never makes one)
    return (lo // cout_g * cin_g, hi // cout_g * cin_g), (hi - lo) // cout_g


def _whole_groups(op: onnx_d.OnnxOp, grid: dict[int, list[tuple[int, int]]]) -> bool:
    """Whether every output-channel segment of a grouped Conv is whole groups or inside one."""
    if op.OP_TYPE != "Conv" or _attr(op, "group", 1) == 1 or 1 not in grid:
        return True
    cout_g = op.results[0].type.get_shape()[1] // _attr(op, "group", 1)
    return all(lo // cout_g == (hi - 1) // cout_g or (lo % cout_g == 0 and hi % cout_g == 0) for lo, hi in grid[1])


def _halve(op: onnx_d.OnnxOp, d: int, a: int, b: int) -> list[tuple[int, int]]:
    """Segment [a, b) of output axis d in two; a grouped Conv's channels at a group
    boundary while the segment holds several groups (so a tile never cuts a group)."""
    if b - a < 2:
        return [(a, b)]
    mid = (a + b) // 2
    if op.OP_TYPE == "Conv" and d == 1 and _attr(op, "group", 1) > 1:
        cout_g = op.results[0].type.get_shape()[1] // _attr(op, "group", 1)
        if b - a > cout_g and a % cout_g == 0 and b % cout_g == 0:
            mid = a + (b - a) // cout_g // 2 * cout_g
    return [(a, mid), (mid, b)]


def _table_gather(op: onnx_d.OnnxOp) -> bool:
    """A row lookup in a constant table (an embedding): the NPU fetches the rows by an
    indexed DMA from DRAM, so the table is never resident."""
    return op.OP_TYPE == "Gather" and _attr(op, "axis", 0) == 0 and onnx_d.constant_value(op.operands[0]) is not None


def derive(op: onnx_d.OnnxOp, box: Box) -> tuple[list[Box | None], dict, int]:
    """(region of every operand, None = the whole operand as it is; attribute changes;
    extra scratchpad bytes the lowering needs, e.g. a padded copy) for output tile `box`."""
    t = op.OP_TYPE
    shapes = [list(v.type.get_shape()) if isinstance(v.type, TensorType) else None for v in op.operands]
    if t in ELEMENTWISE:
        return [_broadcast_box(s, box) if s is not None else None for s in shapes], {}, 0
    if t in ("Conv", "MaxPool", "AveragePool"):
        xs = shapes[0]
        k = list(op.operands[1].type.get_shape()[2:]) if t == "Conv" else list(_attr(op, "kernel_shape"))
        nsp = len(xs) - 2
        strides = list(_attr(op, "strides", [1] * nsp))
        dil = list(_attr(op, "dilations", [1] * nsp))
        pads = list(_attr(op, "pads", [0] * (2 * nsp))) if _attr(op, "auto_pad", "NOTSET") == "NOTSET" else [0] * (2 * nsp)
        group = _attr(op, "group", 1) if t == "Conv" else 1
        if t != "Conv":
            xbox = [box[0], box[1]]
        elif group == 1:
            xbox = [box[0], (0, xs[1])]
        else:
            cin, tile_group = _channel_groups(op, *box[1])
            xbox = [box[0], cin]
        new_pads = list(pads)
        for d in range(nsp):
            a, b, pb, pa = _window(box[2 + d][0], box[2 + d][1], xs[2 + d], strides[d], pads[d], (k[d] - 1) * dil[d] + 1)
            xbox.append((a, b))
            new_pads[d], new_pads[nsp + d] = pb, pa
        regions: list[Box | None] = [tuple(xbox)]
        keep_ceil = t == "AveragePool" and _attr(op, "count_include_pad", 0)
        if _attr(op, "ceil_mode", 0) and keep_ceil:
            new_pads = list(pads)  # rows and columns whole (split_axes): ceil mode as it was
        attrs: dict = {"pads": new_pads} if new_pads != pads or "pads" in op.attributes else {}
        if _attr(op, "ceil_mode", 0) and not keep_ceil:
            attrs["ceil_mode"] = 0  # the tile's window is exact; its overhang became pads
        if t == "Conv":
            ws = shapes[1]
            regions.append((box[1], *[(0, d) for d in ws[1:]]))
            if len(shapes) > 2 and shapes[2] is not None:
                regions.append((box[1],))
            if group > 1 and tile_group != group:
                attrs["group"] = tile_group
        if attrs.get("pads") and "auto_pad" in op.attributes:
            attrs["auto_pad"] = "NOTSET"
        extra = 0
        if any(new_pads):
            padded = [(0, xb[1] - xb[0] + (new_pads[i - 2] + new_pads[nsp + i - 2] if i >= 2 else 0)) for i, xb in enumerate(xbox)]
            extra = _box_bytes(tuple(padded), _dtype_bytes(op.operands[0]), 1)
        return regions + [None] * (len(op.operands) - len(regions)), attrs, extra
    if t in ("GlobalAveragePool", "GlobalMaxPool"):
        return [(box[0], box[1], *[(0, d) for d in shapes[0][2:]])], {}, 0
    if t == "MatMul":
        a, b = shapes[0], shapes[1]
        batch = box[:-2]
        abox = (*_broadcast_box(a[:-2], batch), box[-2], (0, a[-1])) if len(a) > 2 else (box[-2], (0, a[-1]))
        bbox = (*_broadcast_box(b[:-2], batch), (0, b[-2]), box[-1]) if len(b) > 2 else ((0, b[-2]), box[-1])
        return [abox, bbox], {}, 0
    if t == "Gemm":
        a, b = shapes[0], shapes[1]
        abox = ((0, a[0]), box[0]) if _attr(op, "transA", 0) else (box[0], (0, a[1]))
        bbox = (box[1], (0, b[1])) if _attr(op, "transB", 0) else ((0, b[0]), box[1])
        regions: list[Box | None] = [abox, bbox]
        if len(shapes) > 2 and shapes[2] is not None:
            regions.append(_broadcast_box(shapes[2], box))
        return regions, {}, 0
    if t in ("Softmax", "LogSoftmax", "Hardmax"):
        return [box], {}, 0
    if t == "LayerNormalization":
        return [box] + [None] * (len(op.operands) - 1), {}, 0
    if t == "Transpose":
        perm = list(_attr(op, "perm", list(reversed(range(len(box))))))
        inbox = [None] * len(box)
        for d, p in enumerate(perm):
            inbox[p] = box[d]
        return [tuple(inbox)], {}, 0
    if t == "Concat":
        axis = _attr(op, "axis") % len(box)
        return [tuple((0, s[d]) if d == axis else box[d] for d in range(len(box))) for s in shapes], {}, 0
    if t == "Gather":
        r = len(shapes[1])
        return [((0, shapes[0][0]), *box[r:]), box[:r]], {}, 0
    if t == "Resize":
        regions = [(box[0], box[1], *[(0, d) for d in shapes[0][2:]])] + [None] * (len(op.operands) - 1)
        attrs = {}
        sizes = onnx_d.constant_value(op.operands[3]) if len(op.operands) > 3 and shapes[3] is not None else None
        if sizes is not None:  # the tile's own output size
            attrs["_operands"] = {3: np.array([b - a for a, b in box], dtype=sizes.dtype)}
        return regions, attrs, 0
    if t == "ConvTranspose":
        return _conv_transpose_tile(op, box, shapes)
    if t in REDUCE_OPS:
        xs = shapes[0]
        out = op.results[0].type.get_shape()
        inbox = tuple(box[d] if out[d] == xs[d] else (0, xs[d]) for d in range(len(xs)))
        return [inbox] + [None] * (len(op.operands) - 1), {}, 0
    raise _NoTiling(t)


def _conv_transpose_tile(op: onnx_d.OnnxOp, box: Box, shapes: list) -> tuple[list[Box | None], dict, int]:
    """derive() for ConvTranspose. Output rows [lo, hi) (un-padded u = o + pad_begin) take
    input rows i with i*s <= u < i*s + (K-1)*d + 1; the tile is a ConvTranspose of those
    rows whose pads crop its full output to [lo, hi) (a pad that would be negative, where
    the tile's output runs past what its rows reach, is output_padding instead)."""
    xs, ws = shapes[0], shapes[1]
    nsp = len(xs) - 2
    strides = list(_attr(op, "strides", [1] * nsp))
    dil = list(_attr(op, "dilations", [1] * nsp))
    pads = list(_attr(op, "pads", [0] * (2 * nsp))) if _attr(op, "auto_pad", "NOTSET") == "NOTSET" else [0] * (2 * nsp)
    opad = list(_attr(op, "output_padding", [0] * nsp))
    xbox, new_pads, new_opad = [box[0], (0, xs[1])], list(pads), list(opad)
    full_tile = []
    for d in range(nsp):
        (lo, hi), s, ext, pb = box[2 + d], strides[d], (ws[2 + d] - 1) * dil[d], pads[d]
        a = min(max(0, min(-(-(lo + pb - ext) // s), (lo + pb) // s)), xs[2 + d] - 1)
        b = max(min(xs[2 + d], (hi - 1 + pb) // s + 1), a + 1)
        xbox.append((a, b))
        end = (b - 1) * s + ext + 1 - (hi + pb)
        new_pads[d], new_pads[nsp + d], new_opad[d] = lo + pb - a * s, max(end, 0), max(-end, 0)
        full_tile.append(max((b - a - 1) * s + ext + 1 + new_opad[d], new_pads[d] + hi - lo))
    group = _attr(op, "group", 1)
    regions: list[Box | None] = [tuple(xbox), ((0, ws[0]), box[1], *[(0, k) for k in ws[2:]]) if group == 1 else None]
    if len(shapes) > 2 and shapes[2] is not None:
        regions.append((box[1],))
    attrs: dict = {}
    if new_pads != pads or "pads" in op.attributes:
        attrs["pads"] = new_pads
        if "auto_pad" in op.attributes:
            attrs["auto_pad"] = "NOTSET"
    if new_opad != opad:
        attrs["output_padding"] = new_opad
    # the loop lowering's scratch: the GEMM's columns [Cout/g * taps, rows] and the
    # uncropped output canvas, beside (not with) the input and weight
    item = _dtype_bytes(op.results[0])
    cout = box[1][1] - box[1][0]
    rows = int(np.prod([b - a for a, b in xbox[2:]], dtype=np.int64))
    cols = cout // group * int(np.prod(ws[2:], dtype=np.int64)) * rows * item
    canvas = cout * int(np.prod(full_tile, dtype=np.int64)) * item
    xw = _box_bytes(tuple(xbox), item, 1) + int(np.prod(ws, dtype=np.int64)) * item * cout // max(1, ws[1] * group)
    out = _box_bytes(box, item, 1)
    return regions, attrs, max(0, cols - out, cols + canvas - xw)


# -- the rewrite --------------------------------------------------------------------------------


def _groups(a_shape: list[int], b_shape: list[int]) -> list[tuple[list[int], list[int]]] | None:
    """Dims of two shapes of one size in matching groups of equal products (a reshape
    only splits or merges within a group)."""
    groups, i, j = [], 0, 0
    while i < len(a_shape) or j < len(b_shape):
        ga, gb, pa, pb = [], [], 1, 1
        while True:
            if pa == pb and (ga or gb) and not (i < len(a_shape) and a_shape[i] == 1 and not gb) :
                break
            if (pa <= pb and i < len(a_shape)) or j >= len(b_shape):
                if i >= len(a_shape):
                    return None
                pa *= a_shape[i]; ga.append(i); i += 1
            else:
                pb *= b_shape[j]; gb.append(j); j += 1
        groups.append((ga, gb))
    return groups


def map_box(box: Box, a_shape: list[int], b_shape: list[int]) -> Box | None:
    """The box of shape `b_shape` holding the same elements as `box` of `a_shape` (the two
    shapes one reshape apart), or None where those elements are not a box there."""
    groups = _groups(a_shape, b_shape)
    if groups is None:
        return None
    out: list[tuple[int, int]] = [(0, d) for d in b_shape]
    for ga, gb in groups:
        # flat element range of the group's part of the box; it must be contiguous
        cut = next((d for d in ga if box[d] != (0, a_shape[d])), None)
        size = int(np.prod([a_shape[d] for d in ga], dtype=np.int64))
        if cut is None:
            lo, hi = 0, size
        else:
            if any(box[d] != (0, a_shape[d]) for d in ga if d > cut):
                return None
            if any(box[d][1] - box[d][0] != 1 for d in ga if d < cut):
                return None
            outer = 0
            for d in ga:
                if d < cut:
                    outer = outer * a_shape[d] + box[d][0]
            inner = int(np.prod([a_shape[d] for d in ga if d > cut], dtype=np.int64))
            lo, hi = (outer * a_shape[cut] + box[cut][0]) * inner, (outer * a_shape[cut] + box[cut][1]) * inner
        # that range as a box of the group's new dims: single indices, then one range, then full
        span = hi - lo
        for k, d in enumerate(gb):
            below = int(np.prod([b_shape[e] for e in gb[k + 1 :]], dtype=np.int64))
            idx, rem = divmod(lo, below)
            idx %= b_shape[d]
            if span >= below:
                if rem or span % below or idx + span // below > b_shape[d]:
                    return None
                out[d] = (idx, idx + span // below)
                break
            out[d] = (idx, idx + 1)
            lo = rem
        else:
            if span != (1 if gb else span):
                return None
    return tuple(out)


class Tiler:
    """Tiles one @main in place for a scratchpad of `capacity` bytes."""

    def __init__(self, main: func.FuncOp, capacity: int, alignment: int = 64) -> None:
        self.main = main
        self.block = main.body.block
        self.capacity = capacity
        self.align = alignment
        self.pieces: dict[SSAValue, list[tuple[Box, SSAValue]]] = {}
        self.cache: dict[tuple[SSAValue, Box], SSAValue] = {}
        self.regions: dict[str, dict] = {}
        #: the Concats that re-assemble pieces: node name -> axis
        self.concats: dict[str, int] = {}
        old = main.attributes.get(REGIONS_ATTR)
        if isinstance(old, StringAttr):
            self.regions.update(json.loads(old.data))
        self.anchor: Operation | None = None
        self.count = 0
        self.tiled: dict[str, int] = {}

    # working set of one tile: every resident operand region, the output tile, the scratch
    def working_set(self, op: onnx_d.OnnxOp, box: Box) -> int:
        regions, _, extra = derive(op, box)
        params = PARAM_INPUTS.get(op.OP_TYPE, set()) | ({0} if _table_gather(op) else set())
        total = _box_bytes(box, _dtype_bytes(op.results[0]), self.align) + -(-extra // self.align) * self.align
        for i, (v, r) in enumerate(zip(op.operands, regions)):
            if i in params or isinstance(v.type, NoneType) or not isinstance(v.type, TensorType):
                continue
            total += _box_bytes(r if r is not None else _full(v), _dtype_bytes(v), self.align)
        return max([total] + [self.assembly(v, r if r is not None else _full(v))
                              for v, r in zip(op.operands, regions) if isinstance(v.type, TensorType)])

    def assembly(self, v: SSAValue, box: Box) -> int:
        """Bytes resident while the region `box` of a tiled value is copied together from
        its pieces (a piece and its part while slicing, the parts and the region while
        concatenating), 0 for one whole piece."""
        if v not in self.pieces:
            return 0
        hit = [b for b, _ in self.pieces[v] if all(lo < bhi and blo < hi for (lo, hi), (blo, bhi) in zip(box, b))]
        if len(hit) == 1 and hit[0] == box:
            return 0
        item = _dtype_bytes(v)
        # each piece is sliced to its part (piece + part resident), then the parts are concatenated
        parts = [tuple((max(lo, blo), min(hi, bhi)) for (lo, hi), (blo, bhi) in zip(box, b)) for b in hit]
        slicing = max(_box_bytes(b, item, self.align) + _box_bytes(q, item, self.align) for b, q in zip(hit, parts) if b != q) \
            if any(b != q for b, q in zip(hit, parts)) else 0
        joining = sum(_box_bytes(q, item, self.align) for q in parts) + _box_bytes(box, item, self.align) if len(hit) > 1 else 0
        return max(slicing, joining)

    def whole_working_set(self, op: onnx_d.OnnxOp) -> int:
        params = PARAM_INPUTS.get(op.OP_TYPE, set()) | ({0} if _table_gather(op) else set())
        total = sum(_box_bytes(_full(r), _dtype_bytes(r), self.align) for r in op.results if isinstance(r.type, TensorType))
        seen = set()
        for i, v in enumerate(op.operands):
            if i in params or not isinstance(v.type, TensorType) or v in seen:
                continue
            seen.add(v)
            total += _box_bytes(_full(v), _dtype_bytes(v), self.align)
        if op.OP_TYPE == "ConvTranspose" or (op.OP_TYPE == "Conv" and any(_attr(op, "pads", []))):
            try:
                total += derive(op, _full(op.results[0]))[2]
            except _NoTiling:
                pass
        # a tiled operand read whole is first copied together from its pieces
        return max([total] + [self.assembly(v, _full(v)) for v in op.operands if isinstance(v.type, TensorType)])

    def _grid_ws(self, op, grid: dict[int, list[tuple[int, int]]]) -> int:
        """The largest working set of a tile of `grid`: each axis's first, an interior and
        its last segment (halos and sizes differ only there)."""
        full = _full(op.results[0])
        choices = []
        for d in range(len(full)):
            segs = grid.get(d, [full[d]])
            pick = {0, len(segs) // 2, len(segs) - 1}
            choices.append([segs[i] for i in sorted(pick)])
        return max(self.working_set(op, tuple(box)) for box in itertools.product(*choices))

    def choose_grid(self, op: onnx_d.OnnxOp, axes: list[int]) -> dict[int, list[tuple[int, int]]]:
        shape = op.results[0].type.get_shape()
        # an input cut into pieces of the output's shape: reuse its grid when its tiles fit
        for v in op.operands:
            if v in self.pieces and list(v.type.get_shape()) == list(shape):
                grid = {}
                for d in range(len(shape)):
                    cuts = sorted({b[d][0] for b, _ in self.pieces[v]} | {shape[d]})
                    if len(cuts) > 2 or cuts[0] != 0:
                        grid[d] = list(zip(cuts[:-1], cuts[1:]))
                if grid and set(grid) <= set(axes) and _whole_groups(op, grid) and self._grid_ws(op, grid) <= self.capacity:
                    return grid
        # start from a tiled input's grid (cuts that line up with its pieces) and refine it
        grid = {d: [(0, shape[d])] for d in axes}
        for v in op.operands:
            if v in self.pieces and list(v.type.get_shape()) == list(shape):
                for d in axes:
                    cuts = sorted({b[d][0] for b, _ in self.pieces[v]} | {shape[d]})
                    grid[d] = list(zip(cuts[:-1], cuts[1:]))
                break
        if not _whole_groups(op, grid):
            grid[1] = [(0, shape[1])]
        ws = self._grid_ws(op, grid)
        while ws > self.capacity:
            best = None
            for d in axes:
                if all(b - a < 2 for a, b in grid[d]):
                    continue
                halves = [h for a, b in grid[d] for h in _halve(op, d, a, b)]
                trial = {**grid, d: halves}
                w = self._grid_ws(op, trial)
                if best is None or w < best[0]:
                    best = (w, trial)
            if best is None or best[0] >= ws:
                raise HetcError(
                    f"node '{op.node_name}' ({op.OP_TYPE}): its smallest tile still needs {ws} bytes of scratchpad "
                    f"(operands, output and scratch, {self.align}-byte aligned) but the capacity is {self.capacity} bytes",
                    hint="choose an NPU preset with a larger scratchpad (--npu-config)",
                )
            ws, grid = best
            if int(np.prod([len(s) for s in grid.values()])) > 16384:
                raise HetcError(f"node '{op.node_name}' ({op.OP_TYPE}) needs more than 16384 tiles to fit {self.capacity} bytes")
        return {d: s for d, s in grid.items() if len(s) > 1}

    # IR construction before the op being tiled
    def _insert(self, new: Operation) -> SSAValue:
        self.block.insert_op_before(new, self.anchor)
        return new.results[0]

    def _name(self, base: str, what: str) -> str:
        self.count += 1
        return f"{base or 'v'}/npu_{what}{self.count}"

    def _i64(self, values: list[int]) -> SSAValue:
        return self._insert(onnx_d.constant_op(np.array(values, dtype=np.int64)))

    def region(self, v: SSAValue, box: Box) -> SSAValue:
        """A value holding `v[box]`, built from what is cheapest to keep resident."""
        if box == _full(v):
            return v
        key = (v, box)
        if key in self.cache:
            return self.cache[key]
        const = onnx_d.constant_value(v)
        if const is not None:
            r = self._insert(onnx_d.constant_op(np.ascontiguousarray(const[tuple(slice(a, b) for a, b in box)]), v.name_hint))
        elif v in self.pieces:
            hit = [(b, pv) for b, pv in self.pieces[v] if all(lo < bhi and blo < hi for (lo, hi), (blo, bhi) in zip(box, b))]
            if len(hit) == 1:
                r = self._from_pieces(hit, box, v)
            else:
                # the region's parts, each cut from one piece; the region stays a tiled value
                # (its consumers read the parts, never need the whole)
                parts = []
                for b, pv in hit:
                    q = tuple((max(lo, blo), min(hi, bhi)) for (lo, hi), (blo, bhi) in zip(box, b))
                    part = self.region(pv, tuple((a - blo, c - blo) for (a, c), (blo, _) in zip(q, b)))
                    parts.append((tuple((a - lo, c - lo) for (a, c), (lo, _) in zip(q, box)), part))
                r = self._from_pieces(parts, tuple((0, hi - lo) for lo, hi in box), v)
                self.pieces[r] = parts
        else:
            r = self._slice(v, box)
        self.cache[key] = r
        return r

    def _slice(self, v: SSAValue, box: Box) -> SSAValue:
        axes = [d for d, (a, b) in enumerate(box) if (a, b) != (0, v.type.get_shape()[d])]
        name = self._name(v.name_hint or "", "slice")
        ops = [v, self._i64([box[d][0] for d in axes]), self._i64([box[d][1] for d in axes]), self._i64(axes)]
        t = TensorType(v.type.get_element_type(), [b - a for a, b in box])
        r = self._insert(onnx_d.create_op("Slice", ops, [t], {onnx_d.NODE_NAME_ATTR: StringAttr(name)}))
        self.regions[name] = {"starts": [a for a, _ in box], "ends": [b for _, b in box]}
        return r

    def _from_pieces(self, pieces, box: Box, whole: SSAValue) -> SSAValue:
        hit = [(b, pv) for b, pv in pieces if all(lo < bhi and blo < hi for (lo, hi), (blo, bhi) in zip(box, b))]
        if len(hit) == 1:
            b, pv = hit[0]
            return self.region(pv, tuple((lo - blo, hi - blo) for (lo, hi), (blo, _) in zip(box, b)))
        for d, (lo, hi) in enumerate(box):
            cuts = sorted({b[d][0] for b, _ in hit if lo < b[d][0] < hi})
            if not cuts:
                continue
            edges = [lo, *cuts, hi]
            parts = []
            for a, b in zip(edges[:-1], edges[1:]):
                sub = tuple((a, b) if e == d else box[e] for e in range(len(box)))
                parts.append(self._from_pieces(hit, sub, whole))
            t = TensorType(whole.type.get_element_type(), [b - a for a, b in box])
            concat = onnx_d.build_op("Concat", parts, [t], axis=d)
            cname = self._name(whole.name_hint or "", "concat")
            concat.attributes[onnx_d.NODE_NAME_ATTR] = StringAttr(cname)
            self.concats[cname] = d
            return self._insert(concat)
        raise AssertionError("pieces do not cover the region")  # pragma: no cover

    def tile(self, op: onnx_d.OnnxOp) -> None:
        axes = split_axes(op)
        need = self.whole_working_set(op)
        if not axes:
            raise HetcError(
                f"node '{op.node_name}' ({op.OP_TYPE}) needs {need} bytes of scratchpad but the capacity is "
                f"{self.capacity} bytes, and hetc-npu-tile cannot split a {op.OP_TYPE} yet",
                hint="choose an NPU preset with a larger scratchpad (--npu-config)",
            )
        grid = self.choose_grid(op, axes)
        self.anchor = op
        out = op.results[0]
        full = _full(out)
        pieces = []
        per_axis = [grid.get(d, [full[d]]) for d in range(len(full))]
        for n, box in enumerate(itertools.product(*per_axis)):
            regions, attrs, _ = derive(op, box)
            operands = [v if r is None else self.region(v, r) for v, r in zip(op.operands, regions)]
            for i, array in attrs.pop("_operands", {}).items():
                operands[i] = self._insert(onnx_d.constant_op(array))
            attributes = dict(op.attributes)
            for k, val in attrs.items():
                kind = int(op.SCHEMA.attributes[k].type)
                attributes[k] = onnx_d.attribute_from_python(kind, val)
            attributes[onnx_d.NODE_NAME_ATTR] = StringAttr(f"{op.node_name or op.OP_TYPE}/npu_tile{n}")
            t = TensorType(out.type.get_element_type(), [b - a for a, b in box])
            piece = self._insert(onnx_d.create_op(op.OP_TYPE, operands, [t], attributes))
            piece.name_hint = out.name_hint
            pieces.append((box, piece))
        whole = self._from_pieces(pieces, full, out)
        whole.name_hint = out.name_hint
        out.replace_all_uses_with(whole)
        for r in op.results[1:]:
            assert not r.uses
        self.block.erase_op(op)
        self.pieces[whole] = pieces
        self.tiled[op.node_name or op.OP_TYPE] = len(pieces)

    # -- ops that only select or re-view data: read the pieces, never the whole value --

    def _replace(self, op: onnx_d.OnnxOp, values: list[SSAValue]) -> None:
        for r, v in zip(op.results, values):
            v.name_hint = r.name_hint
            r.replace_all_uses_with(v)
        self.block.erase_op(op)

    def select(self, op: onnx_d.OnnxOp) -> bool:
        """Slice (unit steps) and Split as regions of their input: pieces of a tiled value,
        a strided DMA of a graph input. False where the op is not of that form."""
        x = op.operands[0]
        shape = list(x.type.get_shape())
        rank = len(shape)
        self.anchor = op
        if op.OP_TYPE == "Slice":
            starts, ends = (onnx_d.constant_value(v) for v in op.operands[1:3])
            axes = onnx_d.constant_value(op.operands[3]) if len(op.operands) > 3 and isinstance(op.operands[3].type, TensorType) else None
            steps = onnx_d.constant_value(op.operands[4]) if len(op.operands) > 4 and isinstance(op.operands[4].type, TensorType) else None
            if starts is None or (steps is not None and (steps != 1).any()) or (len(op.operands) > 3 and isinstance(op.operands[3].type, TensorType) and axes is None):
                return False
            box = [(0, d) for d in shape]
            out = op.results[0].type.get_shape()
            for a, s0 in zip(axes if axes is not None else range(len(starts)), starts):
                a = int(a) % rank
                s0 = int(s0) + shape[a] if s0 < 0 else int(s0)
                s0 = min(max(s0, 0), shape[a])
                box[a] = (s0, s0 + out[a])
            self._replace(op, [self.region(x, tuple(box))])
            return True
        if op.OP_TYPE == "Gather":
            # a constant index (class token) or a constant run of indices: a region
            idx = onnx_d.constant_value(op.operands[1])
            axis = _attr(op, "axis", 0) % rank
            if idx is None or idx.ndim > 1 or idx.size == 0:
                return False
            flat = [int(i) + shape[axis] if i < 0 else int(i) for i in idx.reshape(-1)]
            if flat != list(range(flat[0], flat[0] + len(flat))):
                return False
            box = tuple((flat[0], flat[0] + len(flat)) if d == axis else (0, shape[d]) for d in range(rank))
            r = self.region(x, box)
            out_shape = list(op.results[0].type.get_shape())
            if list(r.type.get_shape()) != out_shape:
                r = self._insert(onnx_d.create_op("Reshape", [r, self._i64(out_shape)], [op.results[0].type],
                                                  {onnx_d.NODE_NAME_ATTR: StringAttr(self._name(op.node_name, "reshape"))}))
            self._replace(op, [r])
            return True
        if op.OP_TYPE == "Split":
            axis = _attr(op, "axis", 0) % rank
            at, values = 0, []
            for r in op.results:
                n = r.type.get_shape()[axis]
                values.append(self.region(x, tuple((at, at + n) if d == axis else (0, shape[d]) for d in range(rank))))
                at += n
            self._replace(op, values)
            return True
        return False

    def reshape(self, op: onnx_d.OnnxOp) -> bool:
        """A Reshape of a tiled value as a Reshape of each piece, where every piece is a box
        of the new shape too (dims only split or merged, the cut on the outer one); else on
        a grid of the new shape whose tiles are boxes of the old one (small copies from the
        pieces), so the whole value is never needed at once."""
        x = op.operands[0]
        a_shape, b_shape = list(x.type.get_shape()), list(op.results[0].type.get_shape())
        mapped = [(map_box(box, a_shape, b_shape), piece) for box, piece in self.pieces[x]]
        self.anchor = op
        if any(nb is None for nb, _ in mapped):
            # tiles of the new shape, halving outer axes first, each at most a third of the SPM
            grid = [[(0, d)] for d in b_shape]
            item = _dtype_bytes(x)
            for d in range(len(b_shape)):
                while max(_box_bytes(tuple(g[0] for g in grid), item, 1), 0) > self.capacity // 3 and grid[d][0][1] - grid[d][0][0] > 1:
                    grid[d] = [h for a, b in grid[d] for h in ([(a, (a + b) // 2), ((a + b) // 2, b)] if b - a > 1 else [(a, b)])]
            mapped = []
            for nb in itertools.product(*grid):
                ab = map_box(nb, b_shape, a_shape)
                if ab is None:
                    return False
                mapped.append((nb, ab))
            mapped = [(nb, self.region(x, ab)) for nb, ab in mapped]
        pieces = []
        for nb, piece in mapped:
            t = TensorType(x.type.get_element_type(), [b - a for a, b in nb])
            r = self._insert(onnx_d.create_op("Reshape", [piece, self._i64([b - a for a, b in nb])], [t],
                                              {onnx_d.NODE_NAME_ATTR: StringAttr(self._name(op.node_name, "reshape"))}))
            pieces.append((nb, r))
        whole = self._from_pieces(pieces, _full(op.results[0]), op.results[0])
        self._replace(op, [whole])
        self.pieces[whole] = pieces
        return True

    def run(self) -> dict[str, int]:
        for op in list(self.block.ops):
            if not isinstance(op, onnx_d.OnnxOp) or op.OP_TYPE == "Constant" or not op.results:
                continue
            if not isinstance(op.results[0].type, TensorType):
                continue
            if op.OP_TYPE == "Reshape":
                if op.operands[0] in self.pieces:
                    self.reshape(op)
                continue
            if op.OP_TYPE in ("Slice", "Split", "Gather") and not _table_gather(op) and (op.operands[0] in self.pieces or self.whole_working_set(op) > self.capacity):
                if self.select(op):
                    continue
            if self.whole_working_set(op) > self.capacity:
                self.tile(op)
        self.main.attributes[REGIONS_ATTR] = StringAttr(json.dumps(self.regions, sort_keys=True))
        self.main.attributes[CONCATS_ATTR] = StringAttr(json.dumps(self.concats, sort_keys=True))
        return self.tiled


def tile_module(module: ModuleOp, capacity: int, alignment: int = 64) -> dict[str, int]:
    """Tile @main of `module` for a `capacity`-byte scratchpad; returns {node: tiles}."""
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    return Tiler(main, capacity, alignment).run()


@dataclass(frozen=True)
class NpuTile(ModulePass):
    name = "hetc-npu-tile"
    #: scratchpad bytes every op (operands + output + scratch) must fit in
    capacity: int = 262144
    alignment: int = 64

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from hetc.passes.dce import erase_dead_ops

        tile_module(op, int(self.capacity), int(self.alignment))
        erase_dead_ops(op)


def tiled_problem(model, capacity: int, *, input_shapes=None, alignment: int = 64, retries: int = 6, tile_budget: float = 1.0):
    """The tiled, whole-model scratchpad allocation problem (`SpmProblem`) of an ONNX
    model (path or ModelProto) for a `capacity`-byte scratchpad: the graph pipeline,
    hetc-npu-tile, the loop lowering, and one SpmOp per kernel call. The tiling budget
    shrinks (x0.8) and retries where the lowering's scratch buffers push a tile over."""
    from hetc.passes.npu_lower import lower_for_npu

    module, problem, _ = lower_for_npu(model, capacity, input_shapes=input_shapes, alignment=alignment, retries=retries,
                                       tile_budget=tile_budget)
    del module
    return problem

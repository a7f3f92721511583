"""The host program side of the loop lowering: buffers, views, weights, kernel calls."""

from __future__ import annotations

import numpy as np
from collections.abc import Sequence
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import MemRefType, ModuleOp, NoneType, StringAttr, TensorType, UnitAttr
from xdsl.ir import Block, Region, SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.passes.loop_builder import LoopBuilder, new_kernel

from hetc.passes.loops.ops import BINARY, COMPARE, GEMM_MR, GEMM_NR, LOGICAL, REDUCE_OPS, UNARY, VARIADIC, _memref, _shape
from hetc.passes.fuse import GROUP_ATTR, KIND_ATTR
from hetc.passes.loops.conv_nhwc import is_nhwc
from hetc.passes.loops.scalar import _FakeOp


class HostLowering:
    """Builds the new @main and owns its buffers; the other mixins add lower_* methods."""

    def __init__(self, module: ModuleOp, main: func.FuncOp) -> None:
        self.module = module
        self.main = main
        self.kernels: list[func.FuncOp] = []
        self.globals: list[memref.GlobalOp] = []
        self.buffers: dict[SSAValue, SSAValue] = {}  # tensor value -> memref value in the new main
        self.host = LoopBuilder(Block())
        self.counter = 0
        self.global_values: dict[SSAValue, np.ndarray] = {}
        #: elementwise ops computed in a GEMM's store (epilogue fusion)
        self.fused: set[onnx_d.OnnxOp] = set()
        self.epilogue: list = []
        self.mr, self.nr = GEMM_MR, GEMM_NR
        #: GEMMs as plain loop nests marked hetc.gemm (convert-onnx-to-loops{target=gpu})
        self.gpu = False
        #: Transpose results a MatMul reads as B straight from the Transpose's input
        self.transposed_b: set[SSAValue] = set()
        #: results of a Mul by a scalar constant whose MatMul applies it to its products
        self.prescaled: dict[SSAValue, tuple] = {}

    def kernel(
        self, kind: str, op, args: list[SSAValue], nodes: list[str] | None = None
    ) -> tuple[LoopBuilder, list[SSAValue]]:
        name = f"k{self.counter}_{kind}"
        self.counter += 1
        if nodes is None:
            nodes = [op.node_name] if getattr(op, "node_name", "") else []
        fn, b, params = new_kernel(name, [a.type for a in args], nodes, kind)
        self.kernels.append(fn)
        self.host.add(func.CallOp(name, args, []))
        return b, params

    def alloc(self, t: MemRefType, hint: str | None = None) -> SSAValue:
        v = self.host.value(memref.AllocOp.get(t.get_element_type(), shape=t.get_shape()))
        v.name_hint = hint
        return v

    def view(self, src: SSAValue, shape: Sequence[int], offset: int = 0) -> SSAValue:
        """A reinterpretation of `src`'s contiguous elements from `offset` as `shape`."""
        if list(shape) == _shape(src) and offset == 0:
            return src
        strides = [int(np.prod(shape[i + 1 :], dtype=np.int64)) for i in range(len(shape))]
        layout_needed = offset != 0
        from xdsl.dialects.builtin import StridedLayoutAttr

        rtype = MemRefType(
            src.type.get_element_type(),
            list(shape),
            StridedLayoutAttr(strides, offset) if layout_needed else None,
        ) if layout_needed else MemRefType(src.type.get_element_type(), list(shape))
        op = memref.ReinterpretCastOp.from_dynamic(src, [offset], list(shape), strides, rtype)
        return self.host.value(op)

    def out_buffer(self, result: SSAValue, outputs: dict[SSAValue, SSAValue]) -> SSAValue:
        if result in outputs:
            return outputs[result]
        buf = self.alloc(_memref(result.type), result.name_hint)
        return buf

    def lower(self) -> None:
        fn = self.main
        old_block = fn.body.block
        in_types = [_memref(a.type) for a in old_block.args]
        ret = next(op for op in old_block.ops if isinstance(op, func.ReturnOp))
        out_types = [_memref(v.type) for v in ret.operands]
        block = Block(arg_types=in_types + out_types)
        self.host = LoopBuilder(block)
        for old, new in zip(old_block.args, block.args):
            new.name_hint = old.name_hint
            self.buffers[old] = new
        # a returned value is computed straight into its output argument, unless it is
        # returned twice, is an input, or a constant: those are copied at the end
        outputs: dict[SSAValue, SSAValue] = {}
        late_copies: list[tuple[SSAValue, SSAValue]] = []
        for v, arg in zip(ret.operands, block.args[len(in_types) :]):
            arg.name_hint = v.name_hint
            owner = v.owner
            direct = (
                v not in outputs
                and isinstance(owner, onnx_d.OnnxOp)
                and owner.OP_TYPE not in ("Constant", "Reshape")
            )
            if direct:
                outputs[v] = arg
            else:
                late_copies.append((v, arg))
        for op in old_block.ops:
            if isinstance(op, func.ReturnOp):
                continue
            if isinstance(op, onnx_d.NoValueOp) or op in self.fused or op.results and op.results[0] in self.buffers:
                continue  # (constants an epilogue needed early are made already)
            kind = op.attributes.get(KIND_ATTR)
            if kind is not None and kind.data == "row":  # hetc-fuse made the group contiguous
                group = op.attributes[GROUP_ATTR]
                self.lower_row_group([o for o in old_block.ops if o.attributes.get(GROUP_ATTR) == group], outputs)
                continue
            self.lower_op(op, outputs)
        for v, arg in late_copies:
            self.host.add(memref.CopyOp(self.buffers[v], arg))
        self.host.add(func.ReturnOp())
        # constants only read at compile time (Reshape shapes, reduction axes) stay out
        # of the weights
        for op in reversed(list(block.ops)):  # views nobody reads (packed-away weights)
            if isinstance(op, memref.ReinterpretCastOp) and not op.result.uses:
                block.erase_op(op)
        used = set()
        for op in list(block.ops):
            if isinstance(op, memref.GetGlobalOp):
                if op.memref.uses:
                    used.add(op.name_.root_reference.data)
                else:
                    block.erase_op(op)
        self.globals = [g for g in self.globals if g.sym_name.data in used]
        new_main = func.FuncOp("main", (in_types + out_types, []), Region(block))
        for k, v in fn.attributes.items():  # names, reports of earlier passes
            if k.startswith("hetc."):
                new_main.attributes[k] = v
        self.module.body.block.erase_op(fn)
        for g in self.globals:
            self.module.body.block.add_op(g)
        for k in self.kernels:
            self.module.body.block.add_op(k)
        self.module.body.block.add_op(new_main)

    def lower_op(self, op: onnx_d.OnnxOp, outputs: dict[SSAValue, SSAValue]) -> None:
        t = op.OP_TYPE
        if t == "Constant":
            array = onnx_d.numpy_from_dense(op.attributes["value"])
            name = f"w{len(self.globals)}"
            gtype = MemRefType(op.results[0].type.get_element_type(), list(array.shape))
            self.globals.append(
                memref.GlobalOp.get(StringAttr(name), gtype, op.attributes["value"], constant=UnitAttr(), alignment=64)
            )
            ref = self.host.value(memref.GetGlobalOp(name, gtype))
            ref.name_hint = op.results[0].name_hint
            self.buffers[op.results[0]] = ref
            self.global_values[ref] = array
            return
        if t == "Reshape":
            src = self.buffers[op.operands[0]]
            self.buffers[op.results[0]] = self.view(src, _shape(op.results[0]))
            return
        if t == "Split":
            self.lower_split(op, outputs)
            return
        if t == "Mul" and self.gpu and (pos := self.scaled_operand(op, outputs)) is not None:
            # attention's q * scale: the MatMul reads q and scales its products instead
            self.buffers[op.results[0]] = self.buffers[op.operands[1 - pos]]
            self.prescaled[op.results[0]] = (op, pos)
            return
        if t == "Transpose" and self.gpu and self.transposed_operand(op, outputs):
            # K^T of attention's scores: the MatMul reads K itself, transposed (no kernel)
            self.buffers[op.results[0]] = self.buffers[op.operands[0]]
            self.transposed_b.add(op.results[0])
            return
        if t == "LayerNormalization":
            self.lower_layer_norm(op, outputs)
            return
        if t in ("LSTM", "GRU"):
            self.lower_rnn(op, outputs)
            return
        if t == "TopK":
            self.lower_topk(op, outputs)
            return
        if t == "Dropout":
            self.lower_dropout(op, outputs)
            return
        ins = [self.buffers.get(v) if not isinstance(v.type, NoneType) else None for v in op.operands]
        chain = self.epilogue_chain(op, outputs) if t in ("Conv", "MatMul") else []
        final = chain[-1][0].results[0] if chain else op.results[0]
        if t == "MatMul" and op.operands[0] in self.prescaled:  # (s A) B = s (A B): first in the epilogue
            mul, pos = self.prescaled[op.operands[0]]
            chain = [(mul, 1 - pos, "scalar"), *chain]
        permuted = self.transposed_store(final, outputs) if t == "MatMul" and self.gpu else None
        if permuted is not None:  # the GEMM stores into the Transpose's output, permuted
            tr, between, shape, perm = permuted
            out = self.buffers[tr.results[0]] = self.out_buffer(tr.results[0], outputs)
            self.fused.update([tr, *between])
            self.epilogue = chain
            if not self.lower_matmul(op, ins[0], ins[1], out, store_perm=(shape, perm)):
                # more than one GEMM kernel: the product to a buffer, then the transpose
                tmp = self.buffers[final] = self.buffers[op.results[0]] = self.alloc(_memref(final.type), final.name_hint)
                self.lower_matmul(op, ins[0], ins[1], tmp)
                self.lower_transpose(tr, self.view(tmp, shape), out)
            self.epilogue = []
            return
        out = self.out_buffer(final, outputs)
        self.buffers[final] = out
        self.buffers[op.results[0]] = out
        self.epilogue = chain
        if t in UNARY or t in BINARY or t in VARIADIC or t in COMPARE or t in LOGICAL or t in ("Cast", "Where"):
            self.lower_elementwise(op, ins, out)
        elif t == "Expand":  # a broadcasting copy
            self.lower_elementwise(_FakeOp("Identity"), ins[:1], out, shape=_shape(op.results[0]))
        elif t == "Gather":
            self.lower_gather(op, ins[0], ins[1], out)
        elif t == "GatherElements":
            self.lower_gather_elements(op, ins[0], ins[1], out)
        elif t == "GatherND":
            self.lower_gather_nd(op, ins[0], ins[1], out)
        elif t == "Resize":
            self.lower_resize(op, ins[0], out)
        elif t == "ConvTranspose":
            self.lower_conv_transpose(op, ins, out)
        elif t == "CumSum":
            self.lower_cumsum(op, ins[0], out)
        elif t == "Tile":
            self.lower_tile(op, ins[0], out)
        elif t == "MatMul":
            self.lower_matmul(op, ins[0], ins[1], out)
        elif t == "Conv":
            (self.lower_conv_nhwc if is_nhwc(op) else self.lower_conv)(op, ins, out)
        elif t in ("MaxPool", "AveragePool") and is_nhwc(op):
            self.lower_pool_nhwc(op, ins[0], out)
        elif t in ("MaxPool", "AveragePool", "LpPool"):
            indices = None
            if len(op.results) > 1 and isinstance(op.results[1].type, TensorType) and op.results[1].uses:
                indices = self.buffers[op.results[1]] = self.out_buffer(op.results[1], outputs)
            self.lower_pool(op, ins[0], out, indices)
        elif t in ("GlobalAveragePool", "GlobalMaxPool"):
            (self.lower_global_pool_nhwc if is_nhwc(op) else self.lower_global_pool)(op, ins[0], out)
        elif t in REDUCE_OPS:
            self.lower_reduce(op, ins[0], out)
        elif t in ("ArgMax", "ArgMin"):
            self.lower_arg_reduce(op, ins[0], out)
        elif t == "Transpose":
            self.lower_transpose(op, ins[0], out)
        elif t == "Concat":
            self.lower_concat(op, ins, out)
        elif t == "Slice":
            self.lower_slice(op, ins[0], out)
        elif t == "Pad":
            self.lower_pad_op(op, ins[0], out)
        elif t == "Einsum":
            self.lower_einsum(op, ins, out)
        else:  # pragma: no cover - guarded by SUPPORTED
            raise AssertionError(t)

    def constant(self, array: np.ndarray, hint: str) -> SSAValue:
        """A weight computed at compile time (e.g. a packed panel), as a global."""
        name = f"w{len(self.globals)}_{hint}"
        array = np.ascontiguousarray(array)
        gtype = MemRefType(onnx_d.element_type_from_numpy(array.dtype), list(array.shape))
        self.globals.append(
            memref.GlobalOp.get(StringAttr(name), gtype, onnx_d.dense_from_numpy(array), constant=UnitAttr(), alignment=64)
        )
        ref = self.host.value(memref.GetGlobalOp(name, gtype))
        ref.name_hint = hint
        self.global_values[ref] = array
        return ref

    def _global_array(self, ref: SSAValue) -> np.ndarray | None:
        """The values behind a weight (or a view of one), if `ref` is a weight."""
        offset = 0
        while isinstance(ref.owner, memref.ReinterpretCastOp):
            offset += ref.owner.static_offsets.get_values()[0]
            ref = ref.owner.source
        array = self.global_values.get(ref)
        if array is None:
            return None
        return array.reshape(-1)[offset:]

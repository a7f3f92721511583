"""The one C-family printer: loop-level IR (scf / memref / arith / math) to C-like text.

Targets (C99 now; CUDA, NPU C and HLS C++ later) subclass `CFamilyPrinter` and
override the few places they differ: kernel qualifiers, scalar type names, math
function names, the pragma on parallel loops, and the host-side preamble. Kernels
print as functions of flat pointers; index arithmetic is inlined into subscripts
and every float temporary is a `const` local, which C compilers register-allocate
and vectorize.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, func, math, memref, scf
from xdsl.dialects.builtin import (
    Float32Type,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    Signedness,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue

from hetc.backends.cfamily.narrow import bits_literal, is_narrow_float, storage_type
from hetc.passes.loop_builder import PARALLEL_ATTR

#: MLIR's arith.cmpf predicate numbers -> C operators (ordered forms; une = 13)
CMPF = {1: "==", 2: ">", 3: ">=", 4: "<", 5: "<=", 6: "!=", 13: "!="}
#: arith.cmpi predicates: eq ne slt sle sgt sge ult ule ugt uge
CMPI = {0: "==", 1: "!=", 2: "<", 3: "<=", 4: ">", 5: ">=", 6: "<", 7: "<=", 8: ">", 9: ">="}
BINARY_INT = {arith.AndIOp: "&", arith.OrIOp: "|", arith.XOrIOp: "^"}
CASTS = (arith.SIToFPOp, arith.UIToFPOp, arith.FPToSIOp, arith.FPToUIOp, arith.ExtSIOp, arith.ExtUIOp, arith.TruncIOp,
         arith.ExtFOp, arith.TruncFOp)

BINARY_F = {arith.AddfOp: "+", arith.SubfOp: "-", arith.MulfOp: "*", arith.DivfOp: "/"}
BINARY_I = {arith.AddiOp: "+", arith.SubiOp: "-", arith.MuliOp: "*", arith.DivUIOp: "/", arith.RemUIOp: "%"}
MATH_F = {
    math.ExpOp: "exp", math.LogOp: "log", math.SqrtOp: "sqrt", math.TanhOp: "tanh",
    math.ErfOp: "erf", math.AbsFOp: "fabs", math.FloorOp: "floor", math.CeilOp: "ceil",
    math.SinOp: "sin", math.CosOp: "cos", math.RoundEvenOp: "rint",
}


def static_bounds(loop: scf.ForOp) -> tuple[int, int, int] | None:
    """(lb, ub, step) of a loop whose bounds are constants, else None."""
    bounds = []
    for v in (loop.lb, loop.ub, loop.step):
        owner = v.owner
        if not isinstance(owner, arith.ConstantOp) or not isinstance(owner.value, IntegerAttr):
            return None
        bounds.append(owner.value.value.data)
    return tuple(bounds)


def _trip_count(loop: scf.ForOp) -> int:
    """Iterations of a loop with constant bounds (1 when they are not constants)."""
    bounds = static_bounds(loop)
    if bounds is None:
        return 1
    lb, ub, step = bounds
    return max(0, -(-(ub - lb) // step))


def _nest_volume(loop: scf.ForOp) -> int:
    """Static scalar-op count of a loop nest (ops in the body times trip counts)."""
    inner = 0
    for op in loop.body.block.ops:
        inner += _nest_volume(op) if isinstance(op, scf.ForOp) else 1
    return _trip_count(loop) * inner


class CFamilyPrinter:
    """Prints kernels and the host program; subclasses set the target's spelling."""

    #: qualifiers in front of a kernel function
    kernel_qualifiers = "static void"
    #: pointer qualifier for non-aliasing kernel arguments
    restrict = "restrict"
    indent_unit = "  "
    #: a parallel loop nest runs on several threads only from this many scalar ops
    min_parallel_work = 1 << 20
    #: C type of loop variables
    index_ctype = "int64_t"

    # -- target hooks ------------------------------------------------------------------------

    def scalar_type(self, t: Attribute) -> str:
        if isinstance(t, Float32Type):
            return "float"
        if isinstance(t, Float64Type):
            return "double"
        if isinstance(t, IndexType):
            return "int64_t"
        if isinstance(t, IntegerType):
            width = t.width.data
            if width == 1:
                return "bool"
            if width < 8:  # int4/int2: the low bits of a byte, as ml_dtypes stores them
                return "uint8_t"
            return f"uint{width}_t" if t.signedness.data == Signedness.UNSIGNED else f"int{width}_t"
        if is_narrow_float(t):
            return self.narrow_float_type(t)
        raise NotImplementedError(f"no C type for {t}")

    def narrow_float_type(self, t: Attribute) -> str:
        """The C type of a float16/bfloat16/float8/float4 element: its bits, by default."""
        return storage_type(t)

    def narrow_float_literal(self, x: float, t: Attribute) -> str:
        return bits_literal(x, t)

    def convert_float(self, x: str, src: Attribute, dst: Attribute, round_mode: str | None = None) -> str:
        """arith.extf / arith.truncf of the C expression `x`. float <-> double are C casts;
        narrow floats (bit patterns in uint16_t/uint8_t) convert through float with the
        target's `self.narrow` helpers (hetc.backends.cfamily.narrow: exact to float,
        nearest even back) where it has them."""
        narrow = getattr(self, "narrow", None)
        if narrow is not None and is_narrow_float(src):
            x = narrow.to_f32(x, src)
            if not is_narrow_float(dst):
                return x if dst.bitwidth == 32 else f"({self.scalar_type(dst)}){x}"
        if narrow is not None and is_narrow_float(dst):
            return narrow.from_float(x, dst, double=src.bitwidth == 64, round_mode=round_mode)
        if is_narrow_float(src) or is_narrow_float(dst):
            raise NotImplementedError(f"{type(self).__name__} cannot convert {src} to {dst}")
        return f"({self.scalar_type(dst)}){x}"

    def helper_definitions(self) -> str:
        """C definitions the printed kernels call (conversion helpers), for the preamble."""
        return ""

    def math_function(self, name: str, t: Attribute) -> str:
        return name + "f" if isinstance(t, Float32Type) else name

    def parallel_pragma(self) -> str | None:
        """Printed above an outermost loop marked hetc.parallel (None: serial)."""
        return None

    def kernel_param(self, ctype: str, name: str, shape: list[int], const: str) -> str:
        """One kernel parameter: a flat pointer (HLS C++: a sized array)."""
        return f"{const}{ctype}* {self.restrict} {name}"

    def loop_pragmas(self, loop: scf.ForOp) -> list[str]:
        """Lines printed first inside a loop's body (HLS: PIPELINE / UNROLL)."""
        return []

    def value_type(self, value: SSAValue, t: Attribute) -> str:
        """The C type of a local value or local array (element type `t`); HLS fixed point
        widens accumulators here."""
        return self.scalar_type(t)

    def declaration_pragmas(self, value: SSAValue, name: str) -> list[str]:
        """Lines printed after a local array's declaration (HLS: ARRAY_PARTITION)."""
        return []

    def float_literal(self, x: float, t: Attribute) -> str:
        suffix = "f" if isinstance(t, Float32Type) else ""
        if np.isnan(x):
            return "NAN"
        if np.isinf(x):
            return "INFINITY" if x > 0 else "-INFINITY"
        text = repr(float(np.float32(x))) if suffix else repr(float(x))
        if "e" not in text and "." not in text:
            text += ".0"
        return text + suffix

    # -- kernels --------------------------------------------------------------------------------

    def print_kernel(self, fn: func.FuncOp) -> str:
        self.lines = [self.kernel_comment(fn), self.begin_kernel(fn, fn.sym_name.data)]
        self._block(fn.body.block, 1, outer_loop=True)
        self.lines.append("}")
        return "\n".join(self.lines)

    def kernel_comment(self, fn: func.FuncOp) -> str:
        """`/* conv_gemm for ONNX node /layer1/conv1 */`"""
        nodes = [a.data for a in fn.attributes["hetc.onnx_nodes"].data] if "hetc.onnx_nodes" in fn.attributes else []
        kind = fn.attributes["hetc.kernel"].data if "hetc.kernel" in fn.attributes else "kernel"
        return f"/* {kind}" + (f" for ONNX node{'s' if len(nodes) > 1 else ''} {', '.join(nodes)}" if nodes else "") + " */"

    def begin_kernel(self, fn: func.FuncOp, name: str) -> str:
        """Fresh printing state for `fn`; the line opening a kernel function `name`."""
        self.names: dict[SSAValue, str] = {}
        self.shapes: dict[SSAValue, list[int]] = {}
        self.lines: list[str] = []
        self.counter = 0
        self.parallel_depth = 0
        params = []
        written = self._written_args(fn)
        for i, arg in enumerate(fn.body.block.args):
            pname = f"p{i}"
            self.names[arg] = pname
            self.shapes[arg] = list(arg.type.get_shape())
            const = "" if arg in written else "const "
            params.append(self.kernel_param(self.scalar_type(arg.type.get_element_type()), pname, self.shapes[arg], const))
        return f"{self.kernel_qualifiers} {name}({', '.join(params)}) {{"

    def _written_args(self, fn: func.FuncOp) -> set[SSAValue]:
        return {op.memref for op in fn.walk() if isinstance(op, memref.StoreOp)}

    def _emit(self, depth: int, text: str) -> None:
        self.lines.append(self.indent_unit * depth + text)

    def _fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _subscript(self, ref: SSAValue, indices) -> str:
        shape = self.shapes[ref]
        if not shape:
            return f"{self.names[ref]}[0]"
        terms = []
        for d, idx in enumerate(indices):
            stride = int(np.prod(shape[d + 1 :], dtype=np.int64))
            e = self.names[idx]
            if e == "0":
                continue
            terms.append(e if stride == 1 else f"{e} * {stride}" if not e.isdigit() else str(int(e) * stride))
        return f"{self.names[ref]}[{' + '.join(terms) or '0'}]"

    def _block(self, block: Block, depth: int, outer_loop: bool = False) -> None:
        for op in block.ops:
            self._op(op, depth, outer_loop)

    def _op(self, op: Operation, depth: int, outer_loop: bool) -> None:
        if isinstance(op, arith.ConstantOp):
            v = op.value
            if isinstance(v, FloatAttr) and is_narrow_float(op.result.type):
                self.names[op.result] = self.narrow_float_literal(v.value.data, op.result.type)
            elif isinstance(v, FloatAttr):
                self.names[op.result] = self.float_literal(v.value.data, op.result.type)
            elif isinstance(v, IntegerAttr):
                t = op.result.type
                if isinstance(t, IntegerType) and t.width.data == 1:
                    self.names[op.result] = "true" if v.value.data else "false"
                elif isinstance(t, IntegerType) and t.width.data == 64:
                    self.names[op.result] = f"INT64_C({v.value.data})"
                elif isinstance(t, IntegerType) and t.width.data < 8:  # int4/int2: the low bits
                    self.names[op.result] = str(v.value.data & ((1 << t.width.data) - 1))
                else:
                    self.names[op.result] = str(v.value.data)
            return
        if type(op) in BINARY_I and isinstance(op.results[0].type, IndexType):
            a, b = (self.names[x] for x in op.operands)
            self.names[op.results[0]] = f"({a} {BINARY_I[type(op)]} {b})"
            return
        if isinstance(op, arith.IndexCastOp):
            to = self.index_ctype if isinstance(op.results[0].type, IndexType) else "int64_t"
            self.names[op.results[0]] = f"({to}){self.names[op.operands[0]]}"
            return
        if isinstance(op, scf.ForOp):
            iv = self._fresh("i")
            self.names[op.body.block.args[0]] = iv
            lb, ub, step = (self.names[x] for x in (op.lb, op.ub, op.step))
            if outer_loop and PARALLEL_ATTR in op.attributes and self.parallel_depth == 0:
                # spreading a small loop nest over threads costs more than it saves
                pragma = self.parallel_pragma() if _nest_volume(op) >= self.min_parallel_work else None
                if pragma:
                    self._emit(depth, pragma)
                self.parallel_depth += 1
                inc = f"{iv}++" if step == "1" else f"{iv} += {step}"
                self._emit(depth, f"for ({self.index_ctype} {iv} = {lb}; {iv} < {ub}; {inc}) {{")
                for line in self.loop_pragmas(op):
                    self._emit(depth + 1, line)
                self._block(op.body.block, depth + 1, outer_loop=False)
                self.parallel_depth -= 1
            else:
                inc = f"{iv}++" if step == "1" else f"{iv} += {step}"
                self._emit(depth, f"for ({self.index_ctype} {iv} = {lb}; {iv} < {ub}; {inc}) {{")
                for line in self.loop_pragmas(op):
                    self._emit(depth + 1, line)
                self._block(op.body.block, depth + 1, outer_loop=outer_loop and PARALLEL_ATTR not in op.attributes)
            self._emit(depth, "}")
            return
        if isinstance(op, scf.YieldOp) or isinstance(op, func.ReturnOp):
            return
        if isinstance(op, memref.AllocaOp):
            name = self._fresh("acc")
            t = op.results[0].type
            self.names[op.results[0]] = name
            self.shapes[op.results[0]] = list(t.get_shape())
            size = int(np.prod(t.get_shape(), dtype=np.int64)) or 1
            self._emit(depth, f"{self.value_type(op.results[0], t.get_element_type())} {name}[{size}];")
            for line in self.declaration_pragmas(op.results[0], name):
                self._emit(depth, line)
            return
        if isinstance(op, memref.LoadOp):
            name = self._fresh("v")
            self.names[op.results[0]] = name
            self._emit(depth, f"const {self.value_type(op.results[0], op.results[0].type)} {name} = {self._subscript(op.memref, op.indices)};")
            return
        if isinstance(op, memref.StoreOp):
            self._emit(depth, f"{self._subscript(op.memref, op.indices)} = {self.names[op.value]};")
            return
        # float expressions become const temporaries
        expr = self._float_expr(op)
        name = self._fresh("v")
        self.names[op.results[0]] = name
        self._emit(depth, f"const {self.value_type(op.results[0], op.results[0].type)} {name} = {expr};")

    def _cast_expr(self, op: Operation, x: str) -> str:
        """A conversion. int4/int2 values live as their low bits in a byte (ml_dtypes'
        layout): sign-extended when read as numbers, masked when made."""
        src, t = op.operands[0].type, op.results[0].type
        if isinstance(op, (arith.ExtFOp, arith.TruncFOp)):
            mode = op.attributes.get("hetc.round_mode")
            return self.convert_float(x, src, t, mode.data if mode is not None else None)
        if isinstance(src, IntegerType) and 1 < src.width.data < 8 and isinstance(op, (arith.ExtSIOp, arith.SIToFPOp)):
            half = 1 << (src.width.data - 1)
            x = f"((int)({x} ^ {half}) - {half})"
        if isinstance(t, IntegerType) and 1 < t.width.data < 8:
            if isinstance(op, (arith.FPToSIOp, arith.FPToUIOp)):
                x = f"(int64_t){x}"  # truncate, then wrap like NumPy
            return f"(uint8_t)({x} & {(1 << t.width.data) - 1})"
        return f"({self.scalar_type(t)}){x}"

    def _float_expr(self, op: Operation) -> str:
        n = [self.names[x] for x in op.operands]
        t = op.results[0].type
        if type(op) in BINARY_F:
            return f"{n[0]} {BINARY_F[type(op)]} {n[1]}"
        if type(op) in BINARY_I:
            return f"{n[0]} {BINARY_I[type(op)]} {n[1]}"
        if type(op) in BINARY_INT:
            return f"{n[0]} {BINARY_INT[type(op)]} {n[1]}"
        if isinstance(op, arith.CmpiOp):
            return f"({n[0]} {CMPI[op.predicate.value.data]} {n[1]})"
        if isinstance(op, (arith.DivSIOp, arith.DivUIOp)):
            return f"{n[0]} / {n[1]}"
        if isinstance(op, (arith.MaxSIOp, arith.MinSIOp, arith.MaxUIOp, arith.MinUIOp)):
            cmp = ">" if isinstance(op, (arith.MaxSIOp, arith.MaxUIOp)) else "<"
            return f"({n[0]} {cmp} {n[1]} ? {n[0]} : {n[1]})"
        if isinstance(op, CASTS) or isinstance(op, arith.BitcastOp) and isinstance(t, IntegerType):
            return self._cast_expr(op, n[0])
        if isinstance(op, arith.NegfOp):
            return f"-{n[0]}"
        if isinstance(op, arith.MaximumfOp):
            return f"({n[0]} > {n[1]} ? {n[0]} : {n[1]})"
        if isinstance(op, arith.MinimumfOp):
            return f"({n[0]} < {n[1]} ? {n[0]} : {n[1]})"
        if isinstance(op, arith.CmpfOp):
            return f"({n[0]} {CMPF[op.predicate.value.data]} {n[1]})"
        if isinstance(op, arith.SelectOp):
            return f"({n[0]} ? {n[1]} : {n[2]})"
        if type(op) in MATH_F:
            return f"{self.math_function(MATH_F[type(op)], t)}({n[0]})"
        if isinstance(op, math.PowFOp):
            return f"{self.math_function('pow', t)}({n[0]}, {n[1]})"
        raise NotImplementedError(f"the C-family printer cannot print {op.name}")

    # -- host program -------------------------------------------------------------------------

    def host_layout(self, module: ModuleOp) -> tuple[list[tuple[memref.GlobalOp, int]], int]:
        """Weights blob layout: (global, byte offset) in order, and the total size."""
        placed, offset = [], 0
        for op in module.ops:
            if isinstance(op, memref.GlobalOp):
                placed.append((op, offset))
                size = len(op.initial_value.data.data)
                offset += (size + 63) // 64 * 64
        return placed, offset

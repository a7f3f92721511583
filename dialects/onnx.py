"""The `onnx` dialect: one op class per ai.onnx operator at one pinned opset.

The classes are generated from the `onnx.defs` schemas of the pinned onnx release
(see pyproject.toml), so the dialect always matches the schemas the importer and the
version converter use. Every op takes its inputs as one variadic operand list in
schema order; an absent optional input is the result of `onnx.NoValue` (type
`none`). ONNX attributes are kept in the op's attribute dictionary under their ONNX
names; names containing a dot (`hetc.node`) are ours and not checked against the
schema.

Attribute encoding: INT -> i64 IntegerAttr, FLOAT -> f32 FloatAttr, STRING ->
StringAttr, INTS -> array<i64>, FLOATS -> array<f32>, STRINGS -> ArrayAttr of
StringAttr, TENSOR -> dense<...> (DenseIntOrFPElementsAttr, bytes-backed).
"""

from __future__ import annotations

from typing import Any, ClassVar

import ml_dtypes  # registers bfloat16, float8, int4 ... as NumPy dtypes
import numpy as np
import onnx
import onnx.defs
from xdsl.dialects.builtin import (
    ArrayAttr,
    Float4E2M1FNType,
    Float8E4M3FNType,
    Float8E4M3FNUZType,
    Float8E5M2FNUZType,
    Float8E5M2Type,
    Float8E8M0FNUType,
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    NoneType,
    Signedness,
    StringAttr,
    TensorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i64,
)
from xdsl.ir import Attribute, Dialect
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    result_def,
    var_operand_def,
    var_result_def,
)
from xdsl.utils.exceptions import VerifyException

from hetc.diagnostics import UnsupportedError

#: The one opset the dialect models; the importer converts other opsets to it.
ONNX_OPSET = 28

#: Attribute names holding hetc's own metadata rather than ONNX attributes.
NODE_NAME_ATTR = "hetc.node"

# ---------------------------------------------------------------------------
# Element types: ONNX TensorProto data types <-> xDSL types <-> NumPy dtypes
# ---------------------------------------------------------------------------

_ONNX_TO_NUMPY: dict[int, np.dtype] = {
    onnx.TensorProto.FLOAT: np.dtype(np.float32),
    onnx.TensorProto.DOUBLE: np.dtype(np.float64),
    onnx.TensorProto.FLOAT16: np.dtype(np.float16),
    onnx.TensorProto.BOOL: np.dtype(np.bool_),
    onnx.TensorProto.INT8: np.dtype(np.int8),
    onnx.TensorProto.INT16: np.dtype(np.int16),
    onnx.TensorProto.INT32: np.dtype(np.int32),
    onnx.TensorProto.INT64: np.dtype(np.int64),
    onnx.TensorProto.UINT8: np.dtype(np.uint8),
    onnx.TensorProto.UINT16: np.dtype(np.uint16),
    onnx.TensorProto.UINT32: np.dtype(np.uint32),
    onnx.TensorProto.UINT64: np.dtype(np.uint64),
    # Narrow types come from ml_dtypes (an onnx dependency): one byte or two per element.
    onnx.TensorProto.BFLOAT16: np.dtype(ml_dtypes.bfloat16),
    onnx.TensorProto.FLOAT8E4M3FN: np.dtype(ml_dtypes.float8_e4m3fn),
    onnx.TensorProto.FLOAT8E4M3FNUZ: np.dtype(ml_dtypes.float8_e4m3fnuz),
    onnx.TensorProto.FLOAT8E5M2: np.dtype(ml_dtypes.float8_e5m2),
    onnx.TensorProto.FLOAT8E5M2FNUZ: np.dtype(ml_dtypes.float8_e5m2fnuz),
    onnx.TensorProto.FLOAT8E8M0: np.dtype(ml_dtypes.float8_e8m0fnu),
    onnx.TensorProto.FLOAT4E2M1: np.dtype(ml_dtypes.float4_e2m1fn),
    onnx.TensorProto.INT4: np.dtype(ml_dtypes.int4),
    onnx.TensorProto.UINT4: np.dtype(ml_dtypes.uint4),
    onnx.TensorProto.INT2: np.dtype(ml_dtypes.int2),
    onnx.TensorProto.UINT2: np.dtype(ml_dtypes.uint2),
}


def _int(width: int, signed: bool) -> IntegerType:
    return IntegerType(width, Signedness.SIGNLESS if signed else Signedness.UNSIGNED)


_ONNX_TO_XDSL: dict[int, Attribute] = {
    onnx.TensorProto.FLOAT: f32,
    onnx.TensorProto.DOUBLE: f64,
    onnx.TensorProto.FLOAT16: f16,
    onnx.TensorProto.BFLOAT16: bf16,
    onnx.TensorProto.BOOL: i1,
    onnx.TensorProto.INT8: _int(8, True),
    onnx.TensorProto.INT16: _int(16, True),
    onnx.TensorProto.INT32: _int(32, True),
    onnx.TensorProto.INT64: i64,
    onnx.TensorProto.UINT8: _int(8, False),
    onnx.TensorProto.UINT16: _int(16, False),
    onnx.TensorProto.UINT32: _int(32, False),
    onnx.TensorProto.UINT64: _int(64, False),
    onnx.TensorProto.FLOAT8E4M3FN: Float8E4M3FNType(),
    onnx.TensorProto.FLOAT8E4M3FNUZ: Float8E4M3FNUZType(),
    onnx.TensorProto.FLOAT8E5M2: Float8E5M2Type(),
    onnx.TensorProto.FLOAT8E5M2FNUZ: Float8E5M2FNUZType(),
    onnx.TensorProto.FLOAT8E8M0: Float8E8M0FNUType(),
    onnx.TensorProto.FLOAT4E2M1: Float4E2M1FNType(),
    onnx.TensorProto.INT4: _int(4, True),
    onnx.TensorProto.UINT4: _int(4, False),
    onnx.TensorProto.INT2: _int(2, True),
    onnx.TensorProto.UINT2: _int(2, False),
}
_XDSL_TO_ONNX: dict[Attribute, int] = {v: k for k, v in _ONNX_TO_XDSL.items()}


class UnsupportedType(UnsupportedError):
    """An ONNX element type hetc cannot represent (strings, complex, float6)."""


def element_type_from_onnx(elem_type: int) -> Attribute:
    if elem_type not in _ONNX_TO_XDSL:
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type else "UNDEFINED"
        raise UnsupportedType(f"element type {name} is not supported")
    return _ONNX_TO_XDSL[elem_type]


def onnx_elem_type(t: Attribute) -> int:
    return _XDSL_TO_ONNX[t]


def numpy_dtype(t: Attribute) -> np.dtype:
    """The NumPy dtype of an xDSL element type (narrow floats and ints via ml_dtypes)."""
    code = _XDSL_TO_ONNX.get(t)
    if code is None or code not in _ONNX_TO_NUMPY:
        raise UnsupportedType(f"element type {t} has no NumPy dtype")
    return _ONNX_TO_NUMPY[code]


def element_type_from_numpy(dtype: np.dtype) -> Attribute:
    for code, dt in _ONNX_TO_NUMPY.items():
        if dt == np.dtype(dtype):
            return _ONNX_TO_XDSL[code]
    raise UnsupportedType(f"NumPy dtype {dtype} is not supported")


def dense_from_numpy(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    """A bytes-backed dense attribute: no per-element Python objects, so big weights are cheap."""
    array = np.asarray(array)
    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    ttype = TensorType(element_type_from_numpy(array.dtype), array.shape)
    return DenseIntOrFPElementsAttr(ttype, BytesAttr(array.tobytes()))


def numpy_from_dense(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    ttype = attr.type
    dtype = numpy_dtype(ttype.get_element_type())
    shape = tuple(ttype.get_shape())
    flat = np.frombuffer(attr.data.data, dtype=dtype)
    if flat.size == 1 and int(np.prod(shape, dtype=np.int64)) != 1:
        flat = np.broadcast_to(flat, (int(np.prod(shape, dtype=np.int64)),))  # splat
    return flat.reshape(shape).copy()


# ---------------------------------------------------------------------------
# Attributes: ONNX AttributeProto values <-> xDSL attributes <-> Python values
# ---------------------------------------------------------------------------


def attribute_from_python(kind: int, value: Any) -> Attribute:
    """Encode an ONNX attribute value (as onnx.helper.get_attribute_value gives it)."""
    A = onnx.AttributeProto
    if kind == A.INT:
        return IntegerAttr(int(value), i64)
    if kind == A.FLOAT:
        return FloatAttr(float(value), f32)
    if kind == A.STRING:
        return StringAttr(value.decode() if isinstance(value, bytes) else str(value))
    if kind == A.INTS:
        return DenseArrayBase.from_list(i64, [int(v) for v in value])
    if kind == A.FLOATS:
        return DenseArrayBase.from_list(f32, [float(v) for v in value])
    if kind == A.STRINGS:
        return ArrayAttr([StringAttr(v.decode() if isinstance(v, bytes) else str(v)) for v in value])
    if kind == A.TENSOR:
        from onnx import numpy_helper

        return dense_from_numpy(numpy_helper.to_array(value))
    raise UnsupportedType(f"attribute kind {A.AttributeType.Name(kind)} is not supported")


def attribute_to_python(attr: Attribute) -> Any:
    """Decode an attribute into the plain Python value the NumPy kernels take."""
    if isinstance(attr, IntegerAttr):
        return int(attr.value.data)
    if isinstance(attr, FloatAttr):
        return float(attr.value.data)
    if isinstance(attr, StringAttr):
        return attr.data
    if isinstance(attr, DenseArrayBase):
        return list(attr.get_values())
    if isinstance(attr, ArrayAttr):
        return [attribute_to_python(a) for a in attr.data]
    if isinstance(attr, DenseIntOrFPElementsAttr):
        return numpy_from_dense(attr)
    raise TypeError(f"cannot decode attribute {attr}")


_ATTR_CLASSES: dict[int, tuple[type, ...]] = {
    onnx.AttributeProto.INT: (IntegerAttr,),
    onnx.AttributeProto.FLOAT: (FloatAttr,),
    onnx.AttributeProto.STRING: (StringAttr,),
    onnx.AttributeProto.INTS: (DenseArrayBase,),
    onnx.AttributeProto.FLOATS: (DenseArrayBase,),
    onnx.AttributeProto.STRINGS: (ArrayAttr,),
    onnx.AttributeProto.TENSOR: (DenseIntOrFPElementsAttr,),
}

# ---------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------


class OnnxOp(IRDLOperation):
    """Base of the generated op classes; `SCHEMA` is the op's onnx.defs schema."""

    SCHEMA: ClassVar[onnx.defs.OpSchema]
    OP_TYPE: ClassVar[str]

    @property
    def node_name(self) -> str:
        attr = self.attributes.get(NODE_NAME_ATTR)
        return attr.data if isinstance(attr, StringAttr) else ""

    def onnx_attributes(self) -> dict[str, Attribute]:
        return {k: v for k, v in self.attributes.items() if "." not in k}

    def present_inputs(self) -> list:
        """Operands with `None` in place of absent optional inputs."""
        return [None if isinstance(v.type, NoneType) else v for v in self.operands]

    def verify_(self) -> None:
        s = self.SCHEMA
        n_in, n_out = len(self.operands), len(self.results)
        if not s.min_input <= n_in <= s.max_input:
            raise VerifyException(
                f"{self.name} takes {s.min_input}..{s.max_input} inputs, got {n_in}"
            )
        if not s.min_output <= n_out <= s.max_output:
            raise VerifyException(
                f"{self.name} has {s.min_output}..{s.max_output} outputs, got {n_out}"
            )
        attrs = self.onnx_attributes()
        for name, spec in s.attributes.items():
            if spec.required and name not in attrs:
                raise VerifyException(f"{self.name} requires attribute '{name}'")
        for name, value in attrs.items():
            spec = s.attributes.get(name)
            if spec is None:
                raise VerifyException(f"{self.name} has no attribute '{name}'")
            classes = _ATTR_CLASSES.get(int(spec.type))
            if classes is not None and not isinstance(value, classes):
                raise VerifyException(
                    f"{self.name} attribute '{name}' must be {spec.type.name}, got {value}"
                )
        optional = onnx.defs.OpSchema.FormalParameterOption.Optional
        for i, v in enumerate(self.operands):
            formal = s.inputs[min(i, len(s.inputs) - 1)]
            if isinstance(v.type, NoneType) and formal.option != optional:
                raise VerifyException(f"{self.name} input '{formal.name}' is required")


@irdl_op_definition
class NoValueOp(IRDLOperation):
    """Stands for an absent optional input (ONNX's empty input name)."""

    name = "onnx.NoValue"
    result = result_def(NoneType)

    def __init__(self) -> None:
        super().__init__(result_types=[NoneType()])


def _make_op_class(schema: onnx.defs.OpSchema) -> type[OnnxOp]:
    doc = (schema.doc or "").strip().split("\n\n")[0]
    namespace = {
        "name": f"onnx.{schema.name}",
        "OP_TYPE": schema.name,
        "SCHEMA": schema,
        "inputs": var_operand_def(),
        "outputs": var_result_def(),
        "__doc__": f"ONNX {schema.name} (opset {schema.since_version}). {doc}",
        "__module__": __name__,
        "__annotations__": {"OP_TYPE": ClassVar[str], "SCHEMA": ClassVar[onnx.defs.OpSchema]},
        "__qualname__": f"{schema.name}Op",
    }
    return irdl_op_definition(type(f"{schema.name}Op", (OnnxOp,), namespace))


def _latest_schemas(opset: int) -> list[onnx.defs.OpSchema]:
    latest: dict[str, onnx.defs.OpSchema] = {}
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain != "" or s.since_version > opset or s.deprecated:
            continue
        if s.name not in latest or s.since_version > latest[s.name].since_version:
            latest[s.name] = s
    return [latest[k] for k in sorted(latest)]


#: op type ("Conv") -> generated class (`onnx.Conv`)
OPS: dict[str, type[OnnxOp]] = {s.name: _make_op_class(s) for s in _latest_schemas(ONNX_OPSET)}

# Module attributes `ConvOp`, `ReluOp`, ... for code that names a class directly.
globals().update({cls.__qualname__: cls for cls in OPS.values()})


def create_op(
    op_type: str,
    operands: list,
    result_types: list[Attribute],
    attributes: dict[str, Attribute] | None = None,
) -> OnnxOp:
    cls = OPS[op_type]
    return cls.create(operands=operands, result_types=result_types, attributes=attributes or {})


ONNX = Dialect("onnx", [NoValueOp, *OPS.values()], [])


def constant_op(array: np.ndarray, name_hint: str | None = None) -> OnnxOp:
    """An `onnx.Constant` holding `array`'s bytes."""
    attr = dense_from_numpy(np.asarray(array))
    op = create_op("Constant", [], [attr.type], {"value": attr})
    op.results[0].name_hint = name_hint
    return op


def constant_value(value) -> np.ndarray | None:
    """The array behind `value` if an `onnx.Constant` with a tensor `value` defines it."""
    owner = getattr(value, "owner", None)
    if isinstance(owner, OnnxOp) and owner.OP_TYPE == "Constant":
        attr = owner.attributes.get("value")
        if isinstance(attr, DenseIntOrFPElementsAttr):
            return numpy_from_dense(attr)
    return None


def tensor_shape(value) -> tuple[int, ...] | None:
    t = value.type
    return tuple(t.get_shape()) if isinstance(t, TensorType) else None


def build_op(op_type: str, operands: list, result_types: list[Attribute], **attrs: Any) -> OnnxOp:
    """Create an op from Python attribute values, encoded by the schema's attribute kinds."""
    schema = OPS[op_type].SCHEMA
    encoded = {
        name: attribute_from_python(int(schema.attributes[name].type), value)
        for name, value in attrs.items()
    }
    return create_op(op_type, operands, result_types, encoded)

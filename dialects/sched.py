"""The `sched` dialect: the host program of a partitioned model, which the runtime executes.

After `hetc-place` has put every op on a device and `hetc-partition` has outlined each
run of consecutive ops on one device into a function `@part<i>` (its ops stay in the
`onnx` dialect until that partition's own target lowers them), `@main` holds only:

    %y = sched.launch @part0 on "h200" (%a, %b) {target = "cuda"} : (...) -> (...)
        run partition @part0 on a device; its operands must already live there
    %z = sched.copy %y from "h200" to "cpu" {bytes = 4096} : tensor<...>
        move a tensor between the memories of two devices (a no-op copy is never emitted)
    sched.wait on "h200"
        block the host until every launch and copy queued on that device has finished

Launches and copies on one device run in program order (one stream per device); a
copy waits for the launch that produced its operand. Graph inputs start, and graph
outputs must end, on the host device (`hetc.host` on @main). The runtime
(`hetc.runtime.partitioned_runner`) executes exactly these ops, in order.
"""

from __future__ import annotations

from xdsl.dialects.builtin import IntegerAttr, StringAttr, SymbolRefAttr, TensorType, i64
from xdsl.ir import Dialect
from xdsl.irdl import (
    IRDLOperation,
    attr_def,
    irdl_op_definition,
    operand_def,
    result_def,
    var_operand_def,
    var_result_def,
)
from xdsl.utils.exceptions import VerifyException


@irdl_op_definition
class LaunchOp(IRDLOperation):
    """Run the partition function `callee` on `device`, lowered by `target`."""

    name = "sched.launch"
    callee = attr_def(SymbolRefAttr)
    device = attr_def(StringAttr)
    target = attr_def(StringAttr)
    args = var_operand_def()
    res = var_result_def()

    assembly_format = "$callee `on` $device `(` $args `)` attr-dict `:` functional-type($args, $res)"

    def __init__(self, callee: str, device: str, target: str, args, result_types) -> None:
        super().__init__(
            operands=[args],
            result_types=[result_types],
            attributes={"callee": SymbolRefAttr(callee), "device": StringAttr(device), "target": StringAttr(target)},
        )


@irdl_op_definition
class CopyOp(IRDLOperation):
    """Move a tensor from the memory of device `src` to that of `dst`."""

    name = "sched.copy"
    source = operand_def(TensorType)
    src = attr_def(StringAttr, attr_name="from")
    dst = attr_def(StringAttr, attr_name="to")
    bytes = attr_def(IntegerAttr)
    res = result_def(TensorType)

    assembly_format = "$source `from` $from `to` $to attr-dict `:` type($source) `->` type($res)"

    def __init__(self, source, src: str, dst: str, nbytes: int) -> None:
        super().__init__(
            operands=[source],
            result_types=[source.type],
            attributes={"from": StringAttr(src), "to": StringAttr(dst), "bytes": IntegerAttr(nbytes, i64)},
        )

    def verify_(self) -> None:
        if self.src.data == self.dst.data:
            raise VerifyException(f"sched.copy from '{self.src.data}' to itself")
        if self.res.type != self.source.type:
            raise VerifyException("sched.copy must not change the tensor's type")


@irdl_op_definition
class WaitOp(IRDLOperation):
    """Block the host until everything queued on `device` has finished."""

    name = "sched.wait"
    device = attr_def(StringAttr)

    assembly_format = "`on` $device attr-dict"

    def __init__(self, device: str) -> None:
        super().__init__(attributes={"device": StringAttr(device)})


SCHED = Dialect("sched", [LaunchOp, CopyOp, WaitOp], [])

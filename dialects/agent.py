"""The `agent` dialect: the nodes of an agentic workflow graph, and the granular ops they
decompose into.

An agent graph (`hetc.frontend.agent`) becomes one op per node; a data edge is an SSA
value of type `!agent.msg` (a message: whatever Python value the node's callable
returns), so dependencies are the use-def chains. `in_bytes` lists the payload of each
operand in order (what crosses a link when producer and consumer sit on different
devices).

    %r = "agent.retrieve"(%q) {node = "search", k = 8 : i64, vectors = 1.0e+06, dim = 768 : i64, ...}
    %g = "agent.llm"(%r) {node = "generate", params = 8.0e+09, layers = 32 : i64, hidden = 4096 : i64,
                          input_tokens = 1024 : i64, output_tokens = {mean = 200.0, std = 60.0}, ...}
    "agent.router"(%g) {node = "route", branches = {answer = 0.7, search_more = 0.3}}
    "agent.loop"(%x) ({ ^bb0(%state: !agent.msg): ... "agent.yield"(%y) }) {node = "act", max_iterations = 4 : i64}

`hetc-agent-decompose` rewrites the node ops into granular ops that carry what the cost
model needs (`hetc.backends.cost_model.OpCounts`): `flops`, `bytes` (moved through the
device's memory), `weight_bytes` (resident model weights or index), `footprint_bytes`
(weights + KV cache, or the index: what must fit in the device's memory), `dtype`, and
`op_class` (the catalog's op classes). An LLM call becomes `agent.prefill` (compute bound)
and `agent.decode` (memory-bandwidth bound, `steps` = output tokens); a retrieval becomes
`agent.embed` and `agent.knn`; tool, transform and router ops keep their kind and gain
the same attributes (`host_only`: they run on a CPU). Token counts given as distributions
are kept as `{mean = ..., std = ...}` or `{low = ..., high = ...}` dictionaries; the
granular numbers are at the mean, the placement samples the distribution.
"""

from __future__ import annotations

import math

from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
)
from xdsl.ir import Dialect, ParametrizedAttribute, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    opt_attr_def,
    region_def,
    result_def,
    traits_def,
    attr_def,
    var_operand_def,
)
from xdsl.traits import IsTerminator
from xdsl.utils.exceptions import VerifyException


@irdl_attr_definition
class MsgType(ParametrizedAttribute, TypeAttribute):
    """A message between two nodes (any Python value at run time)."""

    name = "agent.msg"


def number(attr, default: float | None = None) -> float | None:
    """The float value of an IntegerAttr / FloatAttr (None: the default)."""
    if attr is None:
        return default
    if isinstance(attr, (IntegerAttr, FloatAttr)):
        return float(attr.value.data)
    raise VerifyException(f"expected a number attribute, got {attr}")


def dist_value(attr) -> float | dict[str, float] | None:
    """A token count: an integer, or a distribution dictionary `{mean, std}` / `{low, high}`."""
    if attr is None:
        return None
    if isinstance(attr, DictionaryAttr):
        return {k: number(v) for k, v in attr.data.items()}
    return number(attr)


class AgentOp(IRDLOperation):
    """Common to every node op: the node's name in the graph, its callable and the payload
    bytes of its operands."""

    node = attr_def(StringAttr)
    impl = opt_attr_def(StringAttr)
    in_bytes = opt_attr_def(ArrayAttr)
    ins = var_operand_def(MsgType)

    @property
    def node_name(self) -> str:
        return self.node.data

    def payloads(self) -> list[float]:
        """Bytes of each operand (4096 where not given)."""
        given = [number(a) for a in self.in_bytes.data] if self.in_bytes is not None else []
        return [given[i] if i < len(given) else 4096.0 for i in range(len(self.ins))]

    def verify_(self) -> None:
        if self.in_bytes is not None:
            if len(self.in_bytes.data) != len(self.ins):
                raise VerifyException(
                    f"{self.name} '{self.node_name}': in_bytes has {len(self.in_bytes.data)} entries for "
                    f"{len(self.ins)} operands"
                )
            for a in self.in_bytes.data:
                if number(a) < 0:
                    raise VerifyException(f"{self.name} '{self.node_name}': in_bytes must be non-negative")
        self._verify_node()

    def _verify_node(self) -> None:
        pass


def _positive(op: AgentOp, field: str, *, allow_zero: bool = False) -> None:
    v = number(getattr(op, field), None)
    if v is None:
        return
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise VerifyException(
            f"{op.name} '{op.node_name}': {field} must be {'non-negative' if allow_zero else 'positive'}, got {v}"
        )


# ---------------------------------------------------------------------------- node ops


@irdl_op_definition
class LlmOp(AgentOp):
    """An LLM call: a model (parameters, layers, hidden size, KV width), a precision and the
    input/output token counts (or their distributions)."""

    name = "agent.llm"
    out = result_def(MsgType)
    model = attr_def(StringAttr)
    params = attr_def(FloatAttr)
    layers = attr_def(IntegerAttr)
    hidden = attr_def(IntegerAttr)
    kv_hidden = opt_attr_def(IntegerAttr)
    precision = attr_def(StringAttr)
    input_tokens = attr_def()
    output_tokens = attr_def()

    def _verify_node(self) -> None:
        for f in ("params", "layers", "hidden", "kv_hidden"):
            _positive(self, f)
        for f in ("input_tokens", "output_tokens"):
            v = dist_value(getattr(self, f))
            if isinstance(v, dict):
                if not ({"mean", "std"} <= set(v) or {"low", "high"} <= set(v)):
                    raise VerifyException(f"agent.llm '{self.node_name}': {f} must be {{mean, std}} or {{low, high}}")
            elif v is None or v < 1:
                raise VerifyException(f"agent.llm '{self.node_name}': {f} must be at least 1")


@irdl_op_definition
class RetrieveOp(AgentOp):
    """A vector-database lookup: embed the query with a small model, scan the index for the
    k nearest of `vectors` vectors of `dim` elements."""

    name = "agent.retrieve"
    out = result_def(MsgType)
    vectors = attr_def(FloatAttr)
    dim = attr_def(IntegerAttr)
    k = attr_def(IntegerAttr)
    index_precision = attr_def(StringAttr)
    embed_params = attr_def(FloatAttr)
    embed_precision = attr_def(StringAttr)
    query_tokens = attr_def(IntegerAttr)

    def _verify_node(self) -> None:
        for f in ("vectors", "dim", "k", "embed_params", "query_tokens"):
            _positive(self, f)
        if number(self.k) > number(self.vectors):
            raise VerifyException(f"agent.retrieve '{self.node_name}': k = {number(self.k):g} exceeds the index size")


@irdl_op_definition
class ToolOp(AgentOp):
    """A tool call: a fixed external latency (waiting, not billed) plus CPU work."""

    name = "agent.tool"
    out = result_def(MsgType)
    latency = attr_def(FloatAttr)
    cpu_flops = opt_attr_def(FloatAttr)
    flops = opt_attr_def(FloatAttr)
    bytes = opt_attr_def(FloatAttr)
    op_class = opt_attr_def(StringAttr)
    dtype = opt_attr_def(StringAttr)

    def _verify_node(self) -> None:
        _positive(self, "latency", allow_zero=True)
        _positive(self, "cpu_flops", allow_zero=True)


@irdl_op_definition
class TransformOp(AgentOp):
    """A data step on the host (parse, format, merge): FLOPs and bytes as given."""

    name = "agent.transform"
    out = result_def(MsgType)
    flops = attr_def(FloatAttr)
    bytes = attr_def(FloatAttr)
    op_class = opt_attr_def(StringAttr)
    dtype = opt_attr_def(StringAttr)

    def _verify_node(self) -> None:
        _positive(self, "flops", allow_zero=True)
        _positive(self, "bytes", allow_zero=True)


@irdl_op_definition
class RouterOp(AgentOp):
    """Choose one successor: `branches` maps successor node names to probabilities (sum 1)."""

    name = "agent.router"
    out = result_def(MsgType)
    branches = attr_def(DictionaryAttr)
    flops = opt_attr_def(FloatAttr)
    bytes = opt_attr_def(FloatAttr)
    op_class = opt_attr_def(StringAttr)
    dtype = opt_attr_def(StringAttr)

    def probabilities(self) -> dict[str, float]:
        return {k: number(v) for k, v in self.branches.data.items()}

    def _verify_node(self) -> None:
        p = self.probabilities()
        if not p:
            raise VerifyException(f"agent.router '{self.node_name}': no branches")
        if any(v < 0 or v > 1 for v in p.values()) or abs(sum(p.values()) - 1.0) > 1e-6:
            raise VerifyException(
                f"agent.router '{self.node_name}': branch probabilities must lie in [0, 1] and add up to 1, "
                f"got {sum(p.values()):g}"
            )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """The end of a loop body: the iteration's result (the next iteration's state)."""

    name = "agent.yield"
    values = var_operand_def(MsgType)
    traits = traits_def(IsTerminator())


@irdl_op_definition
class LoopOp(AgentOp):
    """Repeat the body (one block; its argument is the state: the loop's input first, then
    the previous iteration's result) up to `max_iterations` times; each iteration goes on
    with probability `continue_probability` (for planning; at run time the loop's callable
    decides)."""

    name = "agent.loop"
    out = result_def(MsgType)
    max_iterations = attr_def(IntegerAttr)
    continue_probability = attr_def(FloatAttr)
    body = region_def("single_block")

    def _verify_node(self) -> None:
        if number(self.max_iterations) < 1:
            raise VerifyException(f"agent.loop '{self.node_name}': max_iterations must be at least 1")
        p = number(self.continue_probability)
        if not 0 <= p <= 1:
            raise VerifyException(f"agent.loop '{self.node_name}': continue_probability must lie in [0, 1]")
        block = self.body.block
        if len(block.args) != 1 or not isinstance(block.last_op, YieldOp):
            raise VerifyException(
                f"agent.loop '{self.node_name}': the body takes one block argument (the state) and ends in agent.yield"
            )


# ---------------------------------------------------------------------------- granular ops


class GranularOp(AgentOp):
    """What `hetc-agent-decompose` produces: one unit of work for the cost model."""

    out = result_def(MsgType)
    flops = attr_def(FloatAttr)
    bytes = attr_def(FloatAttr)
    weight_bytes = attr_def(FloatAttr)
    footprint_bytes = attr_def(FloatAttr)
    dtype = attr_def(StringAttr)
    op_class = attr_def(StringAttr)

    def _verify_node(self) -> None:
        for f in ("flops", "bytes", "weight_bytes", "footprint_bytes"):
            _positive(self, f, allow_zero=True)
        if number(self.footprint_bytes) + 1e-6 < number(self.weight_bytes):
            raise VerifyException(f"{self.name} '{self.node_name}': footprint_bytes is smaller than weight_bytes")


@irdl_op_definition
class PrefillOp(GranularOp):
    """Process the prompt: 2 x params x tokens + attention FLOPs; writes the KV cache."""

    name = "agent.prefill"
    model = attr_def(StringAttr)
    tokens = attr_def()
    kv_bytes = attr_def(FloatAttr)


@irdl_op_definition
class DecodeOp(GranularOp):
    """Generate `steps` tokens, each reading every weight and the KV cache so far."""

    name = "agent.decode"
    model = attr_def(StringAttr)
    steps = attr_def()
    kv_bytes = attr_def(FloatAttr)


@irdl_op_definition
class EmbedOp(GranularOp):
    """Embed a query with the retrieval's embedding model."""

    name = "agent.embed"


@irdl_op_definition
class KnnOp(GranularOp):
    """Brute-force k-nearest-neighbour scan of the index (one dot product per vector)."""

    name = "agent.knn"
    k = attr_def(IntegerAttr)


NODE_OPS = (LlmOp, RetrieveOp, ToolOp, TransformOp, RouterOp, LoopOp)
GRANULAR_OPS = (PrefillOp, DecodeOp, EmbedOp, KnnOp)

AGENT = Dialect(
    "agent",
    [LlmOp, RetrieveOp, ToolOp, TransformOp, RouterOp, LoopOp, YieldOp, PrefillOp, DecodeOp, EmbedOp, KnnOp],
    [MsgType],
)

"""`hetc-agent-decompose`: agent-graph nodes -> granular ops with FLOPs, bytes and footprints.

Why: an LLM call is two very different workloads. Prefill runs the whole prompt through
the model at once (compute bound, wants FLOP/s); decode produces one token at a time and
reads every weight and the KV cache so far for each (memory-bandwidth bound, wants
bytes/s). A retrieval is a small embedding model plus a scan of the index (bandwidth
bound). Split, each piece can go to the device that is cheapest for its bound.

The formulas (P parameters, L layers, H hidden, Hkv K/V width, b bytes/element,
T input tokens, O output tokens, W = P·b the weight bytes, kv = 2·L·Hkv·b bytes per token):

- prefill:  FLOPs = 2·P·T + 2·L·T²·H (QKᵀ and AV over the causal half);
            bytes = W + kv·T (weights read once, the KV cache written);
            footprint = W + kv·T
- decode:   per token at position t: 2·P + 4·L·t·H FLOPs, W + kv·t bytes; over O tokens
            FLOPs = 2·P·O + 4·L·H·(O·T + O(O-1)/2), bytes = O·W + kv·(O·T + O(O-1)/2);
            footprint = W + kv·(T+O); `steps` = O (one launch per generated token)
- the KV cache crosses from prefill to decode: kv·T bytes (the edge's payload)
- embed:    FLOPs = 2·P_e·q (q query tokens), bytes = footprint = W_e
- knn:      FLOPs = 2·n·dim, bytes = footprint = n·dim·b_index (a full scan)
- tool:     its CPU FLOPs, plus a fixed external latency (waited, not billed)
- transform / router: FLOPs and bytes as given (routers: 1 kFLOP); host (CPU) only.

Token counts given as distributions are decomposed at their mean here (the attributes);
the placement (`hetc.passes.agent_place`) calls the same functions on sampled counts.
Loop bodies are decomposed in place (the region stays; the placement unrolls it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, FloatAttr, ModuleOp, StringAttr, f64
from xdsl.passes import ModulePass

from hetc.dialects import agent as A
from hetc.frontend.agent import PRECISION_BYTES

ROUTER_FLOPS = 1e3


@dataclass(frozen=True)
class Work:
    """One granular op's demand: what the cost model prices (`to_counts`)."""

    kind: str  # prefill | decode | embed | knn | tool | transform | router
    flops: float
    bytes: float
    weight_bytes: float = 0.0
    footprint_bytes: float = 0.0
    dtype: str = "float32"
    op_class: str = "other"
    steps: int = 1  # launches (decode: one per generated token)
    fixed_s: float = 0.0  # external latency (tools)
    host_only: bool = False
    model: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def to_counts(self, name: str = ""):
        """`OpCounts` for `hetc.backends.cost_model.estimate` (weights inside `bytes`)."""
        from hetc.backends.cost_model import OpCounts

        return OpCounts(self.kind, self.op_class, _cost_dtype(self.dtype), self.flops, self.bytes, 0.0,
                        self.weight_bytes, name)  # fmt: skip


def _cost_dtype(precision: str) -> str:
    """The catalog's dtype key for a precision (int4 weights compute as int4 where a device has it)."""
    return precision


def kv_per_token(layers: int, kv_hidden: int, precision: str) -> float:
    return 2.0 * layers * kv_hidden * PRECISION_BYTES[precision]


def llm_work(
    params: float,
    layers: int,
    hidden: int,
    kv_hidden: int,
    precision: str,
    t_in: float,
    t_out: float,
    model: str = "",
    batch: int = 1,
) -> tuple[Work, Work, float]:
    """(prefill, decode, KV bytes handed from prefill to decode) for one LLM call. Token
    counts may be NumPy arrays (one per sampled scenario): the numbers are arrays then.
    `batch` > 1: the decode is one step shared by `batch` such sequences (continuous
    batching): FLOPs and KV bytes x batch, weights read once per step."""
    b = PRECISION_BYTES[precision]
    w = params * b
    kv = kv_per_token(layers, kv_hidden, precision)
    scalar = not isinstance(t_in, np.ndarray) and not isinstance(t_out, np.ndarray)
    T, O = (float(t_in), float(t_out)) if scalar else (np.asarray(t_in, float), np.asarray(t_out, float))
    pre = Work(
        "prefill", 2 * params * T + 2 * layers * T * T * hidden, w + kv * T, w, w + kv * T, precision, "matmul",
        model=model, extra={"tokens": T},
    )  # fmt: skip
    tri = O * T + O * (O - 1) / 2  # sum over generated positions t = T .. T+O-1
    B = float(batch)
    dec = Work(
        "decode", B * (2 * params * O + 4 * layers * hidden * tri), O * w + B * kv * tri, w, w + B * kv * (T + O), precision,
        "matmul", steps=max(1, int(round(O))) if scalar else 1, model=model, extra={"tokens": O},
    )  # fmt: skip
    return pre, dec, kv * T


def retrieve_work(embed_params: float, embed_precision: str, query_tokens: int, vectors: float, dim: int,
                  index_precision: str) -> tuple[Work, Work, float]:  # fmt: skip
    """(embed, knn, the query vector's bytes) for one retrieval."""
    we = embed_params * PRECISION_BYTES[embed_precision]
    emb = Work("embed", 2 * embed_params * query_tokens, we, we, we, embed_precision, "matmul")
    idx = vectors * dim * PRECISION_BYTES[index_precision]
    knn = Work("knn", 2 * vectors * dim, idx, idx, idx, index_precision, "matmul")
    return emb, knn, dim * 4.0


def tool_work(latency: float, cpu_flops: float) -> Work:
    return Work("tool", cpu_flops, 0.0, dtype="float32", op_class="other", fixed_s=latency, host_only=True)


def transform_work(flops: float, nbytes: float) -> Work:
    return Work("transform", flops, nbytes, dtype="float32", op_class="elementwise", host_only=True)


def router_work() -> Work:
    return Work("router", ROUTER_FLOPS, 0.0, dtype="float32", op_class="other", host_only=True)


def mean_tokens(v) -> float:
    """The mean of a token count (a number, {mean, std[, max]} or {low, high})."""
    if isinstance(v, dict):
        if "mean" in v:
            return float(v["mean"])
        return (float(v["low"]) + float(v["high"])) / 2
    return float(v)


# ---------------------------------------------------------------------------- the pass


def _f(v: float) -> FloatAttr:
    """A number attribute, to 6 significant digits (the exact values come from the functions
    above; 6 digits print as plain MLIR float literals rather than hex)."""
    return FloatAttr(float(f"{v:.6g}"), f64)


def _granular_attrs(op: A.AgentOp, w: Work, node: str) -> dict:
    a = {
        "node": StringAttr(node), "flops": _f(w.flops), "bytes": _f(w.bytes),
        "weight_bytes": _f(w.weight_bytes), "footprint_bytes": _f(w.footprint_bytes),
        "dtype": StringAttr(w.dtype), "op_class": StringAttr(w.op_class),
    }  # fmt: skip
    if op.impl is not None:
        a["impl"] = op.impl
    return a


def decompose_op(op: A.AgentOp) -> list:
    """The granular ops replacing one node op (the last one's result replaces the node's)."""
    node = op.node_name
    in_bytes = op.in_bytes
    if isinstance(op, A.LlmOp):
        tin, tout = A.dist_value(op.input_tokens), A.dist_value(op.output_tokens)
        pre, dec, kv_edge = llm_work(
            A.number(op.params), int(A.number(op.layers)), int(A.number(op.hidden)),
            int(A.number(op.kv_hidden, A.number(op.hidden))), op.precision.data, mean_tokens(tin), mean_tokens(tout),
        )  # fmt: skip
        pa = _granular_attrs(op, pre, f"{node}.prefill") | {
            "model": op.model, "tokens": op.input_tokens, "kv_bytes": _f(pre.footprint_bytes - pre.weight_bytes),
        }  # fmt: skip
        if in_bytes is not None:
            pa["in_bytes"] = in_bytes
        p = A.PrefillOp.create(operands=list(op.ins), result_types=[A.MsgType()], attributes=pa)
        da = _granular_attrs(op, dec, f"{node}.decode") | {
            "model": op.model, "steps": op.output_tokens, "kv_bytes": _f(dec.footprint_bytes - dec.weight_bytes),
            "in_bytes": ArrayAttr([_f(kv_edge)]),
        }  # fmt: skip
        d = A.DecodeOp.create(operands=[p.results[0]], result_types=[A.MsgType()], attributes=da)
        return [p, d]
    if isinstance(op, A.RetrieveOp):
        emb, knn, qbytes = retrieve_work(
            A.number(op.embed_params), op.embed_precision.data, int(A.number(op.query_tokens)), A.number(op.vectors),
            int(A.number(op.dim)), op.index_precision.data,
        )  # fmt: skip
        ea = _granular_attrs(op, emb, f"{node}.embed")
        if in_bytes is not None:
            ea["in_bytes"] = in_bytes
        e = A.EmbedOp.create(operands=list(op.ins), result_types=[A.MsgType()], attributes=ea)
        ka = _granular_attrs(op, knn, f"{node}.knn") | {"k": op.k, "in_bytes": ArrayAttr([FloatAttr(qbytes, f64)])}
        k = A.KnnOp.create(operands=[e.results[0]], result_types=[A.MsgType()], attributes=ka)
        return [e, k]
    if isinstance(op, (A.ToolOp, A.TransformOp, A.RouterOp)):
        if isinstance(op, A.ToolOp):
            w = tool_work(A.number(op.latency), A.number(op.cpu_flops, 0.0))
        elif isinstance(op, A.TransformOp):
            w = transform_work(A.number(op.flops), A.number(op.bytes))
        else:
            w = router_work()
        new = op.clone()
        new.attributes |= {"flops": _f(w.flops), "bytes": _f(w.bytes),
                           "op_class": StringAttr(w.op_class), "dtype": StringAttr(w.dtype)}  # fmt: skip
        return [new]
    return []


def decompose_block(block) -> None:
    for op in list(block.ops):
        if isinstance(op, A.LoopOp):
            decompose_block(op.body.block)
            continue
        if not isinstance(op, (A.LlmOp, A.RetrieveOp, A.ToolOp, A.TransformOp, A.RouterOp)):
            continue
        if isinstance(op, (A.ToolOp, A.TransformOp, A.RouterOp)) and "op_class" in op.attributes:
            continue  # already decomposed (the pass is idempotent)
        new = decompose_op(op)
        block.insert_ops_before(new, op)
        op.results[0].replace_all_uses_with(new[-1].results[0])
        block.erase_op(op)


@dataclass(frozen=True)
class AgentDecompose(ModulePass):
    """Rewrite `agent` node ops into granular ops (see the module docstring)."""

    name = "hetc-agent-decompose"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        decompose_block(op.body.block)

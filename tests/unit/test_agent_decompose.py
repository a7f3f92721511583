"""Decomposition numbers against hand-computed values, and the pass on the examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context

from hetc.dialects import agent as A
from hetc.frontend.agent import load_agent_graph, to_module
from hetc.passes.agent_decompose import AgentDecompose, llm_work, retrieve_work

EX = Path(__file__).resolve().parents[2] / "examples" / "agents"


def test_llm_prefill_and_decode_by_hand():
    # Llama-3-8B-like: P = 8.03e9, L = 32, H = 4096, Hkv = 1024, fp16; T = 1000, O = 100
    pre, dec, kv_edge = llm_work(8.03e9, 32, 4096, 1024, "float16", 1000, 100)
    W = 8.03e9 * 2
    kv = 2 * 32 * 1024 * 2  # 131072 B per token
    assert kv == 131072
    assert pre.flops == pytest.approx(2 * 8.03e9 * 1000 + 2 * 32 * 1000**2 * 4096)  # 1.6322e13
    assert pre.flops == pytest.approx(1.6322144e13)
    assert pre.bytes == pytest.approx(W + kv * 1000) and pre.footprint_bytes == pytest.approx(W + kv * 1000)
    tri = 100 * 1000 + 100 * 99 / 2  # 104950
    assert dec.flops == pytest.approx(2 * 8.03e9 * 100 + 4 * 32 * 4096 * tri)
    assert dec.bytes == pytest.approx(100 * W + kv * tri)  # ~1.6197e12: 100 weight reads dominate
    assert dec.bytes == pytest.approx(1.619756e12, rel=1e-6)
    assert dec.footprint_bytes == pytest.approx(W + kv * 1100)
    assert dec.steps == 100 and kv_edge == pytest.approx(kv * 1000)
    # decode is memory bound, prefill compute bound: arithmetic intensity
    assert pre.flops / pre.bytes > 500 and dec.flops / dec.bytes < 2


def test_batched_decode_shares_weight_reads():
    _, d1, _ = llm_work(1e9, 16, 2048, 512, "float16", 500, 50)
    _, d8, _ = llm_work(1e9, 16, 2048, 512, "float16", 500, 50, batch=8)
    kv_part = d1.bytes - 50 * 2e9
    assert d8.flops == pytest.approx(8 * d1.flops)
    assert d8.bytes == pytest.approx(50 * 2e9 + 8 * kv_part)


def test_token_arrays_give_arrays():
    pre, dec, kv = llm_work(1e9, 16, 2048, 512, "int8", np.array([10.0, 20.0]), np.array([5.0, 5.0]))
    assert pre.flops.shape == (2,) and pre.flops[1] > pre.flops[0]
    assert kv[1] == pytest.approx(2 * kv[0])


def test_retrieval_by_hand():
    emb, knn, q = retrieve_work(1.1e8, "float16", 32, 2.0e6, 768, "float16")
    assert emb.flops == pytest.approx(2 * 1.1e8 * 32) and emb.bytes == pytest.approx(2.2e8)
    assert knn.flops == pytest.approx(2 * 2e6 * 768) and knn.footprint_bytes == pytest.approx(2e6 * 768 * 2)
    assert q == 768 * 4


def test_pass_on_the_tool_agent_keeps_the_loop_and_splits_llms():
    m = to_module(load_agent_graph(EX / "tool_agent.yaml"))
    AgentDecompose().apply(Context(), m)
    m.verify()
    names = [op.name for op in m.walk()]
    assert "agent.llm" not in names
    assert names.count("agent.prefill") == names.count("agent.decode") == 3
    loop = next(op for op in m.walk() if isinstance(op, A.LoopOp))
    inner = [op.name for op in loop.body.block.ops]
    assert inner[:2] == ["agent.prefill", "agent.decode"] and inner[-1] == "agent.yield"
    # the numbers on the IR are the functions' at the mean token counts (6 significant digits)
    think = next(op for op in loop.body.block.ops if isinstance(op, A.PrefillOp))
    pre, _, _ = llm_work(7.6e9, 28, 3584, 512, "bfloat16", 1600, 60)
    assert A.number(think.flops) == pytest.approx(pre.flops, rel=1e-5)


def _parse(text: str):
    from xdsl.dialects.builtin import Builtin
    from xdsl.parser import Parser

    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(A.AGENT)
    m = Parser(ctx, text).parse_module()
    m.verify()
    return m


def test_verifiers_reject_bad_attributes():
    from xdsl.utils.exceptions import VerifyException

    ok = '"agent.router"() {node = "r", branches = {a = 0.5 : f64, b = 0.5 : f64}} : () -> !agent.msg'
    _parse(f"builtin.module {{ %0 = {ok} }}")
    bad = ok.replace("b = 0.5", "b = 0.4")
    with pytest.raises(VerifyException, match="add up to 1"):
        _parse(f"builtin.module {{ %0 = {bad} }}")
    knn = (
        '"agent.knn"() {node = "s.knn", flops = 1.0 : f64, bytes = 1.0 : f64, weight_bytes = 5.0 : f64, '
        'footprint_bytes = 2.0 : f64, dtype = "float16", op_class = "matmul", k = 4 : i64} : () -> !agent.msg'
    )
    with pytest.raises(VerifyException, match="footprint_bytes is smaller than weight_bytes"):
        _parse(f"builtin.module {{ %0 = {knn} }}")

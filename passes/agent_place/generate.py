"""Random agent graphs (the schema's dict form) for tests and benchmarks, seeded."""

from __future__ import annotations

from typing import Any

import numpy as np


#: model shapes for generated graphs (parameter count, layers, hidden, KV width)
_GEN_MODELS = {
    "m1b": (1.2e9, 16, 2048, 512), "m3b": (3.2e9, 28, 3072, 1024), "m8b": (8.0e9, 32, 4096, 1024),
    "m14b": (14.8e9, 48, 5120, 1024), "m32b": (32.5e9, 64, 5120, 1024),
}  # fmt: skip


def generate_graph(seed: int, *, nodes: int | None = None) -> dict[str, Any]:
    """A random agent graph (the schema's dict form) for tests and benchmarks: a layered
    DAG of retrievals, LLM calls of several sizes and precisions, tools, transforms, a
    router with two branches and sometimes a loop. No SLA (callers set one)."""
    rng = np.random.default_rng(seed)
    n = int(nodes or rng.integers(4, 9))
    models = {}
    for name, (p, l, h, kv) in _GEN_MODELS.items():
        models[name] = {"params": p, "layers": l, "hidden": h, "kv_hidden": kv,
                        "precision": str(rng.choice(["float16", "bfloat16", "int8"]))}  # fmt: skip

    def llm() -> dict[str, Any]:
        tin = int(rng.integers(200, 3000))
        return {"kind": "llm", "model": str(rng.choice(list(models))),
                "input_tokens": {"low": tin // 2, "high": tin},
                "output_tokens": {"mean": float(rng.integers(20, 300)), "std": float(rng.integers(5, 60))}}  # fmt: skip

    def other(i: int) -> dict[str, Any]:
        k = rng.choice(["retrieve", "tool", "transform", "llm", "llm"])
        if k == "retrieve":
            return {"kind": "retrieve", "index": {"vectors": float(rng.choice([1e5, 1e6, 5e6])), "dim": int(rng.choice([384, 768])),
                    "precision": "float16"}, "k": 8}  # fmt: skip
        if k == "tool":
            return {
                "kind": "tool",
                "latency": float(rng.uniform(0.005, 0.3)),
                "cpu_flops": float(rng.uniform(1e5, 1e8)),
            }
        if k == "transform":
            return {"kind": "transform", "flops": float(rng.uniform(1e4, 1e7)), "bytes": float(rng.uniform(1e3, 1e6))}
        return llm()

    spec: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    names = [f"n{i}" for i in range(n)]
    for i, name in enumerate(names):
        spec[name] = other(i)
        if i > 0:
            preds = sorted({int(rng.integers(max(0, i - 2), i))} | ({i - 1} if rng.random() < 0.5 else set()))
            for p_ in preds:
                if spec[names[p_]]["kind"] == "router":
                    continue
                edges.append({"from": names[p_], "to": name, "bytes": float(rng.choice([1024, 4096, 65536]))})
    if rng.random() < 0.6:  # a router choosing between a small and a large model
        spec["route"] = {"kind": "router", "branches": {"small": 0.7, "large": 0.3}}
        spec["small"] = {**llm(), "model": "m1b"}
        spec["large"] = {**llm(), "model": str(rng.choice(["m14b", "m32b"]))}
        spec["join"] = {"kind": "transform", "flops": 1e5, "bytes": 1e4}
        edges += [{"from": names[-1], "to": "route"}, {"from": "route", "to": "small"}, {"from": "route", "to": "large"},
                  {"from": "small", "to": "join"}, {"from": "large", "to": "join"}]  # fmt: skip
    if rng.random() < 0.4:  # a small tool loop at the end
        last = [x for x in spec if not any(e["from"] == x for e in edges)][0]
        spec["loop"] = {"kind": "loop", "max_iterations": int(rng.integers(2, 4)), "continue_probability": 0.5,
                        "body": {"nodes": {"act": {**llm(), "model": "m3b"},
                                           "call": {"kind": "tool", "latency": 0.05, "cpu_flops": 1e6}},
                                 "edges": [{"from": "act", "to": "call"}]}}  # fmt: skip
        edges.append({"from": last, "to": "loop"})
    return {"name": f"gen{seed}", "models": models, "nodes": spec, "edges": edges}

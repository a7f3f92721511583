"""The Python callables the example agent graphs name (`impl: "impls:NAME"`).

Stand-ins that run anywhere in milliseconds, deterministic, no network, no model weights:
a hashing "embedding", a NumPy k-NN over a small generated corpus, a templated "LLM"
whose text depends on everything it was given. Every callable has the signature
`fn(inputs, **params)`: `inputs` maps each predecessor's name to its output, plus
"request" (the graph's input) and, for the first nodes of a loop body, "state" (the
previous round's result, None at first) and "iteration". A router returns the name of
the branch to take; a loop's callable gets {"result", "iteration", "request"} and returns
True to stop.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

DIM = 64
TOPICS = [
    "decode reads every weight once per generated token, so it is memory-bandwidth bound",
    "prefill multiplies the whole prompt by the weights at once, so it is compute bound",
    "the KV cache grows with layers, width and tokens and must fit beside the weights",
    "older GPUs have less compute per dollar but often similar bandwidth per dollar",
    "a vector index scan reads every vector: bytes = vectors x dim x bytes per element",
    "tool calls wait on the network; their latency is not spent on an accelerator",
    "Ole Roemer first estimated the speed of light in 1676 from the moons of Jupiter",
    "batching requests amortizes weight reads over many sequences during decode",
    "FP8 weights halve the memory of a 70B model compared with FP16",
    "routing easy questions to small models saves cost without hurting quality",
]


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:10]


def _question(inputs: dict) -> str:
    return str((inputs.get("request") or {}).get("question", ""))


def embed_text(text: str, dim: int = DIM) -> np.ndarray:
    """A hashing embedding: each word adds a signed unit to a hashed coordinate."""
    v = np.zeros(dim)
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        h = int(hashlib.md5(w.encode()).hexdigest(), 16)
        v[h % dim] += 1.0 if (h >> 8) & 1 else -1.0
    n = np.linalg.norm(v)
    return v / n if n else v


def _corpus(n: int = 200) -> tuple[list[str], np.ndarray]:
    """A deterministic corpus: the topics, then variations of them."""
    rng = np.random.default_rng(0)
    docs = list(TOPICS)
    while len(docs) < n:
        a, b = rng.choice(len(TOPICS), 2, replace=False)
        docs.append(f"{TOPICS[a].split(',')[0]}; see also: {TOPICS[b].split(',')[0]}")
    return docs, np.stack([embed_text(d) for d in docs])


_DOCS, _VECS = _corpus()


# ---------------------------------------------------------------------------- RAG


def search(inputs: dict, k: int = 8) -> list[dict]:
    """Embed the question and return the k nearest documents (cosine, NumPy scan)."""
    q = embed_text(_question(inputs))
    scores = _VECS @ q
    top = np.argsort(-scores, kind="stable")[:k]
    return [{"id": int(i), "score": round(float(scores[i]), 6), "text": _DOCS[i]} for i in top]


def rerank(inputs: dict, keep: int = 4) -> list[dict]:
    """Score hits by word overlap with the question (a stand-in for a cross-encoder)."""
    words = set(re.findall(r"[a-z]+", _question(inputs).lower()))
    hits = inputs["search"]
    scored = sorted(hits, key=lambda h: (-len(words & set(h["text"].lower().split())), -h["score"], h["id"]))
    return scored[:keep]


def generate(inputs: dict) -> str:
    """A templated answer citing the passages it was given."""
    docs = inputs["rerank"]
    cite = ", ".join(f"[{d['id']}]" for d in docs)
    return f"Answer ({_digest(_question(inputs), cite)}): {docs[0]['text']} {cite}"


# ---------------------------------------------------------------------------- tool agent


def plan(inputs: dict) -> dict:
    q = _question(inputs)
    steps = ["calculate" if re.search(r"\d", q) else None, "search" if re.search(r"[A-Za-z]{4,}", q) else None]
    return {"question": q, "steps": [s for s in steps if s]}


def think(inputs: dict) -> dict:
    """Pick the next planned step not yet done."""
    state = inputs.get("state")
    if isinstance(state, dict) and "plan" in state:  # a later round: the last observation
        plan_, done, notes = state["plan"], state["done"], state.get("notes", [])
    else:  # the first round: the planner's output
        plan_, done, notes = (state or {}).get("steps", []) if isinstance(state, dict) else [], [], []
    todo = [s for s in plan_ if s not in done]
    return {
        "plan": plan_,
        "done": done,
        "notes": notes,
        "next": todo[0] if todo else "search",
        "iteration": inputs.get("iteration", 0),
    }


def pick(inputs: dict) -> str:
    return "calculator" if inputs["think"]["next"] == "calculate" else "web_search"


def web_search(inputs: dict) -> dict:
    hits = search(inputs, k=2)
    return {"tool": "search", "result": hits[0]["text"], "state": inputs["pick"]}


def calculator(inputs: dict) -> dict:
    """Evaluate the first arithmetic expression in the question (digits and + - * / only)."""
    m = re.search(r"\d[\d\s+\-*/().]*\d", _question(inputs))
    expr = m.group(0) if m else "0"
    nums = [int(x) for x in re.findall(r"\d+", expr)]
    ops = re.findall(r"[+\-*/]", expr)
    # left-to-right with * and / first: a tiny safe evaluator (no eval)
    terms, cur = [], nums[0] if nums else 0
    for op, n in zip(ops, nums[1:]):
        if op == "*":
            cur *= n
        elif op == "/":
            cur = cur / n if n else float("nan")
        else:
            terms.append(cur)
            terms.append(op)
            cur = n
    terms.append(cur)
    total = terms[0]
    for i in range(1, len(terms), 2):
        total = total + terms[i + 1] if terms[i] == "+" else total - terms[i + 1]
    return {"tool": "calculate", "result": f"{expr.strip()} = {total}", "state": inputs["pick"]}


def observe(inputs: dict) -> dict:
    obs = inputs.get("web_search") or inputs.get("calculator")
    state = obs["state"]
    done = state["done"] + [obs["tool"]]
    notes = (state.get("notes") or []) + [obs["result"]]
    return {"plan": state["plan"], "done": done, "notes": notes}


def done(inputs: dict) -> bool:
    r = inputs["result"]
    return all(s in r["done"] for s in r["plan"])


def answer(inputs: dict) -> str:
    notes = inputs["act"]["notes"]
    return f"Final answer ({_digest(*notes)}): " + " | ".join(notes)


# ---------------------------------------------------------------------------- debate


def frame(inputs: dict) -> dict:
    return {"motion": _question(inputs), "transcript": []}


def argue(inputs: dict, side: str = "pro") -> str:
    state = inputs.get("state") or {}
    motion = state.get("motion", _question(inputs))
    rnd = inputs.get("iteration", 0)
    idx = int(_digest(side, motion, rnd), 16) % len(TOPICS)
    stance = "For" if side == "pro" else "Against"
    return f"{stance} (round {rnd + 1}): {TOPICS[idx]}"


def moderate(inputs: dict) -> dict:
    pro, con = inputs["pro"], inputs["con"]
    # the state came in through the body's sources; both debaters saw the same one
    return {"pro": pro, "con": con, "score": len(pro) - len(con)}


def settled(inputs: dict) -> bool:
    """Stop once one side leads by a clear margin."""
    return abs(inputs["result"]["score"]) > 25


def judge(inputs: dict) -> str:
    r = inputs["rounds"]
    winner = "pro" if r["score"] >= 0 else "con"
    return f"Verdict ({_digest(r['pro'], r['con'])}): {winner} wins"

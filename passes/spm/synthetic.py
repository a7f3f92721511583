"""Seeded synthetic scratchpad problems: branchy DAGs for tests and the benchmark.

`branchy(seed, n_ops)` builds an Inception/DenseNet-like graph: a chain of blocks, each
block fanning out into 2-4 branches of 1-3 ops that a join op (a concat) reads back,
with a weight per compute op and tensor sizes drawn from a few powers of two. Branchy
graphs are where the op order matters, which is what the ILP optimizes beyond belady.
"""

from __future__ import annotations

import random

from hetc.passes.spm.problem import SpmOp, SpmProblem, SpmTensor

KIB = 1024


def branchy(seed: int, n_ops: int = 30, capacity: int = 64 * KIB, unit: int = 2 * KIB) -> SpmProblem:
    """A seeded branchy DAG of about `n_ops` ops; sizes are multiples of `unit` bytes."""
    rng = random.Random(seed)
    tensors: dict[str, SpmTensor] = {}
    ops: list[SpmOp] = []

    def tensor(kind: str, size: int) -> str:
        name = f"t{len(tensors)}"
        tensors[name] = SpmTensor(name, size, kind)
        return name

    def op(reads: list[str], size: int, kind: str = "intermediate", weight: bool = True) -> str:
        if weight:
            reads = [*reads, tensor("weight", unit * rng.choice((1, 1, 2, 4)))]
        out = tensor(kind, size)
        ops.append(SpmOp(f"op{len(ops)}", tuple(reads), (out,)))
        return out

    x = tensor("input", unit * 4)
    cur = op([x], unit * 4)
    while len(ops) < n_ops - 1:
        branches = []
        for _ in range(rng.randint(2, 4)):
            b = cur
            for _ in range(rng.randint(1, 3)):
                b = op([b], unit * rng.choice((2, 4, 8, 16)))
            branches.append(b)
        # the join also reads the block input (a residual), which stays live meanwhile
        cur = op([cur, *branches], unit * rng.choice((2, 4, 8)), weight=False)
    op([cur], unit, kind="output")
    return SpmProblem(tensors, ops, capacity)

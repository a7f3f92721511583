"""Seeded random layered task graphs, after Topcuoglu, Hariri and Wu (2002), section 5.1.

`random_layered_dag(n, ccr, seed)`: n tasks in layers (height about sqrt(n) / alpha), each
task feeding 1..out_degree tasks of the next layers, average run time `w_dag`; a task's
run time on a device is drawn within +-beta/2 of its own mean (beta = the range of
heterogeneity), an edge's transfer time uniformly with mean ccr * w_dag (ccr = the
communication-to-computation ratio). The shape parameters not given are drawn from the
paper's sets with the same seed, so one (n, ccr, seed) is always the same graph.
"""

from __future__ import annotations

import math
import random

from hetc.passes.place.taskgraph import Edge, TaskGraph


def random_layered_dag(
    n: int,
    ccr: float,
    seed: int,
    *,
    devices: int | None = None,
    alpha: float | None = None,
    out_degree: int | None = None,
    beta: float | None = None,
    w_dag: int = 50,
) -> TaskGraph:
    rng = random.Random(f"hetc-dag-{n}-{float(ccr):g}-{seed}")
    q = devices if devices is not None else rng.choice([3, 4])
    alpha = alpha if alpha is not None else rng.choice([0.5, 1.0, 2.0])
    out_degree = out_degree if out_degree is not None else rng.choice([1, 2, 3, 4])
    beta = beta if beta is not None else rng.choice([0.5, 1.0, 1.5])
    height = max(2, min(n, round(math.sqrt(n) / alpha)))
    layer_of = list(range(height)) + [rng.randrange(height) for _ in range(n - height)]
    layer_of.sort()
    layers: list[list[int]] = [[] for _ in range(height)]
    for i, lay in enumerate(layer_of):
        layers[lay].append(i)
    names = [f"t{i}" for i in range(n)]
    devs = [f"p{k}" for k in range(q)]
    cost = {}
    for i in range(n):
        w = rng.uniform(1, 2 * w_dag)
        cost[names[i]] = {
            d: max(1, round(rng.uniform(w * (1 - beta / 2), w * (1 + beta / 2)))) for d in devs
        }
    pairs: set[tuple[int, int]] = set()
    for lay in range(height - 1):
        later = [j for nxt in layers[lay + 1 : lay + 3] for j in nxt]
        nxt_layer = layers[lay + 1]
        for i in layers[lay]:
            k = rng.randint(1, out_degree)
            targets = rng.sample(later, min(k, len(later)))
            pairs.update((i, j) for j in targets)
        for j in nxt_layer:  # every task below the top has an input
            if not any((i, j) in pairs for i in layers[lay]):
                pairs.add((rng.choice(layers[lay]), j))
    edges = [Edge(names[i], names[j], round(rng.uniform(0, 2 * ccr * w_dag))) for i, j in sorted(pairs)]
    name = f"layered-n{n}-ccr{ccr:g}-s{seed}"
    return TaskGraph(devs, cost, edges, name=name)

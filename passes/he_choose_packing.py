"""hetc-he-choose-packing: choose every he.matvec's BSGS split and every he.einsum's slot
layout (iteration order) to minimize rotations, then distinct rotation keys, with CP-SAT.

Decisions (one boolean per candidate, exactly one per op):
  - he.matvec over an M x N matrix: n1 in 1..N, n2 = ceil(N / n1); its rotations
    are (n1 - 1) + (n2 - 1) (+ log2 C when the vector must first be replicated C times),
    its offsets {1..n1-1} u {n1*j : 0 < j < n2} (u {-N * 2^t});
  - he.einsum: the order of its iteration letters (all permutations, up to 120), which
    fixes the strides and so the rotation offsets of its expand / reduce steps.
  - for an op whose encrypted input comes straight from he.encrypt (client_packing=true):
    whether the client packs it ready (replicated for a matvec, expanded for an einsum),
    which removes the replication / expansion rotations (packing is free on plaintext).
A key (Galois key for offset o) is used when any chosen candidate uses o:
key[o] >= sum of the candidates using o, for each op (at most one of them is chosen).

    minimize  W_r * sum rotations + W_k * sum key[o] + #(ops whose n1 / order is not the default)

with W_k = #ops + 1 and W_r = (K + 1) * W_k (K = the number of possible keys): rotations
first, then keys, then ties broken towards the default. The baseline is "diagonal everywhere": n1 = N for every
matvec (the naive Halevi-Shoup method, N - 1 rotations + the replication) and the default einsum order; it is
given to the solver as a hint, so the answer is never worse than it (and the pass keeps
the baseline if the solver finds nothing). The solver has a time limit and a fixed seed,
runs single-threaded (deterministic) and reports whether its answer is proven optimal.

The chosen values are written as `n1` / `order` attributes on the ops (the lowering passes
read them) and a summary string `he.packing` on the module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hetc.dialects import he
from hetc.passes.he_einsum_pack import all_orders, plan_of
from hetc.passes.he_matvec_bsgs import bsgs_offsets, default_n1, replication_steps
from hetc.passes.he_slots_common import at_boundary
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr, UnitAttr, i64
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import VerifyException


def _candidates(op, client_packing: bool) -> tuple[list, list[list[int]], int, int]:
    """(choices, offsets per choice, index of the diagonal default, index of the BSGS
    heuristic). A choice is (n1 or order, packed at the client?)."""
    if isinstance(op, he.MatVecOp):
        n = op.matrix.type.get_shape()[1]
        rep = replication_steps(op)
        choices = [(c, False) for c in range(1, n + 1)]
        if client_packing and rep and at_boundary(op.vector):
            choices += [(c, True) for c in range(1, n + 1)]
        offs = [bsgs_offsets(n, c, 0 if packed else rep) for c, packed in choices]
        return choices, offs, n - 1, default_n1(n) - 1
    plan0 = plan_of(op, client_expand=False)
    orders = all_orders(plan0.ins, plan0.out)
    if plan0.order not in orders:
        orders.insert(0, plan0.order)
    choices = [(o, False) for o in orders]
    if client_packing and all(at_boundary(v) for v in op.inputs if isinstance(v.type, he.CiphertextType)):
        choices += [(o, True) for o in orders]
    offs = [plan_of(op, o, client_expand=packed).offsets() for o, packed in choices]
    i0 = choices.index((plan0.order, False))
    return choices, offs, i0, i0


def _totals(offsets_chosen: list[list[int]]) -> tuple[int, int]:
    return sum(len(o) for o in offsets_chosen), len({k for o in offsets_chosen for k in o})


def choose_packing(
    module: ModuleOp, time_limit: float = 10.0, seed: int = 0, strategy: str = "ilp", client_packing: bool = True
) -> dict:
    ops = [o for o in module.walk() if isinstance(o, (he.MatVecOp, he.EinsumOp))]
    cands = [_candidates(o, client_packing and strategy == "ilp") for o in ops]
    base = [c[1][c[2]] for c in cands]
    heur = [c[1][c[3]] for c in cands]
    report = {
        "ops": len(ops),
        "strategy": strategy,
        "diagonal": dict(zip(("rotations", "keys"), _totals(base))),
        "bsgs_sqrt": dict(zip(("rotations", "keys"), _totals(heur))),
    }
    pick = [c[2] for c in cands]
    if strategy == "bsgs":
        pick = [c[3] for c in cands]
    elif strategy == "ilp" and ops:
        pick, solver = _solve(cands, time_limit, seed)
        report["solver"] = solver
    elif strategy not in ("ilp", "diagonal", "bsgs"):
        raise VerifyException(f"hetc-he-choose-packing: strategy '{strategy}' is not ilp, diagonal or bsgs")
    chosen = [c[1][p] for c, p in zip(cands, pick)]
    rot, keys = _totals(chosen)
    report["chosen"] = {"rotations": rot, "keys": keys}
    report["choices"] = []
    for op, c, p in zip(ops, cands, pick):
        value, packed = c[0][p]
        if isinstance(op, he.MatVecOp):
            op.attributes["n1"] = IntegerAttr(value, i64)
            flag, entry = "pack_at_encrypt", {"op": "he.matvec", "n1": value}
        else:
            op.attributes["order"] = StringAttr(value)
            flag, entry = "expand_at_encrypt", {"op": "he.einsum", "order": value}
        if packed:
            op.attributes[flag] = UnitAttr()
        else:
            op.attributes.pop(flag, None)
        report["choices"].append({**entry, flag: packed, "rotations": len(c[1][p])})
    summary = (
        f"strategy={strategy} rotations={rot} keys={keys} "
        f"diagonal_rotations={report['diagonal']['rotations']} diagonal_keys={report['diagonal']['keys']}"
    )
    if "solver" in report:
        s = report["solver"]
        summary += f" solver=cp-sat status={s['status']} time_limit={time_limit}s seed={seed}"
    module.attributes["he.packing"] = StringAttr(summary)
    return report


def _solve(cands, time_limit: float, seed: int):
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    model = cp_model.CpModel()
    all_keys = sorted({k for c in cands for offs in c[1] for k in offs})
    key = {k: model.NewBoolVar(f"key{k}") for k in all_keys}
    xs, rot_terms, off_default = [], [], []
    for t, (choices, offs, i_def, _) in enumerate(cands):
        x = [model.NewBoolVar(f"x{t}_{i}") for i in range(len(choices))]
        model.AddExactlyOne(x)
        xs.append(x)
        rot_terms += [len(o) * xi for o, xi in zip(offs, x)]
        users: dict[int, list] = {}
        for o, xi in zip(offs, x):
            for k in set(o):
                users.setdefault(k, []).append(xi)
        for k, us in users.items():
            model.Add(key[k] >= sum(us))
        for i, xi in enumerate(x):
            model.AddHint(xi, i == i_def)
        # ties: keep the default n1 / order (packing at the client is free)
        off_default += [xi for i, xi in enumerate(x) if choices[i][0] != choices[i_def][0]]
    # rotations first, then keys, then (ties) the default choice
    w_keys = len(cands) + 1
    w_rot = (len(all_keys) + 1) * w_keys
    model.Minimize(w_rot * sum(rot_terms) + w_keys * sum(key.values()) + sum(off_default))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = 1
    status = solver.Solve(model)
    name = solver.StatusName(status)
    info = {"status": name, "wall_s": round(time.perf_counter() - t0, 3), "optimal": status == cp_model.OPTIMAL}
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        pick = [next(i for i, xi in enumerate(x) if solver.Value(xi)) for x in xs]
        info["objective"] = solver.ObjectiveValue()
        info["bound"] = solver.BestObjectiveBound()
        info["gap"] = info["objective"] - info["bound"]
        # never worse than the baseline in rotations
        base = [c[1][c[2]] for c in cands]
        if _totals([c[1][p] for c, p in zip(cands, pick)])[0] > _totals(base)[0]:
            pick, info["fallback"] = [c[2] for c in cands], "diagonal (solver answer had more rotations)"
        return pick, info
    info["fallback"] = "diagonal (no solution within the time limit)"
    return [c[2] for c in cands], info


@dataclass(frozen=True)
class HeChoosePacking(ModulePass):
    name = "hetc-he-choose-packing"

    strategy: str = "ilp"  # "ilp" | "bsgs" (n1 = ceil(sqrt N)) | "diagonal" (n1 = N)
    time_limit: float = 10.0
    seed: int = 0
    client_packing: bool = True  # may the ILP pack encrypted inputs at he.encrypt?

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        choose_packing(op, self.time_limit, self.seed, self.strategy, self.client_packing)

"""Einsum equations: parsing, and plain contractions as Transpose / Reshape / MatMul.

`parse_einsum` is shared by the graph rewrite here (a hetc-decompose rule) and the
loop lowering's general Einsum loop nest (hetc.passes.loops.einsum).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import f32, f64

from hetc.dialects import onnx as onnx_d


@dataclass
class EinsumSpec:
    """A parsed equation: each operand's labels (ellipsis dims as "...0", "...1", ...,
    right-aligned like numpy broadcasting), the output's labels, and every label's size."""

    inputs: list[list[str]]
    output: list[str]
    sizes: dict[str, int]

    @property
    def summed(self) -> list[str]:
        """Labels not in the output, in order of first appearance."""
        seen: list[str] = []
        for label in (label for labels in self.inputs for label in labels):
            if label not in self.output and label not in seen:
                seen.append(label)
        return seen


def parse_einsum(equation: str, shapes: list[list[int]]) -> EinsumSpec:
    """Parse an ONNX Einsum equation for operands of `shapes`; ValueError if malformed.
    Without "->" the output is the ellipsis dims, then the labels seen once, sorted."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"equation '{equation}' has {len(terms)} operand(s), the node {len(shapes)}")
    ell = 0
    for term, shape in zip(terms, shapes):
        letters = term.replace("...", "")
        named = len(letters)
        if term.count("...") > 1 or (letters and not letters.isalpha()):
            raise ValueError(f"bad term '{term}' in '{equation}'")
        if "..." in term:
            ell = max(ell, len(shape) - named)
        elif named != len(shape):
            raise ValueError(f"term '{term}' has {named} labels for a rank-{len(shape)} operand")
    ell_labels = [f"...{i}" for i in range(ell)]
    inputs: list[list[str]] = []
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        if "..." in term:
            pre, post = term.split("...")
            k = len(shape) - len(pre) - len(post)
            if k < 0:
                raise ValueError(f"term '{term}' has more labels than its operand's rank {len(shape)}")
            labels = list(pre) + ell_labels[ell - k :] + list(post)
        else:
            labels = list(term)
        for label, size in zip(labels, shape):
            old = sizes.get(label, 1)
            if size != old and 1 not in (size, old):
                raise ValueError(f"label '{label}' has sizes {old} and {size}")
            sizes[label] = max(old, size)
        inputs.append(labels)
    for label in ell_labels:
        sizes.setdefault(label, 1)
    if arrow:
        if rhs.count("...") > 1 or (rhs.replace("...", "") and not rhs.replace("...", "").isalpha()):
            raise ValueError(f"bad output '{rhs}' in '{equation}'")
        if "..." in rhs:
            pre, post = rhs.split("...")
            output = list(pre) + ell_labels + list(post)
        else:
            if ell and any(s != 1 for s in (sizes[label] for label in ell_labels)):
                raise ValueError(f"'{equation}' drops the ellipsis dims from the output")
            output = list(rhs)
    else:
        letters = [ch for ch in lhs if ch.isalpha()]
        output = ell_labels + sorted(ch for ch in set(letters) if letters.count(ch) == 1)
    if len(set(output)) != len(output) or any(label not in sizes for label in output):
        raise ValueError(f"output of '{equation}' repeats a label or names one no operand has")
    return EinsumSpec(inputs, output, sizes)


def _permuted(bld, v, labels: list[str], target: list[str]):
    """`v` (dims named by `labels`) transposed to the order of `target`."""
    from hetc.passes.decompose import _ttype

    if labels == target:
        return v
    shape = list(v.type.get_shape())
    perm = [labels.index(label) for label in target]
    return bld.op("Transpose", [v], _ttype(v.type.get_element_type(), [shape[p] for p in perm]), perm=perm)


def _reshaped(bld, v, shape: list[int]):
    from hetc.passes.decompose import _ttype

    if list(v.type.get_shape()) == list(shape):
        return v
    new_shape = bld.const(np.array(shape, dtype=np.int64), "shape")
    return bld.op("Reshape", [v, new_shape], _ttype(v.type.get_element_type(), shape))


def decompose_einsum(op) -> bool:
    """A plain float contraction (one or two operands, no label repeated within an
    operand, no broadcast dims) as [ReduceSum] [Transpose] [Reshape] MatMul [Reshape]
    [Transpose]; False (op kept) for anything else."""
    from hetc.passes.decompose import _Builder, _ttype

    y = op.results[0]
    elem = y.type.get_element_type()
    if elem not in (f32, f64) or len(op.operands) not in (1, 2):
        return False
    shapes = [list(v.type.get_shape()) for v in op.operands]
    eq = op.attributes.get("equation")
    try:
        spec = parse_einsum(onnx_d.attribute_to_python(eq) if eq is not None else "", shapes)
    except ValueError:
        return False
    sizes, out = spec.sizes, spec.output
    if (
        [sizes[label] for label in out] != list(y.type.get_shape())
        or any(len(set(labels)) != len(labels) for labels in spec.inputs)  # a diagonal
        or any(sizes[label] != n for labels, shape in zip(spec.inputs, shapes) for label, n in zip(labels, shape))
    ):
        return False
    bld = _Builder(op)
    # first sum out the labels only one operand has and the output lacks
    operands = []
    for i, (v, labels) in enumerate(zip(op.operands, spec.inputs)):
        others = {label for j, ls in enumerate(spec.inputs) if j != i for label in ls}
        gone = [d for d, label in enumerate(labels) if label not in out and label not in others]
        if gone:
            labels = [label for label in labels if label in out or label in others]
            axes = bld.const(np.array(gone, dtype=np.int64), "axes")
            v = bld.op("ReduceSum", [v, axes], _ttype(elem, [sizes[label] for label in labels]), keepdims=0)
        operands.append((v, labels))
    if len(operands) == 1:
        v, labels = operands[0]
        result = _permuted(bld, v, labels, out)
    else:
        batch = [label for label in out if all(label in ls for _, ls in operands)]
        contracted = [label for label in operands[0][1] if label in operands[1][1] and label not in out]

        def transposes(order):  # how many operands and results A @ B would transpose
            (_, la), (_, lb) = order
            free_a, free_b = [x for x in out if x in la and x not in batch], [x for x in out if x in lb and x not in batch]
            return (la != batch + free_a + contracted) + (lb != batch + contracted + free_b) + (out != batch + free_a + free_b)

        # A @ B, or B^T A^T when that transposes less ('ij,jk->ki')
        (a, la), (b, lb) = min((operands, operands[::-1]), key=transposes)
        free_a = [label for label in out if label in la and label not in batch]
        free_b = [label for label in out if label in lb and label not in batch]
        bsizes = [sizes[label] for label in batch]
        m, n, k = (int(np.prod([sizes[label] for label in g], dtype=np.int64)) for g in (free_a, free_b, contracted))
        a = _reshaped(bld, _permuted(bld, a, la, batch + free_a + contracted), bsizes + [m, k])
        b = _reshaped(bld, _permuted(bld, b, lb, batch + contracted + free_b), bsizes + [k, n])
        product = bld.op("MatMul", [a, b], _ttype(elem, bsizes + [m, n]))
        labels = batch + free_a + free_b
        result = _permuted(bld, _reshaped(bld, product, [sizes[label] for label in labels]), labels, out)
    y.replace_all_uses_with(result)
    return True

"""A timm-style self-attention block built with onnx.helper (random weights), shared by the
GPU-form test on the CPU and the CUDA backend's tests."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper


def attention_block(batch: int = 2, tokens: int = 7, heads: int = 2, dim: int = 8):
    """timm-style self-attention: the qkv projection over [batch, tokens, features] (one
    GEMM of batch x tokens rows), Reshape + Transpose to [3, batch, heads, tokens, dim], a
    Split into q, k, v (views), q scaled, K transposed for q @ k^T (read in place by the
    GEMM), softmax, @ v, the heads merged back, the output projection."""
    rng = np.random.default_rng(2)
    f = heads * dim
    nodes = [
        h.make_node("MatMul", ["x", "wqkv"], ["qkv0"]),
        h.make_node("Add", ["qkv0", "bqkv"], ["qkv1"]),
        h.make_node("Reshape", ["qkv1", "s5"], ["qkv2"]),
        h.make_node("Transpose", ["qkv2"], ["qkv3"], perm=[2, 0, 3, 1, 4]),
        h.make_node("Split", ["qkv3"], ["q0", "k0", "v0"], axis=0, num_outputs=3),
        h.make_node("Squeeze", ["q0", "ax0"], ["q1"]),
        h.make_node("Squeeze", ["k0", "ax0"], ["k1"]),
        h.make_node("Squeeze", ["v0", "ax0"], ["v1"]),
        h.make_node("Mul", ["q1", "scale"], ["q2"]),
        h.make_node("Transpose", ["k1"], ["kt"], perm=[0, 1, 3, 2]),
        h.make_node("MatMul", ["q2", "kt"], ["s"]),
        h.make_node("Softmax", ["s"], ["p"], axis=-1),
        h.make_node("MatMul", ["p", "v1"], ["o0"]),
        h.make_node("Transpose", ["o0"], ["o1"], perm=[0, 2, 1, 3]),
        h.make_node("Reshape", ["o1", "s3"], ["o2"]),
        h.make_node("MatMul", ["o2", "wo"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array((rng.standard_normal((f, 3 * f)) * 0.3).astype(np.float32), "wqkv"),
        numpy_helper.from_array((rng.standard_normal(3 * f) * 0.1).astype(np.float32), "bqkv"),
        numpy_helper.from_array(np.array([batch, tokens, 3, heads, dim], np.int64), "s5"),
        numpy_helper.from_array(np.array([0], np.int64), "ax0"),
        numpy_helper.from_array(np.array(dim ** -0.5, np.float32), "scale"),
        numpy_helper.from_array(np.array([batch, tokens, f], np.int64), "s3"),
        numpy_helper.from_array((rng.standard_normal((f, f)) * 0.3).astype(np.float32), "wo"),
    ]
    g = h.make_graph(nodes, "attn", [h.make_tensor_value_info("x", T.FLOAT, [batch, tokens, f])],
                     [h.make_tensor_value_info("y", T.FLOAT, [batch, tokens, f])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 18)])
    m.ir_version = 10
    return m

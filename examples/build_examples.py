"""Build hetc's three example models with onnx.helper and numpy only (no torch).

    python examples/build_examples.py            # writes examples/{mlp,cnn,transformer_block}.onnx
    python examples/build_examples.py -o DIR     # writes them into DIR instead

Weights are seeded numpy random values, so the files are reproducible byte for byte
for a given onnx/numpy version. Every model is opset 17, IR version 10, under 1 MB.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 10
HERE = Path(__file__).resolve().parent


class _Graph:
    """Tiny helper that names nodes/initializers and collects them."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base: str, array: np.ndarray) -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, base: str, shape, fan_in: int | None = None) -> str:
        fan_in = fan_in or int(np.prod(shape[1:])) or 1
        w = (self.rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        return self.const(base, w)

    def bias(self, base: str, n: int) -> str:
        return self.const(base, (0.1 * self.rng.standard_normal(n)).astype(np.float32))

    def node(self, op: str, inputs, n_out: int = 1, **attrs):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=self.name(op), **attrs))
        return outs[0] if n_out == 1 else outs

    def model(self, name, inputs, outputs, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="hetc-examples",
            doc_string=doc,
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        return model


def build_mlp() -> onnx.ModelProto:
    """784 -> 128 -> 64 -> 10 MLP; Gemm + Relu; batch dimension symbolic 'N'."""
    g = _Graph(seed=0)
    dims = [784, 128, 64, 10]
    x = "x"
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        w = g.weight("fc_w", (d_out, d_in), fan_in=d_in)  # stored [out, in], transB=1
        b = g.bias("fc_b", d_out)
        x = g.node("Gemm", [x, w, b], alpha=1.0, beta=1.0, transB=1)
        if i < len(dims) - 2:
            x = g.node("Relu", [x])
    g.nodes[-1].output[0] = "logits"
    return g.model(
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        "MLP classifier: Gemm+Relu, symbolic batch N",
    )


def build_cnn() -> onnx.ModelProto:
    """Small image classifier on 1x3x32x32: 3x(Conv-BN-Relu) with MaxPool, GAP, Flatten, Gemm."""
    g = _Graph(seed=1)

    def conv_bn_relu(x, c_in, c_out, stride=1):
        w = g.weight("conv_w", (c_out, c_in, 3, 3))
        y = g.node("Conv", [x, w], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride])
        scale = g.const("bn_scale", (1.0 + 0.1 * g.rng.standard_normal(c_out)).astype(np.float32))
        shift = g.bias("bn_bias", c_out)
        mean = g.const("bn_mean", (0.1 * g.rng.standard_normal(c_out)).astype(np.float32))
        var = g.const("bn_var", g.rng.uniform(0.5, 1.5, c_out).astype(np.float32))
        y = g.node("BatchNormalization", [y, scale, shift, mean, var], epsilon=1e-5)
        return g.node("Relu", [y])

    x = conv_bn_relu("image", 3, 16)
    x = g.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])  # 16x16
    x = conv_bn_relu(x, 16, 32)
    x = g.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])  # 8x8
    x = conv_bn_relu(x, 32, 64)
    x = g.node("GlobalAveragePool", [x])  # 1x64x1x1
    x = g.node("Flatten", [x], axis=1)
    w = g.weight("fc_w", (10, 64), fan_in=64)
    b = g.bias("fc_b", 10)
    g.nodes.append(helper.make_node("Gemm", [x, w, b], ["logits"], name="classifier", transB=1))
    return g.model(
        "cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        "Small CNN: Conv/BatchNormalization/Relu/MaxPool/GlobalAveragePool/Flatten/Gemm",
    )


def build_transformer_block() -> onnx.ModelProto:
    """One pre-LN transformer encoder block on [1, 16, 64] with 4 heads and an Erf-based GELU MLP."""
    g = _Graph(seed=2)
    B, S, D, H = 1, 16, 64, 4
    Dh, F = D // H, 4 * D

    def layer_norm(x):
        gamma = g.const("ln_gamma", (1.0 + 0.1 * g.rng.standard_normal(D)).astype(np.float32))
        beta = g.bias("ln_beta", D)
        return g.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-5)

    def linear(x, d_in, d_out):  # x @ W + b, W stored [in, out] (MatMul + Add, like exporters emit)
        w = g.weight("w", (d_in, d_out), fan_in=d_in)
        return g.node("Add", [g.node("MatMul", [x, w]), g.bias("b", d_out)])

    heads_shape = g.const("heads_shape", np.array([B, S, H, Dh], dtype=np.int64))
    merged_shape = g.const("merged_shape", np.array([B, S, D], dtype=np.int64))

    def split_heads(t):  # [B,S,D] -> [B,H,S,Dh]
        return g.node("Transpose", [g.node("Reshape", [t, heads_shape])], perm=[0, 2, 1, 3])

    x = "x"
    h = layer_norm(x)
    q = split_heads(linear(h, D, D))
    k = split_heads(linear(h, D, D))
    v = split_heads(linear(h, D, D))
    kt = g.node("Transpose", [k], perm=[0, 1, 3, 2])  # [B,H,Dh,S]
    scores = g.node("MatMul", [q, kt])  # [B,H,S,S]
    scores = g.node("Mul", [scores, g.const("scale", np.array(1.0 / np.sqrt(Dh), dtype=np.float32))])
    probs = g.node("Softmax", [scores], axis=-1)
    ctx = g.node("MatMul", [probs, v])  # [B,H,S,Dh]
    ctx = g.node("Reshape", [g.node("Transpose", [ctx], perm=[0, 2, 1, 3]), merged_shape])
    x = g.node("Add", [x, linear(ctx, D, D)])  # residual 1

    h = layer_norm(x)
    h = linear(h, D, F)
    # GELU(h) = 0.5 * h * (1 + erf(h / sqrt(2)))  (Gelu itself is opset 20)
    e = g.node("Erf", [g.node("Div", [h, g.const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))])])
    e = g.node("Add", [e, g.const("one", np.array(1.0, dtype=np.float32))])
    h = g.node("Mul", [g.node("Mul", [h, e]), g.const("half", np.array(0.5, dtype=np.float32))])
    h = linear(h, F, D)
    g.nodes.append(helper.make_node("Add", [x, h], ["y"], name="residual_2"))
    return g.model(
        "transformer_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, S, D])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [B, S, D])],
        "Pre-LN transformer encoder block: MHA (4 heads) + Erf-GELU MLP, LayerNormalization, residuals",
    )


BUILDERS = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "transformer_block": build_transformer_block,
}


def build_all(out_dir: str | os.PathLike = HERE) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, build in BUILDERS.items():
        path = out_dir / f"{name}.onnx"
        onnx.save(build(), path)
        paths[name] = path
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out-dir", default=str(HERE))
    args = ap.parse_args()
    for name, path in build_all(args.out_dir).items():
        print(f"{name:18s} {path}  ({path.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()

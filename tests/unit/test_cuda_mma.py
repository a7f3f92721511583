"""The tensor-core GEMM tiles of the CUDA printer: which GEMMs go there, the tile shape chosen,
and the kernel text (the e2e CUDA tests compile every form with nvcc and run it on a GPU)."""

from __future__ import annotations

import numpy as np
from hetc.backends.cuda.gemm_mma import choose_config, mma_kind
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper
from xdsl.dialects.builtin import BFloat16Type, Float16Type, Float32Type


def test_mma_kind_follows_operand_types_precision_and_arch():
    f16, bf16, f32 = Float16Type(), BFloat16Type(), Float32Type()
    assert mma_kind("fp32", f16, f16, "sm_90") == "f16"
    assert mma_kind("fp32", bf16, bf16, "sm_80") == "bf16"
    assert mma_kind("fp32", f32, f32, "sm_90") is None  # exact fp32 stays on the CUDA cores
    assert mma_kind("tf32", f32, f32, "sm_90") == "tf32"
    assert mma_kind("fp16", f32, f16, "sm_90") == "f16"  # an f32 graph input rounded on its way
    assert mma_kind("fp32", f32, f16, "sm_90") is None  # mixed without a half precision: exact
    assert mma_kind("fp32", f16, f16, "sm_75") is None  # no mma.sync m16n8k16 / cp.async


def test_tile_shape_fills_the_gpu():
    big = choose_config("f16", 4096, 4096, 1, 132)
    assert (big.bm, big.bn, big.wm, big.wn, big.stages) == (128, 128, 64, 32, 4)
    # 32 output channels over a batch of 32 images: no 128-row tile of mostly padding
    small = choose_config("f16", 32, 256, 32, 132)
    assert small.bm == 32
    assert small.smem_bytes(2) <= 48 * 1024


def test_k_groups_only_where_the_sms_lack_warps():
    # ViT's 2080 x 192 x 768 projection: 99 64 x 64 tiles would leave SMs short of warps
    proj = choose_config("f16", 2080, 192, 1, 132, k=768, k_groups=True)
    assert proj.ks > 1 and proj.threads <= 256
    assert choose_config("f16", 2080, 192, 1, 132, k=768).ks == 1  # operands not both cp.async copies
    assert choose_config("f16", 4096, 4096, 1, 132, k=4096, k_groups=True).ks == 1  # full already
    # a group needs at least two K steps of its own
    assert choose_config("f16", 2080, 192, 1, 132, k=32, k_groups=True).ks == 1


def test_wgmma_tile_width_by_predicted_cycles():
    from hetc.backends.cuda.gemm_wgmma import TILE_WIDTHS, wgmma_cycles

    def best(m, n, k):
        return min(TILE_WIDTHS, key=lambda bn: (wgmma_cycles(m, n, k, bn, 132), -bn))

    assert best(4096, 4096, 4096) == 256  # many tiles: the widest
    assert best(2080, 192, 768) == 64  # 51 narrow tiles beat 17 wide ones
    assert best(2080, 768, 192) == 128  # one wave of 102


def _gemm_model(elem, np_t, m=512, k=256, n=384):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((k, n)) * 0.1).astype(np_t), "w")
    nodes = [h.make_node("MatMul", ["x", "w"], ["y"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", elem, [m, k])], [h.make_tensor_value_info("y", elem, [m, n])], [w])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 10
    return model


def test_half_model_gemm_is_a_cp_async_tensor_core_tile(tmp_path):
    import hetc

    out = tmp_path / "o"
    hetc.build(_gemm_model(T.FLOAT16, np.float16), "cuda", out, None, target_options={"build": False})
    cu = (out / "model.cu").read_text()
    assert "on the tensor cores (f16, mma.sync)" in cu
    assert "A cp.async, B cp.async" in cu and "hetc_cp_async_wait<" in cu
    assert "hetc_mma_f16(hetc_c[a][b]" in cu


def test_exact_fp32_keeps_the_cuda_core_tiles(tmp_path):
    import hetc

    out = tmp_path / "o"
    hetc.build(_gemm_model(T.FLOAT, np.float32), "cuda", out, None, target_options={"build": False})
    cu = (out / "model.cu").read_text()
    assert "tiles, fp32, " in cu and "mma.sync)" not in cu

"""The FlashAttention-style attention kernels of the CUDA printer: which attention nests go
there and the block / key-tile shapes chosen (tests/e2e/test_cuda_backend.py compiles them
with nvcc and runs them against onnxruntime on a GPU)."""

from __future__ import annotations

import sys
from pathlib import Path

from hetc.backends.cuda.attention_flash import MAX_HEAD, flash_key_tile, flash_kind, flash_parts, flash_warps
from hetc.pipeline import run_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))


def _attention_kernels(precision: str, heads: int = 2, dim: int = 64, tokens: int = 65):
    from attention_model import attention_block
    from hetc.api import compile_module
    from hetc.backends.targets import TARGETS
    from hetc.passes.narrow_storage import precision_pass_options

    module = compile_module(attention_block(2, tokens, heads, dim))
    narrow = precision_pass_options("cuda", {"precision": precision})
    passes = [p if not p.startswith(("hetc-fuse{", "hetc-narrow-storage")) else
              (p.replace("}", ",attention=true}") if p.startswith("hetc-fuse{") else f"hetc-narrow-storage{{{narrow}}}")
              for p in TARGETS["cuda"].passes]
    run_pipeline(module, passes)
    return [op for op in module.walk() if getattr(op, "sym_name", None) and op.sym_name.data.endswith("_attention")]


def test_attention_nest_is_recognised_and_runs_flash_style_at_16_bits():
    [fn] = _attention_kernels("fp16")
    parts = flash_parts(fn)
    assert parts is not None and (parts.sq, parts.sk, parts.d, parts.dv) == (65, 65, 64, 64)
    assert flash_kind(parts, "fp16", "sm_90") == "f16"
    assert flash_kind(parts, "fp16", "sm_75") is None  # no mma.sync m16n8k16
    [fn] = _attention_kernels("bf16")
    assert flash_kind(flash_parts(fn), "bf16", "sm_80") == "bf16"


def test_exact_fp32_and_wide_heads_keep_the_warp_per_row_form():
    [fn] = _attention_kernels("fp32")
    assert flash_kind(flash_parts(fn), "fp32", "sm_90") is None
    assert flash_kind(flash_parts(fn), "tf32", "sm_90") is None  # no 16-bit operands
    [fn] = _attention_kernels("fp16", heads=1, dim=MAX_HEAD + 16)
    assert flash_kind(flash_parts(fn), "fp16", "sm_90") is None  # accumulators past the register budget


def test_block_and_key_tile_shapes():
    # ViT-tiny: 65 queries x 3 heads. Batch 1: one-warp blocks fill more SMs; batch 32:
    # 96 blocks of 5 warps cover 80 rows each (one block per head)
    assert flash_warps(65, 3, 132) == 1
    assert flash_warps(65, 96, 132) == 5
    assert flash_warps(2048, 32, 132) == 8  # long sequences: the biggest blocks
    # 65 keys: three tiles of 32 (96 padded keys), not two of 64 (128)
    assert flash_key_tile(65) == 32 and flash_key_tile(16) == 16 and flash_key_tile(1024) == 64

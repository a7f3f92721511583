"""The exact float32 CUDA-core GEMM tiles: which tile, how many K groups and K splits a shape gets."""

from __future__ import annotations

from hetc.backends.cuda.gemm_simt import SMEM_LIMIT, SPLIT_MIN_K, choose_simt_config


def test_large_gemms_get_the_largest_tile_and_no_k_split():
    cfg = choose_simt_config(4096, 4096, 4096, 1, 132)
    assert (cfg.bm, cfg.bn, cfg.ks) == (128, 128, 1) and cfg.threads == 256


def test_too_few_tiles_split_k_over_groups():
    # ViT-tiny's attention projection at batch 32: 99 tiles of 64 x 64 on 132 SMs, K = 192:
    # too short to split across blocks, so in groups of a block
    cfg = choose_simt_config(2080, 192, 192, 1, 132)
    assert cfg.ks > 1 and cfg.splits == 1 and cfg.threads == 256 * cfg.ks
    assert cfg.smem_floats * 4 <= SMEM_LIMIT
    # short K: no group would have slices enough to be worth its partial sums
    assert choose_simt_config(2080, 192, 16, 1, 132).ks == 1


def test_too_few_tiles_long_k_split_across_blocks():
    # ResNet-18 (width 32) layer 3 at batch 32: 128 channels x 512 pixels, K = 1152 (32
    # tiles of 32 x 64); ViT-tiny's MLP down-projection at batch 32 (K = 768)
    for m, n, k in ((128, 512, 1152), (256, 128, 2304), (2080, 192, 768)):
        cfg = choose_simt_config(m, n, k, 1, 132)
        assert cfg.splits > 1 and cfg.split_slices(k) * 8 >= SPLIT_MIN_K
        assert cfg.tiles(m, n, 1) < 132 <= cfg.tiles(m, n, 1) * cfg.splits * cfg.ks  # groups of 256 threads
        assert cfg.work_floats(m, n, 1) == cfg.tiles(m, n, 1) * cfg.splits * cfg.bm * cfg.bn
    # tiles that fill the SMs, or a short K: never split
    assert choose_simt_config(4096, 4096, 4096, 1, 132).splits == 1
    assert choose_simt_config(2080, 576, 192, 1, 132).splits == 1
    assert choose_simt_config(128, 512, 64, 1, 132).splits == 1


def test_split_k_can_be_turned_off(monkeypatch):
    import hetc.backends.cuda.gemm_simt as simt

    monkeypatch.setattr(simt, "SPLITS", (1,))
    assert simt.choose_simt_config(128, 512, 1152, 1, 132).splits == 1


def test_forced_tile(monkeypatch):
    monkeypatch.setenv("HETC_CUDA_SIMT_TILE", "64x128x2")
    cfg = choose_simt_config(4096, 4096, 4096, 1, 132)
    assert (cfg.bm, cfg.bn, cfg.ks, cfg.splits) == (64, 128, 2, 1)
    monkeypatch.setenv("HETC_CUDA_SIMT_TILE", "32x64x3x4")
    cfg = choose_simt_config(4096, 4096, 4096, 1, 132)
    assert (cfg.bm, cfg.bn, cfg.ks, cfg.splits) == (32, 64, 3, 4)


def test_half_padded_or_scarce_tiles_get_the_narrow_forms():
    # ResNet-18 (width 32) layer 1 at batch 32: 32 output channels x 8192 pixels, K = 288;
    # 64-row tiles would be half padding
    cfg = choose_simt_config(32, 8192, 288, 1, 132)
    assert cfg.bm == 32 and cfg.smem_floats * 4 <= SMEM_LIMIT
    # ViT's 65-token attention products, 96 of them: 32 x 32 tiles pad 65 to 96, not 128
    assert (choose_simt_config(65, 65, 64, 96, 132).bm, choose_simt_config(65, 65, 64, 96, 132).bn) == (32, 32)

"""The NPU simulator (runtime/npu_sim.c) through ctypes: functional DMA (strided
regions included), the compulsory/non-compulsory split, the timing model (DMA engine
concurrent with the compute units, a scoreboard over the SPM), and an out-of-range
scratchpad access as an error instead of a write."""

from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest
from hetc.backends.npu.config import load_config
from hetc.backends.npu.target import npu_header, simulator_source
from hetc.runtime.npu_runner import NpuStats


class Config(ctypes.Structure):
    _fields_ = [(f, ctypes.c_uint64) for f in ("spm_bytes", "matrix_n", "matrix_cycles_per_tile", "vector_lanes",
                                               "dma_bytes_per_cycle", "dma_latency_cycles", "spm_bytes_per_cycle")]


class Operand(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("bytes", ctypes.c_uint64), ("written", ctypes.c_int)]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    (d / "npu.h").write_text(npu_header())
    (d / "npu_sim.c").write_text(simulator_source())
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(d / "libsim.so"), str(d / "npu_sim.c")], check=True)
    lib = ctypes.CDLL(str(d / "libsim.so"))
    lib.npu_stats.restype = ctypes.POINTER(NpuStats)
    lib.npu_spm.restype = ctypes.c_void_p
    lib.npu_spm.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    lib.npu_dma_in.argtypes = [ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
    lib.npu_dma_out.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
    lib.npu_register.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lib.npu_move.argtypes = [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t]
    lib.npu_matmul_tile.argtypes = [ctypes.c_int64] * 3
    lib.npu_vector_op.argtypes = [ctypes.c_int64]
    lib.npu_compute.argtypes = [ctypes.POINTER(Operand), ctypes.c_int]
    i64p = ctypes.POINTER(ctypes.c_int64)
    lib.npu_dma_in_region.argtypes = [ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, i64p, i64p, i64p]
    return lib


def _begin(lib, spm=4096):
    c = load_config("npu-tiny")
    cfg = Config(spm, c.matrix_n, c.matrix_cycles_per_tile, c.vector_lanes, c.dma_bytes_per_cycle, c.dma_latency_cycles,
                 c.spm_bytes_per_cycle)
    assert lib.npu_begin(ctypes.byref(cfg)) == 0
    return c


def _arr(values):
    return (ctypes.c_int64 * len(values))(*values)


def test_dma_traffic_split_and_cycles(sim):
    c = _begin(sim)
    w = np.arange(64, dtype=np.float32)
    y = np.zeros(64, dtype=np.float32)
    scratch = np.zeros(64, dtype=np.float32)
    sim.npu_register(w.ctypes.data, w.nbytes, 1)
    sim.npu_register(y.ctypes.data, y.nbytes, 2)
    sim.npu_dma_in(0, w.ctypes.data, 256)       # compulsory: first load of the weight
    sim.npu_dma_in(256, w.ctypes.data, 256)     # a reload: non-compulsory
    sim.npu_dma_out(scratch.ctypes.data, 0, 256)  # a spill to scratch DRAM: non-compulsory
    sim.npu_move(512, 256, 256)
    sim.npu_dma_out(y.ctypes.data, 512, 256)    # compulsory: first store of the output
    sim.npu_dma_out(y.ctypes.data, 512, 256)    # again: non-compulsory
    sim.npu_matmul_tile(9, 8, 8)
    sim.npu_vector_op(17)
    s = sim.npu_stats().contents
    assert (s.compulsory_bytes, s.noncompulsory_bytes) == (512, 768)
    assert np.array_equal(y, w) and np.array_equal(scratch, w)
    dma = 5 * (c.dma_latency_cycles + 256 // c.dma_bytes_per_cycle)
    assert s.dma_cycles == dma
    assert s.matrix_tiles == 2 and s.matrix_cycles == 2 * c.matrix_cycles_per_tile
    assert s.vector_cycles == -(-17 // c.vector_lanes)
    assert s.serial_cycles == dma + s.matrix_cycles + s.vector_cycles + s.move_cycles
    # no npu_compute: the charges run as kernels with no data dependences, beside the DMAs
    assert s.cycles == dma + s.move_cycles
    assert s.error == 0


def _kernel(sim, *operands):
    ops = (Operand * len(operands))(*[Operand(o, b, w) for o, b, w in operands])
    sim.npu_compute(ops, len(operands))


def test_dma_overlaps_compute_except_over_its_operands(sim):
    c = _begin(sim)
    d = c.dma_latency_cycles + 256 // c.dma_bytes_per_cycle  # one 256-byte transfer
    m = 8 * 8 * 8 * c.matrix_cycles_per_tile  # a 64^3 product on the 8x8 unit
    a, y = np.ones(64, dtype=np.float32), np.zeros(64, dtype=np.float32)
    sim.npu_dma_in(0, a.ctypes.data, 256)          # [0, d)
    sim.npu_matmul_tile(64, 64, 64)
    _kernel(sim, (0, 256, 0), (256, 256, 1))       # waits for its input: [d, d + m)
    sim.npu_dma_in(1024, a.ctypes.data, 256)       # touches nothing of the kernel: [d, 2d), overlapped
    sim.npu_dma_in(0, a.ctypes.data, 256)          # overwrites the kernel's input: [d + m, 2d + m)
    sim.npu_dma_out(y.ctypes.data, 256, 256)       # the kernel's result, after it: [2d + m, 3d + m)
    s = sim.npu_stats().contents
    assert s.cycles == 3 * d + m
    assert s.serial_cycles == 4 * d + m
    assert s.compute_wait_cycles == d
    # a move waits for its source's writer and its destination's readers; then a kernel reading
    # the moved bytes waits for the move
    c = _begin(sim)
    sim.npu_dma_in(0, a.ctypes.data, 256)          # [0, d)
    sim.npu_move(512, 0, 256)                      # [d, d + mv)
    mv = -(-256 // c.spm_bytes_per_cycle)
    sim.npu_vector_op(64)
    _kernel(sim, (512, 256, 0), (1024, 256, 1))
    s = sim.npu_stats().contents
    assert s.cycles == d + mv + -(-64 // c.vector_lanes)


def test_region_dma_is_a_strided_box(sim):
    _begin(sim)
    x = np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6)
    sim.npu_register(x.ctypes.data, x.nbytes, 0)
    sim.npu_dma_in_region(64, x.ctypes.data, 4, 3, _arr([2, 5, 6]), _arr([1, 1, 2]), _arr([2, 4, 5]))
    sim.npu_dma_in_region(128, x.ctypes.data, 4, 3, _arr([2, 5, 6]), _arr([0, 1, 2]), _arr([1, 4, 5]))
    got = np.ctypeslib.as_array(ctypes.cast(sim.npu_spm(64, 36), ctypes.POINTER(ctypes.c_float)), (9,))
    assert np.array_equal(got.reshape(1, 3, 3), x[1:2, 1:4, 2:5])
    s = sim.npu_stats().contents
    assert s.compulsory_bytes == 72 and s.noncompulsory_bytes == 0  # two distinct windows, each a first load


def test_out_of_range_access_is_an_error(sim):
    _begin(sim, spm=1024)
    assert sim.npu_spm(1000, 100) is None
    s = sim.npu_stats().contents
    assert s.error and b"outside the 1024-byte scratchpad" in s.message
    _begin(sim, spm=1024)
    assert sim.npu_stats().contents.error == 0
    a = np.ones(64, dtype=np.float32)
    sim.npu_dma_in(1000, a.ctypes.data, 256)
    assert sim.npu_stats().contents.error

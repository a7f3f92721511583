"""hetc-narrow-storage on real loop-level IR (examples/cnn.onnx and the transformer block,
lowered in memory for the C and GPU loop forms) and on small hand-written modules: which
buffers are narrowed, that the rewrite is well typed and complete (every load of a
narrowed memref is extended, every store into one stores a narrow value), that weights
are rounded to nearest even, that the arena shrinks, and that bad options are clean
HetcErrors. No C compiler runs here (tests/e2e/test_precision_storage.py runs the code)."""

from __future__ import annotations

import json
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import BFloat16Type, Float16Type, Float32Type, MemRefType, ModuleOp, StringAttr

from hetc.api import compile_module
from hetc.backends.targets import TARGETS
from hetc.diagnostics import HetcError
from hetc.dialects import onnx as onnx_d
from hetc.passes.narrow_storage import (
    REPORT_ATTR,
    SCALAR_REASON,
    NarrowStorage,
    narrow_storage,
    precision_pass_options,
    storage_precision,
)
from hetc.passes.plan_memory import PlanMemory
from hetc.pipeline import make_context, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

_LOWERED: dict[tuple[str, str], ModuleOp] = {}


def _lowered(model: str, target: str) -> ModuleOp:
    """`model` after `target`'s passes up to (not including) hetc-narrow-storage: a fresh
    clone each call of a lowering done once per (model, target)."""
    key = (model, target)
    if key not in _LOWERED:
        m = compile_module(EXAMPLES / f"{model}.onnx")
        passes = TARGETS[target].passes
        run_pipeline(m, passes[: next(i for i, p in enumerate(passes) if p.startswith("hetc-narrow-storage"))])
        _LOWERED[key] = m
    return _LOWERED[key].clone()


def _main(m: ModuleOp) -> func.FuncOp:
    return next(op for op in m.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")


def _check_rewrite(m: ModuleOp, narrow_type) -> None:
    """Well typed, io f32, and every access of a narrowed memref converts."""
    m.verify()
    main = _main(m)
    for a in main.body.block.args:
        assert isinstance(a.type.get_element_type(), Float32Type)
    for fn in m.ops:
        if not isinstance(fn, func.FuncOp) or fn is main:
            continue
        assert list(fn.function_type.inputs.data) == [a.type for a in fn.body.block.args]
        for op in fn.walk():
            if isinstance(op, memref.LoadOp) and op.memref.type.get_element_type() == narrow_type:
                users = [u.operation for u in op.res.uses]
                # an extf to f32, or the loaded bits stored (a copy) or selected (padding)
                assert users and all(
                    isinstance(u, arith.ExtFOp) and u.result.type == Float32Type() and "hetc.storage" in u.attributes
                    or isinstance(u, memref.StoreOp) and u.memref.type.get_element_type() == narrow_type
                    or isinstance(u, arith.SelectOp) and u.result.type == narrow_type
                    for u in users
                ), (fn.sym_name.data, users)
            if isinstance(op, memref.StoreOp) and op.memref.type.get_element_type() == narrow_type:
                assert op.value.type == narrow_type
            if isinstance(op, memref.AllocaOp):  # accumulators stay f32
                assert not isinstance(op.memref.type.get_element_type(), (Float16Type, BFloat16Type))


@pytest.mark.parametrize("model,target", [("cnn", "c"), ("transformer_block", "c"), ("transformer_block", "cuda")])
@pytest.mark.parametrize("type_name,narrow_type", [("f16", Float16Type()), ("bf16", BFloat16Type())])
def test_real_models_narrow_all_intermediates(model, target, type_name, narrow_type):
    m = _lowered(model, target)
    before = {a.memref.name_hint: a.memref.type for a in _main(m).walk() if isinstance(a, memref.AllocOp)}
    report = narrow_storage(m, type_name)
    _check_rewrite(m, narrow_type)
    main = _main(m)
    allocs = [a for a in main.walk() if isinstance(a, memref.AllocOp)]
    f32_allocs = [a for a in allocs if isinstance(before[a.memref.name_hint].get_element_type(), Float32Type)]
    # every float32 intermediate of these models can be narrowed (io is never an alloc here)
    assert f32_allocs and all(a.memref.type.get_element_type() == narrow_type for a in f32_allocs)
    assert report["buffers_narrowed"] == len(f32_allocs)
    assert report["buffer_bytes"] * 2 == report["buffer_bytes_f32"]
    assert report["weight_bytes"] * 2 == report["weight_bytes_f32"] > 0
    assert report["extf"] > 0 and report["truncf"] > 0
    assert json.loads(main.attributes[REPORT_ATTR].data) == report
    assert storage_precision(m) == {"f16": "fp16", "bf16": "bf16"}[type_name]


def test_gemm_attributes_and_loops_untouched():
    m = _lowered("transformer_block", "cuda")

    def shape(mod):  # every function's and loop's attributes (the report on @main aside), in order
        return [
            (op.name, {k: str(v) for k, v in op.attributes.items() if k != REPORT_ATTR})
            for op in mod.walk()
            if isinstance(op, func.FuncOp) or op.name == "scf.for"
        ]

    want = shape(m)
    narrow_storage(m, "f16")
    got = shape(m)
    assert got == want
    gemms = [fn for fn in m.ops if isinstance(fn, func.FuncOp) and "hetc.gemm" in fn.attributes]
    assert gemms
    for fn in gemms:  # the GEMM's A/B loads are extf(load) of f16 (what the CUDA printer matches)
        k_loop = next(op for op in fn.walk() if op.name == "scf.for" and "hetc.gemm_k" in op.attributes)
        loads = [op for op in k_loop.body.block.ops if isinstance(op, memref.LoadOp)]
        narrow_loads = [ld for ld in loads if isinstance(ld.memref.type.get_element_type(), Float16Type)]
        assert narrow_loads, fn.sym_name.data
        for ld in narrow_loads:
            assert isinstance(ld.next_op, arith.ExtFOp) and ld.next_op.input is ld.res


@pytest.mark.parametrize("type_name,dtype", [("f16", np.float16), ("bf16", ml_dtypes.bfloat16)])
def test_weights_round_to_nearest_even(type_name, dtype):
    m = _lowered("cnn", "c")
    old = {g.sym_name.data: onnx_d.numpy_from_dense(g.initial_value) for g in m.ops if isinstance(g, memref.GlobalOp)}
    narrow_storage(m, type_name)
    for g in m.ops:
        if isinstance(g, memref.GlobalOp):
            new = onnx_d.numpy_from_dense(g.initial_value)
            assert new.dtype == np.dtype(dtype) and new.shape == old[g.sym_name.data].shape
            np.testing.assert_array_equal(new.view(np.uint16), old[g.sym_name.data].astype(dtype).view(np.uint16))
            # within half a unit in the last place (10 / 7 mantissa bits; f16 subnormals: 2^-25)
            mbits, floor = (10, 2.0**-25) if dtype is np.float16 else (7, 0.0)
            x = old[g.sym_name.data].astype(np.float64)
            err = np.abs(new.astype(np.float64) - x)
            assert np.all(err <= np.maximum(np.abs(x) * 2.0 ** -(mbits + 1), floor))


def test_arena_halves():
    plain = _lowered("cnn", "c")
    narrowed = _lowered("cnn", "c")
    narrow_storage(narrowed, "f16")
    ctx = make_context()
    for m in (plain, narrowed):
        PlanMemory(time_limit=1.0).apply(ctx, m)
    a32 = _main(plain).attributes["hetc.arena_bytes"].value.data
    a16 = _main(narrowed).attributes["hetc.arena_bytes"].value.data
    assert a16 < a32 and a16 <= 0.55 * a32, (a16, a32)


def test_second_run_changes_nothing():
    m = _lowered("cnn", "c")
    first = narrow_storage(m, "f16")
    text = str(m)
    assert narrow_storage(m, "bf16") == first and str(m) == text


def test_none_and_auto_without_attribute_change_nothing():
    for t in ("none", "auto"):
        m = _lowered("cnn", "c")
        text = str(m)
        NarrowStorage(type=t).apply(make_context(), m)
        assert str(m) == text


def test_auto_follows_module_attribute():
    m = _lowered("cnn", "c")
    m.attributes["hetc.narrow_storage"] = StringAttr("bf16")
    NarrowStorage().apply(make_context(), m)
    assert json.loads(_main(m).attributes[REPORT_ATTR].data)["type"] == "bf16"
    _check_rewrite(m, BFloat16Type())


def test_bad_options_are_hetc_errors():
    m = _lowered("cnn", "c")
    with pytest.raises(HetcError, match="type must be one of f16, bf16, auto, none"):
        NarrowStorage(type="f8").apply(make_context(), m)
    m.attributes["hetc.narrow_storage"] = StringAttr("f64")
    with pytest.raises(HetcError, match="names no storage type"):
        NarrowStorage().apply(make_context(), m)
    with pytest.raises(HetcError, match=r"unknown C precision 'fp8' \(valid: fp32, fp16, bf16\): fp32 = "):
        precision_pass_options("c", {"precision": "fp8"})
    with pytest.raises(HetcError, match=r"unknown CUDA precision 'int8' \(valid: fp32, tf32, fp16, bf16\)"):
        precision_pass_options("cuda", {"precision": "int8"})
    assert precision_pass_options("cuda", {"precision": "fp16"}) == "type=f16"
    assert precision_pass_options("c", {"precision": "bf16"}) == "type=bf16"
    assert precision_pass_options("cuda", {"precision": "tf32"}) == "type=none"
    assert precision_pass_options("c", {}) == ""  # auto
    assert precision_pass_options("hls", {"precision": "ap_fixed<16,6>"}) == ""


_PINNED = """
builtin.module {
  "memref.global"() <{sym_name = "w", type = memref<4xf32>, initial_value = dense<[1.00048828125, 1.00146484375, 65504.0, 65519.0]> : tensor<4xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
  "memref.global"() <{sym_name = "eps", type = memref<f32>, initial_value = dense<1.0e-12> : tensor<f32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
  func.func private @helper(%a: memref<4xf32>)
  func.func private @k0(%a: memref<4xf32>, %b: memref<4xf32>, %e: memref<f32>) {
    func.call @helper(%a) : (memref<4xf32>) -> ()
    func.return
  }
  func.func private @k1(%a: memref<4xf32>, %b: memref<4xf32>) {
    %c0 = arith.constant 0 : index
    %v = memref.load %a[%c0] : memref<4xf32>
    memref.store %v, %b[%c0] : memref<4xf32>
    func.return
  }
  func.func @main(%x: memref<4xf32>, %y: memref<4xf32>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
    %w = memref.get_global @w : memref<4xf32>
    %eps = memref.get_global @eps : memref<f32>
    %t = memref.alloc() : memref<4xf32>
    %s = memref.alloc() : memref<4xf32>
    func.call @k0(%t, %w, %eps) : (memref<4xf32>, memref<4xf32>, memref<f32>) -> ()
    func.call @k1(%x, %s) : (memref<4xf32>, memref<4xf32>) -> ()
    func.call @k1(%s, %y) : (memref<4xf32>, memref<4xf32>) -> ()
    func.return
  }
}
"""


def test_unprovable_buffers_stay_f32_with_reasons():
    from xdsl.parser import Parser

    ctx = make_context()
    from xdsl.dialects.arith import Arith
    from xdsl.dialects.memref import MemRef

    ctx.load_dialect(Arith)
    ctx.load_dialect(MemRef)
    m = Parser(ctx, _PINNED).parse_module()
    report = narrow_storage(m, "f16")
    m.verify()
    kept = {b: k["reason"] for k in report["kept_f32"] for b in k["buffers"]}
    assert "kernel k0 uses it in func.call" in kept["t"]
    assert kept["eps"] == SCALAR_REASON
    # %s is passed to @k1's argument 0 and so is the input %x (call sites join); the
    # weight @w is the only thing narrowed
    assert "model input/output" in kept["s"]
    assert report["weights_narrowed"] == 1 and report["buffers_narrowed"] == 0
    types = {a.memref.name_hint: a.memref.type for a in _main(m).walk() if isinstance(a, memref.AllocOp)}
    assert all(isinstance(t.get_element_type(), Float32Type) for t in types.values())
    w = next(g for g in m.ops if isinstance(g, memref.GlobalOp) and g.sym_name.data == "w")
    assert isinstance(w.type, MemRefType) and isinstance(w.type.get_element_type(), Float16Type)
    # ties to even: 1 + 2^-11 -> 1 (0x3c00), 1 + 3 * 2^-11 -> 1 + 2^-9 (0x3c02); 65519 (below
    # the overflow threshold 65520) -> the largest finite 65504 (0x7bff)
    bits = onnx_d.numpy_from_dense(w.initial_value).view(np.uint16)
    assert [hex(b) for b in bits] == ["0x3c00", "0x3c02", "0x7bff", "0x7bff"]


def test_cuda_precisions_match_the_printer():
    """The CLI/API validation here and the CUDA printer's list must not drift apart."""
    from hetc.backends.cuda.printer import GEMM_PRECISIONS
    from hetc.passes.narrow_storage import CUDA_PRECISIONS, PRECISION_STORAGE

    assert set(CUDA_PRECISIONS) == set(GEMM_PRECISIONS) <= set(PRECISION_STORAGE)

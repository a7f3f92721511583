"""The device catalog (hetc.backends.devices) and the `hw` dialect's attributes."""

from __future__ import annotations

import textwrap

import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError, VerifyException

from hetc.backends.devices import (
    CatalogError,
    builtin_catalog,
    builtin_path,
    load_catalog,
    parse_device_list,
)
from hetc.dialects.hw import HW, DeviceAttr, LinkAttr, MemoryAttr, PlaceAttr, TargetAttr


@pytest.fixture(autouse=True)
def _no_user_files(monkeypatch, tmp_path):
    """No calibration profile or HETC_CATALOG of this machine leaks into the tests."""
    monkeypatch.setenv("HETC_PROFILE", str(tmp_path / "no-profile.toml"))
    monkeypatch.delenv("HETC_CATALOG", raising=False)


def _write(tmp_path, text: str, name: str = "my.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


# ---------------------------------------------------------------------------- built-in catalog


def test_builtin_catalog_has_the_issue_devices():
    cat = load_catalog()
    assert set(cat.devices) >= {"cpu", "h100", "h200", "a100", "npu", "u250"}
    assert cat.host.name == "cpu"
    assert cat.files == [str(builtin_path())]
    h100, h200 = cat.device("h100"), cat.device("h200")
    # datasheet numbers (dense): FP32 67 TFLOP/s, FP16 tensor 989 TFLOP/s; HBM 3.35 vs 4.8 TB/s
    assert h100.flops("float32", matrix=True) == pytest.approx(67e12)
    assert h100.flops("float16", matrix=True) == pytest.approx(989.4e12)
    assert h100.flops("float16", matrix=False) == pytest.approx(133.8e12)
    assert h100.bandwidth == pytest.approx(3.35e12) and h200.bandwidth == pytest.approx(4.8e12)
    assert h200.capacity == 141e9
    assert cat.device("a100").flops("float32", True) == pytest.approx(19.5e12)
    for d in cat.devices.values():
        assert d.description and d.source and d.power_w > 0 and d.cost_per_hour > 0, d.name
    # the NPU is a model and says so; it cannot compute in float64 nor run Erf
    npu = cat.device("npu")
    assert "MODEL" in npu.description and "model" in npu.source
    assert npu.flops("float64") is None and not npu.runs("Erf", "elementwise")
    assert not cat.device("u250").runs("Attention", "attention")


def test_routes_and_instances():
    cat = load_catalog()
    assert cat.route("cpu", "cpu") == []
    assert [l.name for l in cat.route("cpu", "h100")] == ["pcie5-h100"]
    assert [l.name for l in cat.route("h100", "cpu")] == ["pcie5-h100"]
    # no direct link: through the host
    assert [l.name for l in cat.route("npu", "h100")] == ["pcie3-npu", "pcie5-h100"]
    # two instances of one device: NVLink
    assert [l.kind for l in cat.route("h100#0", "h100#1")] == ["nvlink4"]
    assert parse_device_list("cpu, h100*2", cat) == ["cpu", "h100#0", "h100#1"]
    assert parse_device_list(["cpu", "npu"], cat) == ["cpu", "npu"]
    with pytest.raises(CatalogError, match="did you mean 'h100'"):
        parse_device_list("cpu,h10", cat)
    with pytest.raises(CatalogError, match="listed twice"):
        parse_device_list("cpu,cpu", cat)
    with pytest.raises(CatalogError, match="bad device count"):
        parse_device_list("h100*x", cat)


def test_layout_pass_cpu_params_come_from_the_catalog():
    from hetc.backends.cost_model import CPU

    k = builtin_catalog().host.kernels
    # the same numbers the layout pass had before the catalog existed
    assert (CPU.gemm_flops, CPU.vector_flops, CPU.scalar_flops) == (70e9, 20e9, 3e9)
    assert (CPU.copy_bandwidth, CPU.transpose_bandwidth, CPU.stream_bandwidth) == (6e9, 3e9, 15e9)
    assert CPU.l2_bytes == 1 << 20 == int(k["l2_bytes"])


# ---------------------------------------------------------------------------- user catalogs


USER = """
    [devices.h100.memory.hbm3]
    bandwidth_Bps = 2.0e12          # an H100 PCIe, say

    [devices.mydev]
    kind = "npu"
    description = "my accelerator"
    launch_overhead_s = 2e-6
    power_w = 30
    op_classes = ["matmul", "conv", "elementwise"]
    [devices.mydev.peak_flops]
    float32 = 5e12
    [devices.mydev.memory.dram]
    capacity_bytes = 16e9
    bandwidth_Bps = 200e9

    [links.pcie-mydev]
    endpoints = ["cpu", "mydev"]
    kind = "pcie4x8"
    bandwidth_Bps = 16e9
    latency_s = 5e-6
"""


def test_user_catalog_merges_over_builtin(tmp_path):
    path = _write(tmp_path, USER)
    cat = load_catalog([path])
    assert cat.files[-1] == str(path)
    h100 = cat.device("h100")
    assert h100.bandwidth == 2.0e12  # replaced
    assert h100.flops("float32", True) == 67e12 and h100.capacity == 80e9  # kept
    my = cat.device("mydev")
    assert my.kind == "npu" and my.flops("float32") == 5e12 and my.origin == str(path)
    assert my.runs("MatMul", "matmul") and not my.runs("MaxPool", "pool")
    assert [l.name for l in cat.route("mydev", "h100")] == ["pcie-mydev", "pcie5-h100"]
    # the built-in catalog itself is untouched
    assert load_catalog().device("h100").bandwidth == 3.35e12


def test_hetc_catalog_environment_variable(tmp_path, monkeypatch):
    path = _write(tmp_path, USER)
    monkeypatch.setenv("HETC_CATALOG", str(path))
    assert "mydev" in load_catalog().devices
    assert "mydev" not in load_catalog(env=False).devices


def test_profile_is_merged_last(tmp_path):
    prof = _write(tmp_path, "[devices.cpu.peak_flops]\nfloat32 = 1.0e9\n", "profile.toml")
    user = _write(tmp_path, "[devices.cpu.peak_flops]\nfloat32 = 2.0e9\n")
    assert load_catalog([user], profile=prof).device("cpu").flops("float32", True) == 1.0e9
    assert load_catalog([user], profile=None).device("cpu").flops("float32", True) == 2.0e9


@pytest.mark.parametrize(
    "text, message",
    [
        ("[devices.h100]\nlaunch_overhed_s = 1e-6\n", "unknown field 'devices.h100.launch_overhed_s' (did you mean 'launch_overhead_s'?)"),
        ("[devices.h100]\npower_w = \"a lot\"\n", "'devices.h100.power_w' is 'a lot': expected a non-negative number"),
        ("[devices.h100.peak_flops]\nfloat33 = 1e12\n", "unknown field 'devices.h100.peak_flops.float33'"),
        ("[devices.h100.memory.hbm3]\nbandwidth_Bps = 0\n", "'devices.h100.memory.hbm3.bandwidth_Bps' is 0: expected a positive number"),
        ("[devices.h100]\nkind = \"tpu\"\n", "'devices.h100.kind' is 'tpu': expected one of cpu, gpu, npu, fpga"),
        ("[devices.new]\nkind = \"gpu\"\n", "device 'new' has no 'launch_overhead_s'"),
        ("[links.x]\nendpoints = [\"cpu\", \"nope\"]\nbandwidth_Bps = 1e9\n", "'links.x.endpoints' names unknown device 'nope'"),
        ("[links.x]\nendpoints = [\"cpu\"]\nbandwidth_Bps = 1e9\n", "'links.x.endpoints' is ['cpu']: expected two device names"),
        ("[devices.h100]\nhost = true\n", "the merged catalog has 2 host devices (cpu, h100)"),
        ("[devices.h100\n", "not valid TOML"),
        ("[device.h100]\n", "unknown field '(top level).device' (did you mean 'devices'?)"),
        ("schema = 2\n", "this hetc reads catalog schema 1"),
    ],
)
def test_bad_catalogs_name_file_and_field(tmp_path, text, message):
    path = _write(tmp_path, text, "bad.toml")
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    text = str(info.value)
    assert str(path) in text, text
    assert message in text, text


def test_missing_catalog_file(tmp_path):
    with pytest.raises(CatalogError, match="no such catalog file"):
        load_catalog([tmp_path / "nope.toml"])


def test_device_without_route_to_host(tmp_path):
    path = _write(
        tmp_path,
        """
        [devices.island]
        kind = "fpga"
        launch_overhead_s = 1e-5
        [devices.island.peak_flops]
        float32 = 1e12
        [devices.island.memory.ddr]
        capacity_bytes = 1e9
        bandwidth_Bps = 1e10
        """,
    )
    cat = load_catalog([path])
    with pytest.raises(CatalogError, match=r"no link between 'island' and 'h100'.*missing: island <-> cpu"):
        cat.route("island", "h100")


# ---------------------------------------------------------------------------- the hw dialect


def _ctx() -> Context:
    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(HW)
    return ctx


def test_hw_attributes_round_trip():
    cat = load_catalog()
    target = cat.target_attr(["cpu", "h100#0", "h100#1"])
    assert isinstance(target, TargetAttr)
    assert target.device_names() == ["cpu", "h100#0", "h100#1"]
    kinds = [l.value("kind") for l in target.links.data]
    assert kinds == ["pcie5x16", "pcie5x16", "nvlink4"]
    for attr in (target, cat.device("npu").to_attr(), PlaceAttr.make(device="h100", start=1e-6, end=2.5e-6)):
        text = str(attr)
        assert Parser(_ctx(), text).parse_attribute() == attr, text
    dev = cat.device("npu").to_attr()
    assert isinstance(dev, DeviceAttr) and dev.value("name") == "npu"
    # the main memory comes first
    assert dev.memories.data[0].value("name") == "lpddr4x"
    assert str(PlaceAttr.make(device="cpu", start=0, end=4e-06)) == '#hw.place<device = "cpu", start = 0.0, end = 4.0e-06>'


def test_hw_attributes_parse_and_verify_errors():
    ctx = _ctx()
    assert Parser(ctx, '#hw.place<device = "cpu">').parse_attribute() == PlaceAttr.make(device="cpu")
    with pytest.raises(ParseError, match="#hw.place has no field 'foo'"):
        Parser(ctx, '#hw.place<device = "cpu", foo = 1.0>').parse_attribute()
    with pytest.raises(ParseError, match="needs field 'device'"):
        Parser(ctx, "#hw.place<start = 1.0>").parse_attribute()
    with pytest.raises(VerifyException, match="end 1.0 is before start 2.0"):
        PlaceAttr.make(device="cpu", start=2.0, end=1.0)
    with pytest.raises(VerifyException, match="bandwidth = 0.0: must be a positive"):
        MemoryAttr.make(name="m", capacity=1, bandwidth=0.0)
    with pytest.raises(VerifyException, match="latency = -1.0"):
        LinkAttr.make(name="l", src="a", dst="b", kind="k", bandwidth=1.0, latency=-1.0)
    cpu = load_catalog().device("cpu").to_attr()
    bad_link = LinkAttr.make(name="l", src="cpu", dst="gpu9", kind="k", bandwidth=1.0, latency=0.0)
    with pytest.raises(VerifyException, match='names device "gpu9", not in the target'):
        TargetAttr.make(devices=[cpu], links=[bad_link])


def test_hetc_opt_parses_hw_attributes(tmp_path):
    from hetc.opt import main

    src = tmp_path / "t.mlir"
    src.write_text('builtin.module attributes {hw.p = #hw.place<device = "npu", start = 1.0e-06, end = 2.0e-06>} {}\n')
    out = tmp_path / "out.mlir"
    assert main([str(src), "-o", str(out)]) == 0
    assert '#hw.place<device = "npu", start = 1.0e-06, end = 2.0e-06>' in out.read_text()

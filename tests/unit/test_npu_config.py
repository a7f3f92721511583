"""NPU presets are devices of the catalog (backends/devices/catalog.toml, [devices.NAME.npu]):
the loader checks the npu table, derives peak FLOP/s and memories from it, and
`--npu-config` finds presets there, reads catalog files and flat files, and lists the
known presets when the name is unknown."""

from __future__ import annotations

import pytest
from hetc.backends.devices import CatalogError, load_catalog
from hetc.backends.npu.config import load_config, presets
from hetc.diagnostics import HetcError


def test_presets_come_from_the_catalog():
    cat = load_catalog(profile=None, env=False)
    assert list(presets()) [:3] == ["npu-tiny", "npu-edge", "npu-large"]
    tiny = cat.device("npu-tiny")
    assert tiny.kind == "npu" and tiny.npu["spm_bytes"] == 65536 == load_config("npu-tiny").spm_bytes
    # peak FLOP/s and memories follow from the table: 2 * 8^3 FLOP per 24 cycles at 400 MHz
    assert tiny.flops("float32", matrix=True) == pytest.approx(2 * 8**3 / 24 * 400e6)
    assert tiny.flops("float32") == pytest.approx(8 * 400e6)
    assert tiny.bandwidth == pytest.approx(8 * 400e6)
    assert {m.name: m.capacity_bytes for m in tiny.memories}["scratchpad"] == 65536
    assert load_config("npu-large").matrix_n == 32 and load_config(None).name == "npu-edge"


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(HetcError, match=r"unknown NPU preset 'npu-huge' \(known: npu-tiny, npu-edge, npu-large"):
        load_config("npu-huge")


def _device(name: str, npu: str) -> str:
    return (f'[devices.{name}]\nkind = "npu"\ndescription = "mine"\nsource = "test"\nlaunch_overhead_s = 1e-5\n'
            f"power_w = 1.0\ncost_per_hour = 0.01\n[devices.{name}.npu]\n{npu}")


EDGE = ("spm_bytes = 131072\nacc_bytes = 16384\nmatrix_n = 16\nmatrix_cycles_per_tile = 48\nvector_lanes = 16\n"
        "dma_bytes_per_cycle = 16\ndma_latency_cycles = 100\nspm_bytes_per_cycle = 64\nclock_hz = 8e8\n")


def test_catalog_file_as_npu_config(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(_device("my-npu", EDGE))
    c = load_config(str(f))
    assert (c.name, c.spm_bytes, c.alignment) == ("my-npu", 131072, 64)
    assert load_catalog([f], profile=None, env=False).device("my-npu").npu["matrix_n"] == 16


@pytest.mark.parametrize("npu,match", [
    (EDGE + "warp_size = 32\n", r"unknown field 'devices.bad.npu.warp_size'"),
    (EDGE.replace("matrix_n = 16", "matrix_n = 2.5"), r"'devices.bad.npu.matrix_n' is 2.5: expected a positive integer"),
    (EDGE.replace("clock_hz = 8e8", "clock_hz = -1.0"), r"'devices.bad.npu.clock_hz' is -1.0: expected a positive number"),
    (EDGE.replace("vector_lanes = 16\n", ""), r"'devices.bad.npu' lacks vector_lanes"),
    (EDGE + "alignment = 48\n", r"alignment' is 48: expected a power of two"),
])
def test_catalog_rejects_bad_npu_tables(tmp_path, npu, match):
    f = tmp_path / "bad.toml"
    f.write_text(_device("bad", npu))
    with pytest.raises(CatalogError, match=match) as err:
        load_catalog([f], profile=None, env=False)
    assert str(f) in str(err.value) or err.value.file == str(f)


def test_npu_table_only_on_npu_devices(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(_device("gpu-ish", EDGE).replace('kind = "npu"', 'kind = "gpu"'))
    with pytest.raises(CatalogError, match=r"'devices.gpu-ish.npu' is only for kind = \"npu\" devices"):
        load_catalog([f], profile=None, env=False)

"""Partitioned compilation: place every op on a device, split the model, compile each part
for its device's target, and write the host program that runs them.

    hetc compile model.onnx --targets cpu,cuda -o out/     # or --devices cpu,h200
    hetc run model.onnx --targets cpu,cuda --check

Pipeline: import + graph pipeline → `hetc-place` (cost model + scheduler; `pins` force
nodes or op types onto a device) → `hetc-partition` (runs of ops on one device become
`@part<i>`, `@main` becomes a `sched` program) → each partition compiled as its own
model by its target (`part<i>/`, a complete output folder with its own manifest) →
`plan.mlir` (the `sched` program with the partitions as declarations; the runtime
executes exactly it), `report.json` / `report.html` (placement with the predicted
schedule; `hetc run --targets ... --profile` adds measured times per launch).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import onnx
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr

from hetc.diagnostics import HetcError

#: `--targets` names: a target or a device kind → the catalog device it means
TARGET_ALIASES = {"cpu": "cpu", "c": "cpu"}


def local_gpu() -> str:
    """The catalog name of this machine's GPU (h200, h100, a100), h100 when none is found."""
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                                 timeout=10).stdout.upper()  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            out = ""
        for name in ("H200", "H100", "A100"):
            if name in out:
                return name.lower()
    return "h100"


def devices_for_targets(targets: Sequence[str]) -> list[str]:
    """`cpu,cuda` → catalog devices (`cpu`, the local GPU's entry); device names pass through."""
    out = []
    for t in targets:
        t = t.strip()
        if t in ("cuda", "gpu"):
            out.append(local_gpu())
        elif t in ("npu",):
            out.append("npu")
        elif t in ("hls", "fpga"):
            out.append("u250")
        else:
            out.append(TARGET_ALIASES.get(t, t))
    return out


def _pin(module: ModuleOp, pins: Mapping[str, str], devices: Sequence[str]) -> list[str]:
    """Force nodes (by ONNX node name) or op types (e.g. `Gemm`) onto a device."""
    from hetc.dialects.hw import PLACE_ATTR, PlaceAttr

    main = next(f for f in module.ops if isinstance(f, func.FuncOp) and f.sym_name.data == "main")
    hit = {k: 0 for k in pins}
    known: set[str] = set()
    for op in main.body.block.ops:
        place = op.attributes.get(PLACE_ATTR)
        if place is None:
            continue
        node = op.attributes.get("hetc.node")
        keys = [node.data if isinstance(node, StringAttr) else "", op.name.removeprefix("onnx.")]
        known.add(keys[1])
        for k in keys:
            if k in pins:
                if pins[k] not in devices:
                    raise HetcError(f"pin {k}={pins[k]}: '{pins[k]}' is not one of the devices ({', '.join(devices)})")
                op.attributes[PLACE_ATTR] = PlaceAttr.make(
                    device=pins[k], start=place.value("start"), end=place.value("end")
                )
                hit[k] += 1
                break
    missing = [k for k, n in hit.items() if n == 0]
    if missing:
        raise HetcError(
            f"pin {', '.join(missing)}: no node or op type of the model (after the graph pipeline) has that name",
            hint=f"op types: {', '.join(sorted(known))}",
        )
    return [f"{k}={v}" for k, v in pins.items()]


def build_partitioned(
    model: str | Path | onnx.ModelProto,
    out_dir: str | Path,
    devices: Sequence[str],
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    scheduler: str = "heft",
    time_limit: float = 10.0,
    seed: int = 0,
    pins: Mapping[str, str] | None = None,
    catalog_files: Sequence[str] = (),
    threads: int = 1,
    fusion: str = "ilp",
    progress: Callable[[str], None] | None = None,
    target_options: Mapping[str, Mapping[str, object]] | None = None,
) -> Path:
    """Compile `model` over `devices` (catalog names; the host first or anywhere) into
    `out_dir`: one folder per partition, `plan.mlir`, `report.json`, `report.html`.
    `target_options`: per target name (c, cuda, ...), the options its partitions get."""
    from hetc.api import _describe, _source_hash, _version, compile_module, emit_module
    from hetc.artifacts import MANIFEST, write_output_dir
    from hetc.backends.devices import load_catalog, parse_device_list
    from hetc.frontend.onnx_importer import INPUT_NAMES_ATTR, OUTPUT_NAMES_ATTR
    from hetc.passes.partition import DEVICE_ATTR, TARGET_ATTR_NAME, Partition
    from hetc.passes.place_model import annotate, place_model, report
    from hetc.passes.place_report import render_html
    from hetc.pipeline import make_context

    catalog = load_catalog(list(catalog_files))
    names = parse_device_list(list(devices), catalog)
    if catalog.host.name not in names:
        raise HetcError(
            f"the device list {','.join(names)} has no host: the model's inputs and outputs live on '{catalog.host.name}'",
            hint=f"add it, e.g. --targets {catalog.host.name},cuda",
        )
    source_name = Path(model).name if not isinstance(model, onnx.ModelProto) else (model.graph.name or "model")
    try:
        module = compile_module(model, input_shapes, progress=progress)
        main = next(f for f in module.ops if isinstance(f, func.FuncOp) and f.sym_name.data == "main")
        in_names = [a.data for a in main.attributes[INPUT_NAMES_ATTR].data]
        out_names = [a.data for a in main.attributes[OUTPUT_NAMES_ATTR].data]
        ftype = main.function_type
        if progress:
            progress(f"place on {','.join(names)} ({scheduler})")
        result = place_model(module, names, scheduler=scheduler, time_limit=time_limit, seed=seed, catalog=catalog,
                             name=source_name, progress=progress)  # fmt: skip
        annotate(module, result)
        pinned = _pin(module, pins, names) if pins else []
        if progress:
            progress("hetc-partition")
        Partition(host=catalog.host.name).apply(make_context(), module)

        files: dict[str, bytes | str] = {}
        parts = []
        for fn in [f for f in module.ops if isinstance(f, func.FuncOp) and f.sym_name.data != "main"]:
            part = fn.sym_name.data
            target = fn.attributes[TARGET_ATTR_NAME].data
            sub_fn = fn.clone()
            sub_fn.sym_name = StringAttr("main")
            sub_fn.sym_visibility = None
            if progress:
                progress(f"{part}: {len(list(fn.body.block.ops)) - 1} ops on {fn.attributes[DEVICE_ATTR].data} ({target})")
            sub = emit_module(ModuleOp([sub_fn]), target, f"{source_name}:{part}", threads=threads, fusion=fusion,
                              progress=progress, source=f"{source_name}:{part}", out_name=part,
                              target_options=(target_options or {}).get(target))  # fmt: skip
            for name, data in sub.items():
                files[f"{part}/{name}"] = data
            parts.append({
                "name": part, "device": fn.attributes[DEVICE_ATTR].data, "target": target,
                "nodes": [o.attributes["hetc.node"].data for o in fn.body.block.ops if "hetc.node" in o.attributes],
                "inputs": [a.data for a in fn.attributes[INPUT_NAMES_ATTR].data],
                "outputs": [a.data for a in fn.attributes[OUTPUT_NAMES_ATTR].data],
            })  # fmt: skip
            # plan.mlir keeps only the partition's signature
            body = fn.body.detach_block(fn.body.block)
            fn.body.add_block(type(body)())
            fn.body.detach_block(fn.body.block)
            body.erase(safe_erase=False)
    except HetcError as err:
        raise err.with_file(str(model)) if not isinstance(model, onnx.ModelProto) else err

    from hetc.dialects.sched import CopyOp

    copies = [
        {"tensor": op.source.name_hint or "", "from": op.src.data, "to": op.dst.data, "bytes": op.bytes.value.data}
        for op in main.body.block.ops if isinstance(op, CopyOp)
    ]  # fmt: skip
    rep = report(result, model=str(model) if not isinstance(model, onnx.ModelProto) else source_name)
    rep["partitions"] = parts
    rep["copies"] = copies
    rep["pins"] = pinned
    rep["measure"] = "measured time per launch: hetc run MODEL --targets ... --profile"
    files["plan.mlir"] = str(module) + "\n"
    files["report.json"] = json.dumps(rep, indent=1) + "\n"
    files["report.html"] = render_html(rep)
    manifest = {
        "hetc_version": _version(),
        "target": "partitioned",
        "devices": names,
        "host": catalog.host.name,
        "scheduler": scheduler,
        "source": str(model) if not isinstance(model, onnx.ModelProto) else source_name,
        "source_sha256": _source_hash(model),
        "inputs": _describe(in_names, list(ftype.inputs.data)),
        "outputs": _describe(out_names, list(ftype.outputs.data)),
        "parts": [{"name": p["name"], "device": p["device"], "target": p["target"]} for p in parts],
        "files": sorted([*files, MANIFEST, "README.md"]),
    }
    files[MANIFEST] = json.dumps(manifest, indent=2) + "\n"
    files["README.md"] = (
        f"# {source_name} compiled by hetc {_version()}, partitioned over {', '.join(names)}\n\n"
        "`plan.mlir` is the host program (`sched` dialect): launches of the partitions on their devices and "
        "the copies between device memories, in order. Each `part<i>/` folder is a complete output of its "
        "device's target (its own README says how to build and call it). `report.json` / `report.html`: "
        "where every op runs and why (cost model, schedule, baselines).\n\n"
        f"From Python: `hetc.Session('{Path(out_dir).name}').run({{name: array}})` runs the plan.\n"
    )
    return write_output_dir(out_dir, files)

"""The agent-graph frontend: a YAML or JSON file -> a checked `AgentGraph` -> `agent` dialect IR.

    from hetc.frontend.agent import load_agent_graph, to_module
    g = load_agent_graph("examples/agents/rag.yaml")
    g.nodes["generate"].kind, g.sla.latency_s, g.sla.percentile     # "llm", 2.0, 95.0
    module = to_module(g)                                          # agent.llm, agent.retrieve, ...

The format is `agent_schema.json` beside this file (JSON Schema 2020-12; it validates
YAML and JSON alike). In short::

    name: rag
    sla: {latency: 2s, percentile: 95}
    objective: {minimize: cost_per_request}          # or cost_per_hour with rate: 20 (req/s)
    models:
      llama8b: {params: 8.0e9, layers: 32, hidden: 4096, kv_hidden: 1024, precision: float16}
    nodes:
      search:   {kind: retrieve, index: {vectors: 1.0e6, dim: 768}, k: 8, impl: "impls:search"}
      generate: {kind: llm, model: llama8b, input_tokens: 1500,
                 output_tokens: {mean: 200, std: 60}, impl: "impls:generate"}
      route:    {kind: router, branches: {answer: 0.8, ask_again: 0.2}}
      act:      {kind: loop, max_iterations: 4, continue_probability: 0.5,
                 body: {nodes: {...}, edges: [...]}}
    edges:
      - {from: search, to: generate, bytes: 16384}

Why a schema file and then semantic checks: the schema catches shapes and types (and is
what editors and other tools can read); what it cannot say (an edge to an unknown node,
a cycle, router branches that are not successors, probabilities that do not add up, an
LLM model without layers) is checked here. Every error is a `HetcError` naming the file,
the node and the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hetc.diagnostics import HetcError

SCHEMA_FILE = "agent_schema.json"
KINDS = ("llm", "tool", "retrieve", "transform", "router", "loop")
#: bytes per element of each precision
PRECISION_BYTES = {"float32": 4.0, "float16": 2.0, "bfloat16": 2.0, "float8": 1.0, "int8": 1.0, "int4": 0.5}
DEFAULT_EDGE_BYTES = 4096.0
#: the embedding model of a retrieval that names none (a BERT-base-sized encoder)
DEFAULT_EMBED = {"params": 1.1e8, "layers": 12, "hidden": 768, "precision": "float16"}


@dataclass(frozen=True)
class Model:
    name: str
    params: float
    layers: int
    hidden: int
    kv_hidden: int
    precision: str
    #: layers and hidden were given (not defaulted): required of an LLM's model
    shaped: bool = True

    @property
    def weight_bytes(self) -> float:
        return self.params * PRECISION_BYTES[self.precision]

    @property
    def kv_bytes_per_token(self) -> float:
        """K and V of every layer for one token: 2 x layers x kv_hidden x bytes/element."""
        return 2.0 * self.layers * self.kv_hidden * PRECISION_BYTES[self.precision]


@dataclass
class Node:
    name: str
    kind: str
    spec: dict[str, Any]
    impl: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    model: Model | None = None  # llm: its model; retrieve: the embedding model
    body: AgentGraph | None = None  # loop only
    path: str = ""  # "loop/node" for nodes in a loop body

    def tokens(self, which: str) -> float | dict[str, float]:
        return self.spec[which]


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    bytes: float = DEFAULT_EDGE_BYTES


@dataclass(frozen=True)
class Sla:
    latency_s: float | None
    percentile: float = 95.0


@dataclass(frozen=True)
class Objective:
    minimize: str = "cost_per_request"
    rate: float | None = None
    utilization: float = 0.7
    #: sequences sharing one decode step (continuous batching); 1: a request decodes alone
    batch: int = 1


@dataclass
class AgentGraph:
    name: str
    nodes: dict[str, Node]
    edges: list[Edge]
    sla: Sla = Sla(None)
    objective: Objective = Objective()
    file: str = ""
    base_dir: str = "."
    output: str | None = None
    description: str = ""

    def preds(self, n: str) -> list[Edge]:
        return [e for e in self.edges if e.dst == n]

    def succs(self, n: str) -> list[Edge]:
        return [e for e in self.edges if e.src == n]

    def topological_order(self) -> list[str]:
        """Kahn's order, ties by declaration order."""
        indeg = {n: 0 for n in self.nodes}
        for e in self.edges:
            indeg[e.dst] += 1
        order, ready = [], [n for n in self.nodes if indeg[n] == 0]
        while ready:
            n = ready.pop(0)
            order.append(n)
            for e in self.succs(n):
                indeg[e.dst] -= 1
                if indeg[e.dst] == 0:
                    ready.append(e.dst)
        return order

    def sources(self) -> list[str]:
        return [n for n in self.nodes if not self.preds(n)]

    def sinks(self) -> list[str]:
        return [n for n in self.nodes if not self.succs(n)]

    def all_nodes(self) -> list[Node]:
        """Every node, loop bodies included (a body's nodes after their loop)."""
        out = []
        for n in self.nodes.values():
            out.append(n)
            if n.body is not None:
                out += n.body.all_nodes()
        return out


# ---------------------------------------------------------------------------- reading


def schema() -> dict[str, Any]:
    """The JSON Schema of agent graphs (package data)."""
    return json.loads(resources.files("hetc.frontend").joinpath(SCHEMA_FILE).read_text())


def parse_duration(v: Any, where: str = "duration", file: str | None = None) -> float:
    """2 -> 2.0; "2s" -> 2.0; "350ms" -> 0.35; "40us" -> 4e-05; "1min" -> 60.0."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0:
        return float(v)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*(s|ms|us|min)?\s*", str(v))
    if not m:
        raise HetcError(f"{where} is {v!r}: expected seconds, or a number with s, ms, us or min (e.g. 2s)", file=file)
    scale = {"s": 1.0, None: 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0}[m.group(2)]
    return float(m.group(1)) * scale


def read_document(path: str | Path) -> Any:
    """The file's data: JSON for .json, YAML otherwise (YAML is a superset of JSON)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise HetcError("no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HetcError(f"cannot read the agent graph: {exc}", file=str(path)) from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise HetcError(f"not valid JSON: {exc}", file=str(path)) from None
    try:
        import yaml
    except ImportError:
        raise HetcError("reading YAML needs PyYAML", file=str(path), hint="pip install 'hetc[agent]'") from None
    try:
        return yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        raise HetcError(f"not valid YAML: {exc}", file=str(path)) from None


def _loader():
    """PyYAML's safe loader, reading 8.0e9 as a number: YAML 1.1 (PyYAML) wants a sign in
    the exponent (8.0e+9), YAML 1.2 and JSON do not, and people write 8.0e9."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    )
    return Loader


def _where(path: list[Any]) -> tuple[str | None, str]:
    """A JSON path -> (the innermost node's name, the field within it)."""
    node, rest = None, list(path)
    i = 0
    while i < len(path):
        if path[i] == "nodes" and i + 1 < len(path):
            node = "/".join(filter(None, [node, str(path[i + 1])])) if node and "body" in path[:i] else str(path[i + 1])
            rest = list(path[i + 2 :])
            i += 2
        else:
            i += 1
    field_ = ".".join(str(p) for p in rest) if rest else ""
    if node is None:
        field_ = ".".join(str(p) for p in path)
    return node, field_


def validate_schema(data: Any, file: str) -> None:
    """Check `data` against the JSON Schema; the first error names the node and the field."""
    try:
        import jsonschema
    except ImportError:
        raise HetcError(
            "validating agent graphs needs jsonschema", file=file, hint="pip install 'hetc[agent]'"
        ) from None
    validator = jsonschema.Draft202012Validator(schema())
    errors = list(validator.iter_errors(data))
    if not errors:
        return
    # the deepest error is the most specific ("output_tokens: -3 is less than 1", not "not valid under oneOf")
    err = jsonschema.exceptions.best_match(
        errors, key=lambda e: (-len(e.absolute_path), *jsonschema.exceptions.relevance(e))
    )
    err = max(errors, key=lambda e: len(e.absolute_path)) if err is None else err
    if err.context:  # oneOf / anyOf: say what the deepest alternative wanted
        inner = max(err.context, key=lambda e: len(e.absolute_path))
        if len(inner.absolute_path) > len(err.absolute_path):
            err = inner
    node, fld = _where(list(err.absolute_path))
    what = err.message
    if len(what) > 200:
        what = what[:200] + "..."
    kind = None
    if node is not None and isinstance(data, dict):
        kind = _kind_at(data, list(err.absolute_path))
    reason = (f"field '{fld}': " if fld else "") + what
    hint = None
    if kind in KINDS and "Additional properties" in err.message:
        allowed = sorted(schema()["$defs"][kind]["properties"])
        hint = f"fields of a {kind} node: {', '.join(allowed)}"
    elif "is not one of" in err.message and fld.endswith("kind"):
        hint = f"node kinds: {', '.join(KINDS)}"
    raise HetcError(reason, file=file, node=node, op_type=kind, hint=hint)


def _kind_at(data: Any, path: list[Any]) -> str | None:
    cur, kind = data, None
    for i, p in enumerate(path):
        try:
            cur = cur[p]
        except (KeyError, IndexError, TypeError):
            return kind
        if i > 0 and path[i - 1] == "nodes" and isinstance(cur, dict):
            kind = cur.get("kind")
    return kind


def load_agent_graph(path: str | Path) -> AgentGraph:
    """Read, validate (schema, then semantics) and return the graph in `path`."""
    path = Path(path)
    data = read_document(path)
    file = str(path)
    if not isinstance(data, dict):
        raise HetcError("an agent graph must be a mapping with 'name' and 'nodes'", file=file)
    validate_schema(data, file)
    return from_dict(data, file=file, base_dir=str(path.resolve().parent))


def from_dict(data: dict[str, Any], file: str = "<graph>", base_dir: str = ".") -> AgentGraph:
    """Build a graph from already-parsed data (validated against the schema first)."""
    validate_schema(data, file)
    models: dict[str, Model] = {}
    for name, spec in data.get("models", {}).items():
        models[name] = _model(name, spec, file, None)
    sla_d = data.get("sla")
    sla = Sla(None)
    if sla_d is not None:
        lat = parse_duration(sla_d["latency"], "sla.latency", file)
        if lat <= 0:
            raise HetcError("field 'sla.latency' must be positive", file=file)
        sla = Sla(lat, float(sla_d.get("percentile", 95.0)))
    obj_d = data.get("objective", {})
    obj = Objective(obj_d.get("minimize", "cost_per_request"), obj_d.get("rate"), float(obj_d.get("utilization", 0.7)),
                    int(obj_d.get("batch", 1)))  # fmt: skip
    if obj.minimize == "cost_per_hour" and obj.rate is None:
        raise HetcError(
            "field 'objective.rate' is needed with minimize: cost_per_hour", file=file,
            hint="give the target request rate in requests per second, e.g. rate: 20",
        )  # fmt: skip
    g = _graph(data["name"], data["nodes"], data.get("edges", []), models, file, prefix="")
    g.sla, g.objective, g.file, g.base_dir = sla, obj, file, base_dir
    g.description = data.get("description", "")
    out = data.get("output")
    if out is not None and out not in g.nodes:
        raise HetcError(f"field 'output' names unknown node '{out}' (nodes: {', '.join(g.nodes)})", file=file)
    g.output = out
    return g


def _model(name: str, spec: dict[str, Any], file: str, node: str | None, *, needs_shape: bool = False) -> Model:
    layers, hidden = spec.get("layers"), spec.get("hidden")
    if needs_shape and (layers is None or hidden is None):
        missing = "layers" if layers is None else "hidden"
        raise HetcError(
            f"model '{name}' has no '{missing}': an LLM's KV cache and attention need layers and hidden",
            file=file, node=node, op_type="llm", hint="e.g. {params: 8.0e9, layers: 32, hidden: 4096, kv_hidden: 1024}",
        )  # fmt: skip
    shaped = layers is not None and hidden is not None
    layers = int(layers or DEFAULT_EMBED["layers"])
    hidden = int(hidden or DEFAULT_EMBED["hidden"])
    return Model(
        name, float(spec["params"]), layers, hidden, int(spec.get("kv_hidden", hidden)), spec.get("precision", "float16"),
        shaped,
    )  # fmt: skip


def _resolve_model(ref: Any, models: dict[str, Model], file: str, node: str, field_: str, *, llm: bool) -> Model:
    if isinstance(ref, str):
        if ref not in models:
            raise HetcError(
                f"field '{field_}' names unknown model '{ref}' (models: {', '.join(models) or 'none'})",
                file=file, node=node, hint="define it under 'models:' or give the model inline",
            )  # fmt: skip
        m = models[ref]
        if llm and not m.shaped:
            raise HetcError(
                f"model '{ref}' has no layers/hidden: an LLM's KV cache and attention need both",
                file=file, node=node, op_type="llm", hint="e.g. {params: 8.0e9, layers: 32, hidden: 4096, kv_hidden: 1024}",
            )  # fmt: skip
        return m
    return _model(f"{node}.{field_}", ref, file, node, needs_shape=llm)


def _graph(name: str, nodes_d: dict, edges_d: list, models: dict[str, Model], file: str, prefix: str) -> AgentGraph:
    nodes: dict[str, Node] = {}
    for nname, spec in nodes_d.items():
        full = f"{prefix}{nname}"
        kind = spec["kind"]
        n = Node(nname, kind, dict(spec), spec.get("impl"), dict(spec.get("params", {})), path=full)
        if kind == "llm":
            n.model = _resolve_model(spec["model"], models, file, full, "model", llm=True)
            if "precision" in spec:
                m = n.model
                n.model = Model(m.name, m.params, m.layers, m.hidden, m.kv_hidden, spec["precision"], m.shaped)
            for f in ("input_tokens", "output_tokens"):
                v = spec[f]
                if isinstance(v, dict) and "low" in v and v["low"] > v["high"]:
                    raise HetcError(
                        f"field '{f}': low {v['low']} exceeds high {v['high']}", file=file, node=full, op_type=kind
                    )
        elif kind == "retrieve":
            ref = spec.get("embed_model")
            n.model = (
                _resolve_model(ref, models, file, full, "embed_model", llm=False)
                if ref is not None
                else _model("default-embed", DEFAULT_EMBED, file, full)
            )
            if spec["k"] > spec["index"]["vectors"]:
                raise HetcError(
                    f"field 'k': {spec['k']} exceeds the index size {spec['index']['vectors']:g}", file=file, node=full,
                    op_type=kind,
                )  # fmt: skip
        elif kind == "router":
            total = sum(spec["branches"].values())
            if abs(total - 1.0) > 1e-6:
                raise HetcError(
                    f"field 'branches': the probabilities add up to {total:g}, not 1",
                    file=file,
                    node=full,
                    op_type=kind,
                )
        elif kind == "loop":
            body = spec["body"]
            for inner in body["nodes"].values():
                if inner["kind"] == "loop":
                    raise HetcError(
                        "a loop body may not contain another loop (not supported yet)", file=file, node=full,
                        op_type=kind, hint="unroll the inner loop into the body's nodes",
                    )  # fmt: skip
            n.body = _graph(nname, body["nodes"], body.get("edges", []), models, file, prefix=f"{full}/")
        elif kind == "tool":
            n.spec["latency"] = parse_duration(spec.get("latency", 0.0), f"node '{full}' field 'latency'", file)
        nodes[nname] = n
    edges: list[Edge] = []
    seen = set()
    for k, e in enumerate(edges_d):
        for end in ("from", "to"):
            if e[end] not in nodes:
                close = [x for x in nodes if x.lower() == str(e[end]).lower()]
                raise HetcError(
                    f"edge {k} ({e['from']} -> {e['to']}): field '{end}' names unknown node '{e[end]}'"
                    + (f" in the body of loop '{prefix[:-1]}'" if prefix else "")
                    + f" (nodes: {', '.join(nodes)})",
                    file=file, hint=f"did you mean '{close[0]}'?" if close else None,
                )  # fmt: skip
        if e["from"] == e["to"]:
            raise HetcError(f"edge {k} is a self-loop on '{e['from']}'", file=file, node=f"{prefix}{e['from']}",
                            hint="use a node of kind loop to repeat work")  # fmt: skip
        if (e["from"], e["to"]) in seen:
            raise HetcError(f"edge {e['from']} -> {e['to']} is given twice", file=file)
        seen.add((e["from"], e["to"]))
        edges.append(Edge(e["from"], e["to"], float(e.get("bytes", DEFAULT_EDGE_BYTES))))
    g = AgentGraph(name, nodes, edges, file=file)
    order = g.topological_order()
    if len(order) != len(nodes):
        stuck = [n for n in nodes if n not in order]
        raise HetcError(
            f"the graph has a cycle through {', '.join(prefix + s for s in stuck)}", file=file,
            hint="edges must form a DAG; use a node of kind loop to repeat work",
        )  # fmt: skip
    for n in nodes.values():
        if n.kind == "router":
            succ = {e.dst for e in g.succs(n.name)}
            for b in n.spec["branches"]:
                if b not in succ:
                    raise HetcError(
                        f"field 'branches' names '{b}', which is not a successor of the router "
                        f"(successors: {', '.join(sorted(succ)) or 'none'})",
                        file=file, node=n.path, op_type="router", hint=f"add an edge {{from: {n.name}, to: {b}}}",
                    )  # fmt: skip
            extra = succ - set(n.spec["branches"])
            if extra:
                raise HetcError(
                    f"successor '{sorted(extra)[0]}' has no branch probability", file=file, node=n.path, op_type="router",
                    hint="every edge out of a router is a branch: list it under 'branches'",
                )  # fmt: skip
    return g


# ---------------------------------------------------------------------------- to IR


def _dist_attr(v: Any):
    from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr, f64, i64

    if isinstance(v, dict):
        return DictionaryAttr({k: FloatAttr(float(x), f64) for k, x in v.items()})
    return IntegerAttr(int(v), i64)


def node_attributes(n: Node) -> dict[str, Any]:
    """The `agent` dialect attributes of node `n` (its kind's op)."""
    from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr, StringAttr, f64, i64

    s = n.spec
    a: dict[str, Any] = {"node": StringAttr(n.path or n.name)}
    if n.impl:
        a["impl"] = StringAttr(n.impl)
    if n.kind == "llm":
        m = n.model
        a |= {
            "model": StringAttr(m.name), "params": FloatAttr(m.params, f64), "layers": IntegerAttr(m.layers, i64),
            "hidden": IntegerAttr(m.hidden, i64), "kv_hidden": IntegerAttr(m.kv_hidden, i64),
            "precision": StringAttr(m.precision), "input_tokens": _dist_attr(s["input_tokens"]),
            "output_tokens": _dist_attr(s["output_tokens"]),
        }  # fmt: skip
    elif n.kind == "retrieve":
        m = n.model
        a |= {
            "vectors": FloatAttr(float(s["index"]["vectors"]), f64), "dim": IntegerAttr(s["index"]["dim"], i64),
            "k": IntegerAttr(s["k"], i64), "index_precision": StringAttr(s["index"].get("precision", "float32")),
            "embed_params": FloatAttr(m.params, f64), "embed_precision": StringAttr(m.precision),
            "query_tokens": IntegerAttr(int(s.get("query_tokens", 32)), i64),
        }  # fmt: skip
    elif n.kind == "tool":
        a |= {
            "latency": FloatAttr(float(s.get("latency", 0.0)), f64),
            "cpu_flops": FloatAttr(float(s.get("cpu_flops", 0.0)), f64),
        }
    elif n.kind == "transform":
        a |= {"flops": FloatAttr(float(s.get("flops", 1e6)), f64), "bytes": FloatAttr(float(s.get("bytes", 1e5)), f64)}
    elif n.kind == "router":
        a["branches"] = DictionaryAttr({k: FloatAttr(float(v), f64) for k, v in s["branches"].items()})
    elif n.kind == "loop":
        a |= {
            "max_iterations": IntegerAttr(s["max_iterations"], i64),
            "continue_probability": FloatAttr(float(s.get("continue_probability", 1.0)), f64),
        }
    return a


def to_module(graph: AgentGraph):
    """The graph as `agent` dialect IR: one op per node in topological order, edges as
    SSA values, each loop's body in its region."""
    from xdsl.dialects.builtin import ModuleOp, StringAttr

    ops = _emit(graph, state=None)
    m = ModuleOp(ops)
    m.attributes["agent.graph"] = StringAttr(graph.name)
    if graph.sla.latency_s is not None:
        from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, f64

        m.attributes["agent.sla"] = DictionaryAttr(
            {"latency": FloatAttr(graph.sla.latency_s, f64), "percentile": FloatAttr(graph.sla.percentile, f64)}
        )
    return m


def _emit(graph: AgentGraph, state) -> list:
    from xdsl.dialects.builtin import ArrayAttr, FloatAttr, f64
    from xdsl.ir import Block, Region

    from hetc.dialects import agent as A

    cls = {"llm": A.LlmOp, "retrieve": A.RetrieveOp, "tool": A.ToolOp, "transform": A.TransformOp,
           "router": A.RouterOp, "loop": A.LoopOp}  # fmt: skip
    values: dict[str, Any] = {}
    ops: list = []
    for name in graph.topological_order():
        n = graph.nodes[name]
        preds = graph.preds(name)
        operands = [values[e.src] for e in preds]
        payloads = [e.bytes for e in preds]
        if not preds and state is not None:  # a body source reads the loop's state
            operands, payloads = [state], [DEFAULT_EDGE_BYTES]
        attrs = node_attributes(n)
        attrs["in_bytes"] = ArrayAttr([FloatAttr(b, f64) for b in payloads])
        regions = []
        if n.kind == "loop":
            block = Block(arg_types=[A.MsgType()])
            body_ops = _emit(n.body, block.args[0])
            sinks = [o for o in body_ops if o.node_name.split("/")[-1] in n.body.sinks()]
            block.add_ops(body_ops + [A.YieldOp.create(operands=[o.results[0] for o in sinks])])
            regions = [Region(block)]
        op = cls[n.kind].create(operands=operands, result_types=[A.MsgType()], attributes=attrs, regions=regions)
        values[name] = op.results[0]
        ops.append(op)
    return ops

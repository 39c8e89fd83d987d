"""The documentation is tested like code: docs/configuration.md documents every config key with its real
default, every config example in README.md and docs/ is valid, every deployment example parses and
carries a valid collector-eval config, the manifests agree with each other on ports, hosts and paths,
the documented output formats (docs/output.md) and commands (docs/cli.md) are the ones produced,
docs/evaluators.md is the catalog's own rendering, docs/ARCHITECTURE.md states the import rule `make lint`
enforces, and every link, repository path and code reference in the docs resolves."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import shlex
import tomllib
import typing
from pathlib import Path

import pytest
import yaml

from collector_eval.cli import main as cli
from collector_eval.config.loader import coerce
from collector_eval.evaluation.evaluators import catalog, goal_completeness
from collector_eval.evaluation.evaluators.base import ATTR_TRUNCATED
from collector_eval.evaluation.evaluators.options import EvaluatorConfig
from collector_eval.evaluation.judge.options import JudgePriceConfig
from collector_eval.evaluation.transcript.options import MappingConfig
from collector_eval.export.carrier import (
    EVENT_NAME,
    SPAN_NAMES,
    build_carrier,
    verdict_to_dict,
)
from collector_eval.export.forwarding.options import KeepRule
from collector_eval.export.options import NamedExporterConfig
from collector_eval.model import EvaluationResult
from collector_eval.runtime.config import Config, config_from_dict
from tests.support.corpus import CORPUS
from tests.support.verdicts import _verdict

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def page(name: str) -> str:
    return (DOCS / name).read_text()


CONFIGURATION = page("configuration.md")
OUTPUT = page("output.md")
CLI = page("cli.md")
CONTROL = page("control.md")

CONFIG_PATH = "/etc/collector-eval/config.yaml"

YAML_FILES = (
    sorted(ROOT.glob("deploy/**/*.yaml")) + sorted(ROOT.glob("deploy/**/*.yml")) + [ROOT / "docker-compose.yml"]
)
TYPE_NAMES = {
    str: "string",
    float: "number",
    int: "integer",
    bool: "boolean",
    list[str]: "list of strings",
    dict[str, str]: "map of strings",
    dict[str, typing.Any]: "mapping",
    list[EvaluatorConfig]: "list of evaluators",
    dict[str, JudgePriceConfig]: "map of prices",
    list[MappingConfig]: "list of mappings",
    list[KeepRule]: "list of rules",
    dict[str, NamedExporterConfig]: "map of exporters",
    bool | None: "boolean or null",
}


# ------------------------------------------------------------------------------------------- helpers


def config_keys(cls: type = Config, obj: object = None, prefix: str = ""):
    """(dotted key, type, default) for every leaf of the Config dataclasses."""
    obj = cls() if obj is None else obj
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path, value = prefix + f.name, getattr(obj, f.name)
        tp = hints[f.name]
        item = typing.get_args(tp)[-1] if typing.get_origin(tp) in (list, dict) else None
        if dataclasses.is_dataclass(tp):
            yield from config_keys(tp, value, path + ".")
        elif dataclasses.is_dataclass(item):
            # A list of entries is documented as written in its short form (`[goal_completeness]`), then
            # each key of an entry as `evaluators[].key`; a map's entries as `judge.prices.*.key`.
            shorthand = getattr(item, "shorthand", None)
            yield path, tp, [getattr(v, shorthand) for v in value] if shorthand else value
            yield from config_keys(item, item(), path + ("[]." if typing.get_origin(tp) is list else ".*."))
        else:
            yield path, tp, value


def format_default(value: object) -> str:
    """The form docs/configuration.md prints a default in: YAML-compatible JSON, integral numbers without '.0',
    a list of entries with only the keys that differ from an entry's defaults."""
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        return json.dumps([_non_defaults(v) for v in value])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return json.dumps(value)


def _non_defaults(obj) -> dict:
    out = {}
    for key, value in vars(obj).items():
        default = getattr(type(obj)(), key)
        if value != default:
            out[key] = _non_defaults(value) if dataclasses.is_dataclass(value) else value
    return out


def section(markdown: str, title: str) -> str:
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end >= 0 else None]


def documented_config_rows() -> dict[str, tuple[str, str]]:
    """key -> (type, default) from the tables of docs/configuration.md."""
    rows = {}
    for line in CONFIGURATION.splitlines():
        m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*`([^`]*)`\s*\|", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} is documented twice"
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", markdown, re.S | re.M)]


def prose(markdown: str) -> str:
    """The page without its fenced code blocks (indented ones in list items included)."""
    return re.sub(r"^\s*```.*?^\s*```[^\n]*$", "", markdown, flags=re.S | re.M)


def anchors(markdown: str) -> set[str]:
    """The ids GitHub gives a page's headings: lower case, punctuation dropped, spaces as '-', repeats numbered."""
    seen: dict[str, int] = {}
    for m in re.finditer(r"^#{1,6} (.+?)\s*$", prose(markdown), re.M):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1)).replace("`", "").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        if n:
            seen[f"{slug}-{n}"] = 1
    return set(seen)


def load_yaml_docs(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def load_config_file(path: Path) -> Config:
    return config_from_dict(yaml.safe_load(path.read_text()) or {})


def host_port(endpoint: str) -> tuple[str, int]:
    endpoint = re.sub(r"^[\w+]+://", "", endpoint).rstrip("/")  # redis+cluster:// too
    host, _, port = endpoint.rpartition(":")
    return host, int(port)


def compose_services(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["services"]


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts.append((source, target))
    return mounts


def sidecar() -> tuple[dict, dict]:
    """The sidecar manifest's ConfigMap and pod spec."""
    docs = load_yaml_docs(ROOT / "deploy/kubernetes/sidecar.yaml")
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap"]
    (workload,) = [d for d in docs if d["kind"] in ("Pod", "Deployment")]
    spec = workload["spec"] if workload["kind"] == "Pod" else workload["spec"]["template"]["spec"]
    return config_map, spec


def workload_annotations() -> dict:
    docs = load_yaml_docs(ROOT / "deploy/kubernetes/sidecar.yaml")
    (workload,) = [d for d in docs if d["kind"] in ("Pod", "Deployment")]
    metadata = workload["metadata"] if workload["kind"] == "Pod" else workload["spec"]["template"]["metadata"]
    return metadata.get("annotations", {})


def container(spec: dict, name: str) -> dict:
    (found,) = [c for c in spec["containers"] if c["name"] == name]
    return found


# ------------------------------------------------------------------------------------------- README, docs/


def test_every_config_key_is_documented_with_its_default_and_type():
    rows = documented_config_rows()
    for key, tp, default in config_keys():
        assert key in rows, f"config key {key} is missing from docs/configuration.md's tables"
        type_name, documented = rows[key]
        assert documented == format_default(default), f"{key}: the docs say {documented}, the options have {default!r}"
        read_back = yaml.safe_load(documented)
        if isinstance(default, list) and default and dataclasses.is_dataclass(default[0]):
            read_back = coerce(tp, read_back, key)  # the entries as the loader builds them
        assert read_back == default, f"{key}: the documented default does not read back as {default!r}"
        assert type_name == TYPE_NAMES[tp], f"{key}: the docs say type {type_name}, the options have {tp}"


def test_docs_document_no_config_key_that_does_not_exist():
    keys = {key for key, _, _ in config_keys()}
    assert set(documented_config_rows()) - keys == set()


def test_readme_is_short_and_the_manual_is_in_docs():
    assert len(README.encode()) <= 12 * 1024, "README.md is the front page: move the detail into a page of docs/"
    for path in PAGES[1:]:
        assert f"]({path.relative_to(ROOT)}" in README, f"README.md links no {path.relative_to(ROOT)}"


def test_readme_starts_with_make_run_then_make_test():
    commands = []
    for lang, body in code_blocks(README):
        if lang in ("sh", "bash", "shell"):
            commands += [line.split("#")[0].strip() for line in body.splitlines() if line.split("#")[0].strip()]
    assert commands[:2] == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "$(CONFIG)" in makefile  # make run CONFIG=my.yaml
    assert "`make lint`" in README


def test_collector_eval_configs_in_the_docs_are_valid():
    fields = {f.name for f in dataclasses.fields(Config)}
    checked = 0
    for path in PAGES:
        for lang, body in code_blocks(path.read_text()):
            if lang != "yaml":
                continue
            data = yaml.safe_load(body)
            if isinstance(data, dict) and set(data) <= fields:  # a collector-eval config, not a Collector's
                config_from_dict(data)
                checked += 1
    assert checked >= 4


def test_documented_cli_commands_exist():
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    for command in ("serve --config FILE", "check-config FILE", "transcript FILE", "--help"):
        assert command in CLI
    for command in ("evaluate FILE", "sessions list", "sessions show|end|reevaluate SESSION_ID", "demo"):
        assert f"collector-eval {command}" in CLI
    for command in ("sessions list", "sessions show|end|reevaluate SESSION_ID"):
        assert f"collector-eval {command}" in CONTROL
    for words in (["evaluate"], ["demo"], *(["sessions", action] for action in ("list", "show", "end", "reevaluate"))):
        with pytest.raises(SystemExit) as info:
            cli.main([*words, "--help"])
        assert info.value.code == 0, words


def test_transcript_sample_is_what_the_command_prints(capsys):
    path = CORPUS / "openinference_openai_chat" / "otlp.json"
    assert path.exists(), f"the shared corpus is not next to the repository: {path}"
    (sample,) = re.findall(r"^\s*\$ collector-eval transcript otlp\.json\n\s*(\{.*\})$", CLI, re.M)
    assert cli.main(["transcript", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(sample)


# ------------------------------------------------------------------------------------------- output format


def _all_results() -> list[EvaluationResult]:
    ok = EvaluationResult(
        name="goal_completeness",
        status="ok",
        score=0.5,
        label="complete",
        explanation="half done",
        attributes={
            goal_completeness.ATTR_RESOLVED: "[]",
            goal_completeness.ATTR_UNRESOLVED: "[]",
            ATTR_TRUNCATED: "true",
        },
    )
    failed = EvaluationResult.failed("failing", "judge_timeout", "timed out")
    skipped = EvaluationResult.skipped("skipping", "judge_disabled", "no key")
    return [ok, failed, skipped]


def test_every_carrier_and_event_attribute_is_documented():
    request = build_carrier(_verdict(_all_results()))
    (span,) = request.resource_spans[0].scope_spans[0].spans
    keys = {kv.key for kv in span.attributes}
    keys |= {kv.key for event in span.events for kv in event.attributes}
    output = OUTPUT
    for key in sorted(keys):
        documented = re.sub(r"^session\.evaluations\.\d+\.", "session.evaluations.N.", key)
        if documented.startswith("session.evaluations.N.evaluation."):
            field = documented.rsplit(".", 1)[1]
            assert f"`session.evaluations.N.evaluation.{field}`" in output, key
        else:
            assert f"`{documented}`" in output, f"attribute {key} is not documented in docs/output.md"
    assert all(f"`{name}`" in output for name in SPAN_NAMES.values()) and f"`{EVENT_NAME}`" in output
    for event in span.events:
        attrs = {kv.key for kv in event.attributes}
        # The rule docs/output.md states: a failed or skipped evaluation never carries a score or label.
        status = {kv.key: kv.value.string_value for kv in event.attributes}["collector_eval.evaluation.status"]
        if status != "ok":
            assert not attrs & {"gen_ai.evaluation.score.value", "gen_ai.evaluation.score.label"}


def test_console_examples_have_the_fields_verdict_to_dict_writes():
    produced = verdict_to_dict(_verdict(_all_results()))
    examples = [json.loads(body) for lang, body in code_blocks(section(OUTPUT, "The console form")) if lang == "json"]
    assert len(examples) >= 2
    for example in examples:
        assert set(example) == set(produced)
        for evaluation in example["evaluations"]:
            assert set(evaluation) == set(produced["evaluations"][0])
            if evaluation["status"] != "ok":
                assert evaluation["score"] is None and evaluation["label"] is None


# ------------------------------------------------------------------------------------------- the pages


def test_evaluators_page_is_the_catalog_rendered():
    assert page("evaluators.md") == catalog.markdown(), (
        f"docs/evaluators.md is stale: regenerate it with `{catalog.REGENERATE}`"
    )


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves(path):
    """Relative links name a file or folder that exists, and a heading of the page they point into."""
    text = prose(path.read_text())
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.name}: the link {target} names nothing"
        if anchor:
            assert linked.suffix == ".md", f"{path.name}: {target}: an anchor into a file that is not a page"
            assert anchor in anchors(linked.read_text()), f"{path.name}: {target}: no such heading"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_paths_and_code_references_exist(path):
    """What the docs call a file of the repository exists, and a Python name they call resolves, so a
    module that moves takes its docs with it. Dotted `collector_eval.` names that are not code are span
    attributes (`collector_eval.tenant`, `collector_eval.evaluation.status`, ...) or the gRPC service."""
    text = path.read_text()
    for name in re.findall(r"`((?:collector_eval|tests|bench|deploy|proto)/[\w./-]*)", text):
        assert (ROOT / name).exists(), f"{path.name}: `{name}` does not exist"
    attribute_prefixes = (
        "collector_eval.tenant",
        "collector_eval.revision",
        "collector_eval.trigger",
        "collector_eval.session.",
        "collector_eval.transcript.",
        "collector_eval.evaluation.",
        "collector_eval.redaction.",
        "collector_eval.forwarding.",
    )
    for name, call in re.findall(r"`(collector_eval(?:\.[\w<>]+)+)(\(?)", text):
        if name == "collector_eval.v1.Control":
            continue  # the control API's gRPC service, collector_eval/v1/ generated from proto/
        resolved = _resolve(name)
        assert resolved or (not call and name.startswith(attribute_prefixes)), f"{path.name}: `{name}` does not resolve"


def _resolve(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_architecture_states_the_layers_make_lint_enforces():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    enforced = [
        " | ".join(sorted(p.strip().removeprefix("collector_eval.") for p in layer.split("|"))) for layer in layers
    ]
    rule = section(page("ARCHITECTURE.md"), "The import rule")
    (block,) = [body for lang, body in code_blocks(rule) if lang == "text"]
    documented = [" | ".join(sorted(p.strip() for p in line.split("|"))) for line in block.splitlines() if line.strip()]
    assert documented == enforced, "docs/ARCHITECTURE.md's layers differ from pyproject.toml's [tool.importlinter]"
    top = (ROOT / "collector_eval").iterdir()
    packages = {p.name.removesuffix(".py") for p in top if (p / "__init__.py").exists() or p.suffix == ".py"}
    packages -= {"__init__"}
    table = section(page("ARCHITECTURE.md"), "The packages, one job each")
    assert set(re.findall(r"^\| `(\w+)` \|", table, re.M)) == packages, "each package of collector_eval/ has its row"
    assert packages <= {p for line in documented for p in line.split(" | ")}, "each package has its layer"


# ------------------------------------------------------------------------------------------- deploy/


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_parses(path):
    assert load_yaml_docs(path)


def test_deploy_collector_eval_configs_are_valid():
    for name in (
        "deploy/compose/collector-eval.yaml",
        "deploy/docker/config.yaml",
        "deploy/collector/collector-eval.yaml",
    ):
        load_config_file(ROOT / name)
    config_map, _ = sidecar()
    config_from_dict(yaml.safe_load(config_map["data"]["config.yaml"]))


def test_dockerfile_exposes_the_receiver_port_of_its_baked_config():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cfg = load_config_file(ROOT / "deploy/docker/config.yaml")
    host, port = host_port(cfg.receiver.grpc.endpoint)
    assert host == "0.0.0.0"
    assert re.search(rf"^EXPOSE {port}$", dockerfile, re.M)
    assert re.search(rf"^COPY deploy/docker/config.yaml {CONFIG_PATH}$", dockerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["collector-eval", "serve"\]$', dockerfile, re.M)
    assert f'CMD ["--config", "{CONFIG_PATH}"]' in dockerfile
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "redis-server" in dockerfile


def test_compose_wiring():
    path = ROOT / "docker-compose.yml"
    services = compose_services(path)
    assert {"collector-eval", "redis", "jaeger"} <= set(services)
    ce = services["collector-eval"]
    assert ce["build"] == "."
    mounts = dict((target, source) for source, target in bind_mounts(ce))
    assert CONFIG_PATH in mounts
    config_file = (path.parent / mounts[CONFIG_PATH]).resolve()
    assert config_file == ROOT / "deploy/compose/collector-eval.yaml" and config_file.exists()
    cfg = load_config_file(config_file)
    host, port = host_port(cfg.receiver.grpc.endpoint)
    assert host == "0.0.0.0"
    assert any(str(p).rsplit(":", 1)[-1] == str(port) for p in ce["ports"])
    assert cfg.redis.url == "redis://redis:6379/0"
    assert host_port(cfg.exporters.otlp.endpoint) == ("jaeger", 4317)
    assert cfg.judge.api_key_env in ce["environment"]
    assert services["redis"]["image"] == "redis:7"
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one")
    assert any(str(p).startswith("16686:") for p in services["jaeger"]["ports"])
    assert set(ce["depends_on"]) <= set(services)


def test_sidecar_wiring():
    config_map, spec = sidecar()
    cfg = config_from_dict(yaml.safe_load(config_map["data"]["config.yaml"]))
    host, port = host_port(cfg.receiver.grpc.endpoint)
    assert host == "127.0.0.1"

    app = container(spec, "app")
    env = {e["name"]: e.get("value") for e in app["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://localhost:{port}"

    ce = container(spec, "collector-eval")
    args = ce["args"]
    assert args[args.index("--config") + 1] == CONFIG_PATH
    (mount,) = [m for m in ce["volumeMounts"] if CONFIG_PATH.startswith(m["mountPath"])]
    assert mount["mountPath"].rstrip("/") + "/config.yaml" == CONFIG_PATH
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    # Probes: HTTP health endpoints on the telemetry port, which must listen where the kubelet
    # connects (the pod IP), and be declared under the name the probes use.
    ports = {p["name"]: p["containerPort"] for p in ce["ports"]}
    telemetry_host, telemetry_port = host_port(cfg.telemetry.metrics_endpoint)
    assert telemetry_host == "0.0.0.0" and ports["telemetry"] == telemetry_port
    for probe in ("readinessProbe", "livenessProbe"):
        check = ce[probe]["httpGet"]
        assert check["path"] in ("/healthz", "/readyz")
        assert check["port"] in ("telemetry", telemetry_port)
    annotations = workload_annotations()
    assert annotations["prometheus.io/port"] == str(telemetry_port) and annotations["prometheus.io/path"] == "/metrics"
    # The control API: inside the pod only, its port declared.
    control_host, control_port = host_port(cfg.control.endpoint)
    assert control_host == "127.0.0.1" and ports["control"] == control_port
    assert len(set(ports.values()) | {port}) == len(ports) + 1  # no two listeners on one port
    (key_env,) = [e for e in ce["env"] if e["name"] == cfg.judge.api_key_env]
    assert "secretKeyRef" in key_env["valueFrom"]

    redis = container(spec, "redis")
    assert redis["image"].startswith("redis:")
    redis_args = redis.get("args", [])
    redis_port = int(redis_args[redis_args.index("--port") + 1]) if "--port" in redis_args else 6379
    assert host_port(cfg.redis.url.rsplit("/", 1)[0]) == ("localhost", redis_port)
    assert cfg.exporters.otlp.endpoint


def test_collector_chain_wiring():
    folder = ROOT / "deploy/collector"
    upstream = yaml.safe_load((folder / "upstream.yaml").read_text())
    downstream = yaml.safe_load((folder / "downstream.yaml").read_text())
    cfg = load_config_file(folder / "collector-eval.yaml")
    services = compose_services(folder / "compose.yaml")

    # upstream's otlp exporter -> collector-eval's receiver
    exporter = upstream["exporters"]["otlp/collector-eval"]
    assert exporter["tls"]["insecure"] is True
    for signal in ("traces", "logs", "metrics"):  # collector-eval passes every signal through
        assert "otlp/collector-eval" in upstream["service"]["pipelines"][signal]["exporters"]
        assert "otlp" in downstream["service"]["pipelines"][signal]["receivers"]
    ce_host, ce_port = host_port(exporter["endpoint"])
    assert ce_host in services
    assert host_port(cfg.receiver.grpc.endpoint) == ("0.0.0.0", ce_port)

    # collector-eval's exporter -> downstream's otlp receiver
    ds_host, ds_port = host_port(cfg.exporters.otlp.endpoint)
    assert ds_host in services
    assert host_port(downstream["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]) == ("0.0.0.0", ds_port)
    assert "otlp" in downstream["service"]["pipelines"]["traces"]["receivers"]
    for name in downstream["service"]["pipelines"]["traces"]["exporters"]:
        assert name in downstream["exporters"]
        endpoint = downstream["exporters"][name].get("endpoint")
        if endpoint:
            assert host_port(endpoint)[0] in services

    # every file the chain's compose mounts exists, collector-eval's config where the image reads it
    mounted = {}
    for name, service in services.items():
        for source, target in bind_mounts(service):
            assert (folder / source).exists(), f"{name} mounts {source}, which does not exist"
            mounted[(name, target)] = (folder / source).resolve()
    assert mounted[(ce_host, CONFIG_PATH)] == (folder / "collector-eval.yaml").resolve()
    assert (folder / services[ce_host]["build"] / "Dockerfile").exists()


def test_every_compose_bind_mount_exists():
    for path in [ROOT / "docker-compose.yml", *ROOT.glob("deploy/**/compose.yaml")]:
        for name, service in compose_services(path).items():
            for source, _ in bind_mounts(service):
                assert (path.parent / source).exists(), f"{path.name}: {name} mounts missing {source}"


# ------------------------------------------------------------------------------------------- way 1, run


def way_one_environment() -> dict[str, str]:
    """The variables README's way 1 exports, as written there."""
    way_one = README[README.index("### 1. Point an OTLP exporter at it") : README.index("### 2. As a sidecar")]
    env = {}
    for line in way_one.splitlines():
        if line.startswith("export OTEL_"):
            name, _, value = shlex.split(line.split("#")[0])[1].partition("=")
            env[name] = value
    return env


def test_an_exporter_configured_only_by_the_documented_env_vars_gets_its_session_judged(
    service, sink, judge, monkeypatch
):
    """Way 1 of the README: the SDK's exporter built with no arguments, configured only by the
    variables README exports (endpoint, protocol, gzip, the bearer token header), and the end marker
    as a tag in OpenInference's `tag.tags`."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from tests.support.byte_proxy import ByteCountingProxy

    env = way_one_environment()
    assert env == {
        "OTEL_SERVICE_NAME": "chat-app",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20$COLLECTOR_EVAL_TOKEN",
    }
    judge.default = {
        "intentions": [{"intention": "a name", "evidence": "Sunny", "resolved": True}],
        "explanation": "ok",
    }
    svc = service(receiver={"grpc": {"endpoint": "127.0.0.1:0", "auth": {"tokens": ["docs-token"]}}})
    # The proxy sees the bytes on the wire: gzip shows as a request far smaller than its content.
    proxy = ByteCountingProxy(svc.service.port)
    for name, value in env.items():
        value = value.replace("localhost:4317", proxy.endpoint).replace("$COLLECTOR_EVAL_TOKEN", "docs-token")
        monkeypatch.setenv(name, value)
    provider = TracerProvider()  # its resource, service.name included, comes from the environment too
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer("docs")
    long_answer = "How about Sunny? " * 20000  # 340 kB that gzip shrinks to almost nothing
    tracer.start_span(
        "ChatCompletion",
        attributes={
            "session.id": "sess-docs",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Suggest a name for my puppy.",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": long_answer,
        },
    ).end()
    tracer.start_span(
        "session end", attributes={"session.id": "sess-docs", "tag.tags": ["session_status:completed"]}
    ).end()
    provider.force_flush()
    try:
        sink.wait_for(lambda s: len(s.carriers()) == 1)
    finally:
        provider.shutdown()
        proxy.close()
    resource, _, carrier = sink.carriers()[0]
    attrs = {kv.key: kv.value for kv in carrier.attributes}
    assert attrs["session.id"].string_value == "sess-docs"
    assert attrs["collector_eval.tenant"].string_value == "chat-app"
    assert attrs["session.evaluations.0.evaluation.label"].string_value == "complete"
    (llm,) = [span for _, _, span in sink.spans() if span.name == "ChatCompletion"]
    content = {kv.key: kv.value.string_value for kv in llm.attributes}["llm.output_messages.0.message.content"]
    assert content == long_answer  # it arrived whole ...
    assert 0 < proxy.client_bytes < len(long_answer) // 10  # ... in a compressed request


def test_shared_tier_manifest_matches_the_config_contract():
    docs = load_yaml_docs(ROOT / "deploy/kubernetes/shared.yaml")
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap"]
    cfg = config_from_dict(yaml.safe_load(config_map["data"]["config.yaml"]))
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] > 1
    spec = deployment["spec"]["template"]["spec"]
    (service_container,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in service_container["ports"]}
    assert ports["otlp-grpc"] == host_port(cfg.receiver.grpc.endpoint)[1]
    assert ports["otlp-http"] == host_port(cfg.receiver.http.endpoint)[1]
    assert ports["telemetry"] == host_port(cfg.telemetry.metrics_endpoint)[1]
    # Every replica must reach the same Redis, here a Redis Cluster in the manifest: redis.url names
    # one pod of its StatefulSet by its stable name, <pod>.<headless Service>.
    assert cfg.redis.is_cluster and cfg.redis.url.startswith("redis+cluster://")
    assert cfg.redis.shard_count == cfg.redis.shards > 1
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    statefulsets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StatefulSet"}
    redis_host, redis_port = host_port(cfg.redis.url)
    pod, service_name = redis_host.split(".")[:2]
    service = services[service_name]
    assert service["spec"]["clusterIP"] == "None"  # headless: a DNS name per pod
    redis_ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert redis_ports["redis"] == redis_port and redis_ports["cluster-bus"] == redis_port + 10000
    (statefulset,) = [s for s in statefulsets.values() if s["spec"]["serviceName"] == service_name]
    name, _, ordinal = pod.rpartition("-")
    assert name == statefulset["metadata"]["name"] and int(ordinal) < statefulset["spec"]["replicas"]
    assert statefulset["spec"]["template"]["metadata"]["labels"].items() >= service["spec"]["selector"].items()
    (redis,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert redis["image"] == "redis:7"
    args = redis["args"]
    assert args[args.index("--cluster-enabled") + 1] == "yes" and args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert statefulset["spec"]["volumeClaimTemplates"]
    # The Job that forms the Cluster: three primaries with a replica each need six nodes, all of them.
    (job,) = [d for d in docs if d["kind"] == "Job"]
    (create,) = job["spec"]["template"]["spec"]["containers"]
    script = " ".join(create["command"])
    assert "redis-cli --cluster create" in script and "--cluster-replicas 1" in script and "--cluster-yes" in script
    assert statefulset["spec"]["replicas"] == 6
    assert f"for i in {' '.join(str(i) for i in range(6))};" in script and f"{name}-$i.{service_name}" in script
    # Disruptions take one collector-eval replica (and one Redis node) at a time.
    budgets = {d["spec"]["selector"]["matchLabels"]["app"]: d for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert budgets["collector-eval"]["spec"]["maxUnavailable"] == 1 and name in budgets
    # The receivers listen on the pod IP behind a Service, so they must ask for a token.
    assert cfg.receiver.grpc.auth.tokens_file
    mounts = {m["mountPath"] for m in service_container["volumeMounts"]}
    assert any(cfg.receiver.grpc.auth.tokens_file.startswith(m) for m in mounts)
    assert service_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert cfg.processes == int(service_container["resources"]["requests"]["cpu"])  # one process per core

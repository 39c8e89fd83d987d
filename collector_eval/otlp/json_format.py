"""OTLP/JSON: the corpus format, test fixtures, OTLP/HTTP JSON bodies and the file exporter.

OTLP/JSON differs from protobuf's canonical JSON mapping in one way that matters here: trace and
span ids are hex strings, where `json_format` expects base64 for bytes fields. Both directions
rewrite the ids and otherwise leave the mapping to `json_format`.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from collector_eval.otlp.signals import SPECS, Signal

M = TypeVar("M", bound=Message)

# id field -> length in bytes; an empty string means "unset" (a root span's parentSpanId).
_ID_BYTES = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def load_otlp_json(path_or_text: str | os.PathLike[str]) -> ExportTraceServiceRequest:
    """Reads `{"resourceSpans": [...]}` from a file or a string; JSON lines are merged into one request.

    A str that starts with "{" is taken as the JSON text itself, anything else as a path.
    Raises ValueError naming the source and the problem.
    """
    return _load(_read(path_or_text), ExportTraceServiceRequest, "resourceSpans", "trace")


def load_otlp_logs_json(path_or_text: str | os.PathLike[str]) -> ExportLogsServiceRequest:
    """Reads `{"resourceLogs": [...]}` as load_otlp_json reads traces."""
    return _load(_read(path_or_text), ExportLogsServiceRequest, "resourceLogs", "logs")


def load_otlp_files(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[ExportTraceServiceRequest, ExportLogsServiceRequest]:
    """Trace files and log files together (`collector-eval transcript a.json logs.json`): each object
    (a file, or a line of one) is read as the signal it holds."""
    traces, logs = ExportTraceServiceRequest(), ExportLogsServiceRequest()
    for path in paths:
        for where, doc in _documents(*_read(path)):
            if isinstance(doc, dict) and "resourceLogs" in doc:
                logs.MergeFrom(_parse(doc, where, ExportLogsServiceRequest, "resourceLogs", "logs"))
            else:
                traces.MergeFrom(_parse(doc, where, ExportTraceServiceRequest, "resourceSpans", "trace"))
    return traces, logs


def parse_otlp_json(text: str, signal: Signal) -> Message:
    """One OTLP/JSON request body of a signal (an OTLP/HTTP request): never read as a path."""
    spec = SPECS[signal]
    if not text.lstrip().startswith("{"):
        raise ValueError("expected a JSON object")
    return _load((text, "body"), spec.request, spec.json_key, signal.value)


def _load(source: tuple[str, str], cls: type[M], key: str, signal: str) -> M:
    """Every object of source (text, where it came from) merged into one request of cls."""
    request = cls()
    for where, doc in _documents(*source):
        request.MergeFrom(_parse(doc, where, cls, key, signal))
    return request


def _read(path_or_text: str | os.PathLike[str]) -> tuple[str, str]:
    """(text, where it came from): a str that starts with "{" is the text itself, anything else a path."""
    if isinstance(path_or_text, str) and path_or_text.lstrip().startswith("{"):
        return path_or_text, "<text>"
    try:
        return Path(path_or_text).read_text(encoding="utf-8"), str(path_or_text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path_or_text}: cannot read: {exc}") from exc


def _parse(doc: Any, where: str, cls: type[M], key: str, signal: str) -> M:
    if not isinstance(doc, dict):
        kind = type(doc).__name__
        raise ValueError(f"{where}: expected a JSON object with {key}, got {kind}")
    _convert_ids(doc, where, _hex_to_base64)
    part = cls()
    try:
        # OTLP/JSON receivers must ignore unknown fields (forward compatibility).
        json_format.ParseDict(doc, part, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ValueError(f"{where}: not an OTLP {signal} request: {exc}") from exc
    return part


def request_to_otlp_json(msg: Message) -> dict[str, Any]:
    """The OTLP/JSON form of a request: lowerCamelCase, integer enums, hex ids."""
    doc = json_format.MessageToDict(msg, use_integers_for_enums=True)
    _convert_ids(doc, "request", lambda value, _field, _where: base64.b64decode(value).hex())
    return doc


def _documents(text: str, source: str) -> list[tuple[str, Any]]:
    try:
        return [(source, _loads(text, source))]
    except json.JSONDecodeError as exc:
        # "Extra data" means a first value parsed and more follow: JSON lines.
        if exc.msg != "Extra data":
            raise ValueError(f"{source}: not valid JSON: {exc}") from exc
    docs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            docs.append((where, _loads(line, where)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON: {exc}") from exc
    return docs


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        # json.loads recurses once per level of nesting: a few thousand nested arrayValues (a few
        # KB of text) exhaust the stack. No OTLP message nests that deep (json_format itself stops
        # at 100 levels), so it is a malformed request, not a server error.
        raise ValueError(f"{where}: JSON nested too deeply") from None


def _hex_to_base64(value: Any, field: str, where: str) -> str:
    size = _ID_BYTES[field]
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or (raw and len(raw) != size):
        raise ValueError(f"{where}: {field} {value!r} is not a {2 * size}-digit hex id")
    return base64.b64encode(raw).decode("ascii")


def _convert_ids(doc: dict[str, Any], where: str, convert: Callable[[Any, str, str], str]) -> None:
    for r, resource_spans in enumerate(_objects(doc, "resourceSpans")):
        for s, scope_spans in enumerate(_objects(resource_spans, "scopeSpans")):
            for i, span in enumerate(_objects(scope_spans, "spans")):
                at = f"{where}: resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                _convert_fields(span, at, convert)
                for k, link in enumerate(_objects(span, "links")):
                    _convert_fields(link, f"{at}.links[{k}]", convert)
    for r, resource_logs in enumerate(_objects(doc, "resourceLogs")):
        for s, scope_logs in enumerate(_objects(resource_logs, "scopeLogs")):
            for i, record in enumerate(_objects(scope_logs, "logRecords")):
                _convert_fields(record, f"{where}: resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]", convert)
    for r, resource_metrics in enumerate(_objects(doc, "resourceMetrics")):
        for s, scope_metrics in enumerate(_objects(resource_metrics, "scopeMetrics")):
            for m, metric in enumerate(_objects(scope_metrics, "metrics")):
                for kind, data in metric.items():
                    if not isinstance(data, dict):
                        continue
                    for p, point in enumerate(_objects(data, "dataPoints")):
                        for e, exemplar in enumerate(_objects(point, "exemplars")):
                            at = f"{where}: resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}].{kind}"
                            _convert_fields(exemplar, f"{at}.dataPoints[{p}].exemplars[{e}]", convert)


def _objects(obj: dict[str, Any], key: str) -> list[dict[str, Any]]:
    # Misshapen input is left for json_format to reject with its own message.
    items = obj.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _convert_fields(obj: dict[str, Any], where: str, convert: Callable[[Any, str, str], str]) -> None:
    for field in _ID_BYTES:
        if field in obj:
            obj[field] = convert(obj[field], field, where)

"""Log records with a trace id, split by trace: GenAI instrumentations put message content in log
records (the deprecated per-message events, gen_ai.client.inference.operation.details) linked to the
span that made the call, so a session's transcript needs them beside its trace's spans."""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData, ResourceLogs, ScopeLogs

TRACE_ID_BYTES = 16


@dataclass
class LogChunk:
    """One trace's log records of a request, as an encoded LogsData (resource and scope kept)."""

    trace_id: bytes
    records: int = 0
    data: LogsData = field(default_factory=LogsData)

    def payload(self) -> bytes:
        return self.data.SerializeToString()


def route_logs(request: ExportLogsServiceRequest) -> dict[bytes, LogChunk]:
    """The request's log records that name a trace, by trace id; the others are only forwarded."""
    chunks: dict[bytes, LogChunk] = {}
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            # Per trace, this scope's records go into one ScopeLogs under one copy of the resource.
            scopes: dict[bytes, ScopeLogs] = {}
            for record in scope_logs.log_records:
                trace_id = record.trace_id
                if len(trace_id) != TRACE_ID_BYTES or not any(trace_id):
                    continue
                scope = scopes.get(trace_id)
                if scope is None:
                    chunk = chunks.get(trace_id)
                    if chunk is None:
                        chunk = chunks[trace_id] = LogChunk(trace_id)
                    target = _resource_of(chunk.data, resource_logs)
                    scope = scopes[trace_id] = target.scope_logs.add(
                        scope=scope_logs.scope, schema_url=scope_logs.schema_url
                    )
                scope.log_records.append(record)
                chunks[trace_id].records += 1
    return chunks


def _resource_of(data: LogsData, resource_logs: ResourceLogs) -> ResourceLogs:
    """data's copy of resource_logs' resource: the last one added when it is that resource."""
    if data.resource_logs:
        last = data.resource_logs[-1]
        if last.resource == resource_logs.resource and last.schema_url == resource_logs.schema_url:
            return last
    return data.resource_logs.add(resource=resource_logs.resource, schema_url=resource_logs.schema_url)

"""Bearer-token auth on the receiver (receiver.grpc.auth) and the exporter's headers, against the real
service, real gRPC clients and the OpenTelemetry SDK."""

from __future__ import annotations

import asyncio
import shlex
import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collector_eval.config.checks import ConfigError
from collector_eval.ingest.auth import DENIED_MESSAGE, BearerTokenAuth, load_tokens
from collector_eval.ingest.options import GrpcReceiverConfig
from collector_eval.net.grpc_server import start_grpc_server
from collector_eval.net.options import GrpcAuthConfig
from collector_eval.runtime.config import config_from_dict
from tests.support.app import goal_answer, send_session, span_attrs
from tests.support.service_thread import start_fails
from tests.support.spans import (
    end_span,
    llm_span,
    request,
    sink_span_ids,
    span,
    trace_id,
)

TOKEN = "tok-3f9a2c81d7e6b5a4"
OTHER = "tok-0000-other-valid"


def grpc_config(**auth) -> dict:
    return {"grpc": {"endpoint": "127.0.0.1:0", "auth": auth}}


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def export_code(client, payload, metadata=None) -> grpc.StatusCode:
    try:
        client.export(payload, metadata=metadata)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


# ------------------------------------------------------------------------------------------ the receiver


def test_requests_without_the_right_token_are_unauthenticated(service, sink, judge, client_for):
    svc = service(receiver=grpc_config(tokens=[TOKEN, OTHER]))
    client = client_for(svc.endpoint)
    refused = [span(trace_id(), f"refused-{i}") for i in range(5)]
    attempts = [
        None,  # no metadata at all
        bearer("tok-wrong"),
        bearer(TOKEN + "x"),  # a prefix of the given one must not do
        (("authorization", f"Basic {TOKEN}"),),  # the right secret under another scheme
        (("x-api-key", TOKEN),),
    ]
    for payload, metadata in zip(refused, attempts):
        try:
            client.export(request(payload), metadata=metadata)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
            assert err.details() == DENIED_MESSAGE
            assert TOKEN not in err.details()
        else:
            raise AssertionError(f"accepted with {metadata}")
    assert svc.service.auth.refused == len(attempts)

    accepted = [span(trace_id(), "accepted"), span(trace_id(), "accepted-lowercase-scheme")]
    assert client.export(request(accepted[0]), metadata=bearer(TOKEN)) == ExportTraceServiceResponse()
    # RFC 6750: the scheme is case-insensitive; the second token is as good as the first.
    assert (
        client.export(request(accepted[1]), metadata=(("authorization", f"bearer {OTHER}"),))
        == ExportTraceServiceResponse()
    )
    sink.wait_for(lambda s: {a.span_id for a in accepted} <= sink_span_ids(s))
    # Refused means neither buffered nor forwarded.
    assert sink_span_ids(sink) == {a.span_id for a in accepted}


def test_a_session_sent_with_the_token_is_judged(service, sink, judge, client_for):
    judge.default = goal_answer(["a"], [])
    svc = service(receiver=grpc_config(tokens=[TOKEN]))
    client = client_for(svc.endpoint)
    sid = "sess-auth"
    turn = llm_span(trace_id(), "authenticated question", "authenticated answer", **{"session.id": sid})
    assert client.export(request(turn, end_span(sid)), metadata=bearer(TOKEN)) == ExportTraceServiceResponse()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    assert "authenticated answer" in judge.requests[0]["messages"][-1]["content"]


def test_no_tokens_means_open(service, sink, judge, client_for):
    svc = service()
    assert svc.service.auth is None
    one = span(trace_id(), "open")
    assert client_for(svc.endpoint).export(request(one)) == ExportTraceServiceResponse()
    sink.wait_for(lambda s: one.span_id in sink_span_ids(s))


def test_tokens_file(service, sink, judge, client_for, tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"# rotated 2024-06-01\n\n  {TOKEN}  \n#tok-commented-out\n{OTHER}\n")
    svc = service(receiver=grpc_config(tokens_file=str(path)))
    client = client_for(svc.endpoint)
    assert export_code(client, request(span(trace_id())), bearer(TOKEN)) == grpc.StatusCode.OK
    assert export_code(client, request(span(trace_id())), bearer(OTHER)) == grpc.StatusCode.OK
    for wrong in ("tok-commented-out", "#tok-commented-out", "# rotated 2024-06-01", ""):
        assert export_code(client, request(span(trace_id())), bearer(wrong)) == grpc.StatusCode.UNAUTHENTICATED


def test_tokens_and_tokens_file_add_up(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"{OTHER}\n")
    assert load_tokens(GrpcAuthConfig(tokens=[TOKEN], tokens_file=str(path))) == [TOKEN, OTHER]


@pytest.mark.parametrize(
    "content, expected",
    [(None, "cannot read"), ("# only comments\n\n", "holds no token"), ("tok one\n", "whitespace")],
    ids=["missing", "empty", "space-inside"],
)
def test_bad_tokens_file_fails_start_naming_the_key(make_config, tmp_path, content, expected):
    path = tmp_path / "tokens"
    if content is not None:
        path.write_text(content)
    message = start_fails(make_config, receiver=grpc_config(tokens_file=str(path)))
    assert message.startswith("receiver.grpc.auth.tokens_file:"), message
    assert expected in message


def test_bad_tokens_file_is_a_config_error_of_serve(tmp_path, capsys):
    from collector_eval.cli import main as cli

    config = tmp_path / "config.yaml"
    config.write_text(f"receiver: {{grpc: {{endpoint: '127.0.0.1:0', auth: {{tokens_file: '{tmp_path}/absent'}}}}}}\n")
    assert cli.main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "config error: receiver.grpc.auth.tokens_file:" in err and "absent" in err


@pytest.mark.parametrize("token, index", [([TOKEN, ""], 1), (["two words"], 0), (["tab\tin"], 0)])
def test_unusable_tokens_are_config_errors(token, index):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"receiver": {"grpc": {"auth": {"tokens": token}}}})
    assert str(info.value).startswith(f"receiver.grpc.auth.tokens[{index}]:")


def test_auth_defaults():
    cfg = config_from_dict({})
    assert cfg.receiver.grpc.auth.tokens == [] and cfg.receiver.grpc.auth.tokens_file == ""


def test_every_service_on_the_server_is_behind_the_tokens():
    """A service added later (health, a control API) gets the same auth without asking for it."""

    async def echo(request: bytes, context) -> bytes:
        return request

    async def echo_stream(requests, context):
        async for r in requests:
            yield r

    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "EchoStream": grpc.stream_stream_rpc_method_handler(echo_stream),
        },
    )

    async def run() -> dict[str, object]:
        cfg = GrpcReceiverConfig(endpoint="127.0.0.1:0")
        server, port = await start_grpc_server(
            cfg.endpoint, cfg.tls, [handler], cfg.max_recv_msg_size_mib, interceptors=[BearerTokenAuth([TOKEN])]
        )
        outcomes: dict[str, object] = {}
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                unary = channel.unary_unary("/test.Echo/Echo")
                stream = channel.stream_stream("/test.Echo/EchoStream")
                outcomes["unary with token"] = await unary(b"hi", metadata=bearer(TOKEN), timeout=5)
                for name, call in (
                    ("unary", lambda: unary(b"hi", timeout=5)),
                    ("stream", lambda: _collect(stream(iter([b"a", b"b"]), timeout=5))),
                ):
                    try:
                        await call()
                        outcomes[name] = "accepted"
                    except grpc.aio.AioRpcError as err:
                        outcomes[name] = err.code()
                outcomes["stream with token"] = await _collect(
                    stream(iter([b"a", b"b"]), metadata=bearer(TOKEN), timeout=5)
                )
        finally:
            await server.stop(None)
        return outcomes

    outcomes = asyncio.run(run())
    assert outcomes == {
        "unary with token": b"hi",
        "unary": grpc.StatusCode.UNAUTHENTICATED,
        "stream": grpc.StatusCode.UNAUTHENTICATED,
        "stream with token": [b"a", b"b"],
    }


async def _collect(call) -> list:
    return [item async for item in call]


# ------------------------------------------------------------------------------------------ real senders


def test_sdk_exporter_with_the_token_gets_its_session_judged(service, sink, judge):
    judge.default = goal_answer(["name the puppy"], [])
    svc = service(receiver=grpc_config(tokens=[TOKEN]))
    provider = TracerProvider(resource=Resource.create({"service.name": "chat-app"}))
    exporter = OTLPSpanExporter(endpoint=svc.endpoint, insecure=True, headers={"authorization": f"Bearer {TOKEN}"})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        end = send_session(provider, "sess-sdk-auth")
        sink.wait_for(lambda s: len(s.carriers()) == 1)
    finally:
        provider.shutdown()
    carrier = sink.carriers()[0][2]
    assert carrier.parent_span_id == end.get_span_context().span_id.to_bytes(8, "big")
    attrs = span_attrs(carrier)
    assert attrs["session.id"] == "sess-sdk-auth"
    assert attrs["session.evaluations.0.evaluation.label"] == "complete"
    assert svc.service.auth.refused == 0


def test_the_documented_headers_env_var_authenticates_the_sdk(service, sink, judge, monkeypatch):
    security = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    (line,) = [l for l in security.splitlines() if l.startswith("OTEL_EXPORTER_OTLP_HEADERS=")]
    value = shlex.split(line.split("#")[0])[0].partition("=")[2]
    assert value == "authorization=Bearer%20$COLLECTOR_EVAL_TOKEN"
    svc = service(receiver=grpc_config(tokens=[TOKEN]))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", value.replace("$COLLECTOR_EVAL_TOKEN", TOKEN))
    provider = TracerProvider(resource=Resource.create({"service.name": "env-app"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=svc.endpoint, insecure=True)))
    try:
        sent = provider.get_tracer("t").start_span("by-env-headers")
        sent.end()
        provider.force_flush()
    finally:
        provider.shutdown()
    expected = sent.get_span_context().span_id.to_bytes(8, "big")
    sink.wait_for(lambda s: expected in sink_span_ids(s))
    assert svc.service.auth.refused == 0


def test_sdk_exporter_without_the_token_is_refused(service, sink, judge):
    svc = service(receiver=grpc_config(tokens=[TOKEN]))
    provider = TracerProvider(resource=Resource.create({"service.name": "chat-app"}))
    exporter = OTLPSpanExporter(endpoint=svc.endpoint, insecure=True, timeout=5)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        provider.get_tracer("t").start_span("unauthenticated", attributes={"session.id": "s"}).end()
        provider.force_flush()
    finally:
        provider.shutdown()
    assert svc.service.auth.refused >= 1  # UNAUTHENTICATED is not retryable: the SDK gives up at once
    time.sleep(0.3)
    assert sink.spans() == []


# ------------------------------------------------------------------------------------------ exporter headers


def test_exporter_headers_reach_a_downstream_that_checks_them(service, sink, judge, client_for):
    """collector-eval chained into collector-eval: the downstream accepts only the bearer token that
    the upstream's exporters.otlp.headers carry."""
    downstream = service(receiver=grpc_config(tokens=[TOKEN]))
    # The key is lower-cased on the way: gRPC metadata keys are lower case.
    upstream = service(
        exporters={"otlp": {"endpoint": downstream.endpoint, "headers": {"Authorization": f"Bearer {TOKEN}"}}}
    )
    passed = span(trace_id(), "passed")
    client_for(upstream.endpoint).export(request(passed))
    sink.wait_for(lambda s: passed.span_id in sink_span_ids(s))
    assert downstream.service.auth.refused == 0


def test_exporter_with_a_wrong_header_is_refused_downstream(service, sink, judge, client_for):
    downstream = service(receiver=grpc_config(tokens=[TOKEN]))
    upstream = service(
        exporters={"otlp": {"endpoint": downstream.endpoint, "headers": {"authorization": "Bearer nope"}}}
    )
    lost = span(trace_id(), "lost")
    client_for(upstream.endpoint).export(request(lost))
    deadline = time.monotonic() + 10
    while downstream.service.auth.refused == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert downstream.service.auth.refused >= 1
    assert lost.span_id not in sink_span_ids(sink)

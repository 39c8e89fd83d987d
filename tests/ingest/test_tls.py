"""TLS and mutual TLS on the receiver (receiver.grpc.tls) and TLS to the downstream (exporters.otlp
ca_file), with certificates made at test time and real gRPC clients and servers."""

from __future__ import annotations

import time

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
from collector_eval.export.options import OtlpExporterConfig
from collector_eval.export.otlp_grpc import OtlpGrpcClient
from collector_eval.runtime.config import config_from_dict
from tests.support.app import goal_answer, send_session, span_attrs
from tests.support.pki import CertificateAuthority
from tests.support.service_thread import start_fails
from tests.support.spans import EXPORT, request, sink_span_ids, span, trace_id


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(folder, "good")
    rogue = CertificateAuthority(folder, "rogue")  # same names, not trusted by anyone
    return {
        "ca": ca,
        "server": ca.issue("server", server=True),
        "client": ca.issue("client", server=False),
        "rogue_client": rogue.issue("client", server=False),
        "rogue_server": rogue.issue("server", server=True),
    }


def tls_receiver(pki, mutual: bool = False, server: str = "server") -> dict:
    tls = {"cert_file": str(pki[server].cert_file), "key_file": str(pki[server].key_file)}
    if mutual:
        tls["client_ca_file"] = str(pki["ca"].cert_file)
    return {"grpc": {"endpoint": "127.0.0.1:0", "tls": tls}}


class TlsClient:
    def __init__(self, endpoint: str, credentials: grpc.ChannelCredentials | None):
        if credentials is None:
            self.channel = grpc.insecure_channel(endpoint)
        else:
            self.channel = grpc.secure_channel(endpoint, credentials)
        self._call = self.channel.unary_unary(
            EXPORT, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )

    def export(self, payload) -> grpc.StatusCode:
        try:
            self._call(payload.SerializeToString(), timeout=5)
        except grpc.RpcError as err:
            return err.code()
        return grpc.StatusCode.OK


@pytest.fixture
def tls_client():
    clients: list[TlsClient] = []

    def make(endpoint: str, credentials: grpc.ChannelCredentials | None) -> TlsClient:
        c = TlsClient(endpoint, credentials)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.channel.close()


# ------------------------------------------------------------------------------------------ TLS receiver


def test_tls_receiver_accepts_a_tls_client_and_refuses_plaintext(service, sink, judge, pki, tls_client):
    svc = service(receiver=tls_receiver(pki))
    trusted = grpc.ssl_channel_credentials(root_certificates=pki["ca"].cert)
    ok = span(trace_id(), "over-tls")
    assert tls_client(svc.endpoint, trusted).export(request(ok)) == grpc.StatusCode.OK
    # By name too: the certificate is for localhost as well as 127.0.0.1.
    by_name = span(trace_id(), "over-tls-localhost")
    assert tls_client(f"localhost:{svc.service.port}", trusted).export(request(by_name)) == grpc.StatusCode.OK

    plaintext = span(trace_id(), "plaintext")
    assert tls_client(svc.endpoint, None).export(request(plaintext)) == grpc.StatusCode.UNAVAILABLE
    # A client that does not trust our CA (the system's roots) cannot verify the server either.
    untrusting = span(trace_id(), "untrusting")
    assert (
        tls_client(svc.endpoint, grpc.ssl_channel_credentials()).export(request(untrusting))
        == grpc.StatusCode.UNAVAILABLE
    )

    sink.wait_for(lambda s: {ok.span_id, by_name.span_id} <= sink_span_ids(s))
    time.sleep(0.2)
    assert sink_span_ids(sink) == {ok.span_id, by_name.span_id}


def test_mutual_tls_requires_a_client_certificate_from_the_ca(service, sink, judge, pki, tls_client):
    svc = service(receiver=tls_receiver(pki, mutual=True))
    roots = pki["ca"].cert
    without_cert = grpc.ssl_channel_credentials(root_certificates=roots)
    rogue = grpc.ssl_channel_credentials(
        root_certificates=roots, private_key=pki["rogue_client"].key, certificate_chain=pki["rogue_client"].cert
    )
    with_cert = grpc.ssl_channel_credentials(
        root_certificates=roots, private_key=pki["client"].key, certificate_chain=pki["client"].cert
    )
    refused = [span(trace_id(), "no-cert"), span(trace_id(), "rogue-cert")]
    assert tls_client(svc.endpoint, without_cert).export(request(refused[0])) == grpc.StatusCode.UNAVAILABLE
    assert tls_client(svc.endpoint, rogue).export(request(refused[1])) == grpc.StatusCode.UNAVAILABLE
    accepted = span(trace_id(), "client-cert")
    assert tls_client(svc.endpoint, with_cert).export(request(accepted)) == grpc.StatusCode.OK
    sink.wait_for(lambda s: accepted.span_id in sink_span_ids(s))
    time.sleep(0.2)
    assert sink_span_ids(sink) == {accepted.span_id}


def test_sdk_over_mutual_tls_with_a_token_gets_its_session_judged(service, sink, judge, pki):
    judge.default = goal_answer(["a"], [])
    receiver = tls_receiver(pki, mutual=True)
    receiver["grpc"]["auth"] = {"tokens": ["tok-tls-and-bearer-1"]}
    svc = service(receiver=receiver)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].cert, private_key=pki["client"].key, certificate_chain=pki["client"].cert
    )
    exporter = OTLPSpanExporter(
        endpoint=f"localhost:{svc.service.port}",
        credentials=credentials,
        headers={"authorization": "Bearer tok-tls-and-bearer-1"},
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "tls-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        send_session(provider, "sess-mtls")
        sink.wait_for(lambda s: len(s.carriers()) == 1)
    finally:
        provider.shutdown()
    assert span_attrs(sink.carriers()[0][2])["collector_eval.tenant"] == "tls-app"


# ------------------------------------------------------------------------------------------ TLS downstream


def test_exporter_with_ca_file_delivers_to_a_tls_downstream(service, sink, judge, pki, tls_client):
    downstream = service(receiver=tls_receiver(pki))
    upstream = service(
        exporters={
            "otlp": {
                "endpoint": f"localhost:{downstream.service.port}",
                "insecure": False,
                "ca_file": str(pki["ca"].cert_file),
            }
        }
    )
    one = span(trace_id(), "through-tls")
    assert tls_client(upstream.endpoint, None).export(request(one)) == grpc.StatusCode.OK
    sink.wait_for(lambda s: one.span_id in sink_span_ids(s))


def test_exporter_refuses_a_downstream_its_ca_did_not_sign(service, sink, judge, pki, tls_client):
    # The downstream's certificate comes from another CA: the export must fail, never go out unverified.
    downstream = service(receiver=tls_receiver(pki, server="rogue_server"))
    upstream = service(
        exporters={
            "otlp": {
                "endpoint": f"localhost:{downstream.service.port}",
                "insecure": False,
                "ca_file": str(pki["ca"].cert_file),
                "max_elapsed_s": 0.5,
                "timeout_s": 1,
            }
        }
    )
    lost = span(trace_id(), "never-verified")
    assert tls_client(upstream.endpoint, None).export(request(lost)) == grpc.StatusCode.OK
    time.sleep(1.5)
    assert lost.span_id not in sink_span_ids(sink)


def test_tls_exporter_never_falls_back_to_plaintext(pki):
    """Against a plaintext downstream, an exporter with insecure: false delivers nothing."""
    import asyncio

    from tests.support.otlp_sink import OtlpSink

    async def run(cfg: OtlpExporterConfig) -> bool:
        client = OtlpGrpcClient(cfg)
        try:
            return await client.send(request(span(trace_id(), "direct")).SerializeToString())
        finally:
            await client.close()

    sink = OtlpSink()  # plaintext: a TLS client must not get through to it
    sink.start()
    try:
        cfg = OtlpExporterConfig(
            endpoint=sink.endpoint, insecure=False, ca_file=str(pki["ca"].cert_file), max_elapsed_s=0.3, timeout_s=1
        )
        assert asyncio.run(run(cfg)) is False
        assert sink.spans() == []
    finally:
        sink.stop()


# ------------------------------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    "tls, key",
    [
        ({"cert_file": "/x/cert.pem"}, "receiver.grpc.tls.key_file"),
        ({"key_file": "/x/key.pem"}, "receiver.grpc.tls.cert_file"),
        ({"client_ca_file": "/x/ca.pem"}, "receiver.grpc.tls.cert_file"),
    ],
)
def test_incomplete_tls_config_names_the_missing_key(tls, key):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"receiver": {"grpc": {"tls": tls}}})
    assert str(info.value).startswith(f"{key}:"), str(info.value)


def test_ca_file_with_insecure_true_is_refused():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"exporters": {"otlp": {"endpoint": "127.0.0.1:4319", "ca_file": "/x/ca.pem"}}})
    assert str(info.value).startswith("exporters.otlp.ca_file:")


def test_tls_defaults():
    cfg = config_from_dict({})
    tls = cfg.receiver.grpc.tls
    assert (tls.cert_file, tls.key_file, tls.client_ca_file) == ("", "", "")
    assert cfg.exporters.otlp.ca_file == ""


def test_unreadable_files_fail_start_naming_the_key(make_config, pki, tmp_path):
    server = pki["server"]
    absent = str(tmp_path / "absent.pem")
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    cases = [
        ({"cert_file": absent, "key_file": str(server.key_file)}, "receiver.grpc.tls.cert_file", "cannot read"),
        ({"cert_file": str(server.cert_file), "key_file": absent}, "receiver.grpc.tls.key_file", "cannot read"),
        ({"cert_file": str(not_pem), "key_file": str(server.key_file)}, "receiver.grpc.tls.cert_file", "not a PEM"),
        # The client's key with the server's certificate: they do not belong together.
        (
            {"cert_file": str(server.cert_file), "key_file": str(pki["client"].key_file)},
            "receiver.grpc.tls.key_file",
            "not the private key",
        ),
        (
            {"cert_file": str(server.cert_file), "key_file": str(server.key_file), "client_ca_file": absent},
            "receiver.grpc.tls.client_ca_file",
            "cannot read",
        ),
    ]
    for tls, key, expected in cases:
        message = start_fails(make_config, receiver={"grpc": {"endpoint": "127.0.0.1:0", "tls": tls}})
        assert message.startswith(f"{key}:") and expected in message, message


def test_unreadable_exporter_ca_file_fails_start_naming_the_key(make_config, sink, tmp_path):
    message = start_fails(
        make_config,
        exporters={"otlp": {"endpoint": sink.endpoint, "insecure": False, "ca_file": str(tmp_path / "absent.pem")}},
    )
    assert message.startswith("exporters.otlp.ca_file:") and "cannot read" in message

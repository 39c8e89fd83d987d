"""OTLP/HTTP receiver: `POST /v1/traces`, `/v1/logs` and `/v1/metrics` with a protobuf or OTLP/JSON
body, optionally gzip-compressed.

Everything past decoding is the signal receiver's ingest, the gRPC receiver's own path, so a 200 means
what an OK means there: the request is buffered and queued for forwarding. Status codes follow the
OTLP/HTTP spec: 400 undecodable (do not retry), 401 no valid bearer token, 413 over the size limit, 415
a content type or encoding other than protobuf/JSON and gzip, 503 with Retry-After when Redis or the
forward queue cannot take more (retry). Answers, errors included, are in the request's encoding: the
signal's Export response on success, a google.rpc.Status otherwise.
"""

from __future__ import annotations

import json
import ssl
import zlib

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from collector_eval.ingest.auth import DENIED_MESSAGE, BearerTokenAuth
from collector_eval.ingest.options import HttpReceiverConfig
from collector_eval.ingest.receiver import RETRY_AFTER_S, Refusal, Refused, SignalReceiver, brief, log_refused
from collector_eval.net.http_server import start_site
from collector_eval.otlp.json_format import parse_otlp_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_GZIP = ("gzip", "x-gzip")
_IDENTITY = ("", "identity")
# Answers that get a log line here: the request's own fault. 401 is the auth check's to log, and 503
# the buffer's or the queue's (one line per request either way).
_LOGGED = (400, 413, 415)


class _Refusal(Exception):
    """An answer other than 200, raised where the check fails so that each check stays one line."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None):
        message = brief(message)
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class HttpReceiver:
    def __init__(
        self, receivers: list[SignalReceiver], max_request_size_mib: float, auth: BearerTokenAuth | None = None
    ):
        self._receivers = {receiver.spec.path: receiver for receiver in receivers}
        self._auth = auth
        self._max_bytes = int(max_request_size_mib * 1024 * 1024)
        # The receivers share one set of counters: this protocol's.
        self.stats = receivers[0].stats

    def app(self) -> web.Application:
        # gzip of incompressible data is a little larger than the data: the limit applies to the
        # decompressed body, so the compressed one gets that much more room.
        app = web.Application(client_max_size=self._max_bytes + self._max_bytes // 100 + 1024)
        for path in self._receivers:
            app.router.add_post(path, self.export)
        return app

    async def export(self, request: web.Request) -> web.Response:
        encoding = JSON if request.content_type == JSON else PROTOBUF
        receiver = self._receivers[request.path]
        try:
            self._authenticate(request)
            raw, decoded = await self._decode(request, receiver)
            try:
                response = await receiver.ingest(raw, decoded)
            except Refused as refused:
                if refused.reason == Refusal.INVALID:
                    raise _Refusal(400, code_pb2.INVALID_ARGUMENT, refused.message) from None
                raise _Refusal(
                    503, code_pb2.UNAVAILABLE, refused.message, {"Retry-After": str(RETRY_AFTER_S)}
                ) from None
        except _Refusal as refusal:
            if refusal.status in _LOGGED:
                log_refused("OTLP/HTTP", receiver.signal, request.remote or "", str(refusal.status), refusal.message)
            status = status_pb2.Status(code=refusal.code, message=refusal.message)
            return _respond(refusal.status, status, encoding, refusal.headers)
        rejected, why = receiver.spec.rejected(response)
        if rejected:
            log_refused(
                "OTLP/HTTP", receiver.signal, request.remote or "", "200 partial_success", f"{rejected} refused: {why}"
            )
        return _respond(200, response, encoding)

    def _authenticate(self, request: web.Request) -> None:
        if self._auth is None:
            return
        # The gRPC interceptor's own check, so both protocols accept exactly the same tokens.
        metadata = [("authorization", value) for value in request.headers.getall("Authorization", [])]
        if not self._auth.authorized(metadata):
            self.stats.refused_unauthenticated += 1
            raise _Refusal(401, code_pb2.UNAUTHENTICATED, DENIED_MESSAGE, {"WWW-Authenticate": "Bearer"})

    async def _decode(self, request: web.Request, receiver: SignalReceiver) -> tuple[bytes, Message | None]:
        """The request's protobuf bytes, and the decoded request when decoding JSON produced it."""
        if request.content_type not in (PROTOBUF, JSON):
            self.stats.refused_invalid += 1
            raise _Refusal(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"unsupported Content-Type {request.content_type!r}; send {PROTOBUF} or {JSON}",
            )
        content_encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if content_encoding not in _GZIP + _IDENTITY:
            self.stats.refused_invalid += 1
            raise _Refusal(
                415, code_pb2.INVALID_ARGUMENT, f"unsupported Content-Encoding {content_encoding!r}; send gzip or none"
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise self._too_large() from None
        except (ConnectionError, web.RequestPayloadError) as exc:
            # The body stopped short of its Content-Length or its chunked framing broke: the sender
            # is usually gone, but the refusal is still one line, not aiohttp's traceback and 500.
            self.stats.refused_invalid += 1
            raise _Refusal(400, code_pb2.INVALID_ARGUMENT, f"the body ended early: {exc}") from None
        if content_encoding in _GZIP:
            body = self._gunzip(body)
        elif len(body) > self._max_bytes:
            raise self._too_large()
        if request.content_type == PROTOBUF:
            return body, None  # ingest decodes it, as for gRPC
        return self._from_json(body, receiver)

    def _gunzip(self, data: bytes) -> bytes:
        # Decompressed with a cap, so a small gzip bomb is refused before it fills memory.
        out: list[bytes] = []
        size = 0
        try:
            while data:  # a gzip stream may hold several members
                member = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out.append(member.decompress(data, self._max_bytes - size + 1))
                size += len(out[-1])
                if size > self._max_bytes:
                    raise self._too_large()
                if not member.eof:
                    raise zlib.error("truncated gzip stream")
                data = member.unused_data
        except zlib.error as exc:
            self.stats.refused_invalid += 1
            raise _Refusal(400, code_pb2.INVALID_ARGUMENT, f"body is not valid gzip: {exc}") from None
        return b"".join(out)

    def _from_json(self, body: bytes, receiver: SignalReceiver) -> tuple[bytes, Message]:
        spec = receiver.spec
        try:
            decoded = parse_otlp_json(body.decode("utf-8"), spec.signal)
        except (UnicodeDecodeError, ValueError) as exc:
            self.stats.refused_invalid += 1
            raise _Refusal(400, code_pb2.INVALID_ARGUMENT, f"not an OTLP/JSON {spec.request.__name__}: {exc}") from None
        # The router reads the protobuf encoding, and it is what goes downstream.
        return decoded.SerializeToString(), decoded

    def _too_large(self) -> _Refusal:
        self.stats.refused_too_large += 1
        return _Refusal(
            413,
            code_pb2.RESOURCE_EXHAUSTED,
            f"request larger than receiver.http.max_request_size_mib ({self._max_bytes} bytes)",
        )


def _respond(status: int, message: Message, encoding: str, headers: dict[str, str] | None = None) -> web.Response:
    if encoding == JSON:
        body = json.dumps(json_format.MessageToDict(message)).encode()
    else:
        body = message.SerializeToString()
    return web.Response(status=status, body=body, content_type=encoding, headers=headers)


async def start_http_receiver(
    cfg: HttpReceiverConfig,
    receiver: HttpReceiver,
    share_port: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, int]:
    # Decompression is ours (_gunzip), with the size cap applied to the decompressed body.
    return await start_site(
        receiver.app(),
        cfg.endpoint,
        "receiver.http.endpoint",
        share_port=share_port,
        ssl_context=ssl_context,
        auto_decompress=False,
    )

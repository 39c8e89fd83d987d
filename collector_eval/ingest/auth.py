"""Bearer-token authentication for every RPC of the receiver's gRPC server.

It is a server interceptor rather than a check inside TraceService/Export so that any service later
added to the same server (health, a control API) is behind the same tokens without remembering to be.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import grpc

from collector_eval.config.checks import ConfigError
from collector_eval.net.options import GrpcAuthConfig

log = logging.getLogger(__name__)

_SCHEME = "bearer"
DENIED_MESSAGE = "missing or invalid bearer token"


def load_tokens(cfg: GrpcAuthConfig, path: str = "receiver.grpc.auth") -> list[str]:
    """The configured tokens plus those of tokens_file (one per line, blank lines and #comments skipped)."""
    tokens = list(cfg.tokens)
    if cfg.tokens_file:
        try:
            text = Path(cfg.tokens_file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"{path}.tokens_file: cannot read {cfg.tokens_file}: {reason}") from None
        from_file = [line.strip() for line in text.splitlines()]
        from_file = [t for t in from_file if t and not t.startswith("#")]
        # An emptied file must not silently open the receiver to everyone.
        if not from_file:
            raise ConfigError(f"{path}.tokens_file: {cfg.tokens_file} holds no token")
        for lineno, token in enumerate(from_file, 1):
            if any(c.isspace() or not c.isprintable() for c in token):
                raise ConfigError(f"{path}.tokens_file: token {lineno} contains whitespace or control characters")
        tokens += from_file
    return tokens


def _digest(token: str) -> bytes:
    # Comparing fixed-size digests keeps compare_digest's time independent of the tokens' lengths too.
    return hashlib.sha256(token.encode()).digest()


class BearerTokenAuth(grpc.aio.ServerInterceptor):
    """Refuses with UNAUTHENTICATED every RPC without `authorization: Bearer <one of the tokens>`."""

    def __init__(self, tokens: Iterable[str]):
        self._digests = [_digest(t) for t in tokens]
        if not self._digests:
            raise ValueError("BearerTokenAuth needs at least one token")
        self.refused = 0

    def authorized(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> bool:
        for key, value in metadata or ():
            if key != "authorization" or not isinstance(value, str):
                continue
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() != _SCHEME or not token.strip():
                continue
            given = _digest(token.strip())
            # No early exit: which token matched must not show in the timing.
            matched = False
            for digest in self._digests:
                matched |= hmac.compare_digest(given, digest)
            if matched:
                return True
        return False

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or self.authorized(handler_call_details.invocation_metadata):
            return handler
        self.refused += 1
        log.debug("refused %s: %s", handler_call_details.method, DENIED_MESSAGE)
        return _denying(handler)


async def _deny(request, context: grpc.aio.ServicerContext):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, DENIED_MESSAGE)


async def _deny_streaming(request, context: grpc.aio.ServicerContext):
    # Response-streaming handlers must be async generators, as the real one is.
    await _deny(request, context)
    yield  # never reached: abort raises; the yield only makes this a generator


async def _drain(requests, limit: int = 16) -> None:
    """Read what a client streams before refusing it: closing a call while the client still writes
    made gRPC end some of them INTERNAL ("Internal error from Core") instead of UNAUTHENTICATED. A few
    messages at most, so an unauthenticated stream cannot hold the handler."""
    count = 0
    async for _ in requests:
        count += 1
        if count >= limit:
            return


async def _deny_after_drain(requests, context: grpc.aio.ServicerContext):
    await _drain(requests)
    await _deny(requests, context)


async def _deny_streaming_after_drain(requests, context: grpc.aio.ServicerContext):
    await _drain(requests)
    await _deny(requests, context)
    yield  # never reached, as in _deny_streaming


def _denying(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same streaming shape as the real one that refuses (a streamed request is
    drained first, see _drain)."""
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_deny_streaming_after_drain)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_deny_after_drain)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(_deny_streaming)
    return grpc.unary_unary_rpc_method_handler(_deny)

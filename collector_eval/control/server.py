"""The control API's server: EndSession, GetSession, Reevaluate and ListSessions over the session
buffer in Redis, so any replica answers for every session. It listens on its own port
(`control.endpoint`), off the ingest port, behind the receiver's bearer tokens and TLS."""

from __future__ import annotations

import functools
import logging

import grpc
from google.protobuf.message_factory import GetMessageClass

from collector_eval.control import convert
from collector_eval.ingest.auth import BearerTokenAuth
from collector_eval.ingest.options import GrpcReceiverConfig
from collector_eval.model import SessionKey
from collector_eval.net.grpc_server import start_grpc_server
from collector_eval.net.options import GrpcTlsConfig
from collector_eval.sessions import control_scripts
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.store.client import REDIS_ERRORS
from collector_eval.v1 import control_pb2 as pb
from collector_eval.v1 import control_pb2_grpc

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def _redis_unavailable(method):
    """Redis errors answer UNAVAILABLE (the caller may retry), as the receiver's do."""

    @functools.wraps(method)
    async def wrapper(self, request, context: grpc.aio.ServicerContext):
        try:
            return await method(self, request, context)
        except REDIS_ERRORS as exc:
            log.warning("control %s: redis unavailable: %s", method.__name__, exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"session buffer unavailable: {type(exc).__name__}")

    return wrapper


class ControlServicer(control_pb2_grpc.ControlServicer):
    def __init__(self, buffer: SessionBuffer):
        self._buffer = buffer

    @_redis_unavailable
    async def EndSession(self, request: pb.EndSessionRequest, context) -> pb.EndSessionResponse:
        session = await _session_key(request.session, context)
        code = await self._buffer.schedule_by_hand(session, new_revision=False)
        if code == control_scripts.Scheduled.NOTHING_NEW:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"session {_name(session)} was judged and no span arrived since; Reevaluate judges it again",
            )
        await _check_found(code, session, context)
        return pb.EndSessionResponse(session=await self._get(session, context))

    @_redis_unavailable
    async def GetSession(self, request: pb.GetSessionRequest, context) -> pb.Session:
        return await self._get(await _session_key(request.session, context), context)

    @_redis_unavailable
    async def Reevaluate(self, request: pb.ReevaluateRequest, context) -> pb.ReevaluateResponse:
        session = await _session_key(request.session, context)
        code = await self._buffer.schedule_by_hand(session, new_revision=True)
        if code == control_scripts.Scheduled.BEING_JUDGED:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"session {_name(session)} is being judged now; reevaluate it once that verdict is in",
            )
        await _check_found(code, session, context)
        status = await self._get(session, context)
        return pb.ReevaluateResponse(session=status, next_revision=status.revision + 1)

    @_redis_unavailable
    async def ListSessions(self, request: pb.ListSessionsRequest, context) -> pb.ListSessionsResponse:
        if request.limit < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit: must not be negative")
        limit = min(request.limit or DEFAULT_LIMIT, MAX_LIMIT)
        if request.tenant and request.session_id:
            # One session at most: no need to walk the keyspace.
            sessions, token = [SessionKey(request.tenant, request.session_id)], ""
        else:
            try:
                sessions, token = await self._buffer.scan_sessions(
                    limit, request.page_token, request.tenant, request.session_id
                )
            except ValueError:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_token: not a token ListSessions returned")
        statuses = await self._buffer.statuses(sessions, detailed=False)
        # A session listed and expired before it was read is left out.
        return pb.ListSessionsResponse(
            sessions=[convert.session_message(s) for s in statuses if s is not None], next_page_token=token
        )

    async def _get(self, session: SessionKey, context) -> pb.Session:
        (status,) = await self._buffer.statuses([session])
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"session {_name(session)} is not buffered")
            raise AssertionError("unreachable: abort raises")  # grpc has no annotations
        return convert.session_message(status)


def _name(session: SessionKey) -> str:
    return f"{session.session_id!r} of tenant {session.tenant!r}"


async def _session_key(ref: pb.SessionRef, context) -> SessionKey:
    if not ref.tenant or not ref.session_id:
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            "session.tenant and session.session_id are required (ListSessions with session_id finds the tenants)",
        )
    return SessionKey(ref.tenant, ref.session_id)


async def _check_found(code: int, session: SessionKey, context) -> None:
    if code == control_scripts.Scheduled.NOT_FOUND:
        await context.abort(grpc.StatusCode.NOT_FOUND, f"session {_name(session)} is not buffered")


def handler(servicer: ControlServicer) -> grpc.GenericRpcHandler:
    """The servicer's methods as a generic handler, built from the service descriptor, so it joins a
    server the way the receiver's handler does (start_grpc_server)."""
    service = pb.DESCRIPTOR.services_by_name["Control"]
    methods = {
        m.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, m.name),
            request_deserializer=GetMessageClass(m.input_type).FromString,
            response_serializer=GetMessageClass(m.output_type).SerializeToString,
        )
        for m in service.methods
    }
    return grpc.method_handlers_generic_handler(service.full_name, methods)


async def start_control_server(
    endpoint: str, tls: GrpcTlsConfig, share_port: bool, buffer: SessionBuffer, auth: BearerTokenAuth | None
) -> tuple[grpc.aio.Server, int]:
    """Listen on control.endpoint with the receiver's TLS and the same bearer-token interceptor."""
    return await start_grpc_server(
        endpoint,
        tls,
        [handler(ControlServicer(buffer))],
        GrpcReceiverConfig.max_recv_msg_size_mib,
        share_port=share_port,
        interceptors=[auth] if auth else [],
        key="control.endpoint",
    )

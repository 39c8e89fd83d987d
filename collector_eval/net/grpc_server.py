"""A grpc.aio server on one endpoint: TLS, message size limit, interceptors, SO_REUSEPORT among the
service's own processes. The receivers and the control API listen through it."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from collector_eval.net.options import GrpcTlsConfig
from collector_eval.net.tls import server_credentials


async def start_grpc_server(
    endpoint: str,
    tls: GrpcTlsConfig,
    handlers: list[grpc.GenericRpcHandler],
    max_message_mib: float,
    share_port: bool = False,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    key: str = "receiver.grpc.endpoint",
) -> tuple[grpc.aio.Server, int]:
    """Interceptors (bearer-token auth) apply to every service on the server; `key` names the
    endpoint's config key in a bind error."""
    credentials = server_credentials(tls)
    max_bytes = int(max_message_mib * 1024 * 1024)
    server = grpc.aio.server(
        interceptors=list(interceptors) or None,
        # SO_REUSEPORT only among our own processes: otherwise a second service on a taken port must
        # fail loudly, not share it by accident.
        options=[("grpc.max_receive_message_length", max_bytes), ("grpc.so_reuseport", int(share_port))],
    )
    server.add_generic_rpc_handlers(handlers)
    try:
        if credentials is None:
            port = server.add_insecure_port(endpoint)
        else:
            port = server.add_secure_port(endpoint, credentials)
    except RuntimeError as exc:  # grpc's bind failure: a taken port, an address not on this host
        raise OSError(f"{key}: cannot listen on {endpoint} ({exc})") from None
    await server.start()
    return server, port

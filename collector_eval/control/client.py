"""A blocking client of the control API, for the command line (`sessions`, `demo`)."""

from __future__ import annotations

import builtins

import grpc

from collector_eval.net.tls import channel_credentials
from collector_eval.v1 import control_pb2 as pb
from collector_eval.v1 import control_pb2_grpc

DEFAULT_ENDPOINT = "127.0.0.1:4320"


class ControlClient:
    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        token: str = "",
        ca_file: str = "",
        tls: bool = False,
        timeout_s: float = 10,
    ):
        """tls (or a ca_file, which implies it): verify the server against ca_file, else the system's CAs."""
        if tls or ca_file:
            self._channel = grpc.secure_channel(endpoint, channel_credentials(ca_file, "--ca-file"))
        else:
            self._channel = grpc.insecure_channel(endpoint)
        self._stub = control_pb2_grpc.ControlStub(self._channel)
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        self._timeout_s = timeout_s

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method, request):
        return method(request, timeout=self._timeout_s, metadata=self._metadata)

    def get(self, tenant: str, session_id: str) -> pb.Session:
        return self._call(
            self._stub.GetSession, pb.GetSessionRequest(session=pb.SessionRef(tenant=tenant, session_id=session_id))
        )

    def end(self, tenant: str, session_id: str) -> pb.EndSessionResponse:
        return self._call(
            self._stub.EndSession, pb.EndSessionRequest(session=pb.SessionRef(tenant=tenant, session_id=session_id))
        )

    def reevaluate(self, tenant: str, session_id: str) -> pb.ReevaluateResponse:
        return self._call(
            self._stub.Reevaluate, pb.ReevaluateRequest(session=pb.SessionRef(tenant=tenant, session_id=session_id))
        )

    def list(
        self, limit: int = 0, page_token: str = "", tenant: str = "", session_id: str = ""
    ) -> pb.ListSessionsResponse:
        request = pb.ListSessionsRequest(limit=limit, page_token=page_token, tenant=tenant, session_id=session_id)
        return self._call(self._stub.ListSessions, request)

    def tenants_of(self, session_id: str) -> builtins.list[str]:
        """The tenants that have a session with this id (every page)."""
        tenants, token = [], ""
        while True:
            page = self.list(limit=1000, page_token=token, session_id=session_id)
            tenants += [s.tenant for s in page.sessions]
            token = page.next_page_token
            if not token:
                return sorted(set(tenants))

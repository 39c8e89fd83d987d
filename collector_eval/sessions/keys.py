"""Redis key names. Every key carries a Redis Cluster hash tag, so one session's keys share a slot."""
from __future__ import annotations

import json

from collector_eval.sessions.router import SessionKey


class Keys:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.due = f"{prefix}:{{due}}:sessions"
        self.jobs = f"{prefix}:{{jobs}}:stream"

    def trace(self, trace_id: bytes) -> str:
        return f"{self.prefix}:{{t:{trace_id.hex()}}}"

    def _session_tag(self, session: SessionKey) -> str:
        # Length-prefixing the tenant keeps ("a:b", "c") and ("a", "b:c") apart.
        return f"{self.prefix}:{{s:{len(session.tenant)}:{session.tenant}:{session.session_id}}}"

    def session_meta(self, session: SessionKey) -> str:
        return self._session_tag(session) + ":meta"

    def session_traces(self, session: SessionKey) -> str:
        return self._session_tag(session) + ":traces"

    def session_result(self, session: SessionKey, revision: int) -> str:
        return self._session_tag(session) + f":result:{revision}"


def session_member(session: SessionKey) -> str:
    """How a session is named inside the due set and job messages."""
    return json.dumps([session.tenant, session.session_id], ensure_ascii=False)


def parse_session_member(member: bytes | str) -> SessionKey:
    tenant, session_id = json.loads(member)
    return SessionKey(tenant, session_id)

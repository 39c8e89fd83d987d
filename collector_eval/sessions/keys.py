"""Redis key names. Every key carries a Redis Cluster hash tag, so one session's keys share a slot."""
from __future__ import annotations

from collector_eval.sessions.router import SessionKey


class Keys:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self._prefix_bytes = prefix.encode()
        # Sessions waiting for their settle delay after an end span (or late spans) ...
        self.due = f"{prefix}:{{due}}:sessions"
        # ... for the idle timeout, scored by last span + timeout ...
        self.idle = f"{prefix}:{{idle}}:sessions"
        # ... and for the maximum duration, scored by first span + duration.
        self.max_duration = f"{prefix}:{{maxdur}}:sessions"
        self.jobs = f"{prefix}:{{jobs}}:stream"
        self.outbox = f"{prefix}:{{outbox}}:stream"
        self.outbox_overflow = f"{prefix}:{{outbox}}:overflow"

    def trace(self, trace_id: bytes) -> bytes:
        return b"%s:{t:%s}" % (self._prefix_bytes, trace_id.hex().encode())

    def _session_tag(self, session: SessionKey) -> str:
        return f"{self.prefix}:{{s:{session_member(session)}}}"

    def session(self, session: SessionKey) -> bytes:
        return self._session_tag(session).encode()

    def session_result(self, session: SessionKey, revision: int) -> str:
        return self._session_tag(session) + f":result:{revision}"

    def session_pattern(self, tenant: str = "", session_id: str = "") -> str:
        """A SCAN MATCH pattern for session hashes (of one tenant, or with one id, when given). Result
        keys never match it: they do not end in "}". An id alone may match ids that end with it."""
        if tenant:
            member = f"{len(tenant)}:{_glob_escape(tenant)}:{_glob_escape(session_id) or '*'}"
        else:
            member = f"*:{_glob_escape(session_id)}" if session_id else "*"
        return f"{_glob_escape(self.prefix)}:{{s:{member}}}"

    def session_of(self, key: bytes) -> SessionKey:
        """The session whose hash key this is (the inverse of session())."""
        return parse_session_member(key[len(self._prefix_bytes) + 4 : -1])


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def session_member(session: SessionKey) -> str:
    """How a session is named inside the due set and job messages: "<tenant length>:<tenant>:<id>"."""
    return f"{len(session.tenant)}:{session.tenant}:{session.session_id}"


def parse_session_member(member: bytes | str) -> SessionKey:
    text = member.decode() if isinstance(member, bytes) else member
    length, _, rest = text.partition(":")
    n = int(length)
    return SessionKey(rest[:n], rest[n + 1 :])

"""An evaluation job: one session to judge, as its shard's job stream carries it."""

from __future__ import annotations

from dataclasses import dataclass

from collector_eval.model import SessionKey
from collector_eval.sessions.keys import parse_session_member
from collector_eval.store.streams import Message


@dataclass
class Job:
    message_id: bytes
    session: SessionKey
    trigger: str  # empty: the one recorded with the session (end_span, late_spans)

    @classmethod
    def from_message(cls, message: Message) -> Job:
        message_id, fields = message
        return cls(message_id, parse_session_member(fields[b"session"]), fields.get(b"trigger", b"").decode())

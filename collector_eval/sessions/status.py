"""What the control API shows of a buffered session, read from its Redis hash, its place in the due
set and the verdict records of its revisions (see sessions/scripts.py for the hash's layout)."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from enum import StrEnum

from collector_eval.model import SessionKey

# The session hash fields a status reads, in this order (never the chunks: they can be megabytes).
FIELDS = ("n", "judged_n", "revision", "trigger", "truncated", "end_span", "id_attribute")


class SessionState(StrEnum):
    BUFFERED = "buffered"
    SCHEDULED = "scheduled"
    JUDGING = "judging"
    JUDGED = "judged"


@dataclass
class SessionStatus:
    key: SessionKey
    state: str  # buffered | scheduled | judging | judged
    spans: int  # received, client retries and capped spans included
    bytes: int  # shadows the builtin in this class's body: annotate with builtins.bytes below
    truncated: bool
    revision: int  # the last revision claimed for judging; 0: never judged
    trigger: str
    due_at: float  # when a scheduled session is judged (unix seconds); 0: not scheduled
    unjudged_spans: int  # spans the last committed verdict does not cover
    id_attribute: str
    end_span_id: builtins.bytes
    ttl_s: float
    trace_ids: list[builtins.bytes] = field(default_factory=list)
    # Verdict records ({"revision", "results": [EvaluationResult as a dict]}) still kept, oldest first.
    verdicts: list[dict] = field(default_factory=list)

    @classmethod
    def parse(
        cls,
        key: SessionKey,
        values: list[builtins.bytes | None],
        due: float | None,
        ttl: int,
        field_names: list[builtins.bytes],
        records: list[builtins.bytes | None],
        latest_record: builtins.bytes | None,
    ) -> SessionStatus | None:
        """values: FIELDS of the hash; records: result keys' values (None where expired or never
        written); latest_record: the last claimed revision's. None when the session is not buffered."""
        n, judged_n, revision, trigger, truncated, end_span, id_attribute = values
        if n is None:
            return None
        counter, revision_no = int(n), int(revision or 0)
        # "n" and "judged_n" pack spans * 2^32 + bytes (see STORE_REQUEST).
        covered = int(judged_n) >> 32 if judged_n is not None else 0
        if due is not None:
            state = SessionState.SCHEDULED
        elif revision_no and latest_record is None:
            # Claimed and not committed: a worker is on it (or died, until its job is taken over).
            state = SessionState.JUDGING
        elif judged_n is not None:
            state = SessionState.JUDGED
        else:
            state = SessionState.BUFFERED
        return cls(
            key=key,
            state=state,
            spans=counter >> 32,
            bytes=counter & 0xFFFFFFFF,
            truncated=truncated is not None,
            revision=revision_no,
            trigger=(trigger or b"").decode(),
            due_at=due or 0.0,
            unjudged_spans=max(0, (counter >> 32) - covered),
            id_attribute=(id_attribute or b"").decode(),
            end_span_id=(end_span or b"")[16:],
            ttl_s=float(max(ttl, 0)),
            trace_ids=sorted(name[2:] for name in field_names if name.startswith(b"t:")),
            verdicts=[json.loads(r) for r in records if r is not None],
        )

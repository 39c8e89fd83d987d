"""The spans of an encoded ScopeSpans, read in C (_spans.c): their bounds, trace ids and session ids,
without decoding them; and spans put back together as TracesData."""

from typing import Any, TypeVar

T = TypeVar("T")

# The most keys, and the most markers, scan_scope takes.
MAX_KEYS: int

def scan_scope(
    raw: bytes,
    start: int,
    end: int,
    keys: tuple[bytes, ...],
    names: tuple[str, ...],
    markers: tuple[bytes, ...],
    unreadable: T,
) -> tuple[bytes, list[tuple[int, int, bytes | None, tuple[str, str] | None | T, bool]]]:
    """The ScopeSpans in raw[start:end] (its value): its fields other than spans, as they came, and one
    entry per span: (start and end of the span's field, its trace id or None where the span does not
    begin with one (the decoded span has it), what its attributes say of its session id, whether one
    of its attributes has a key of `markers`). The session id is that of the best-ranked key of `keys`
    (encoded attribute keys, best first) among the span's own attributes whose value is a non-empty
    string, the first of equal rank, as (id, its key's name in `names`); None when none is;
    `unreadable` when an attribute with one of the keys has a value of another kind, or is encoded in
    a shape this does not read (the decoded span says then). Raises ValueError when the bytes are not
    protobuf."""

def chunk_payload(groups: list[tuple[bytes, bytes, list[bytes]]]) -> bytes:
    """Groups of spans (resource fields, scope fields, encoded Span fields of a ScopeSpans), as an
    encoded TracesData: a ResourceSpans per run of consecutive groups sharing their resource fields
    (the same object), a ScopeSpans per group, in order."""

def group_scope(
    raw: bytes,
    scanned: list[tuple[int, int, bytes | None, tuple[str, str] | None | T, bool]],
    res_id: tuple[str, str] | None,
    max_id_length: int,
    joined: dict[bytes, Any],
    waiting: dict[bytes, Any],
) -> tuple[list[tuple[str, str, list[bytes], list[bytes]]], list[tuple[bytes, list[bytes]]]] | None:
    """A scope's spans (scan_scope's entries) grouped as the router's span loop would: per session
    (id, the attribute that named it, the trace ids that joined it, the encoded spans), and per trace
    that none of its spans names (trace id, encoded spans), each in the order of the spans. A trace
    joins the session of its first span that names one, by its own id or else `res_id` (its
    resource's). None when the scope is not plain and the span loop must decide: a span without its
    trace id first, with an end marker, with an id to decode or over max_id_length, or of a trace in
    `joined` or `waiting` (seen in another scope of the request)."""

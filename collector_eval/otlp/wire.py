"""Just enough of the protobuf wire format to split an ExportTraceServiceRequest into its spans as byte
slices without decoding a span (the spans of a scope, and putting them back together as TracesData,
are _spans.c's).

Routing every span through full protobuf objects (copying each span into a per-trace message) cost
more than everything else in the ingest path; slicing the request's own bytes costs almost nothing,
and the chunks stored in Redis hold the spans exactly as the client encoded them. Callers must have
checked the request decodes (collector_eval.otlp.check) before walking it.
"""

from __future__ import annotations

from collections.abc import Iterator

LEN = 2


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    result = byte & 0x7F
    shift = 7
    pos += 1
    while True:
        byte = buf[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return result, pos
        shift += 7


def tag(field_number: int) -> int:
    """The key of a length-delimited field, as fields() yields it."""
    return field_number << 3 | LEN


def fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(key: field number << 3 | wire type, start of the field's tag, start of its value, end) for
    each field; values of length-delimited fields span [value start, end). Callers match whole keys:
    a known field number with the wrong wire type is an unknown field to protobuf, and must be to
    them too."""
    while pos < end:
        start = pos
        key, pos = read_varint(buf, pos)
        wire_type = key & 7
        if wire_type == LEN:
            length, pos = read_varint(buf, pos)
            value = pos
            pos += length
        elif wire_type == 0:
            value = pos
            _, pos = read_varint(buf, pos)
        elif wire_type == 1:
            value = pos
            pos += 8
        elif wire_type == 5:
            value = pos
            pos += 4
        elif wire_type == 3:
            # A group (deprecated, but valid protobuf for an unknown field): skip to its end tag.
            value = pos
            # The group ends where its last field does: walk them for that position alone.
            for _, _, _, pos in _group_fields(buf, pos, end, key >> 3):  # noqa: B007, B020
                pass
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
        yield key, start, value, pos


def _group_fields(buf: bytes, pos: int, end: int, number: int) -> Iterator[tuple[int, int, int, int]]:
    """The fields of a group up to and including its end tag (wire type 4 with the group's number)."""
    while pos < end:
        key, after = read_varint(buf, pos)
        if key & 7 == 4:
            if key >> 3 != number:
                raise ValueError(f"group {number} closed by end tag {key >> 3}")
            yield key, pos, after, after
            return
        for item in fields(buf, pos, end):
            pos = item[3]
            yield item
            break
    raise ValueError(f"group {number} is not closed")

"""Protobuf hand-encoded, for bytes no message class writes (fields out of order, invalid UTF-8,
groups)."""

from __future__ import annotations

from collector_eval.otlp.wire import LEN


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(field_number: int, parts: list[bytes]) -> bytes:
    """Encode a length-delimited field whose value is the concatenation of parts."""
    body = b"".join(parts)
    return encode_varint(field_number << 3 | LEN) + encode_varint(len(body)) + body

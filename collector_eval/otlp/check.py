"""Whether bytes are a message protobuf would decode, checked without decoding them (in C, _check.c),
against a table of the message's fields built here from its descriptor.

The trace receiver acknowledges a request only once it is checked, then slices its spans out of its
own bytes: decoding it only to check it cost more than the check.
"""

from __future__ import annotations

from enum import IntEnum

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from collector_eval.otlp._check import DEPTH_LIMIT, SLOTS, check


class Kind(IntEnum):
    """How a field of the table is read (_check.c's K_*)."""

    UNKNOWN = 0
    VARINT = 1
    FIXED64 = 2
    FIXED32 = 3
    BYTES = 4
    STRING = 5  # bytes that must be UTF-8
    MESSAGE = 6


class Problem(IntEnum):
    """What the check found wrong (_check.c's P_*), as a refusal says it."""

    TRUNCATED = 1
    BAD_VARINT = 2
    BAD_TAG = 3
    FIELD_ZERO = 4
    BAD_WIRE_TYPE = 5
    BAD_END_GROUP = 6
    UNCLOSED_GROUP = 7
    BAD_UTF8 = 8
    TOO_DEEP = 9

    @property
    def text(self) -> str:
        return _TEXT[self]


_TEXT = {
    Problem.TRUNCATED: "truncated: a value runs past the end of its message",
    Problem.BAD_VARINT: "a varint longer than 10 bytes",
    Problem.BAD_TAG: "a field tag longer than 5 bytes or over 32 bits",
    Problem.FIELD_ZERO: "field number 0",
    Problem.BAD_WIRE_TYPE: "a wire type that does not exist (6 or 7)",
    Problem.BAD_END_GROUP: "an end-group tag without its group",
    Problem.UNCLOSED_GROUP: "a group without its end tag",
    Problem.BAD_UTF8: "a string that is not UTF-8",
    Problem.TOO_DEEP: f"messages nested more than {DEPTH_LIMIT} deep",
}

_T = FieldDescriptor
_KINDS = {
    **dict.fromkeys(
        (_T.TYPE_INT32, _T.TYPE_INT64, _T.TYPE_UINT32, _T.TYPE_UINT64, _T.TYPE_SINT32, _T.TYPE_SINT64),
        Kind.VARINT,
    ),
    _T.TYPE_BOOL: Kind.VARINT,
    _T.TYPE_ENUM: Kind.VARINT,
    **dict.fromkeys((_T.TYPE_FIXED64, _T.TYPE_SFIXED64, _T.TYPE_DOUBLE), Kind.FIXED64),
    **dict.fromkeys((_T.TYPE_FIXED32, _T.TYPE_SFIXED32, _T.TYPE_FLOAT), Kind.FIXED32),
    _T.TYPE_BYTES: Kind.BYTES,
    _T.TYPE_STRING: Kind.STRING,
    _T.TYPE_MESSAGE: Kind.MESSAGE,
}


class Schema:
    """The check of one message type: its table (the message and every one it holds, two bytes per
    field number: kind, the index of a message field's type) and the names that refusals quote."""

    def __init__(self, descriptor: Descriptor):
        self.messages: list[Descriptor] = []
        index: dict[str, int] = {}

        def add(d: Descriptor) -> int:
            if d.full_name not in index:
                index[d.full_name] = len(self.messages)
                self.messages.append(d)
                for f in d.fields:
                    if f.message_type is not None:
                        add(f.message_type)
            return index[d.full_name]

        add(descriptor)
        if len(self.messages) > 256:  # a message field's type is one byte of the table
            raise ValueError(f"{descriptor.full_name}: more message types than the wire check indexes")
        table = bytearray(2 * SLOTS * len(self.messages))
        for m, d in enumerate(self.messages):
            for f in d.fields:
                # Beyond the table a field would be read as unknown, and a repeated number may come
                # packed, which the check does not read: neither is in OTLP, so neither is taken.
                if f.number >= SLOTS or (
                    f.is_repeated and f.type not in (_T.TYPE_MESSAGE, _T.TYPE_STRING, _T.TYPE_BYTES)
                ):
                    raise ValueError(f"{d.full_name}.{f.name}: the wire check cannot read this field")
                slot = 2 * (m * SLOTS + f.number)
                table[slot] = _KINDS[f.type]
                table[slot + 1] = index[f.message_type.full_name] if f.message_type is not None else 0
        self.table = bytes(table)

    def problem(self, raw: bytes) -> str | None:
        """None when raw decodes as the message; else what is wrong, and where."""
        found = check(raw, self.table)
        if found is None:
            return None
        problem, at, message, number = found
        where = f"at byte {at}"
        if message >= 0:
            d = self.messages[message]
            field = d.fields_by_number.get(number)
            name = f".{field.name}" if field is not None else f" field {number}" if number else ""
            where += f", in {d.name}{name}"
        return f"{Problem(problem).text} ({where})"


_SCHEMAS: dict[str, Schema] = {}


def schema(message: type[Message]) -> Schema:
    """The Schema of a message type, built once."""
    name = message.DESCRIPTOR.full_name
    found = _SCHEMAS.get(name)
    if found is None:
        found = _SCHEMAS[name] = Schema(message.DESCRIPTOR)
    return found

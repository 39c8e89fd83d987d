"""A message's bytes checked as protobuf's own parser (upb) would decode them, without decoding them
(_check.c); check.py builds the schema table and words the answer."""

# Field numbers per message in a schema table; the most nesting below the top message.
SLOTS: int
DEPTH_LIMIT: int

def check(raw: bytes, table: bytes) -> tuple[int, int, int, int] | None:
    """None when raw is a valid message of the table's first message type; else (problem, byte offset,
    index of the message the problem is in or -1 inside an unknown group, field number or 0)."""

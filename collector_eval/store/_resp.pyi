"""Redis commands packed as RESP, in C (_resp.c)."""

from collections.abc import Sequence

def pack(args: Sequence[bytes]) -> bytes:
    """A command (its name and arguments, bytes) as a RESP array of bulk strings; TypeError naming the
    argument that is not bytes."""

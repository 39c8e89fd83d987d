"""RESP packing in C (collector_eval/store/_resp.c): what it writes is what a real redis-server reads."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector_eval.store._resp import pack

arguments = st.lists(st.binary(max_size=300), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(arguments)
def test_a_command_is_an_array_of_bulk_strings(args: list[bytes]) -> None:
    expected = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(arg), arg) for arg in args)
    assert pack(args) == expected
    assert pack(tuple(args)) == expected


def test_redis_reads_what_is_packed(redis_url: str) -> None:
    # Binary values, an empty one, and one of 100,000 bytes (a length of six digits) go in and come back.
    values = [bytes(range(256)), b"", b"x" * 100_000, b"\r\n$3\r\n"]
    url = urlparse(redis_url)
    with socket.create_connection((url.hostname, url.port)) as conn:
        out = b"".join(pack([b"SET", b"resp-test:%d" % i, value]) for i, value in enumerate(values))
        out += b"".join(pack([b"STRLEN", b"resp-test:%d" % i]) for i in range(len(values)))
        out += pack([b"DEL", *(b"resp-test:%d" % i for i in range(len(values)))])
        conn.sendall(out)
        expected = b"+OK\r\n" * len(values) + b"".join(b":%d\r\n" % len(v) for v in values) + b":4\r\n"
        reply = b""
        while len(reply) < len(expected):
            reply += conn.recv(65536)
    assert reply == expected


def test_an_argument_that_is_not_bytes_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match="argument 2 of a command is str, not bytes"):
        pack([b"SET", b"k", "v"])
    with pytest.raises(TypeError, match="sequence of bytes"):
        pack(3)  # type: ignore[arg-type]

"""A blocking HTTP/1.1 client over loopback for tests: status, headers and body, whatever the status
(urllib raises on 4xx/5xx, which would hide the answers the tests are about)."""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


def http_request(
    method: str,
    port: int,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> Reply:
    """tls: speak HTTPS, verifying the server with that context."""
    if tls is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=15, context=tls)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()

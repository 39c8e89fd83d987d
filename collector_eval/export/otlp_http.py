"""OTLP/HTTP exporter client: POSTs serialized ExportTraceServiceRequest bytes as they are, retrying
what the OTLP/HTTP spec calls retryable (429, 502, 503, 504, and no connection), honouring
Retry-After."""
from __future__ import annotations

import gzip
import ssl

import aiohttp

from collector_eval.config import OtlpHttpExporterConfig
from collector_eval.export.delivery import DELIVERED, Outcome, deliver

RETRYABLE = {429, 502, 503, 504}


class OtlpHttpClient:
    def __init__(self, cfg: OtlpHttpExporterConfig):
        self._cfg = cfg
        self._headers = {**cfg.headers, "Content-Type": "application/x-protobuf"}
        if cfg.compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        self._ssl = ssl.create_default_context(cafile=cfg.ca_file) if cfg.ca_file else None
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0
        self.dropped = 0

    async def send(self, payload: bytes, max_elapsed_s: float | None = None) -> bool:
        body = gzip.compress(payload, 1) if self._cfg.compression == "gzip" else payload
        ok = await deliver(
            lambda: self._attempt(body),
            f"downstream {self._cfg.endpoint}",
            self._cfg.max_elapsed_s if max_elapsed_s is None else max_elapsed_s,
        )
        if ok:
            self.sent += 1
        else:
            self.dropped += 1
        return ok

    async def _attempt(self, body: bytes) -> Outcome:
        if self._session is None:  # created on the service's loop, where it is used
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._cfg.timeout_s))
        try:
            async with self._session.post(self._cfg.endpoint, data=body, headers=self._headers, ssl=self._ssl) as response:
                await response.read()
                if response.status < 300:
                    return DELIVERED
                delay = _retry_after(response.headers.get("Retry-After"))
                return Outcome(retry=response.status in RETRYABLE, delay_s=delay, reason=f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(retry=True, reason=type(exc).__name__)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None

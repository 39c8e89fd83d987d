"""OTLP/HTTP exporter client: POSTs serialized Export requests of any signal as they are, each to its
signal's URL, retrying what the OTLP/HTTP spec calls retryable (429, 502, 503, 504, and no
connection), honouring Retry-After."""

from __future__ import annotations

import gzip
import ssl

import aiohttp

from collector_eval.backoff import retry_after
from collector_eval.export.delivery import DELIVERED, Exporter, Outcome
from collector_eval.export.options import OtlpHttpExporterConfig
from collector_eval.otlp.signals import Signal

RETRYABLE = {429, 502, 503, 504}


class OtlpHttpClient(Exporter):
    def __init__(self, cfg: OtlpHttpExporterConfig):
        super().__init__(f"downstream {cfg.endpoint}", cfg.max_elapsed_s)
        self._cfg = cfg
        self._headers = {**cfg.headers, "Content-Type": "application/x-protobuf"}
        if cfg.compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        # True: aiohttp's default verification against the system's CAs (what it made of None).
        self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=cfg.ca_file) if cfg.ca_file else True
        self._session: aiohttp.ClientSession | None = None
        self._urls = {signal: cfg.url(signal) for signal in Signal}

    async def _attempt(self, payload: bytes, signal: Signal) -> Outcome:
        body = gzip.compress(payload, 1) if self._cfg.compression == "gzip" else payload
        if self._session is None:  # created on the service's loop, where it is used
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._cfg.timeout_s))
        try:
            async with self._session.post(
                self._urls[signal], data=body, headers=self._headers, ssl=self._ssl
            ) as response:
                await response.read()
                if response.status < 300:
                    return DELIVERED
                delay = retry_after(response.headers)
                return Outcome(retry=response.status in RETRYABLE, delay_s=delay, reason=f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(retry=True, reason=type(exc).__name__)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

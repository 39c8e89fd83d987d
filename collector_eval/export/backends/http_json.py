"""What the HTTP evaluation backends share: one aiohttp session created lazily on the loop that uses
it, a JSON POST, and the one answer-to-Outcome rule (2xx delivered; 429, 5xx and no connection
retried after the server's Retry-After, or our backoff; any other 4xx refused). Reasons never carry
a key: the backend's secrets are masked in any answer body quoted."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp

from collector_eval.backoff import retry_after
from collector_eval.export.delivery import DELIVERED, Outcome

# How much of a refusal's body a reason quotes: enough to name the bad field.
REASON_BODY_CHARS = 300


def is_retryable(status: int) -> bool:
    return status == 429 or status >= 500


def outcome_of(status: int, headers: Mapping[str, str], body: str = "") -> Outcome:
    if status < 300:
        return DELIVERED
    reason = f"HTTP {status}" + (f": {body[:REASON_BODY_CHARS]}" if body else "")
    if is_retryable(status):
        return Outcome(retry=True, delay_s=retry_after(headers), reason=reason)
    return Outcome(retry=False, reason=reason)


def basic_auth(user: str, password: str) -> str:
    """An Authorization header value for HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class JsonPoster:
    """POSTs JSON bodies with fixed headers (auth included) and says how each went."""

    def __init__(
        self,
        timeout_s: float,
        headers: Mapping[str, str],
        secrets: Iterable[str] = (),
    ):
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers = {**headers, "Content-Type": "application/json"}
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._session: aiohttp.ClientSession | None = None

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def post(self, url: str, body: Any) -> tuple[int, Outcome]:
        """The answer's status (0: no answer) and what it comes to."""
        if self._session is None:  # created on the service's loop, where it is used
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._session.post(url, data=data, headers=self._headers) as response:
                text = await response.text(errors="replace")
                quoted = "" if response.status < 300 else self._mask(" ".join(text.split()))
                return response.status, outcome_of(response.status, response.headers, quoted)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, Outcome(retry=True, reason=type(exc).__name__)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

"""The LLM judge: one structured question over the Chat Completions API, with retries and fallbacks.

Chat Completions is the one API every OpenAI-compatible server speaks. Many of them reject the
`json_schema` response format, so a Judge degrades once, per instance, to JSON mode and then to plain
instructions (modes.py), whatever status the refusal came with. Every failure surfaces as a
JudgeError with a machine-readable `error_type`, so callers report a failed evaluation instead of
inventing a score.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import openai

from collector_eval.backoff import Backoff, retry_after
from collector_eval.evaluation.judge.errors import JudgeError
from collector_eval.evaluation.judge.modes import (
    ResponseFormat,
    messages_for,
    names_response_format,
    next_mode,
    request_format,
)
from collector_eval.evaluation.judge.options import JudgeConfig
from collector_eval.evaluation.judge.ratelimit import HourlyBudget, TokenBucket
from collector_eval.evaluation.tokens import count_tokens

logger = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
# A longer Retry-After is honoured only up to this: a worker parked for minutes helps nobody.
RETRY_AFTER_CAP_S = 60.0

_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
# Reasoning models served through vLLM/Ollama often prefix the answer with their thinking.
_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL | re.IGNORECASE)


@dataclass
class JudgeAnswer:
    data: dict
    model: str  # the model the server says answered, else the configured one
    input_tokens: int
    output_tokens: int


class _Unusable(Exception):
    """An answer that arrived but cannot be used (not JSON, wrong shape)."""


class _Refused(Exception):
    """The server refused the response-format mode the request was sent in (the request's form, not
    its content): the ask moves down a mode, and this call is not one of its attempts."""

    def __init__(self, error: openai.APIStatusError) -> None:
        super().__init__(error.message)
        self.error = error


class Judge:
    backoff: Backoff = Backoff(BACKOFF_BASE_S, BACKOFF_CAP_S)

    def __init__(self, cfg: JudgeConfig, environ: Mapping[str, str] = os.environ) -> None:
        self.cfg = cfg
        self.model = cfg.model
        self.disabled_reason: str | None = None
        self._client: openai.AsyncOpenAI | None = None
        # Kept only to scrub it from error text that servers may echo back.
        self._secret = environ.get(cfg.api_key_env, "")
        self._mode = ResponseFormat.JSON_SCHEMA
        # Until one answer arrives in the current mode, any 400 may be the server refusing that mode.
        self._mode_confirmed = False
        self._semaphore = asyncio.Semaphore(cfg.max_concurrency)
        # Told the duration in seconds of every request to the server (the service's metrics).
        self.on_request: Callable[[float], None] | None = None
        self._requests = TokenBucket(cfg.requests_per_minute) if cfg.requests_per_minute else None
        self._tokens = TokenBucket(cfg.tokens_per_minute) if cfg.tokens_per_minute else None
        self._budget = HourlyBudget(cfg.max_tokens_per_hour) if cfg.max_tokens_per_hour else None
        if not self._secret:
            self.disabled_reason = f"judge disabled: environment variable {cfg.api_key_env} is not set"
        elif cfg.provider == "azure":
            self._client = openai.AsyncAzureOpenAI(
                azure_endpoint=cfg.base_url,
                api_version=cfg.api_version,
                api_key=self._secret,
                timeout=cfg.timeout_s,
                max_retries=0,  # retries are ours: the client's would not count against max_retries
            )
        else:
            self._client = openai.AsyncOpenAI(
                base_url=cfg.base_url or None,
                api_key=self._secret,
                timeout=cfg.timeout_s,
                max_retries=0,
            )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def __repr__(self) -> str:
        return f"Judge(provider={self.cfg.provider!r}, model={self.model!r}, base_url={self.cfg.base_url!r}, enabled={self.enabled})"

    def cost(self, input_tokens: int, output_tokens: int) -> float | None:
        """What the tokens cost at the configured price of this judge's model; None when unpriced."""
        price = self.cfg.prices.get(self.model)
        if price is None:
            return None
        return (input_tokens * price.input_per_1k + output_tokens * price.output_per_1k) / 1000

    async def _create(self, mode: ResponseFormat, **request: Any):
        assert self._client is not None  # ask() refuses to run without a client
        started = time.monotonic()
        try:
            return await self._client.chat.completions.create(**request)
        except openai.APIStatusError as exc:
            # Read before the status is: a refusal may come as a 400, a 422 or a 500 (llama-cpp-python).
            if not _is_context_length(exc) and self._rejects_mode(exc, mode):
                raise _Refused(exc) from exc
            raise
        finally:
            if self.on_request is not None:
                self.on_request(time.monotonic() - started)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def ask(
        self,
        *,
        system: str,
        user: str,
        schema: dict,
        schema_name: str,
        validate: Callable[[dict], None] | None = None,
    ) -> JudgeAnswer:
        """Ask one question; the answer is a dict that passed `validate` (which raises ValueError)."""
        if self._client is None:
            raise JudgeError("judge_disabled", self.disabled_reason or "judge disabled")
        attempts = 1 + self.cfg.max_retries
        attempt = 0
        input_tokens = output_tokens = 0
        correction: list[dict[str, str]] = []
        while True:
            if self._budget is not None and self._budget.exhausted:
                raise JudgeError(
                    "judge_budget_exhausted",
                    f"judge_budget_exhausted: {self._budget.spent} judge tokens spent in the last hour, "
                    f"judge.max_tokens_per_hour is {self._budget.max_tokens}",
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                )
            mode = self._mode
            server_delay: float | None = None
            messages = messages_for(system, user, schema, mode) + correction
            estimate = await self._pace(messages)
            try:
                async with self._semaphore:
                    completion = await self._create(
                        mode,
                        model=self.model,
                        messages=messages,
                        temperature=self.cfg.temperature,
                        **request_format(mode, schema, schema_name),
                    )
            except _Refused as refused:
                # Our request's form was refused, not the answer: no backoff, and the next mode at
                # once. The refusal uses up an attempt while one is left, so an ask makes at most
                # 1 + judge.max_retries calls; the mode it moves to always gets one. At most two per
                # Judge (three modes), since the mode found is kept for later asks.
                self._downgrade(mode, refused.error)
                if attempt + 1 < attempts:
                    attempt += 1
                continue
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if _is_context_length(exc):
                    raise self._error("judge_context_length", exc, input_tokens, output_tokens) from None
                raise self._error("judge_bad_request", exc, input_tokens, output_tokens) from None
            except openai.APITimeoutError as exc:  # before APIConnectionError, its base class
                error = self._error("judge_timeout", exc, input_tokens, output_tokens)
            except openai.APIConnectionError as exc:
                error = self._error("judge_connection", exc, input_tokens, output_tokens)
            except openai.RateLimitError as exc:
                error = self._error("judge_rate_limited", exc, input_tokens, output_tokens)
                server_delay = retry_after(exc.response.headers)
            except openai.InternalServerError as exc:
                error = self._error("judge_server_error", exc, input_tokens, output_tokens)
                server_delay = retry_after(exc.response.headers)
            except openai.APIStatusError as exc:
                kind = "judge_auth" if exc.status_code in (401, 403) else "judge_bad_request"
                raise self._error(kind, exc, input_tokens, output_tokens) from None
            except openai.OpenAIError as exc:
                raise self._error("judge_error", exc, input_tokens, output_tokens) from None
            else:
                used_in = used_out = 0
                if completion.usage is not None:
                    used_in = completion.usage.prompt_tokens or 0
                    used_out = completion.usage.completion_tokens or 0
                input_tokens += used_in
                output_tokens += used_out
                self._account(estimate, used_in + used_out)
                self._confirm(mode)
                content = completion.choices[0].message.content if completion.choices else None
                try:
                    data = _parse(content, validate)
                except _Unusable as exc:
                    error = JudgeError(
                        "judge_unparseable",
                        f"judge answer unusable: {exc}",
                        input_tokens=input_tokens,
                        output_tokens=output_tokens,
                    )
                    # At temperature 0 the same prompt tends to give the same answer: say what was wrong.
                    correction = [
                        {"role": "assistant", "content": (content or "(no answer)")[:2000]},
                        {
                            "role": "user",
                            "content": f"That answer was not usable ({exc}). Reply with only the JSON object, matching the schema.",
                        },
                    ]
                else:
                    return JudgeAnswer(
                        data=data,
                        model=completion.model or self.model,
                        input_tokens=input_tokens,
                        output_tokens=output_tokens,
                    )
            attempt += 1
            if attempt >= attempts:
                raise error
            logger.debug("judge attempt %d/%d failed (%s), retrying", attempt, attempts, error.error_type)
            if error.error_type != "judge_unparseable":  # the server is fine, only the answer was not
                await asyncio.sleep(self._backoff(attempt, server_delay))

    async def _pace(self, messages: list[dict[str, str]]) -> int:
        """Waits for the rate limits; returns the tokens taken for the request, an estimate."""
        if self._requests is not None:
            await self._requests.take(1)
        if self._tokens is None:
            return 0
        estimate = sum(count_tokens(m["content"]) for m in messages)
        await self._tokens.take(estimate)
        return estimate

    def _account(self, estimate: int, used: int) -> None:
        # A server that reports no usage leaves the estimate standing: better than counting nothing.
        if self._tokens is not None and used:
            self._tokens.adjust(used - estimate)
        if self._budget is not None:
            self._budget.spend(used)

    def _backoff(self, attempt: int, server_delay: float | None) -> float:
        if server_delay is not None:
            return min(server_delay, RETRY_AFTER_CAP_S)
        return self.backoff.delay(attempt)

    def _rejects_mode(self, exc: openai.APIStatusError, mode: ResponseFormat) -> bool:
        if mode == ResponseFormat.INSTRUCTIONS:
            return False  # no response_format was sent: whatever the error names, it is not a refusal
        # The whole body, not only exc.message: the client keeps just error.message there, and FastAPI's
        # 422 names the refused field only in its detail list.
        if names_response_format(f"{exc.message} {exc.param or ''} {exc.body!r}"):
            return True
        # A bare 400 before any answer came in this mode may be a server that cannot say what it refused.
        return exc.status_code == 400 and not self._mode_confirmed

    def _downgrade(self, mode: ResponseFormat, exc: openai.APIStatusError) -> None:
        # Concurrent asks may see the same refusal; only the first moves the mode (and logs).
        if self._mode != mode:
            return
        self._mode = next_mode(mode)
        self._mode_confirmed = False
        logger.warning(
            "judge %s at %s refused response_format %s (%s); falling back to %s",
            self.model,
            self.cfg.base_url or "api.openai.com",
            mode,
            self._scrub(exc.message),
            self._mode,
        )

    def _confirm(self, mode: ResponseFormat) -> None:
        if self._mode == mode:
            self._mode_confirmed = True

    def _error(self, error_type: str, exc: Exception, input_tokens: int, output_tokens: int) -> JudgeError:
        message = f"{error_type}: {self._scrub(str(exc))}"
        return JudgeError(error_type, message, input_tokens=input_tokens, output_tokens=output_tokens)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def _is_context_length(exc: openai.APIStatusError) -> bool:
    # vLLM and others send no code, only OpenAI's wording.
    return exc.code == "context_length_exceeded" or "maximum context length" in exc.message.lower()


def _parse(content: str | None, validate: Callable[[dict], None] | None) -> dict:
    if not content or not content.strip():
        raise _Unusable("empty answer")
    text = _THINK.sub("", content, count=1)
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Unusable(f"not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(data, dict):
        raise _Unusable(f"expected a JSON object, got {type(data).__name__}")
    if validate is not None:
        try:
            validate(data)
        except ValueError as exc:
            raise _Unusable(str(exc)) from None
    return data

"""Keeps secrets out of the logs: a logging filter that masks, in every record, the secret values the
configuration knows of and anything shaped like a credential (`Bearer x`, `authorization: x`).

It sits on the handlers, not on a logger: a logger's filters see only the records logged on that very
logger, while a handler's see every record that reaches it, from grpc, openai or httpx as well as ours.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping

from collector_eval.ingest.auth import load_tokens
from collector_eval.runtime.config import Config

MASK = "***"

# The value ends at whitespace, a quote or a closing bracket, so a masked repr() stays readable, and
# a sentence's full stop after it is kept.
_VALUE = r"[^\s'\",;)\]}]*[^\s'\",;)\]}.:!?]"
_BEARER = re.compile(rf"(?i)\b(bearer\s+){_VALUE}")
_AUTHORIZATION = re.compile(
    rf"(?i)\b((?:proxy-)?authorization['\"]?\s*[:=,]\s*['\"]?(?:(?:basic|bearer|digest|token|apikey|negotiate)\s+)?){_VALUE}"
)


def collect_secrets(cfg: Config, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The receiver's tokens, the exporters' header values, and the keys of the judge and of the
    evaluation backends."""
    secrets = load_tokens(cfg.receiver.grpc.auth)
    for value in [*cfg.exporters.otlp.headers.values(), *cfg.exporters.otlp_http.headers.values()]:
        secrets.append(value)
        # "Bearer abc": abc may show up on its own, e.g. echoed by a server.
        _, _, credential = value.strip().partition(" ")
        secrets.append(credential.strip())
    exporters = cfg.exporters
    for env in (
        cfg.judge.api_key_env,
        exporters.phoenix.api_key_env,
        exporters.langfuse.public_key_env,
        exporters.langfuse.secret_key_env,
        exporters.datadog.api_key_env,
    ):
        if env:
            secrets.append(environ.get(env, ""))
    return [s for s in secrets if s]


class SecretsFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._known = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def mask(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(MASK, text)
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
        return _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # msg % args failed; the record must still not leak its parts
            message = f"{record.msg} {record.args}"
        # Rendered once and the args dropped: masking the args alone would miss secrets in an f-string msg.
        record.msg = self.mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def install(secrets: Iterable[str], logger: logging.Logger | None = None) -> SecretsFilter:
    """Add a SecretsFilter to every handler of logger (default: the root logger); returns the filter."""
    logger = logger if logger is not None else logging.getLogger()
    secrets_filter = SecretsFilter(secrets)
    for handler in logger.handlers:
        handler.addFilter(secrets_filter)
    return secrets_filter

"""Where verdicts go: the downstream OTLP exporter's queue, or stdout when none is configured."""
from __future__ import annotations

import json
import sys
from typing import Protocol, TextIO

from collector_eval.export.carrier import Verdict, build_carrier, verdict_to_dict
from collector_eval.forwarder import Forwarder


class ResultsExporter(Protocol):
    async def publish(self, verdict: Verdict) -> None: ...


class OtlpResults:
    def __init__(self, forwarder: Forwarder):
        self._forwarder = forwarder

    async def publish(self, verdict: Verdict) -> None:
        await self._forwarder.submit(build_carrier(verdict).SerializeToString())


class ConsoleResults:
    def __init__(self, stream: TextIO = sys.stdout):
        self._stream = stream

    async def publish(self, verdict: Verdict) -> None:
        self._stream.write(json.dumps(verdict_to_dict(verdict), ensure_ascii=False) + "\n")
        self._stream.flush()

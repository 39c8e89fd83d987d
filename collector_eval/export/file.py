"""File exporter: every forwarded request (spans, log records, metrics) and every verdict appended as
one OTLP/JSON line, the form `collector-eval transcript` and `evaluate` read back."""

from __future__ import annotations

import json
from pathlib import Path

from collector_eval.otlp.json_format import request_to_otlp_json
from collector_eval.otlp.signals import SPECS, Signal


class FileExporter:
    def __init__(self, path: str):
        self._path = Path(path)
        self._file = self._path.open("a", encoding="utf-8")
        self.sent = 0
        self.dropped = 0

    async def send(self, payload: bytes, signal: Signal = Signal.TRACES, max_elapsed_s: float | None = None) -> bool:
        request = SPECS[signal].request.FromString(payload)
        line = json.dumps(request_to_otlp_json(request), separators=(",", ":"))
        # One write per line, flushed: a reader tailing the file never sees half a request.
        self._file.write(line + "\n")
        self._file.flush()
        self.sent += 1
        return True

    async def send_once(self, payload: bytes, signal: Signal = Signal.TRACES) -> bool:
        return await self.send(payload, signal)

    async def close(self) -> None:
        self._file.close()

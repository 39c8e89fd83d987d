"""The project's own corpus: sessions recorded from real instrumentation libraries (tests/corpus/,
its README gives the conventions; each folder holds the app that recorded it and its pinned versions)."""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def sessions() -> list[Path]:
    """Every recorded session folder, by name."""
    return sorted(p.parent for p in CORPUS.glob("*/expected.json"))


def expected(folder: Path) -> dict:
    return json.loads((folder / "expected.json").read_text())


def service_name(folder: Path) -> str:
    """The resource service.name the recorded app exported with: the session's tenant."""
    doc = json.loads((folder / "otlp.json").read_text())
    for kv in doc["resourceSpans"][0]["resource"]["attributes"]:
        if kv["key"] == "service.name":
            return kv["value"]["stringValue"]
    raise AssertionError(f"{folder}: no service.name")


def files(folder: Path) -> list[Path]:
    """The session's OTLP/JSON files: its spans, and its log records where the library logs the conversation."""
    return [folder / name for name in ("otlp.json", "otlp_logs.json") if (folder / name).exists()]

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector_eval.otlp.json_format import load_otlp_json, request_to_otlp_json
from tests.support.corpus import CORPUS

CORPUS_FILES = sorted(CORPUS.glob("*/otlp.json"))


def _doc(
    trace_id: str = "0af7651916cd43dd8448eb211c80319c", span_id: str = "b7ad6b7169203331", name: str = "s"
) -> dict:
    return {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": "",
                                "name": name,
                                "kind": 1,
                                "startTimeUnixNano": "1795294982714904412",
                                "endTimeUnixNano": "1795294982723268761",
                                "attributes": [{"key": "session.id", "value": {"stringValue": "s1"}}],
                                "links": [
                                    {"traceId": "0af7651916cd43dd8448eb211c80319d", "spanId": "00f067aa0ba902b7"}
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }


def test_corpus_is_present() -> None:
    assert len(CORPUS_FILES) >= 6, f"no corpus under {CORPUS}"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.parent.name)
def test_corpus_round_trip(path: Path) -> None:
    msg = load_otlp_json(path)
    spans = [s for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert spans and all(len(s.trace_id) == 16 and len(s.span_id) == 8 for s in spans)
    doc = request_to_otlp_json(msg)
    assert doc == json.loads(path.read_text())
    assert load_otlp_json(json.dumps(doc)) == msg


def test_ids_are_bytes_and_come_back_as_hex() -> None:
    msg = load_otlp_json(json.dumps(_doc()))
    span = msg.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    assert span.span_id == bytes.fromhex("b7ad6b7169203331")
    assert span.parent_span_id == b""
    assert span.links[0].span_id == bytes.fromhex("00f067aa0ba902b7")
    assert span.start_time_unix_nano == 1795294982714904412
    out = request_to_otlp_json(msg)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert out["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert out["links"][0]["traceId"] == "0af7651916cd43dd8448eb211c80319d"
    assert out["kind"] == 1
    assert out["startTimeUnixNano"] == "1795294982714904412"


def test_json_lines_are_merged(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(_doc(name="a")) + "\n\n" + json.dumps(_doc(name="b")) + "\n")
    msg = load_otlp_json(path)
    assert [rs.scope_spans[0].spans[0].name for rs in msg.resource_spans] == ["a", "b"]


def test_accepts_a_path_as_str(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(_doc()))
    assert len(load_otlp_json(str(path)).resource_spans) == 1


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"resourceSpans": [')
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        load_otlp_json(path)


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_text(json.dumps(_doc()) + "\n" + "{oops\n")
    with pytest.raises(ValueError, match=r"lines\.jsonl:2: not valid JSON"):
        load_otlp_json(path)


@pytest.mark.parametrize("field, value", [("traceId", "zz" * 16), ("spanId", "abc"), ("traceId", "00" * 8)])
def test_bad_hex_id_names_file_and_field(tmp_path: Path, field: str, value: str) -> None:
    doc = _doc()
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0][field] = value
    path = tmp_path / "ids.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=rf"ids\.json: .*spans\[0\]: {field} '{value}' is not a"):
        load_otlp_json(path)


def test_wrong_shapes_are_value_errors(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"list\.json: expected a JSON object"):
        load_otlp_json(path)
    with pytest.raises(ValueError, match=r"<text>: not an OTLP trace request"):
        load_otlp_json('{"resourceSpans": 5}')
    with pytest.raises(ValueError, match=r"missing\.json: cannot read"):
        load_otlp_json(tmp_path / "missing.json")

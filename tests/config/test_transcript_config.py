"""transcript.* options: the defaults, a valid mapping in every form, and each kind of bad mapping
refused with an error naming its full key path."""

from __future__ import annotations

from typing import Any

import pytest

from collector_eval.config.checks import ConfigError
from collector_eval.evaluation.transcript.options import MessageShape, OnDoubt
from collector_eval.runtime.config import config_from_dict, load_config

GOOD = {"match": {"scope": "acme-llm"}, "input": "acme.in", "output": "acme.out"}


def _error(transcript: Any) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"transcript": transcript})
    return str(info.value)


def _mapping_error(**changes: Any) -> str:
    return _error({"mappings": [GOOD, {**GOOD, **changes}]})


def test_defaults() -> None:
    cfg = load_config(None).transcript
    assert cfg.mappings == []
    assert cfg.on_doubt == OnDoubt.JUDGE == "judge"


def test_a_full_mapping_and_its_short_forms() -> None:
    cfg = config_from_dict(
        {
            "transcript": {
                "on_doubt": "skip",
                "mappings": [
                    {
                        "match": {"scope": "acme-*", "attribute": "acme.model"},
                        "shape": "openinference",
                        "input": "acme.prompt",
                        "output": {"event": "acme.reply", "key": "acme.reply"},
                        "tool": {"name": "acme.tool", "id": {"event": "acme.call"}, "result": "acme.out"},
                    }
                ],
            }
        }
    ).transcript
    (mapping,) = cfg.mappings
    assert cfg.on_doubt == OnDoubt.SKIP
    assert mapping.shape == MessageShape.OPENINFERENCE
    assert mapping.input.attribute == "acme.prompt" and not mapping.input.event
    assert (mapping.output.event, mapping.output.key) == ("acme.reply", "acme.reply")
    assert mapping.tool.id.event == "acme.call" and mapping.tool.id.key == ""
    assert not mapping.tool.arguments.configured


def test_tool_as_a_bare_string_is_the_attribute_of_its_name() -> None:
    (mapping,) = config_from_dict({"transcript": {"mappings": [{**GOOD, "tool": "acme.tool"}]}}).transcript.mappings
    assert mapping.tool.name.attribute == "acme.tool"


def test_every_shape_is_accepted() -> None:
    for shape in MessageShape:
        config_from_dict({"transcript": {"mappings": [{**GOOD, "shape": str(shape)}]}})


def test_bad_on_doubt() -> None:
    assert _error({"on_doubt": "maybe"}) == "transcript.on_doubt: 'maybe' is not one of judge, skip"


def test_mappings_not_a_list() -> None:
    assert _error({"mappings": GOOD}).startswith("transcript.mappings: expected a list")


def test_unknown_key_in_a_mapping() -> None:
    assert _mapping_error(inputs="x").startswith("transcript.mappings[1].inputs: unknown key")


def test_unknown_key_in_a_source() -> None:
    assert _mapping_error(input={"attr": "x"}).startswith("transcript.mappings[1].input.attr: unknown key")


def test_source_of_the_wrong_type() -> None:
    assert _mapping_error(output=["acme.out"]).startswith(
        "transcript.mappings[1].output: expected a attribute or a mapping"
    )


def test_match_that_matches_every_span() -> None:
    assert _mapping_error(match={}).startswith("transcript.mappings[1].match: give a scope, an attribute or both")


def test_unknown_shape() -> None:
    message = _mapping_error(shape="anthropic")
    assert (
        message
        == "transcript.mappings[1].shape: 'anthropic' is not one of openai_chat, genai_parts, openinference, text"
    )


def test_attribute_and_event_both() -> None:
    message = _mapping_error(input={"attribute": "a", "event": "e"})
    assert message == "transcript.mappings[1].input: give either attribute or event, not both"


def test_key_without_event() -> None:
    assert _mapping_error(output={"attribute": "a", "key": "k"}).startswith("transcript.mappings[1].output.key:")


def test_tool_fields_without_the_tool_name() -> None:
    message = _mapping_error(tool={"result": "acme.out"})
    assert message == "transcript.mappings[1].tool.name: required with transcript.mappings[1].tool.result"


def test_bad_source_inside_the_tool() -> None:
    message = _mapping_error(tool={"name": "acme.tool", "id": {"key": "id"}})
    assert message.startswith("transcript.mappings[1].tool.id.key:")


def test_mapping_that_reads_nothing() -> None:
    message = _mapping_error(input={}, output={})
    assert message == "transcript.mappings[1]: reads nothing; give input, output or tool.name"


def test_openinference_event_without_a_prefix() -> None:
    message = _mapping_error(shape="openinference", input={"event": "acme.prompt"})
    assert message.startswith("transcript.mappings[1].input.key: the openinference shape needs")

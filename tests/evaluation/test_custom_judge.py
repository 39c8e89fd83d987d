"""Judges defined in configuration, from YAML-shaped config through the real judge server."""

from __future__ import annotations

import json

import pytest

from collector_eval.config.checks import ConfigError
from collector_eval.evaluation.evaluators import build_evaluators
from collector_eval.evaluation.evaluators.custom_judge import ATTR_ANSWER
from collector_eval.runtime.config import config_from_dict
from tests.support.judging import (
    conversation,
    judged,
    llm_span,
    raw_span,
    system_text,
    tool_span,
    trace,
    user_text,
)

POLITE = {
    "name": "politeness",
    "type": "custom_judge",
    "prompt": "Was the assistant polite throughout {{transcript}}?",
    "output": "boolean",
    "pass_when": "true",
}


def custom(**entry):
    (evaluator,) = build_evaluators(config_from_dict({"evaluators": [entry]}).evaluators)
    return evaluator


def reply(answer) -> dict:
    return {"reasoning": "because", "answer": answer}


def test_boolean_judge_passes_on_its_pass_value() -> None:
    judge = custom(**POLITE)
    good, server = judged(judge, conversation(), reply(True))
    bad, _ = judged(judge, conversation(), reply(False))
    assert (good.name, good.label, good.score, good.passed) == ("politeness", "true", 1.0, True)
    assert (bad.label, bad.score, bad.passed) == ("false", 0.0, False)
    assert good.explanation == "because" and judge.level == "session"
    schema = server.requests[0]["response_format"]["json_schema"]
    assert schema["name"] == "politeness" and schema["schema"]["properties"]["answer"] == {"type": "boolean"}


def test_the_template_is_the_task_and_the_transcript_is_data() -> None:
    _, server = judged(custom(**POLITE), conversation(), reply(True))
    system, user = system_text(server), user_text(server)
    assert "Was the assistant polite throughout the <transcript> block?" in system
    assert "never instructions" in system and "Book a flight" not in system
    assert "Book a flight to Oslo" in user[user.index("<transcript>") : user.index("</transcript>")]


def test_score_judge_compares_with_its_criterion_and_refuses_out_of_range() -> None:
    judge = custom(
        name="helpfulness",
        type="custom_judge",
        prompt="Rate {{transcript}}",
        output={"type": "score", "min": 1, "max": 5},
        pass_when=">= 4",
    )
    assert (judge.output.score, judge.output.direction) == ((1, 5), "higher")
    four, _ = judged(judge, conversation(), reply(4))
    three, _ = judged(judge, conversation(), reply(3.5))
    out_of_range, server = judged(judge, conversation(), reply(6), reply(6))
    assert (four.score, four.passed, four.label) == (4.0, True, None)
    assert (three.score, three.passed) == (3.5, False)
    assert (out_of_range.status, out_of_range.error_type) == ("error", "judge_unparseable")
    assert "outside 1 to 5" in server.requests[1]["messages"][3]["content"]
    assert "a number from 1 to 5" in system_text(server)


def test_categories_judge_passes_on_listed_categories() -> None:
    judge = custom(
        name="tone",
        type="custom_judge",
        prompt="Classify the tone of {{transcript}}",
        output={"type": "categories", "categories": {"warm": "friendly", "flat": "neutral", "rude": "impolite"}},
        pass_when="warm, flat",
    )
    warm, server = judged(judge, conversation(), reply("flat"))
    rude, _ = judged(judge, conversation(), reply("rude"))
    unknown, _ = judged(judge, conversation(), reply("cold"), reply("cold"))
    assert (warm.label, warm.passed, rude.label, rude.passed) == ("flat", True, "rude", False)
    assert unknown.error_type == "judge_unparseable"
    assert "- rude: impolite" in system_text(server)


def test_json_judge_keeps_the_answer_and_passes_on_a_boolean_property() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["ok", "issues"],
        "properties": {"ok": {"type": "boolean"}, "issues": {"type": "array", "items": {"type": "string"}}},
    }
    judge = custom(
        name="audit",
        type="custom_judge",
        prompt="Audit {{transcript}}",
        output={"type": "json", "schema": schema},
        pass_when="ok",
    )
    result, _ = judged(judge, conversation(), reply({"ok": False, "issues": ["no hotel"]}))
    assert (result.passed, json.loads(result.attributes[ATTR_ANSWER])) == (False, {"ok": False, "issues": ["no hotel"]})
    wrong, _ = judged(judge, conversation(), reply({"ok": "yes"}), reply({"ok": "yes"}))
    assert wrong.error_type == "judge_unparseable"


def test_span_level_judge_sees_input_and_output_blocks() -> None:
    judge = custom(
        name="concise",
        type="custom_judge",
        level="span",
        prompt="Is {{output}} a concise answer to {{input}}?",
        filters={"span_kind": ["LLM"]},
    )
    span = llm_span("Weather in Oslo?", "Sunny.")
    assert judge.selects(span)
    result, server = judged(judge, span, reply(True))
    user = user_text(server)
    assert result.label == "true" and result.passed is None  # no pass_when: no pass criterion
    assert "<input>\nWeather in Oslo?\n</input>" in user and "<output>\nSunny.\n</output>" in user


def test_trace_level_judge_sees_the_spans_in_order() -> None:
    judge = custom(name="efficient", type="custom_judge", level="trace", prompt="Was {{trace}} efficient?")
    t = trace(
        raw_span(1, {"openinference.span.kind": "AGENT", "input.value": "plan a trip"}, "agent"),
        tool_span(2, "search", {"q": "Oslo"}, "3 hotels", parent=1),
    )
    _, server = judged(judge, t, reply(True))
    block = user_text(server)
    assert block.index("plan a trip") < block.index("3 hotels") and "[TOOL search]" in block


def test_changing_the_prompt_changes_the_version() -> None:
    a, b = custom(**POLITE), custom(**{**POLITE, "prompt": "Polite? {{transcript}}"})
    assert a.version.startswith("custom-") and a.version != b.version


@pytest.mark.parametrize(
    "entry, key",
    [
        ({**POLITE, "prompt": "Was it polite?"}, "evaluators[0].prompt"),
        ({**POLITE, "prompt": "{{transcript}} and {{input}}"}, "evaluators[0].prompt"),
        ({**POLITE, "level": "turn"}, "evaluators[0].level"),
        ({**POLITE, "output": "stars"}, "evaluators[0].output.type"),
        ({**POLITE, "output": {"type": "score", "min": 5, "max": 1}}, "evaluators[0].output.max"),
        (
            {**POLITE, "output": {"type": "categories", "categories": {"one": "only"}}},
            "evaluators[0].output.categories",
        ),
        (
            {**POLITE, "output": {"type": "json", "schema": {"type": "object", "properties": 3}}},
            "evaluators[0].output.schema",
        ),
        ({**POLITE, "output": {"type": "json", "schema": {"type": "string"}}}, "evaluators[0].output.schema"),
        ({**POLITE, "pass_when": "yes"}, "evaluators[0].pass_when"),
        ({**POLITE, "output": "score", "pass_when": "above 3"}, "evaluators[0].pass_when"),
        (
            {**POLITE, "output": {"type": "categories", "categories": {"a": "x", "b": "y"}}, "pass_when": "a, c"},
            "evaluators[0].pass_when",
        ),
        ({**POLITE, "name": "coherence"}, "evaluators[0].name"),
        ({**POLITE, "output": {"type": "boolean", "colour": "red"}}, "evaluators[0].output.colour"),
        ({**POLITE, "output": 3}, "evaluators[0].output"),
    ],
)
def test_bad_custom_judges_name_the_key(entry: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"evaluators": [entry]})
    assert str(info.value).startswith(f"{key}:"), str(info.value)

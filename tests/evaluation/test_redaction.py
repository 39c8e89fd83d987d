"""Redaction of the transcript before the judge: each detector's hits and near misses, Luhn, nested
tool-call arguments, counts without values, and the original transcript left as it was."""

from __future__ import annotations

import copy

import pytest

from collector_eval.config.checks import ConfigError
from collector_eval.evaluation.transcript.model import Transcript, Turn
from collector_eval.evaluation.transcript.redaction import (
    DETECTORS,
    luhn_valid,
    redact,
    redact_text,
)
from collector_eval.runtime.config import config_from_dict

ALL = list(DETECTORS)


def only(detector: str, text: str) -> tuple[str, int]:
    counts: dict[str, int] = {}
    out = redact_text(text, [detector], counts)
    return out, counts.get(detector, 0)


# ------------------------------------------------------------------------------------------ detectors

POSITIVE = {
    "email": [
        ("write to jane.doe@example.com please", "write to [REDACTED:email] please"),
        ("<j_o+tag@mail.co.uk>.", "<[REDACTED:email]>."),
    ],
    "phone": [
        ("call +1 415 555 2671 today", "call [REDACTED:phone] today"),
        ("mobile +447911123456", "mobile [REDACTED:phone]"),
        ("office (555) 123-4567.", "office [REDACTED:phone]."),
        ("fax 555.123.4567", "fax [REDACTED:phone]"),
        ("London 020 7946 0958", "London [REDACTED:phone]"),
        ("Paris 01 23 45 67 89", "Paris [REDACTED:phone]"),
        ("Berlin 0049 30 1234567", "Berlin [REDACTED:phone]"),
        ("ring 555-0199", "ring [REDACTED:phone]"),
    ],
    "credit_card": [
        ("visa 4111 1111 1111 1111 exp 12/29", "visa [REDACTED:credit_card] exp 12/29"),
        ("mc 5555-5555-5555-4444", "mc [REDACTED:credit_card]"),
        ("amex 3782 822463 10005", "amex [REDACTED:credit_card]"),
        ("raw 4012888888881881.", "raw [REDACTED:credit_card]."),
    ],
    "api_key": [
        ("key sk-proj-Ab3dEf6hIj9kLm2nOp5q", "key [REDACTED:api_key]"),
        ("anthropic sk-ant-api03-xyzXYZ0123456789abcd", "anthropic [REDACTED:api_key]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED:api_key]"),
        ("gh ghp_" + "a1B2" * 9, "gh [REDACTED:api_key]"),
        ("slack xoxb-2048-4096-abcdefABCDEF", "slack [REDACTED:api_key]"),
        ("google AIza" + "Sy" * 17 + "A", "google [REDACTED:api_key]"),
        ("GET /v1?api_key=9f86d081884c7d659a2feaa0c55ad015&x=1", "GET /v1?api_key=[REDACTED:api_key]&x=1"),
        ('{"client_secret": "dGhpcyBpcyBhIHNlY3JldCE="}', '{"client_secret": "[REDACTED:api_key]"}'),
        ("TOKEN: AbCdEfGhIjKlMnOpQrStUv", "TOKEN: [REDACTED:api_key]"),
        (
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_x",
            "Authorization: Bearer [REDACTED:api_key]",
        ),
    ],
    "ip": [
        ("from 192.168.1.20.", "from [REDACTED:ip]."),
        ("host 8.8.8.8:53", "host [REDACTED:ip]:53"),
        ("v6 2001:db8::8a2e:370:7334 ok", "v6 [REDACTED:ip] ok"),
        ("loopback ::1", "loopback [REDACTED:ip]"),
        ("link fe80::1%eth0", "link [REDACTED:ip]"),
        ("mapped ::ffff:10.0.0.1", "mapped [REDACTED:ip]"),
    ],
}

NEGATIVE = {
    "email": ["user at example dot com", "@handle", "a@b", "meet @ 5pm at example.com"],
    "phone": [
        "on 2024-10-21",
        "on 21-10-2024",
        "version 1.2.3",
        "12000 tokens",
        "order 1234567890",
        "at 12:30:45",
        "pi 3.14159265",
        "+12",
    ],
    "credit_card": [
        "4111 1111 1111 1112",  # Luhn fails
        "0000 0000 0000 0000",  # passes Luhn, but no card is all zeros
        "1234 5678 9012",  # too short
        "4111-1111 1111-1111",  # mixed separators
        "4111 11 1111 111 11",  # not grouped like a card
    ],
    "api_key": [
        "sk-short",
        "the skeleton key",
        "max_tokens=1024",
        "key: understanding-the-problem",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "AKIA-not-a-key",
    ],
    "ip": ["1.2.3", "256.1.1.1", "1.2.3.4.5", "12:30:45", "std::vector", "dead::beef", "00:1A:2B:3C:4D:5E"],
}


@pytest.mark.parametrize(
    "detector, text, expected",
    [(d, t, e) for d, cases in POSITIVE.items() for t, e in cases],
    ids=lambda v: str(v)[:30],
)
def test_detector_finds(detector, text, expected):
    out, count = only(detector, text)
    assert out == expected
    assert count == expected.count(f"[REDACTED:{detector}]")


@pytest.mark.parametrize(
    "detector, text", [(d, t) for d, cases in NEGATIVE.items() for t in cases], ids=lambda v: str(v)[:30]
)
def test_detector_leaves_alone(detector, text):
    assert only(detector, text) == (text, 0)


def test_negatives_survive_every_detector_at_once():
    # Near misses of one detector must not be caught by another either, except where they really are
    # something else (a commit hash is no key, a date no phone, a version no address).
    for text in [
        "on 2024-10-21",
        "version 1.2.3",
        "12000 tokens",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "at 12:30:45",
    ]:
        counts: dict[str, int] = {}
        assert redact_text(text, ALL, counts) == text
        assert counts == {}


def test_a_card_number_is_a_card_not_a_phone():
    counts: dict[str, int] = {}
    assert redact_text("card 4111 1111 1111 1111", ALL, counts) == "card [REDACTED:credit_card]"
    assert counts == {"credit_card": 1}


@pytest.mark.parametrize(
    "number, valid",
    [
        ("4111111111111111", True),
        ("79927398713", True),
        ("378282246310005", True),
        ("4111111111111112", False),
        ("79927398710", False),
    ],
)
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


# ------------------------------------------------------------------------------------------ transcripts


def transcript() -> Transcript:
    return Transcript(
        turns=[
            Turn("user", "I'm jane@example.com, card 4111 1111 1111 1111. Call me on +44 20 7946 0958."),
            Turn(
                "assistant",
                "Booking that for you.",
                tool_calls=[
                    {
                        "name": "book",
                        "arguments": {
                            "contact": {"email": "jane@example.com", "phones": ["+44 20 7946 0958", "n/a"]},
                            "payment": {"card": 4111111111111111, "cvv": 123, "save": True},
                            "note": "from 10.1.2.3",
                            "email": "not an address",
                        },
                    },
                    {"name": "echo", "arguments": "raw string argument with jane@example.com"},
                ],
            ),
            Turn("tool", '{"ok": true, "api_key": "9f86d081884c7d659a2feaa0c55ad015"}', name="book"),
            Turn("assistant", "Done: nothing sensitive here."),
        ],
        truncated=True,
        elided_turns=2,
        elided_at=1,
    )


def test_redact_replaces_in_contents_and_nested_tool_arguments():
    redacted, counts = redact(transcript(), ALL)
    user, assistant, tool, last = redacted.turns
    assert user.content == "I'm [REDACTED:email], card [REDACTED:credit_card]. Call me on [REDACTED:phone]."
    book, echo = assistant.tool_calls
    assert book["name"] == "book"
    assert book["arguments"] == {
        "contact": {"email": "[REDACTED:email]", "phones": ["[REDACTED:phone]", "n/a"]},
        "payment": {"card": "[REDACTED:credit_card]", "cvv": 123, "save": True},
        "note": "from [REDACTED:ip]",
        "email": "not an address",  # keys are parameter names, never redacted
    }
    assert echo == {"name": "echo", "arguments": "raw string argument with [REDACTED:email]"}
    assert tool.content == '{"ok": true, "api_key": "[REDACTED:api_key]"}'
    assert tool.name == "book" and tool.role == "tool"
    assert last.content == "Done: nothing sensitive here."
    # The elision bookkeeping is the transcript's, not redaction's: kept as it was.
    assert (redacted.truncated, redacted.elided_turns, redacted.elided_at) == (True, 2, 1)
    assert counts == {"api_key": 1, "credit_card": 2, "email": 3, "ip": 1, "phone": 2}


def test_counts_never_carry_the_values():
    _, counts = redact(transcript(), ALL)
    assert all(isinstance(v, int) for v in counts.values())
    assert "jane" not in repr(counts) and "4111" not in repr(counts)


def test_only_the_chosen_detectors_run_and_report():
    redacted, counts = redact(transcript(), ["email"])
    assert counts == {"email": 3}
    assert "4111 1111 1111 1111" in redacted.turns[0].content
    assert "[REDACTED:email]" in redacted.turns[0].content


def test_a_chosen_detector_that_found_nothing_reports_zero():
    _, counts = redact(Transcript([Turn("user", "hello")]), ["email", "ip"])
    assert counts == {"email": 0, "ip": 0}


def test_the_original_transcript_is_unchanged():
    original = transcript()
    before = copy.deepcopy(original)
    redacted, _ = redact(original, ALL)
    assert original == before
    assert original.turns[1].tool_calls[0]["arguments"] == before.turns[1].tool_calls[0]["arguments"]
    assert redacted is not original and redacted.turns[0] is not original.turns[0]
    assert redacted.turns[1].tool_calls[0] is not original.turns[1].tool_calls[0]


def test_no_detectors_is_a_copy_with_no_counts():
    original = transcript()
    redacted, counts = redact(original, [])
    assert counts == {} and redacted == original and redacted is not original


def test_redacted_transcript_renders_for_the_judge():
    redacted, _ = redact(transcript(), ALL)
    text = redacted.render()
    for secret in ("jane@example.com", "4111", "7946", "10.1.2.3", "9f86d081884c7d659a2feaa0c55ad015"):
        assert secret not in text
    assert '"card": "[REDACTED:credit_card]"' in text


def test_unknown_detector_is_refused():
    with pytest.raises(ValueError, match="ssn"):
        redact(transcript(), ["email", "ssn"])


# ------------------------------------------------------------------------------------------ configuration


def test_redaction_config_defaults_to_off_and_accepts_every_detector():
    assert config_from_dict({}).redaction == []
    assert config_from_dict({"redaction": ALL}).redaction == ALL


@pytest.mark.parametrize(
    "value, key", [(["email", "ssn"], "redaction[1]"), (["emails"], "redaction[0]"), ("email", "redaction")]
)
def test_bad_redaction_config_names_the_key(value, key):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"redaction": value})
    assert str(info.value).startswith(f"{key}:"), str(info.value)


def test_redaction_applies_before_the_judge_and_counts_go_on_the_carrier(service, sink, judge):
    from tests.support.app import make_provider, span_attrs

    svc = service(redaction=["email", "credit_card"])
    provider = make_provider("chat-app", svc.endpoint)
    provider.get_tracer("t").start_span(
        "ChatCompletion",
        attributes={
            "session.id": "sess-redact",
            "session_status": "completed",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "mail me at jane.doe@example.com, card 4111 1111 1111 1111",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "noted: jane.doe@example.com",
        },
    ).end()
    provider.force_flush()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    prompt = judge.requests[0]["messages"][-1]["content"]
    assert "jane.doe@example.com" not in prompt and "4111 1111 1111 1111" not in prompt
    assert "[REDACTED:email]" in prompt and "[REDACTED:credit_card]" in prompt
    attrs = span_attrs(sink.carriers()[0][2])
    assert attrs["collector_eval.redaction.email"] == 2
    assert attrs["collector_eval.redaction.credit_card"] == 1
    # What leaves downstream as the app's own spans is untouched: redaction is for the judge only.
    originals = [s for _, _, s in sink.spans() if s.name == "ChatCompletion"]
    assert any("jane.doe@example.com" in kv.value.string_value for kv in originals[0].attributes)

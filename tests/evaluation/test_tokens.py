"""The tokenizer: a real BPE (cl100k_base) that loads from the installed package, with no network."""

from __future__ import annotations

import os
import subprocess
import sys

from collector_eval.evaluation.tokens import count_tokens, head_and_tail
from tests.support.config import free_port


def test_counts_are_cl100k_base() -> None:
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    # Much denser than four characters a token for repetitive text, much sparser for other scripts.
    assert count_tokens("x" * 400) < 100 and count_tokens("東京都の天気は晴れです") > 11 / 4


def test_special_token_text_is_counted_as_text() -> None:
    assert count_tokens("<|endoftext|>") > 1


def test_head_and_tail_keep_the_ends_and_never_split_a_character() -> None:
    text = "début " + "é" * 300 + " fin"
    head, tail = head_and_tail(text, 10)
    assert text.startswith(head) and text.endswith(tail)
    assert head.startswith("début") and tail.endswith("fin")
    assert count_tokens(head) + count_tokens(tail) <= 12


def test_loads_with_an_empty_cache_and_no_route_out(tmp_path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: any download attempt fails at once
    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(tmp_path),
        "HTTPS_PROXY": dead,
        "HTTP_PROXY": dead,
        "https_proxy": dead,
        "http_proxy": dead,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    code = "from collector_eval.evaluation.tokens import count_tokens; print(count_tokens('hello world'))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"

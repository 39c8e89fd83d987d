"""What a judge call that came to nothing raises. Apart from the client so that evaluators, and the
config validation that builds them, do not import the openai package just to catch it."""

from __future__ import annotations


class JudgeError(Exception):
    """The judge gave no usable answer. Tokens spent on failed attempts are kept for accounting."""

    def __init__(self, error_type: str, message: str, *, input_tokens: int = 0, output_tokens: int = 0):
        super().__init__(message)
        self.error_type = error_type
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens

"""The transcript's token budget: past it, long turns are shortened and the middle is elided (first and
last turns kept), and `truncated` is recorded."""

from __future__ import annotations

from dataclasses import replace

from collector_eval.evaluation.tokens import count_tokens, head_and_tail
from collector_eval.evaluation.transcript.model import Transcript, Turn, elision_marker


def elide(transcript: Transcript, max_tokens: int) -> Transcript:
    """Fits a transcript into max_tokens (as count_tokens of render()).

    Any turn longer than a quarter of the budget is shortened first (a tool's output, or a message
    someone pasted a book into: the first and last turns are always kept, so they must fit); then,
    if still over, turns are dropped from the middle.
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    turns = [_shorten(turn, max_tokens) for turn in transcript.turns]
    shortened = any(new is not old for new, old in zip(turns, transcript.turns))
    whole = replace(transcript, turns=turns, truncated=transcript.truncated or shortened)
    if len(turns) <= 2 or count_tokens(whole.render()) <= max_tokens:
        return whole

    # Grow a kept head and tail alternately towards the middle while they fit; the marker's size
    # is taken for the largest count, so the sum never goes over the budget.
    sizes = [count_tokens(turn.render()) + 1 for turn in turns]  # + the blank line between blocks
    used = sizes[0] + sizes[-1] + count_tokens(elision_marker(len(turns)))
    lo, hi = 1, len(turns) - 2  # the dropped block is turns[lo:hi + 1]
    from_head = True
    while lo <= hi:
        head_fits = used + sizes[lo] <= max_tokens
        tail_fits = used + sizes[hi] <= max_tokens
        if head_fits and (from_head or not tail_fits):
            used += sizes[lo]
            lo += 1
        elif tail_fits:
            used += sizes[hi]
            hi -= 1
        else:
            break
        from_head = not from_head
    # At least one turn is dropped: all of them plus the marker would be over the budget. Tokens of
    # joined text are not always the sum of the parts', so the result is counted again as a whole.
    while True:
        out = replace(
            transcript,
            turns=turns[:lo] + turns[hi + 1 :],
            truncated=True,
            elided_turns=transcript.elided_turns + hi - lo + 1,
            elided_at=lo,
        )
        if (lo == 1 and hi == len(turns) - 2) or count_tokens(out.render()) <= max_tokens:
            return out
        if lo - 1 >= len(turns) - 2 - hi:
            lo -= 1
        else:
            hi += 1


def _shorten(turn: Turn, max_tokens: int) -> Turn:
    text = turn.content
    quarter = max_tokens // 4
    # A token spans at least one character: ends of quarter * 8 characters each hold more tokens
    # than are kept, and spare tokenizing megabytes that would be cut anyway.
    if len(text) > quarter * 16:
        text = text[: quarter * 8] + text[-quarter * 8 :]
    if count_tokens(text) <= quarter:
        return turn
    # Keep both ends, as a result's outcome is as often at the end as at the start; two tokens of
    # slack for the joins, where the text is cut and the marker goes in.
    original = len(turn.content)
    keep = max(quarter - count_tokens(f"…[{original} chars elided]") - 2, 0)
    head, tail = head_and_tail(text, keep)
    return replace(turn, content=f"{head}…[{original - len(head) - len(tail)} chars elided]{tail}")
